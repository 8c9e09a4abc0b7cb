"""The process runtime's supervisor side: starting and stopping ``lab.supervisor``, and one
round of it (respawn what died while the state does not mark it stopped).

``lab.supervisor`` is the loop (signals, logging, the interval); this module is what each
round does to the state, so that it can be read, and tested, apart from the loop.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from lab import impls
from lab.runtime import processes, restarts
from lab.runtime.process_launcher import Launcher
from lab.runtime.process_state import (
    State,
    StateStore,
    all_records,
    is_pending,
    unit_of,
)

Backoff = dict[int, tuple[int, float, float]]
"""port -> (failures in a row, not before, spawned at): the supervisor's memory."""


class SupervisorRetired(Exception):
    """This supervisor is no longer the one the state directory names: it should exit."""


def supervisor_pid(state: State) -> int | None:
    """The running supervisor the state names, if any."""
    pid = (state.get("supervisor") or {}).get("pid")
    if not isinstance(pid, int) or not processes.alive(pid):
        return None
    cmdline = processes.command_line(pid)
    return pid if not cmdline or "lab.supervisor" in cmdline else None


def ensure_supervisor(store: StateStore) -> int:
    """Start ``lab.supervisor`` for this state directory unless one runs; its pid."""
    with store.transaction() as state:
        pid = supervisor_pid(state)
        if pid is not None:
            return pid
        cmd = [sys.executable, "-m", "lab.supervisor", "--home", str(store.dir.root)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        pid = processes.spawn(cmd, env=env, log=store.dir.logs / "supervisor.log")
        state["supervisor"] = {"pid": pid, "started": time.time()}
    return pid


def stop_supervisor(store: StateStore) -> None:
    with store.transaction() as state:
        pid = supervisor_pid(state)
        state.pop("supervisor", None)
    if pid is not None:
        processes.stop([pid], grace=5)


def supervise_once(store: StateStore, launcher: Launcher, backoff: Backoff) -> list[str]:
    """One round of the supervisor: respawn every instance whose process died while the
    state does not mark it stopped (same port, same version) and re-publish its unit.

    ``backoff`` is the caller's memory. An instance that had started is respawned at once;
    one that keeps dying while starting after 0.5, 1, 2 … 10 s (``lab.runtime.restarts``)."""
    if not store.dir.state_file.exists():
        raise SupervisorRetired("the state directory is gone")
    messages: list[str] = []
    now = time.time()
    with store.transaction() as state:
        if (state.get("supervisor") or {}).get("pid") != os.getpid():
            raise SupervisorRetired("the state names another supervisor, or none")
        changed: set[tuple[str, str]] = set()
        for arch, unit_name, record in all_records(state):
            port = record["port"]
            if record.get("stopped") or is_pending(record, now):
                continue
            if processes.alive(record["pid"]):
                if port in backoff and now - backoff[port][2] > 10:
                    del backoff[port]  # it stayed up: forget its history
                if record.get("cpu_pid") != record["pid"] and restarts.reached_startup(
                    Path(record["log"]), int(record.get("log_offset", 0))
                ):
                    launcher.limit(record)
                continue
            count, not_before, _ = backoff.get(port, (0, 0.0, 0.0))
            started = restarts.reached_startup(
                Path(record["log"]), int(record.get("log_offset", 0))
            )
            if now < not_before and not started:
                continue
            count, delay = restarts.restart_plan(count, started=started)
            unit = unit_of(arch, unit_name)  # type: ignore[arg-type]
            fresh = launcher.spawn(
                state, unit, port, token=store.dir.admin_token(), version=record["version"],
                impl=record.get("impl", impls.PYTHON),
            )  # fmt: skip
            how = "was killed after it started" if started else "died while starting"
            messages.append(
                f"{arch}/{unit_name} on port {port} (pid {record['pid']}, version "
                f"{record['version']}) {how}; respawned as pid {fresh['pid']}"
                + (f", next respawn no sooner than {delay:g} s" if delay else "")
            )
            record.update(pid=fresh["pid"], log=fresh["log"], log_offset=fresh["log_offset"])
            record["respawns"] = int(record.get("respawns", 0)) + 1
            backoff[port] = (count, now + delay, now)
            changed.add((arch, unit_name))
        for arch, unit_name in sorted(changed):
            store.publish(state, arch, unit_name)
    return messages
