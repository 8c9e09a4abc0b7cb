"""How far a change reaches, per architecture: images rebuilt, test suites run, teams that
must approve, units redeployed — from today's Dockerfiles, import graph and CODEOWNERS."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lab import codeowners
from lab.deployables import ARCHES, DEPLOYABLES, Deployable, contains, image_paths
from lab.imports import ImportGraph, repo_files
from lab.pipelines import runtime_files, suite


@dataclass
class Impact:
    """What one change (a set of changed files) costs one architecture."""

    images: list[str] = field(default_factory=list)  # rebuilt (their pipelines run)
    units: list[str] = field(default_factory=list)  # redeployed
    suites: list[str] = field(default_factory=list)  # the pipelines' test suites run
    test_files: int = 0
    teams: list[str] = field(default_factory=list)  # review + release approvals
    lines: int = 0  # lines of Python the redeployed units run (what a redeploy puts at risk)
    test_seconds: float | None = None  # None: not measured
    build_seconds: float | None = None  # warm builds of the images rebuilt; None: not measured


@dataclass
class Layout:
    """Today's structure of the repository, read once."""

    root: Path
    files: list[str]
    rules: list[codeowners.Rule]
    images: dict[str, list[str]]  # deployable -> paths its image copies
    runs: dict[str, set[str]]  # deployable -> files it runs (import closure + non-Python)
    suites: dict[str, list[str]]  # deployable -> unit test files of its pipeline
    release: dict[str, set[str]]  # deployable -> teams that must agree to ship it
    lines: dict[str, int] = field(default_factory=dict)  # deployable -> lines of Python it runs
    suite_seconds: dict[str, float] = field(default_factory=dict)
    build_seconds: dict[str, float] = field(default_factory=dict)  # deployable -> warm build

    @classmethod
    def read(cls, root: Path) -> Layout:
        files = repo_files(root)
        graph = ImportGraph(root, files)
        rules = codeowners.load(root)
        images = {d.name: image_paths(root, d) for d in DEPLOYABLES}
        runs = {d.name: runtime_files(root, d, graph) for d in DEPLOYABLES}
        return cls(
            root=root,
            files=files,
            rules=rules,
            images=images,
            runs=runs,
            suites={d.name: suite(root, d, graph) for d in DEPLOYABLES},
            lines={name: _lines(root, files) for name, files in runs.items()},
            release={
                d.name: codeowners.release_teams(
                    rules, [f for f in files if contains(images[d.name], f)]
                )
                for d in DEPLOYABLES
            },
        )

    def deployables(self, arch: str) -> list[Deployable]:
        return [d for d in DEPLOYABLES if arch in d.units]

    def impact(self, changed: Iterable[str], arch: str) -> Impact:
        changed = list(changed)
        rebuilt = [
            d
            for d in self.deployables(arch)
            if any(contains(self.images[d.name], f) for f in changed)
        ]
        redeployed = [d for d in rebuilt if self.runs[d.name] & set(changed)]
        suites = [d.name for d in rebuilt if self.suites[d.name]]
        teams = codeowners.teams(self.rules, changed)
        for d in redeployed:
            teams |= self.release[d.name]
        measured = all(s in self.suite_seconds for s in suites)
        return Impact(
            images=[d.name for d in rebuilt],
            units=[u for d in redeployed for u in d.units[arch]],
            suites=suites,
            test_files=sum(len(self.suites[s]) for s in suites),
            teams=sorted(teams),
            lines=sum(self.lines[d.name] for d in redeployed),
            test_seconds=round(sum(self.suite_seconds[s] for s in suites), 2)
            if measured and self.suite_seconds
            else None,
            build_seconds=round(sum(self.build_seconds.get(d.name, 0.0) for d in rebuilt), 1)
            if self.build_seconds
            else None,
        )

    def tooling(self, changed: Iterable[str]) -> list[str]:
        """The shared tooling images (dashboard, load generator) a change rebuilds."""
        changed = list(changed)
        return [
            d.name
            for d in DEPLOYABLES
            if d.tooling and any(contains(self.images[d.name], f) for f in changed)
        ]

    def modules(self) -> list[str]:
        """Every Python file some architecture's unit runs: the targets of synthetic changes."""
        return sorted(
            {
                f
                for arch in ARCHES
                for d in self.deployables(arch)
                for f in self.runs[d.name]
                if f.endswith(".py")
            }
        )


def _lines(root: Path, files: Iterable[str]) -> int:
    """Non-blank lines of the Python files among ``files``."""
    total = 0
    for name in files:
        if name.endswith(".py"):
            text = (root / name).read_text(errors="replace")
            total += sum(1 for line in text.splitlines() if line.strip())
    return total
