"""The images' pins (docker/requirements) against pyproject.toml, without the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.locks import FILES_ONLY, IMAGE_EXTRAS, disagreements, name_of, requirements

ROOT = Path(__file__).resolve().parents[2]


def pinned(image: str) -> dict[str, str]:
    lines = (ROOT / "docker" / "requirements" / f"{image}.txt").read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {name_of(name): version for name, version in pins}


def test_requirement_names_are_normalised() -> None:
    assert name_of("uvloop>=0.19; sys_platform != 'win32'") == "uvloop"
    assert name_of("psycopg[binary]>=3.2") == "psycopg"
    assert name_of("Fastapi_Offline==1.7.7") == "fastapi-offline"


@pytest.mark.parametrize("image", ["gateway", "catalog", "orders", "monolith"])
def test_every_image_that_serves_docs_pins_swagger_uis_files(image: str) -> None:
    wanted = {name_of(r): r for r in requirements(ROOT, IMAGE_EXTRAS[image])}
    assert "fastapi-offline" in wanted and "fastapi-offline" in FILES_ONLY
    assert wanted["fastapi-offline"].endswith("==" + pinned(image)["fastapi-offline"])


def test_the_gateway_image_has_swagger_ui_but_no_fastapi() -> None:
    pins = pinned("gateway")
    assert "fastapi-offline" in pins
    assert "fastapi" not in pins and "starlette" not in pins and "sqlalchemy" not in pins


def test_the_images_agree_on_every_version() -> None:
    """The wheelhouse downloads every image's pins in one go: two versions of one package
    make that download impossible (the dashboard once had a newer opentelemetry-api)."""
    locks = {
        image: [f"{name}=={version}" for name, version in pinned(image).items()]
        for image in IMAGE_EXTRAS
    }
    assert disagreements(locks) == {}


def test_a_disagreement_is_found() -> None:
    locks = {"a": ["x==1.0", "y==2"], "b": ["X==1.1", "y==2"]}
    assert disagreements(locks) == {"x": {"1.0", "1.1"}}
