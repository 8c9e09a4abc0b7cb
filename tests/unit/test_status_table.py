"""`twinshop status` fits an 80-column terminal: every URL whole, the CPU budget shown."""

from __future__ import annotations

from rich.console import Console

from lab.cli import status_table


def test_status_is_readable_at_80_columns() -> None:
    def inst(port: int, cpus: float | None) -> dict[str, object]:
        url = f"http://127.0.0.1:{port}"
        return {"instance": "vm-30391", "url": url, "healthy": True, "version": "12", "cpus": cpus}

    report = {
        "runtime": "process",
        "architectures": {
            "micro": {
                "entry": "http://127.0.0.1:8080",
                "units": {
                    "gateway": [inst(8080, 1.0)],
                    "catalog": [inst(40001, 0.5), inst(40002, 0.5), inst(40003, 0.5)],
                    "orders": [inst(40004, None)],
                },
            },
            "mono": {"entry": "http://127.0.0.1:8081", "units": {"monolith": [inst(40005, 0.5)]}},
        },
    }
    console = Console(width=80, record=True, color_system=None)
    console.print(status_table(report, where="state in /home/ada/.local/state/twinshop"))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for port in (8080, 8081, 40001, 40002, 40003, 40004, 40005):
        assert f"http://127.0.0.1:{port}" in text
    assert "0.5" in text and "no limit" in text
