from __future__ import annotations

from collections.abc import Iterator

import pytest

# Shared browser checks live outside test modules: let pytest explain their asserts too.
pytest.register_assert_rewrite("tests.dashboard_page")

from tests.support import Api, Stack, running_stack, stack_from_env  # noqa: E402

# The Docker engine's fixtures (the compose stack), shared by the docker and operations suites;
# how the suite is shared out over pytest-xdist's workers (python3 -m pytest -n auto).
pytest_plugins = ("tests.engine", "tests.parallel")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Both architectures, started once for the session as real processes."""
    existing = stack_from_env()
    if existing is not None:
        yield existing
        return
    with running_stack(tmp_path_factory.mktemp("twinshop")) as started:
        yield started


@pytest.fixture(params=["micro", "mono"])
def api(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Api]:
    """The same test, once through the gateway (micro) and once through the lb (mono)."""
    client = Api(request.param, stack.entries[request.param], stack.admin_token)
    yield client
    client.close()
