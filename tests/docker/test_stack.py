"""The compose stack behaves as a workshop needs: it scales, heals, keeps its secrets,
publishes only the edges, and one unit redeploys without touching the other architecture."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import docker
from lab.invariants import Snapshot, violations
from lab.runtime.docker import PROJECT_LABEL, SERVICE_LABEL, DockerRuntime
from tests.support import Api, Stack, eventually

pytestmark = pytest.mark.docker


@pytest.fixture
def micro(docker_stack: Stack) -> Iterator[Api]:
    api = Api("micro", docker_stack.entries["micro"], docker_stack.admin_token)
    yield api
    api.close()


def _containers(runtime: DockerRuntime, service: str | None = None) -> list[Any]:
    client = docker.from_env()  # type: ignore[attr-defined]
    containers = client.containers.list(filters={"label": f"{PROJECT_LABEL}={runtime.project}"})
    return [c for c in containers if service in (None, c.labels[SERVICE_LABEL])]


def _status_ok(api: Api, path: str) -> bool:
    try:
        return api.http.get(path).status_code == 200
    except httpx.HTTPError:
        return False


def test_scaling_catalog_to_three_spreads_requests_within_ten_seconds_of_them_being_healthy(
    docker_runtime: DockerRuntime, micro: Api
) -> None:
    """Plain ``compose --scale``: the gateway finds the new replicas by itself (Docker DNS,
    re-resolved every second). Timed from when they are healthy: how long containers take to
    start depends on how busy the machine is, not on the edge."""
    docker_runtime.compose("up", "-d", "--no-deps", "--scale", "catalog=3", "catalog")
    try:
        docker_runtime.wait_healthy(["catalog"], timeout=120)
        started = time.monotonic()
        seen: set[str] = set()
        while len(seen) < 3 and time.monotonic() - started < 10:
            response = micro.http.get("/products/1")
            assert response.status_code == 200
            seen.add(response.headers["x-served-by"])
            time.sleep(0.02)
        assert len(seen) == 3, seen
    finally:
        docker_runtime.compose("up", "-d", "--no-deps", "--scale", "catalog=1", "catalog")


def test_a_crashed_orders_leaves_browsing_up_and_comes_back_by_itself(
    docker_runtime: DockerRuntime, micro: Api
) -> None:
    product = micro.new_product(stock=20)
    acknowledged = [micro.checkout([(product["id"], 1)]).json()["id"]]
    before = Snapshot.take(micro.http)
    orders = _containers(docker_runtime, "orders")[0]
    arm = (
        "import urllib.request as u; t=open('/run/twinshop/admin/token').read().strip(); "
        "r=u.Request('http://127.0.0.1:8000/_chaos', data=b'{\"crash_on_checkout\": true}', "
        "method='PUT', headers={'Authorization': 'Bearer '+t, "
        "'Content-Type': 'application/json'}); "
        "u.urlopen(r, timeout=5)"
    )
    assert orders.exec_run(["python3", "-c", arm]).exit_code == 0
    crashed = micro.checkout([(product["id"], 2)])
    assert crashed.status_code in (502, 503)
    # While orders is down (or restarting): browsing stays up, checkout fails fast.
    for _ in range(20):
        assert micro.http.get("/products/1").status_code == 200
    started = time.monotonic()
    down = micro.checkout([(product["id"], 1)])
    if down.status_code != 201:  # it may already be back
        assert down.status_code == 503
        assert time.monotonic() - started < 2
    # Docker's restart policy brings it back; checkout works again.
    eventually(lambda: micro.checkout([(product["id"], 1)]).status_code == 201, within=60,
                what="checkout works again")  # fmt: skip
    restarted = _containers(docker_runtime, "orders")[0]
    restarted.reload()
    assert restarted.attrs["RestartCount"] >= 1
    # The reconciler releases the reservation the crash left behind.
    acknowledged += [o for o in Snapshot.take(micro.http).orders if o not in before.orders]

    def invariants_hold() -> bool:
        return violations(before, Snapshot.take(micro.http), acknowledged=acknowledged) == []

    eventually(invariants_hold, within=60, what="invariants hold after the crash")


def test_only_the_edges_locust_and_the_dashboard_are_published_on_loopback(
    docker_runtime: DockerRuntime,
) -> None:
    published: dict[str, set[tuple[str, str]]] = {}
    for container in _containers(docker_runtime):
        for bindings in (container.attrs["HostConfig"]["PortBindings"] or {}).values():
            for binding in bindings or []:
                service = container.labels[SERVICE_LABEL]
                published.setdefault(service, set()).add((binding["HostIp"], binding["HostPort"]))
    expected = {
        "gateway": {("127.0.0.1", str(docker_runtime.edge_ports["micro"]))},
        "lb": {("127.0.0.1", str(docker_runtime.edge_ports["mono"]))},
        "locust": {("127.0.0.1", str(docker_runtime.locust_port))},
        "dashboard": {("127.0.0.1", str(docker_runtime.dashboard_port))},
    }
    assert published == expected


def test_every_container_runs_as_non_root(docker_runtime: DockerRuntime) -> None:
    for container in _containers(docker_runtime):
        name = container.labels[SERVICE_LABEL]
        assert container.attrs["Config"]["User"] not in ("", "0", "root"), name
        top = container.top(ps_args="-eo pid,uid,comm")
        column = top["Titles"].index("UID")
        uids = {int(row[column]) for row in top["Processes"]}
        assert 0 not in uids, (name, top["Processes"])


def test_no_secret_shows_in_inspect_or_image_history(docker_runtime: DockerRuntime) -> None:
    secrets = [docker_runtime.admin_token()] + [
        _containers(docker_runtime, unit)[0]
        .exec_run(["cat", "/run/twinshop/db/password"])
        .output.decode()
        .strip()
        for unit in ("catalog", "orders", "monolith")
    ]
    assert all(len(secret) >= 16 for secret in secrets)
    assert len(set(secrets)) == len(secrets)  # each database has its own password
    client = docker.from_env()  # type: ignore[attr-defined]
    for container in _containers(docker_runtime):
        text = json.dumps(container.attrs)
        image = client.images.get(container.attrs["Config"]["Image"])
        text += json.dumps(image.attrs) + json.dumps(image.history())
        for secret in secrets:
            assert secret not in text, container.name


def test_redeploying_orders_leaves_the_monolith_untouched(
    docker_runtime: DockerRuntime, docker_stack: Stack
) -> None:
    mono = httpx.Client(base_url=docker_stack.entries["mono"], timeout=10)
    codes: Counter[int] = Counter()
    stop = threading.Event()

    def browse_and_buy() -> None:
        body = {"customer": "steady", "items": [{"product_id": 2, "quantity": 1}]}
        while not stop.is_set():
            codes[mono.get("/products/3").status_code] += 1
            codes[mono.post("/orders", json=body).status_code] += 1
            time.sleep(0.02)

    traffic = threading.Thread(target=browse_and_buy)
    traffic.start()
    try:
        old = _containers(docker_runtime, "orders")[0].id
        docker_runtime.compose("up", "-d", "--no-deps", "--force-recreate", "orders")
        docker_runtime.wait_healthy(["orders"], timeout=120)
        assert _containers(docker_runtime, "orders")[0].id != old
        time.sleep(1)
    finally:
        stop.set()
        traffic.join()
        mono.close()
    assert sum(codes.values()) > 20
    assert set(codes) <= {200, 201, 409}, codes


def test_compose_file_works_with_this_compose(docker_runtime: DockerRuntime) -> None:
    from lab.compose import compose_command, project_root

    result = subprocess.run(
        [*compose_command(), "-f", str(project_root() / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
