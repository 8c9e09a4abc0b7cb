from __future__ import annotations

import json
from pathlib import Path

import pytest

from shop.core.discovery import DnsDiscovery, FileDiscovery, StaticDiscovery, parse_discovery


def test_specs_pick_the_right_adapter(tmp_path: Path) -> None:
    assert parse_discovery("http://127.0.0.1:9000") == StaticDiscovery(("http://127.0.0.1:9000",))
    assert parse_discovery("http://catalog:8000") == DnsDiscovery("catalog", 8000)
    assert parse_discovery("dns:catalog:8000") == DnsDiscovery("catalog", 8000)
    assert parse_discovery("list:http://a:1,http://b:2/").replicas() == ["http://a:1", "http://b:2"]
    assert parse_discovery(f"file://{tmp_path}/x.json") == FileDiscovery(tmp_path / "x.json")
    with pytest.raises(ValueError, match="unknown discovery spec"):
        parse_discovery("catalog")


def test_file_discovery_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    discovery = FileDiscovery(path)
    assert discovery.replicas() == []
    path.write_text(json.dumps(["http://127.0.0.1:1/", "http://127.0.0.1:2"]))
    assert discovery.replicas() == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    path.write_text("[half a li")
    assert discovery.replicas() == []


def test_dns_discovery_resolves_every_address() -> None:
    assert DnsDiscovery("localhost", 8000).replicas()[0].endswith(":8000")
