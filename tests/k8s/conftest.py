"""The Kubernetes manifests, rendered once per session by ``kubectl kustomize`` from a copy of
deploy/k8s with freshly made secret files (as a person deploying would make them).

Without kubectl the tests skip, saying why; in CI (``CI=true``) a missing kubectl is a
failure (.ci/run installs Debian's kubernetes-client)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("micro", "mono", "both", "workshop")


def _kubectl() -> str:
    found = shutil.which("kubectl")
    if found:
        return found
    reason = "kubectl is not installed (Debian: apt-get install kubernetes-client)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Each overlay -> its rendered objects."""
    kubectl = _kubectl()
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("*.secret"))
    subprocess.run(["sh", str(copy / "make-secrets.sh")], check=True, capture_output=True)
    out = {}
    for overlay in OVERLAYS:
        result = subprocess.run(
            [kubectl, "kustomize", str(copy / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{overlay}: {result.stderr[-2000:]}"
        out[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


@pytest.fixture(scope="session")
def workshop(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Everything: both architectures, the dashboard and locust."""
    return rendered["workshop"]
