"""One state folder per user, whatever the current directory; one compose project name,
whatever the clone's folder is called."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.compose import env_file_settings, project_name, project_root, update_env_file
from lab.state import StateDir


def test_the_default_state_folder_is_per_user_not_per_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWINSHOP_HOME", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert StateDir.from_env().root == tmp_path / ".local" / "state" / "twinshop"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert StateDir.from_env().root == tmp_path / "xdg" / "twinshop"
    monkeypatch.setenv("TWINSHOP_HOME", str(tmp_path / "mine"))
    assert StateDir.from_env().root == tmp_path / "mine"
    assert StateDir.from_env("elsewhere").root == tmp_path / "elsewhere"


def test_the_committed_env_names_the_compose_project(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_file_settings(project_root() / ".env")["COMPOSE_PROJECT_NAME"] == "twinshop"
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    assert project_name() == "twinshop"
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "room42")
    assert project_name() == "room42"


def test_writing_the_offline_bases_keeps_the_project_name(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# a comment\nCOMPOSE_PROJECT_NAME=twinshop\nTWINSHOP_PYTHON_IMAGE=old\n")
    update_env_file(env, {"TWINSHOP_PYTHON_IMAGE": "new", "TWINSHOP_POSTGRES_IMAGE": "pg"})
    assert env_file_settings(env) == {
        "COMPOSE_PROJECT_NAME": "twinshop",
        "TWINSHOP_PYTHON_IMAGE": "new",
        "TWINSHOP_POSTGRES_IMAGE": "pg",
    }
