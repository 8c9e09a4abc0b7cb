"""The report as a document: the HTML has what the markdown has, a caption per chart, the
invariants; charts shade where no request was answered and name only what ran."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from lab.experiments.common import silent_spans
from lab.experiments.model import ExperimentResult, Row
from lab.load import Bucket
from lab.report import write_report


def bucket(t: float, requests: int) -> Bucket:
    return Bucket(t=t, requests=requests, failures=0, p50_ms=1.0, p95_ms=2.0)


def test_html_and_markdown_carry_the_same_rows_captions_and_invariants(tmp_path: Path) -> None:
    lab = SimpleNamespace(runtime=SimpleNamespace(name="process"), results=tmp_path, quick=True)
    results = [
        ExperimentResult(
            "scaling",
            [
                Row(
                    "Scalability",
                    "did this",
                    "micro figures",
                    "mono figures",
                    "no clear difference",
                )
            ],
            data={"cpu_limit": {"applied": True, "how": "a cgroup v1 CPU quota per instance"}},
            charts=[str(tmp_path / "scaling.png")],
            captions=["Look at the bars: where they overlap, the gain is noise."],
            invariants={"micro": [], "mono": []},
        ),
        ExperimentResult(
            "resilience",
            [Row("Resilience", "crash", "stays local", "all down", "micro wins")],
            charts=[str(tmp_path / "resilience.png")],
            invariants={"micro": [], "mono": ["1 acknowledged orders are lost"]},
        ),
    ]
    md_path, html_path = write_report(lab, results)  # type: ignore[arg-type]
    md, page = md_path.read_text(), html_path.read_text()
    expected = ("micro figures", "mono figures", "no clear difference", "one failure stays local",
                "Look at the bars", "browse line", "all three hold", "BROKEN",
                "1 acknowledged orders are lost", "cgroup v1")  # fmt: skip
    for text in expected:
        assert text in md, text
        assert text in page, text
    assert "<h2>Invariants</h2>" in page and "## Invariants" in md
    assert page.count("<figcaption>") == 2 and page.count("<tr>") == 3


def test_seconds_in_which_nothing_was_answered_are_found() -> None:
    browse = [bucket(0, 5), bucket(1, 5), bucket(5, 3)]
    checkout = [bucket(1, 1), bucket(6, 1)]
    assert silent_spans([browse, checkout], 8) == [(2, 5), (7, 8)]
    assert silent_spans([], 2) == [(0, 2)]


def test_a_timeline_names_only_the_groups_that_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from lab.experiments.common import timeline_chart

    legends: list[list[str]] = []
    save = Figure.savefig

    def spy(fig: Figure, *args: object, **kwargs: object) -> None:
        for ax in fig.axes:
            if (legend := ax.get_legend()) is not None:
                legends.append([t.get_text() for t in legend.get_texts()])
        save(fig, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Figure, "savefig", spy)
    run = SimpleNamespace(series={"browse": [], "checkout": [bucket(0, 2), bucket(4, 2)]},
                          duration_s=5)  # fmt: skip
    timeline_chart(tmp_path / "t.png", "t", {"micro": run, "mono": run},
                   events=[(2.0, "catalog killed")])  # fmt: skip
    assert legends == [["checkout", "no request answered"]] * 2
