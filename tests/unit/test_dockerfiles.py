"""The Python images' Dockerfiles: one per deployable on purpose (each shows what its image
holds), so a test keeps what they share identical: the header, the build stage that installs
the image's pinned wheels (offline when the wheelhouse has them), and the runtime stage's
frame (copy /opt, non-root user, the one healthcheck script)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.deployables import DEPLOYABLES

ROOT = Path(__file__).resolve().parents[2]
PYTHON_IMAGES = {d.name: d.dockerfile for d in DEPLOYABLES if d.name != "catalog-rs"}

HEADER = """\
# Builds with no registry too: `twinshop images build --offline` (see docker/README.md).
# Few instructions on purpose: each one is a layer commit, slow on some storage drivers.
"""
BUILD_STAGE = """\
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${{PYTHON_IMAGE}} AS build
COPY docker/requirements/{name}.txt docker/wheels/ /tmp/wheels/
# Offline when the wheelhouse has wheels (made on the host), from PyPI otherwise.
RUN python3 -m venv /opt/venv \\
 && if ls /tmp/wheels/*.whl >/dev/null 2>&1; then \\
      /opt/venv/bin/pip install --no-cache-dir --no-deps --no-index --find-links /tmp/wheels \\
        -r /tmp/wheels/{name}.txt; \\
    else \\
      /opt/venv/bin/pip install --no-cache-dir --no-deps -r /tmp/wheels/{name}.txt; \\
    fi
"""
RUNTIME_FRAME = ("FROM ${PYTHON_IMAGE}", "COPY --from=build /opt /opt")
USER = "USER 10001"
HEALTHCHECK = re.compile(
    r'^HEALTHCHECK (--[a-z-]+=\S+ )+\\\n    CMD \["python3", "/opt/app/docker/healthcheck.py"',
    re.MULTILINE,
)


def read(name: str) -> str:
    return (ROOT / PYTHON_IMAGES[name]).read_text()


def test_every_python_deployable_is_checked() -> None:
    found = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("**/Dockerfile")}
    found = {p for p in found if not p.startswith((".venv/", "services/catalog-rs/"))}
    assert found == set(PYTHON_IMAGES.values())


@pytest.mark.parametrize("name", sorted(PYTHON_IMAGES))
def test_the_header_says_which_image_and_how_it_builds(name: str) -> None:
    text = read(name)
    assert text.startswith(f"# The {name} image: ")
    description = text[: text.index(HEADER)]
    assert all(line.startswith("# ") for line in description.splitlines())
    assert description.rstrip().endswith("nothing else.")
    assert text.index(HEADER) + len(HEADER) == text.index("ARG PYTHON_IMAGE")


@pytest.mark.parametrize("name", sorted(PYTHON_IMAGES))
def test_the_build_stage_is_the_common_one(name: str) -> None:
    """Only the requirements file differs: docker/requirements/<deployable>.txt."""
    text = read(name)
    stage = BUILD_STAGE.format(name=name)
    start = text.index("ARG PYTHON_IMAGE")
    assert text[start : start + len(stage)] == stage
    build = text[start + len(stage) : text.index("\nFROM ${PYTHON_IMAGE}\n")]
    assert build.startswith(("COPY", "# What this image runs, and only that:\n"))
    assert "# What this image runs, and only that:\n" in build


@pytest.mark.parametrize("name", sorted(PYTHON_IMAGES))
def test_the_runtime_stage_has_the_common_frame(name: str) -> None:
    text = read(name)
    runtime = text[text.index("\nFROM ${PYTHON_IMAGE}\n") + 1 :]
    assert tuple(runtime.splitlines()[:2]) == RUNTIME_FRAME
    assert USER in runtime.splitlines()
    assert len(HEALTHCHECK.findall(runtime)) == 1, "the healthcheck script, not inline code"


def test_the_build_stages_are_identical_but_for_the_name() -> None:
    stages = set()
    for name in PYTHON_IMAGES:
        text = read(name)
        build = text[text.index("ARG PYTHON_IMAGE") : text.index("    fi\n") + len("    fi\n")]
        stages.add(build.replace(f"{name}.txt", "{name}.txt"))
    assert len(stages) == 1
