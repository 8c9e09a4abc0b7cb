"""lab.impls: which units have which implementation, when the Rust binary is rebuilt, and
the OpenAPI document the Rust catalog serves (it must stay the Python catalog's)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lab import impls
from lab.errors import LabError


def test_only_the_catalog_has_a_rust_twin() -> None:
    assert impls.impls_of("catalog") == ("python", "rust")
    assert impls.impls_of("orders") == ("python",)
    assert impls.check("catalog", "rust") == "rust"
    with pytest.raises(LabError, match="orders has no 'rust' implementation; it has: python"):
        impls.check("orders", "rust")


def test_a_binary_older_than_a_source_is_stale(tmp_path: Path) -> None:
    source, binary = tmp_path / "main.rs", tmp_path / "bin"
    assert not impls.is_fresh(binary, [source])
    source.write_text("fn main() {}")
    binary.write_text("")
    os.utime(source, (1_000, 1_000))
    os.utime(binary, (2_000, 2_000))
    assert impls.is_fresh(binary, [source])
    os.utime(source, (3_000, 3_000))
    assert not impls.is_fresh(binary, [source])


def test_missing_cargo_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(impls.BINARY_ENV, raising=False)
    monkeypatch.setattr(impls, "is_fresh", lambda *_: False)
    monkeypatch.setattr(impls.shutil, "which", lambda _: None)
    with pytest.raises(LabError, match="needs cargo to build"):
        impls.rust_binary("catalog")


def test_a_prebuilt_binary_can_be_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(impls.BINARY_ENV, str(tmp_path / "nope"))
    with pytest.raises(LabError, match="is not a file"):
        impls.rust_binary("catalog")
    (tmp_path / "catalog-rs").write_text("")
    monkeypatch.setenv(impls.BINARY_ENV, str(tmp_path / "catalog-rs"))
    assert impls.rust_binary("catalog") == tmp_path / "catalog-rs"


def test_the_rust_catalog_serves_the_python_catalogs_openapi_document() -> None:
    committed = (impls.CRATES["catalog"] / "openapi.json").read_text()
    assert json.loads(committed) == json.loads(impls.python_openapi("catalog")), (
        "regenerate: python -c 'from lab.impls import write_openapi; write_openapi()'"
    )
