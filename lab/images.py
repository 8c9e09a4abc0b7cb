"""``twinshop images``: build every image (also with no registry), and carry them on a stick."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from lab import impls
from lab.compose import (
    POSTGRES_BASE,
    PYTHON_BASE,
    compose,
    compose_command,
    env_file_settings,
    project_name,
    project_root,
    update_env_file,
)
from lab.console import console, friendly
from lab.errors import LabError
from lab.locks import IMAGE_EXTRAS, write_locks

images_app = typer.Typer(
    rich_markup_mode=None,  # plain help: no boxes to break at 80 columns
    help="Build, save and load the twinshop images.",
    no_args_is_help=True,
)
RUST_CATALOG = "twinshop/catalog-rs:latest"
IMAGES = [*(f"twinshop/{name}:latest" for name in IMAGE_EXTRAS), RUST_CATALOG]


def _run(cmd: list[str], *, what: str) -> None:
    console.print(f"[bold]→ {what}[/]")
    if subprocess.run(cmd, cwd=project_root(), stdin=subprocess.DEVNULL, check=False).returncode:
        raise LabError(f"{what} failed (see the output above)")


def build(*, offline: bool, force: bool = False) -> None:
    """Build the base images from Debian packages and the wheelhouse on the host (offline),
    then every twinshop image through compose."""
    root = project_root()
    if offline:
        base = [str(root / "docker/base/build.sh"), *(["--force"] if force else []), "all"]
        _run(base, what="base images from Debian packages (debootstrap)")
        locks = [arg for lock in sorted((root / "docker/requirements").glob("*.txt"))
                 for arg in ("-r", str(lock))]  # fmt: skip
        _run([str(root / "docker/wheels.sh"), str(root / "docker/wheels"), *locks],
             what="wheels for every image, downloaded on this host")  # fmt: skip
        env_file = root / ".env"
        update_env_file(
            env_file,
            {"TWINSHOP_PYTHON_IMAGE": PYTHON_BASE, "TWINSHOP_POSTGRES_IMAGE": POSTGRES_BASE},
            comment="written by `twinshop images build --offline`: compose uses the local bases",
        )
        console.print(f"wrote {env_file} so that `docker compose up` uses the local bases")
    console.print("[bold]→ twinshop images (compose build)[/]")
    parallel = ["--parallel"] if compose_command() == ("docker-compose",) else []
    # One build per image: lb and the secrets job reuse the gateway image.
    services = ["gateway", "catalog", "orders", "monolith", "locust", "dashboard"]
    compose(project_name(), "build", *parallel, *services, env={"DOCKER_BUILDKIT": "0"})
    build_rust_catalog(offline=offline)


def build_rust_catalog(*, offline: bool) -> None:
    """``twinshop/catalog-rs:latest``. With a registry: the multi-stage Dockerfile (cargo
    in a Rust image). Offline: the binary cargo built on this host (Debian 12, like the
    local base), copied into the local Python base, as the wheels are."""
    root = project_root()
    if offline:
        binary = impls.rust_binary("catalog")
        (root / "docker/bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, root / "docker/bin/catalog-rs")
        dockerfile = "services/catalog-rs/Dockerfile.offline"
        base = PYTHON_BASE
    else:
        dockerfile = "services/catalog-rs/Dockerfile"
        base = "python:3.11-slim"
    cmd = ["docker", "build", "-q", "-f", dockerfile, "--build-arg", f"PYTHON_IMAGE={base}",
           "-t", RUST_CATALOG, "."]  # fmt: skip
    _run(cmd, what=f"{RUST_CATALOG} ({'host binary' if offline else 'multi-stage cargo'})")


@images_app.command("build")
def build_command(
    offline: Annotated[
        bool, typer.Option(help="make base images and wheels here: no registry needed")
    ] = False,
    force: Annotated[bool, typer.Option(help="rebuild the base images too")] = False,
) -> None:
    """Build every image (use --offline where no container registry can be reached)."""
    friendly(build)(offline=offline, force=force)
    console.print("[green]images ready:[/] " + ", ".join(IMAGES))


@images_app.command("save")
def save(file: Annotated[Path, typer.Argument(help="e.g. twinshop-images.tar.gz")]) -> None:
    """Write every image (and the offline bases) to one file, for a USB stick."""

    def work() -> None:
        present = [i for i in [*IMAGES, PYTHON_BASE, POSTGRES_BASE] if _exists(i)]
        if not present:
            raise LabError("no twinshop image to save; run `twinshop images build` first")
        with file.open("wb") as out:
            saver = subprocess.Popen(["docker", "save", *present], stdout=subprocess.PIPE)
            gzip = subprocess.run(["gzip", "-1"], stdin=saver.stdout, stdout=out, check=False)
            if saver.wait() or gzip.returncode:
                raise LabError(f"could not write {file}")
        size = file.stat().st_size / 1e6
        console.print(f"saved {len(present)} images to {file} ({size:.0f} MB)")

    friendly(work)()


@images_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="a file made by `twinshop images save`")],
) -> None:
    """Load the images from a file made by `twinshop images save`."""

    def work() -> None:
        if not file.exists():
            raise LabError(f"no such file: {file}")
        _run(["docker", "load", "-i", str(file)], what=f"loading {file}")
        bases_here = _exists(PYTHON_BASE) and _exists(POSTGRES_BASE)
        env_file = project_root() / ".env"
        if bases_here and "TWINSHOP_PYTHON_IMAGE" not in env_file_settings(env_file):
            update_env_file(
                env_file,
                {"TWINSHOP_PYTHON_IMAGE": PYTHON_BASE, "TWINSHOP_POSTGRES_IMAGE": POSTGRES_BASE},
            )

    friendly(work)()


@images_app.command("lock")
def lock() -> None:
    """Re-pin docker/requirements/*.txt from the extras in pyproject.toml."""
    for path in friendly(write_locks)(project_root()):
        console.print(f"wrote {path}")


def _exists(tag: str) -> bool:
    result = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False)
    return result.returncode == 0
