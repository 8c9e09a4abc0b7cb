"""The same CPU budget per replica on the process runtime as in docker: a cgroup CPU quota.

Compose gives every Python unit ``cpus: $TWINSHOP_UNIT_CPUS`` (0.5) and every edge
``cpus: $TWINSHOP_EDGE_CPUS`` (1.0). Without the same limit here, one local replica could
use a whole core and the scaling experiment would compare machines, not architectures.

Where the OS allows it (root, or a delegated cgroup), each instance gets its own group
under the CPU controller, with a CFS quota of ``cpus × period``:

- cgroup v1: ``/sys/fs/cgroup/cpu/twinshop/<shop>/<instance>/cpu.cfs_quota_us`` and
  ``cpu.cfs_period_us``;
- cgroup v2: ``/sys/fs/cgroup/twinshop/<shop>/<instance>/cpu.max`` (``quota period``).

The process is moved in once it has started (start-up is not throttled: a replica comes up
as fast as in the compose stack, where image start-up is not counted either). Where no
group can be made (macOS, no permission), ``CpuBudget.reason`` says why and the report
recommends the docker runtime for the scaling experiment.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

PERIOD_US = 100_000
CGROUP_ROOT = Path("/sys/fs/cgroup")
UNIT_DEFAULT, EDGE_DEFAULT = 0.5, 1.0  # docker-compose.yml's defaults


def cpus_for(*, edge: bool, environ: dict[str, str] | None = None) -> float:
    """The budget of one replica, as compose gives it: ``TWINSHOP_EDGE_CPUS`` (1.0) for an
    edge, ``TWINSHOP_UNIT_CPUS`` (0.5) for every other unit."""
    env = os.environ if environ is None else environ
    name, default = (
        ("TWINSHOP_EDGE_CPUS", EDGE_DEFAULT) if edge else ("TWINSHOP_UNIT_CPUS", UNIT_DEFAULT)
    )
    try:
        value = float(env.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(frozen=True)
class CpuBudget:
    """Where this machine lets the lab put a CPU quota on a process (``base``), or why not."""

    base: Path | None
    version: int = 0
    reason: str = ""

    @classmethod
    def detect(cls, state_root: Path, *, cgroup_root: Path = CGROUP_ROOT) -> CpuBudget:
        """A folder for this state directory's groups, made now; or the reason there is none."""
        if os.environ.get("TWINSHOP_CPU_LIMIT", "1").lower() in ("0", "no", "off", "false"):
            return cls(None, reason="CPU limits are off (TWINSHOP_CPU_LIMIT=0)")
        shop = hashlib.sha1(str(state_root).encode()).hexdigest()[:10]
        v1 = cgroup_root / "cpu"
        if (v1 / "cpu.cfs_quota_us").exists():
            return cls._allowed(v1 / "twinshop" / shop, version=1)
        if "cpu" in _read(cgroup_root / "cgroup.controllers").split():
            return cls._allowed(cgroup_root / "twinshop" / shop, version=2)
        return cls(None, reason="no cgroup CPU controller here (not Linux, or not mounted)")

    @classmethod
    def _allowed(cls, base: Path, *, version: int) -> CpuBudget:
        """``base`` if this process may create it (nothing is made until an instance needs
        it: ``status`` alone leaves no trace)."""
        existing = base
        while not existing.exists():
            existing = existing.parent
        if not os.access(existing, os.W_OK):
            return cls(
                None,
                reason=f"no permission to make a cgroup under {existing}; run as root or use "
                "the docker runtime",
            )
        return cls(base, version=version)

    @property
    def available(self) -> bool:
        return self.base is not None

    def limit(self, pid: int, name: str, cpus: float) -> bool:
        """Put ``pid`` in its own group named ``name`` with ``cpus`` CPUs; False when it
        could not (the process runs unlimited)."""
        if self.base is None:
            return False
        group = self.base / name
        quota = max(1000, round(cpus * PERIOD_US))
        try:
            if self.version == 2:  # the cpu controller must be enabled on the way down
                top = self.base.parent
                for parent in (top.parent, top, self.base):
                    parent.mkdir(exist_ok=True)
                    _enable_cpu(parent)
            group.mkdir(parents=True, exist_ok=True)
            if self.version == 1:
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            (group / "cgroup.procs").write_text(str(pid))
        except OSError:
            return False
        self._weigh()
        return True

    def _weigh(self) -> None:
        """Give each parent group the weight of all the instances below it.

        The scheduler shares CPU between the groups of one level by weight, and a group
        starts with the weight of a single process: left so, every instance of the shop
        together would get what one other process (the load generator, say) gets. Weighed
        by the number of instances, each still competes like a process of its own; its
        quota alone caps it."""
        if self.base is None:
            return
        one = 1024 if self.version == 1 else 100
        name = "cpu.shares" if self.version == 1 else "cpu.weight"
        top = self.base.parent
        for parent in (self.base, top):
            groups = [
                g for g in parent.glob("*/" * (1 if parent == self.base else 2)) if g.is_dir()
            ]
            weight = max(1, len(groups)) * one
            with contextlib.suppress(OSError):
                (parent / name).write_text(str(min(weight, 262144 if self.version == 1 else 10000)))

    def applied(self, pid: int, name: str) -> float | None:
        """The CPUs ``pid`` is limited to, when it is in its group ``name``; else None."""
        if self.base is None:
            return None
        group = self.base / name
        if str(pid) not in _read(group / "cgroup.procs").split():
            return None
        return self._cpus(group)

    def _cpus(self, group: Path) -> float | None:
        try:
            if self.version == 1:
                quota = int(_read(group / "cpu.cfs_quota_us"))
                period = int(_read(group / "cpu.cfs_period_us"))
            else:
                quota_text, period_text = _read(group / "cpu.max").split()
                if quota_text == "max":
                    return None
                quota, period = int(quota_text), int(period_text)
        except ValueError:
            return None
        return round(quota / period, 2) if quota > 0 else None

    def prune(self) -> None:
        """Remove the groups no process is in any more (the kernel refuses busy ones)."""
        if self.base is None:
            return
        for group in self.base.iterdir() if self.base.is_dir() else []:
            if group.is_dir():
                with contextlib.suppress(OSError):
                    group.rmdir()
        with contextlib.suppress(OSError):
            self.base.rmdir()  # only when no group is left
        if self.base.exists():
            self._weigh()


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _enable_cpu(group: Path) -> None:
    control = group / "cgroup.subtree_control"
    if "cpu" not in _read(control).split():
        control.write_text("+cpu")
