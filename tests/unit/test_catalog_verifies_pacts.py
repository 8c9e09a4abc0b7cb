"""Catalog verifies what its consumers expect of it, in its own pipeline, before any deploy.

Every pact under services/*/contracts/ naming catalog as provider is replayed against the real
catalog app (in process, its own SQLite database); a broken reservation answer fails here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lab.pact import Pact, StateHandler, asgi_client, verify
from services.catalog.app import create_app
from shop.kernel.config import UnitSettings

ROOT = Path(__file__).parents[2]
PACTS = sorted(
    path for path in ROOT.glob("services/*/contracts/*.json")
    if json.loads(path.read_text())["provider"]["name"] == "catalog"
)  # fmt: skip
TOKEN = "pact-admin"


def catalog_app(tmp_path: Path) -> FastAPI:
    return create_app(
        UnitSettings(
            UNIT="catalog",
            INSTANCE="pact",
            DATABASE_URL=f"sqlite:///{tmp_path}/catalog.db",
            ADMIN_TOKEN=TOKEN,
            SEED_PRODUCTS=3,
            LOG_REQUESTS=False,
        )
    )


def states(client: httpx.Client) -> dict[str, StateHandler]:
    """How catalog puts itself in each state its consumers name."""
    admin = {"Authorization": f"Bearer {TOKEN}"}

    def in_stock(params: dict[str, Any]) -> None:
        answer = client.patch(f"/products/{params['product_id']}", headers=admin,
                              json={"stock": params["stock"]})  # fmt: skip
        assert answer.status_code == 200, answer.text

    def no_such_product(params: dict[str, Any]) -> None:
        assert client.get(f"/products/{params['product_id']}").status_code == 404

    def reservation(params: dict[str, Any]) -> None:
        items = [{"product_id": params["product_id"], "quantity": 1}]
        answer = client.put(f"/reservations/{params['order_id']}", json={"items": items})
        assert answer.status_code == 200, answer.text

    def released(params: dict[str, Any]) -> None:
        assert client.delete(f"/reservations/{params['order_id']}").status_code == 200

    return {
        "a product in stock": in_stock,
        "no such product": no_such_product,
        "a reservation": reservation,
        "a released order": released,
    }


@pytest.fixture
def verify_against() -> Iterator[Callable[..., dict[str, list[str]]]]:
    """Replay every pact against an app (its lifespan: that of ``lifespan_of`` if it wraps one)."""
    with ExitStack() as stack:

        def run(app: ASGIApp, *, lifespan_of: FastAPI | None = None) -> dict[str, list[str]]:
            client = stack.enter_context(asgi_client(app, lifespan_of=lifespan_of))
            results: dict[str, list[str]] = {}
            for path in PACTS:
                results |= verify(Pact.load(path), client, states(client))
            return results

        yield run


def test_there_is_a_pact_from_orders_to_verify() -> None:
    assert [Pact.load(p).consumer for p in PACTS] == ["orders"]


def test_catalog_honours_every_interaction_its_consumers_expect(
    tmp_path: Path, verify_against: Callable[..., dict[str, list[str]]]
) -> None:
    results = verify_against(catalog_app(tmp_path))
    assert len(results) >= 5
    assert {name: problems for name, problems in results.items() if problems} == {}


class RenamePriceField:
    """A catalog whose reservation answer renamed ``unit_price_cents`` (a breaking change)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/reservations/"):
            await self.app(scope, receive, send)
            return
        start: list[Message] = []

        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.append(message)
                return
            body = message.get("body", b"").replace(b'"unit_price_cents"', b'"price_cents"')
            headers = [(k, v) for k, v in start[0]["headers"] if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start[0], "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


def test_a_broken_reservation_answer_fails_catalogs_verification(
    tmp_path: Path, verify_against: Callable[..., dict[str, list[str]]]
) -> None:
    catalog = catalog_app(tmp_path)
    results = verify_against(RenamePriceField(catalog), lifespan_of=catalog)
    assert results["a reservation of products in stock"] == ["$.items[0].unit_price_cents: missing"]
    assert results["a release of a reservation"] == []
