"""The catalog's rules: reserve all or nothing, release once, tombstones, seeding."""

from __future__ import annotations

import pytest

from shop.catalog import services
from shop.catalog.model import (
    InsufficientStock,
    Line,
    Product,
    ProductNotFound,
    ReservationReleased,
    UnknownProducts,
    seed_products,
)
from tests.unit.fakes import FakeCatalog


def catalog() -> FakeCatalog:
    return FakeCatalog([Product(1, "A", "Blue Mug", 300, 5), Product(2, "B", "Red Lamp", 125, 1)])


def test_reserve_takes_stock_and_prices_lines() -> None:
    store = catalog()
    reservation = services.reserve(store, "o1", [Line(1, 2), Line(2, 1)])
    assert [(p.product_id, p.unit_price_cents) for p in reservation.lines] == [(1, 300), (2, 125)]
    assert (store.products.rows[1].stock, store.products.rows[2].stock) == (3, 0)


def test_reserve_is_idempotent_by_order_id() -> None:
    store = catalog()
    services.reserve(store, "o1", [Line(1, 2)])
    services.reserve(store, "o1", [Line(1, 2)])
    assert store.products.rows[1].stock == 3


def test_unknown_products_are_reported_before_short_stock() -> None:
    store = catalog()
    with pytest.raises(UnknownProducts) as caught:
        services.reserve(store, "o1", [Line(2, 50), Line(99, 1), Line(2**40, 1)])
    assert caught.value.product_ids == [99, 2**40]


def test_short_stock_names_the_product() -> None:
    with pytest.raises(InsufficientStock) as caught:
        services.reserve(catalog(), "o1", [Line(1, 1), Line(2, 2)])
    assert caught.value.product_id == 2


def test_release_restores_stock_exactly_once() -> None:
    store = catalog()
    services.reserve(store, "o1", [Line(1, 4)])
    assert services.release(store, "o1") is True
    assert services.release(store, "o1") is False
    assert store.products.rows[1].stock == 5


def test_release_before_reserve_leaves_a_tombstone_that_refuses_the_reserve() -> None:
    store = catalog()
    assert services.release(store, "late") is False
    with pytest.raises(ReservationReleased):
        services.reserve(store, "late", [Line(1, 1)])
    assert store.products.rows[1].stock == 5


def test_implausible_ids_are_not_found_without_asking_storage() -> None:
    with pytest.raises(ProductNotFound):
        services.get_product(catalog(), 2**63)
    with pytest.raises(ProductNotFound):
        services.update_product(catalog(), 0, price_cents=1, stock=None)


def test_seed_is_deterministic_and_only_once() -> None:
    assert seed_products(100, 1000) == seed_products(100, 1000)
    assert len({p.sku for p in seed_products(100, 1000)}) == 100
    assert len({p.name for p in seed_products(100, 1000)}) == 100
    store = FakeCatalog()
    assert services.seed(store, count=100, stock=7) == 100
    assert services.seed(store, count=100, stock=7) == 0
    assert store.products.count() == 100
    assert {p.stock for p in store.products.rows.values()} == {7}
