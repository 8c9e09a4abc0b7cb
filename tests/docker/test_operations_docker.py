"""What only the docker runtime's operations have: swapping the catalog's image for its Rust
twin (twinshop/catalog-rs, on the same PostgreSQL) in a rolling redeploy. The operations every
runtime shares run here too, from tests/operations; this test puts the stack back as it found
it (one replica, the Python image), since the session's stack is shared."""

from __future__ import annotations

import pytest

from lab.runtime.docker import DockerRuntime
from tests.support import Stack
from tests.traffic import Traffic

pytestmark = pytest.mark.docker


def _catalogs(runtime: DockerRuntime) -> list[dict[str, object]]:
    return list(runtime.status()["architectures"]["micro"]["units"]["catalog"])


def test_rolling_swap_of_the_catalog_to_rust_and_back_fails_no_get(
    docker_runtime: DockerRuntime, docker_stack: Stack
) -> None:
    """``redeploy catalog --impl rust``: twinshop/catalog-rs on the same PostgreSQL."""
    (version,) = {str(c["version"]) for c in _catalogs(docker_runtime)}
    docker_runtime.scale("catalog", 2)
    try:
        # to Rust at the next version, then back to Python at the version found (so the
        # stack's catalog is as compose would create it again: other tests scale it raw)
        for impl, to in (("rust", None), ("python", version)):
            with Traffic(docker_stack.entries["micro"] + "/products/2") as traffic:
                result = docker_runtime.redeploy("catalog", to, impl=impl)
            assert result["mode"] == "rolling" and result["impl_to"] == impl
            assert [i["impl"] for i in _catalogs(docker_runtime)] == [impl, impl]
            assert traffic.total > 20 and traffic.failed == 0, traffic.codes
            print(f"\nredeploy catalog --impl {impl} (docker): {result['seconds']} s, 0 failed")
    finally:
        if len(_catalogs(docker_runtime)) != 1:
            docker_runtime.scale("catalog", 1)
