"""Checks of the no-registry base images made by docker/base/build.sh.

They need a Docker engine and the two images built beforehand (`docker/base/build.sh`); without
either they skip, or fail when TWINSHOP_REQUIRE_DOCKER=1. Nothing is ever pulled. Every
container, network and volume gets a unique name and is removed at the end of its test, even
when the test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.engine import unavailable

pytestmark = pytest.mark.docker

PYTHON_IMAGE = os.environ.get("TWINSHOP_PYTHON_BASE_IMAGE", "twinshop/python-base:bookworm")
POSTGRES_IMAGE = os.environ.get(
    "TWINSHOP_POSTGRES_BASE_IMAGE", "twinshop/postgres-base:15-bookworm"
)
TEST_LABEL = "twinshop.test=base-images"
READY_TIMEOUT = 60.0

PG_USER = "shop"
PG_PASSWORD = "s3cret-Pw"
PG_DB = "shopdb"


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; with check, a non-zero exit fails with its output."""
    proc = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`docker {' '.join(args)}` exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="module")
def docker_engine() -> str:
    if shutil.which("docker") is None:
        unavailable("no docker CLI on PATH")
    try:
        proc = docker("version", "--format", "{{.Server.Version}}", check=False, timeout=30)
    except subprocess.TimeoutExpired:
        unavailable("the Docker engine did not answer within 30 s")
    if proc.returncode != 0:
        unavailable(f"no Docker engine answers: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _image_config(image: str) -> dict:
    proc = docker("image", "inspect", "--format", "{{json .Config}}", image, check=False)
    if proc.returncode != 0:
        unavailable(f"image {image} is not built here; run docker/base/build.sh first")
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def python_image(docker_engine: str) -> dict:
    return _image_config(PYTHON_IMAGE)


@pytest.fixture(scope="module")
def postgres_image(docker_engine: str) -> dict:
    return _image_config(POSTGRES_IMAGE)


class Resources:
    """Creates uniquely named docker objects and removes all of them in `cleanup`."""

    def __init__(self) -> None:
        self.prefix = f"twinshop-test-{uuid.uuid4().hex[:10]}"
        self.containers: list[str] = []
        self.networks: list[str] = []
        self.volumes: list[str] = []

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    def network(self, what: str = "net") -> str:
        name = self.name(what)
        self.networks.append(name)
        docker("network", "create", "--label", TEST_LABEL, name)
        return name

    def volume(self, what: str = "data") -> str:
        name = self.name(what)
        self.volumes.append(name)
        docker("volume", "create", "--label", TEST_LABEL, name)
        return name

    def run(
        self,
        image: str,
        *command: str,
        what: str,
        options: tuple[str, ...] = (),
        detach: bool = False,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """`docker run` with a unique name, never pulling; foreground runs are removed after."""
        name = self.name(what)
        self.containers.append(name)
        mode = ("--detach",) if detach else ("--rm",)
        return docker(
            "run",
            *mode,
            "--pull",
            "never",
            "--name",
            name,
            "--label",
            TEST_LABEL,
            *options,
            image,
            *command,
            check=check,
            timeout=timeout,
        )

    def cleanup(self) -> list[str]:
        errors = []
        for name in reversed(self.containers):
            proc = docker("rm", "--force", "--volumes", name, check=False, timeout=60)
            if proc.returncode != 0 and "No such container" not in proc.stderr:
                errors.append(f"container {name}: {proc.stderr.strip()}")
        for kind, names in (("network", self.networks), ("volume", self.volumes)):
            for name in names:
                proc = docker(kind, "rm", name, check=False, timeout=60)
                if proc.returncode != 0 and "No such" not in proc.stderr:
                    errors.append(f"{kind} {name}: {proc.stderr.strip()}")
        return errors


@pytest.fixture
def resources(docker_engine: str) -> Iterator[Resources]:
    res = Resources()
    try:
        yield res
    finally:
        errors = res.cleanup()
    assert not errors, "could not remove test resources:\n" + "\n".join(errors)


# --- python base --------------------------------------------------------------------------------


def test_python_image_config(python_image: dict) -> None:
    env = dict(item.split("=", 1) for item in python_image["Env"])
    assert env["LANG"] == "C.UTF-8"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert "/usr/local/bin" in env["PATH"].split(":")
    assert "/usr/bin" in env["PATH"].split(":")
    assert python_image["Cmd"] == ["python3"]


def test_python_stdlib_as_non_root(python_image: dict, resources: Resources) -> None:
    script = (
        "import json, os, ssl, sqlite3, sys, venv\n"
        "con = sqlite3.connect(':memory:')\n"
        "ctx = ssl.create_default_context()\n"
        "print(json.dumps({'uid': os.getuid(), 'version': list(sys.version_info[:2]),\n"
        "  'sqlite': con.execute('select 40 + 2').fetchone()[0],\n"
        "  'cafile': ssl.get_default_verify_paths().openssl_cafile,\n"
        "  'ca_certs': len(ctx.get_ca_certs()) + ctx.cert_store_stats()['x509_ca'],\n"
        "  'encoding': sys.getfilesystemencoding(),\n"
        "  'unbuffered': os.environ.get('PYTHONUNBUFFERED')}))\n"
    )
    proc = resources.run(
        PYTHON_IMAGE,
        "python3",
        "-c",
        script,
        what="py-stdlib",
        options=("--user", "65534", "--network", "none"),
    )
    info = json.loads(proc.stdout)
    assert info["uid"] == 65534
    assert info["version"] == [3, 11]
    assert info["sqlite"] == 42
    assert info["cafile"] == "/usr/lib/ssl/cert.pem"
    assert info["ca_certs"] > 0
    assert info["encoding"] == "utf-8"
    assert info["unbuffered"] == "1"


def test_python_venv_works(python_image: dict, resources: Resources) -> None:
    # As root into /opt/venv (what our Dockerfiles do) and as an arbitrary non-root user.
    proc = resources.run(
        PYTHON_IMAGE,
        "sh",
        "-ec",
        "python3 -m venv /opt/venv && /opt/venv/bin/python -m pip --version"
        " && /opt/venv/bin/python -c 'import sys; assert sys.prefix == \"/opt/venv\"'",
        what="py-venv-root",
        options=("--network", "none"),
    )
    assert "pip " in proc.stdout
    proc = resources.run(
        PYTHON_IMAGE,
        "sh",
        "-ec",
        "python3 -m venv /tmp/venv && /tmp/venv/bin/pip --version",
        what="py-venv-user",
        options=("--user", "65534", "--network", "none"),
    )
    assert "/tmp/venv/lib/python3.11/site-packages/pip" in proc.stdout


# --- postgres base ------------------------------------------------------------------------------


def test_postgres_image_config(postgres_image: dict) -> None:
    env = dict(item.split("=", 1) for item in postgres_image["Env"])
    assert postgres_image["Entrypoint"] == ["docker-entrypoint.sh"]
    assert postgres_image["Cmd"] == ["postgres"]
    assert postgres_image["StopSignal"] == "SIGINT"
    assert "5432/tcp" in postgres_image["ExposedPorts"]
    assert env["PGDATA"] == "/var/lib/postgresql/data"
    assert env["PATH"].startswith("/usr/lib/postgresql/15/bin:")


def start_postgres(
    res: Resources, network: str, volume: str, what: str, password: str = PG_PASSWORD
) -> str:
    name = res.name(what)
    res.run(
        POSTGRES_IMAGE,
        what=what,
        detach=True,
        options=(
            "--network",
            network,
            "--volume",
            f"{volume}:/var/lib/postgresql/data",
            "--env",
            f"POSTGRES_USER={PG_USER}",
            "--env",
            f"POSTGRES_PASSWORD={password}",
            "--env",
            f"POSTGRES_DB={PG_DB}",
        ),
    )
    wait_ready(name)
    return name


def wait_ready(name: str, timeout: float = READY_TIMEOUT) -> None:
    """Poll the healthcheck command until the server accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        proc = docker("exec", name, "pg_isready", "-U", PG_USER, "-d", PG_DB, check=False)
        if proc.returncode == 0:
            return
        running = docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
        if running != "true" or time.monotonic() > deadline:
            logs = docker("logs", name, check=False)
            pytest.fail(
                f"{name} not ready (running={running}; pg_isready: {proc.stdout.strip()})\n"
                f"logs:\n{logs.stdout}{logs.stderr}"
            )
        time.sleep(0.5)


def psql(
    res: Resources,
    network: str,
    host: str,
    *sql: str,
    password: str = PG_PASSWORD,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """psql over TCP from a second container on the same network."""
    commands: list[str] = []
    for statement in sql:
        commands += ["-c", statement]
    return res.run(
        POSTGRES_IMAGE,
        "psql",
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "--no-align",
        "--tuples-only",
        "-h",
        host,
        "-p",
        "5432",
        "-U",
        PG_USER,
        "-d",
        PG_DB,
        *commands,
        what=f"psql-{uuid.uuid4().hex[:6]}",
        options=("--network", network, "--env", f"PGPASSWORD={password}"),
        check=check,
    )


def container_logs(name: str) -> str:
    proc = docker("logs", name)
    return proc.stdout + proc.stderr


def test_postgres_ready_and_password_over_tcp(postgres_image: dict, resources: Resources) -> None:
    network = resources.network()
    server = start_postgres(resources, network, resources.volume(), "pg")

    proc = psql(
        resources,
        network,
        server,
        "select current_user, current_database()",
        "show password_encryption",
    )
    assert proc.stdout.split() == [f"{PG_USER}|{PG_DB}", "scram-sha-256"]

    wrong = psql(resources, network, server, "select 1", password="wrong", check=False)
    assert wrong.returncode != 0
    assert "password authentication failed" in wrong.stderr

    # The server is PID 1 (exec'ed) and runs as postgres, not root.
    proc = docker("exec", server, "sh", "-c", "cat /proc/1/comm; stat -c %U /proc/1")
    assert proc.stdout.split() == ["postgres", "postgres"]


def test_postgres_restart_keeps_data_and_stops_fast(
    postgres_image: dict, resources: Resources
) -> None:
    network = resources.network()
    volume = resources.volume()
    server = start_postgres(resources, network, volume, "pg")
    psql(
        resources,
        network,
        server,
        "create table items (id int primary key, name text)",
        "insert into items values (1, 'kettle'), (2, 'teapot')",
    )

    # Restart the same container: the data stays, initdb does not run again.
    docker("restart", "--time", "30", server)
    wait_ready(server)
    assert psql(resources, network, server, "select count(*) from items").stdout.strip() == "2"
    logs = container_logs(server)
    assert logs.count("initialising a new cluster") == 1
    assert "skipping initialisation" in logs

    # SIGINT (the image's STOPSIGNAL) is a fast shutdown: an open session does not hold it up.
    resources.run(
        POSTGRES_IMAGE,
        "psql",
        "-X",
        "-h",
        server,
        "-U",
        PG_USER,
        "-d",
        PG_DB,
        "-c",
        "select pg_sleep(600)",
        what="sleeper",
        detach=True,
        options=("--network", network, "--env", f"PGPASSWORD={PG_PASSWORD}"),
    )
    deadline = time.monotonic() + 30
    while (
        "select pg_sleep"
        not in psql(resources, network, server, "select query from pg_stat_activity").stdout
    ):
        assert time.monotonic() < deadline, "the sleeping session never showed up"
        time.sleep(0.5)
    started = time.monotonic()
    docker("stop", "--time", "30", server)
    elapsed = time.monotonic() - started
    state = docker("inspect", "--format", "{{.State.ExitCode}}", server).stdout.strip()
    logs = container_logs(server)
    assert state == "0", f"server exit code {state}\n{logs}"
    assert elapsed < 15, f"docker stop took {elapsed:.1f} s"
    assert "received fast shutdown request" in logs
    assert "database system is shut down" in logs.rsplit("received fast shutdown request", 1)[1]

    # A new container on the same volume keeps the data and ignores the (new) variables.
    docker("rm", server)
    server2 = start_postgres(resources, network, volume, "pg2", password="ignored-now")
    proc = psql(resources, network, server2, "select name from items order by id")
    assert proc.stdout.split() == ["kettle", "teapot"]
    assert "skipping initialisation" in container_logs(server2)


def test_postgres_refuses_to_initialise_without_password(
    postgres_image: dict, resources: Resources
) -> None:
    proc = resources.run(
        POSTGRES_IMAGE,
        what="pg-nopw",
        check=False,
        timeout=60,
        options=("--network", "none", "--env", f"POSTGRES_USER={PG_USER}"),
    )
    assert proc.returncode != 0
    assert "POSTGRES_PASSWORD" in proc.stderr
