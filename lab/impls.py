"""Implementations of a unit: every unit runs on Python; the catalog also has a Rust twin.

``services/catalog-rs`` answers the same contract on the same database schema, so a
rolling ``twinshop redeploy catalog --impl rust`` swaps languages without an outage. In
the process runtime its binary is built with cargo on first use (and again whenever the
sources are newer than the binary); ``TWINSHOP_CATALOG_RS_BIN`` names a prebuilt one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from lab.errors import LabError

PYTHON = "python"
RUST = "rust"
IMPLS = (PYTHON, RUST)
ROOT = Path(__file__).resolve().parents[1]
CRATES: dict[str, Path] = {"catalog": ROOT / "services" / "catalog-rs"}
"""Units with a Rust implementation, and where its Cargo project lives."""
BINARY_ENV = "TWINSHOP_CATALOG_RS_BIN"


def impls_of(unit: str) -> tuple[str, ...]:
    return IMPLS if unit in CRATES else (PYTHON,)


def check(unit: str, impl: str) -> str:
    """``impl`` when ``unit`` has it; a clear error otherwise."""
    if impl not in impls_of(unit):
        have = ", ".join(impls_of(unit))
        raise LabError(f"{unit} has no {impl!r} implementation; it has: {have}")
    return impl


def binary_path(unit: str) -> Path:
    """Where the release binary of ``unit``'s Rust implementation is (built or not)."""
    crate = CRATES[unit]
    return crate / "target" / "release" / f"{crate.name}"


def sources(unit: str) -> list[Path]:
    crate = CRATES[unit]
    files = [crate / "Cargo.toml", crate / "Cargo.lock", crate / "openapi.json"]
    return files + sorted((crate / "src").rglob("*.rs"))


def is_fresh(binary: Path, inputs: list[Path]) -> bool:
    """The binary exists and is newer than every source file."""
    if not binary.exists():
        return False
    built = binary.stat().st_mtime
    return all(not f.exists() or f.stat().st_mtime <= built for f in inputs)


def rust_binary(unit: str = "catalog") -> Path:
    """The Rust binary of ``unit``, built with cargo first when missing or stale."""
    override = os.environ.get(BINARY_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise LabError(f"{BINARY_ENV}={override} is not a file")
        return path
    binary = binary_path(unit)
    if is_fresh(binary, sources(unit)):
        return binary
    cargo = shutil.which("cargo")
    if cargo is None:
        raise LabError(
            f"the Rust {unit} needs cargo to build ({CRATES[unit]}); install Rust "
            f"(https://rustup.rs) or set {BINARY_ENV} to a prebuilt binary"
        )
    print(f"building the Rust {unit} with cargo (first use takes minutes)…", file=sys.stderr)
    done = subprocess.run(
        [cargo, "build", "--release", "--locked", "--quiet"],
        cwd=CRATES[unit],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not binary.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise LabError(f"cargo could not build the Rust {unit}: {last}")
    return binary


def command(unit: str, impl: str, app: str, *, host: str, port: int) -> list[str]:
    """The command line of one instance of ``unit`` in ``impl``."""
    if impl == RUST:
        return [str(rust_binary(unit)), "--host", host, "--port", str(port)]
    return [
        sys.executable, "-m", "uvicorn", app,
        "--host", host, "--port", str(port),
        "--no-access-log", "--no-proxy-headers", "--timeout-graceful-shutdown", "5",
    ]  # fmt: skip


def python_openapi(unit: str = "catalog") -> str:
    """The Python unit's OpenAPI document, as the Rust twin serves it verbatim
    (``services/catalog-rs/openapi.json``; regenerate with ``write_openapi()``)."""
    import json
    import tempfile

    from services.catalog.app import create_app
    from shop.kernel.config import UnitSettings

    with tempfile.TemporaryDirectory() as tmp:  # the engine is made, never connected
        app = create_app(UnitSettings(UNIT=unit, DATABASE_URL=f"sqlite:///{tmp}/x.db"))
        return json.dumps(app.openapi(), indent=1) + "\n"


def write_openapi(unit: str = "catalog") -> Path:
    path = CRATES[unit] / "openapi.json"
    path.write_text(python_openapi(unit))
    return path


if __name__ == "__main__":  # `python -m lab.impls`: build the Rust catalog once (CI does)
    try:
        print(rust_binary("catalog"))
    except LabError as exc:
        sys.exit(f"error: {exc}")
