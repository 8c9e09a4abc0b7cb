"""CODEOWNERS: every file owned by exactly one team, read with GitHub's semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import codeowners
from lab.deployables import contains, deployable, image_paths
from lab.imports import repo_files

ROOT = Path(__file__).parents[2]
RULES = codeowners.load(ROOT)
CATALOG, ORDERS, PLATFORM = "@twinshop/catalog-team", "@twinshop/orders-team", "@twinshop/platform"


def test_every_rule_names_exactly_one_team() -> None:
    assert RULES
    assert [rule.pattern for rule in RULES if len(rule.owners) != 1] == []


def test_every_file_of_the_repository_is_owned_by_exactly_one_team() -> None:
    files = repo_files(ROOT)
    assert len(files) > 100
    owned = {path: codeowners.owners_of(RULES, path) for path in files}
    assert {path: owners for path, owners in owned.items() if len(owners) != 1} == {}


@pytest.mark.parametrize(
    ("path", "team"),
    [
        ("shop/catalog/model.py", CATALOG),
        ("services/catalog/app.py", CATALOG),
        ("shop/orders/services.py", ORDERS),
        ("services/orders/inventory.py", ORDERS),
        ("services/orders/contracts/orders-catalog.json", ORDERS),
        ("monolith/inventory.py", ORDERS),
        ("monolith/app.py", PLATFORM),
        ("shop/kernel/db.py", PLATFORM),
        ("services/gateway/proxy.py", PLATFORM),
        ("lab/cli.py", PLATFORM),
        ("docker/requirements/catalog.txt", CATALOG),
        ("tests/support.py", PLATFORM),
    ],
)
def test_each_service_path_has_its_team(path: str, team: str) -> None:
    assert codeowners.owners_of(RULES, path) == (team,)


def test_the_last_matching_rule_wins_and_patterns_read_as_on_github() -> None:
    rules = codeowners.parse(
        "*  @a\n/docs/  @b\n/docs/*.md  @c\n*.py  @d\n/src/app  @e\nlogs/  @f\n"
    )
    assert codeowners.owners_of(rules, "README") == ("@a",)
    assert codeowners.owners_of(rules, "docs/x/y.txt") == ("@b",)
    assert codeowners.owners_of(rules, "docs/guide.md") == ("@c",)
    assert codeowners.owners_of(rules, "docs/x/guide.md") == ("@b",)  # * stops at a slash
    assert codeowners.owners_of(rules, "deep/down/mod.py") == ("@d",)  # unanchored: any depth
    assert codeowners.owners_of(rules, "src/app/main.go") == ("@e",)
    assert codeowners.owners_of(rules, "src/application") == ("@a",)
    assert codeowners.owners_of(rules, "x/logs/today") == ("@f",)
    assert codeowners.owners_of(codeowners.parse(""), "anything") == ()


def release(name: str) -> set[str]:
    files = [f for f in repo_files(ROOT) if contains(image_paths(ROOT, deployable(name)), f)]
    return codeowners.release_teams(RULES, files)


def test_each_service_ships_with_one_team_and_the_monolith_needs_all_three() -> None:
    assert release("catalog") == {CATALOG}
    assert release("orders") == {ORDERS}
    assert release("gateway") == {PLATFORM}
    assert release("monolith") == {CATALOG, ORDERS, PLATFORM}
