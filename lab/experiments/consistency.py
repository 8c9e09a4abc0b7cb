"""Consistency under crashes: exactly once and balanced books while units die at random.

Clients check out and cancel on both architectures at once, each request retried with the
same Idempotency-Key until a definitive answer (as a careful client does), while a killer
sends SIGKILL to a random unit — edges included — every few seconds and lets it come back
(process runtime: the supervisor; docker: ``docker kill`` then ``docker start``, as a
restart policy would). Afterwards, per architecture:

- every acknowledged order is there, with the status its client was last told;
- each Idempotency-Key has at most one order that ever became visible, and an
  acknowledged key has exactly the order its client was given;
- stock is conserved for every product (seed − stock = Σ quantities of confirmed
  orders) and never negative;
- nothing stays ``pending``, ``releasing`` or ``cancelling`` once the reconciler has run.

A violation fails the experiment loudly. It also reports the kills per unit, requests,
acknowledgements, outcomes the client never learnt (it gave up retrying), and how long the
entry took to answer again after each kill.

Why it stays above 300 lines: one soak — its careful clients, the killer and the per-unit
recovery figures share the run's clock and counters; the invariants themselves live in
``lab/invariants.py``.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from lab.errors import LabError
from lab.experiments.common import ARCHES, HOSTING_ORDERS, Lab
from lab.experiments.model import ExperimentResult, Row
from lab.runtime.base import Runtime
from lab.topology import UNITS

VISIBLE = ("confirmed", "cancelling", "cancelled")
UNSETTLED = ("pending", "releasing", "cancelling")
SEED_STOCK = 100_000
PRODUCTS = 3


@dataclass(frozen=True)
class Plan:
    clients: int
    kills: int  # per architecture, at least
    every: tuple[float, float]  # seconds between two kills (uniform)
    give_up: float = 30.0  # a client stops retrying one request after this long
    cancel_share: float = 0.3


QUICK = Plan(clients=3, kills=8, every=(1.0, 3.0))
FULL = Plan(clients=6, kills=20, every=(2.0, 6.0))


@dataclass
class Tally:
    """What the clients of one architecture saw."""

    requests: int = 0
    acks: int = 0
    refused: int = 0
    unknown: int = 0
    # order id -> what its client was last told: "confirmed", "cancelled", or "either"
    # (a cancel whose outcome it never learnt).
    told: dict[str, str] = field(default_factory=dict)
    key_of: dict[str, str] = field(default_factory=dict)  # order id -> key
    lock: threading.Lock = field(default_factory=threading.Lock)


class SoakClient(threading.Thread):
    def __init__(
        self,
        entry: str,
        customer: str,
        products: list[int],
        tally: Tally,
        plan: Plan,
        stop: threading.Event,
        seed: int,
    ) -> None:
        super().__init__(name=f"soak-{customer}", daemon=True)
        self.entry = entry
        self.customer = customer
        self.products = products
        self.tally = tally
        self.plan = plan
        self.stop = stop
        self.random = random.Random(seed)

    def run(self) -> None:
        with httpx.Client(base_url=self.entry, timeout=5.0) as http:
            while not self.stop.is_set():
                self.one_order(http)

    def one_order(self, http: httpx.Client) -> None:
        key = f"soak-{uuid.uuid4()}"
        body = {
            "customer": self.customer,
            "items": [
                {
                    "product_id": self.random.choice(self.products),
                    "quantity": self.random.randint(1, 3),
                }
            ],
        }
        answer = self.until_definitive(
            lambda: http.post("/orders", json=body, headers={"Idempotency-Key": key})
        )
        with self.tally.lock:
            if answer is None:
                self.tally.unknown += 1
                return
            if answer.status_code != 201:
                self.tally.refused += 1
                return
            order_id = answer.json()["id"]
            self.tally.acks += 1
            self.tally.told[order_id] = "confirmed"
            self.tally.key_of[order_id] = key
        if self.random.random() >= self.plan.cancel_share:
            return
        cancelled = self.until_definitive(lambda: http.post(f"/orders/{order_id}/cancel"))
        with self.tally.lock:
            if cancelled is not None and cancelled.status_code == 200:
                self.tally.acks += 1
                self.tally.told[order_id] = "cancelled"
            else:
                self.tally.unknown += 1
                self.tally.told[order_id] = "either"

    def until_definitive(self, send: Any) -> httpx.Response | None:
        """Retry until 2xx, or a 4xx that is not 'in progress'; ``None``: never learnt."""
        deadline = time.monotonic() + self.plan.give_up
        while time.monotonic() < deadline:
            with self.tally.lock:
                self.tally.requests += 1
            try:
                response = send()
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code < 500:
                busy = response.status_code == 409 and "in progress" in response.text
                if not busy:
                    return response
            time.sleep(self.random.uniform(0.1, 0.4))
        return None


def run(lab: Lab) -> ExperimentResult:
    plan = QUICK if lab.quick else FULL
    run_id = uuid.uuid4().hex[:6]
    token = _admin_token(lab.runtime)
    products = {arch: _new_products(lab.entries[arch], token) for arch in ARCHES}
    tallies = {arch: Tally() for arch in ARCHES}
    stop = threading.Event()
    clients = [
        SoakClient(
            lab.entries[arch],
            f"soak-{run_id}-{arch}-{i}",
            products[arch],
            tallies[arch],
            plan,
            stop,
            seed=hash((run_id, arch, i)),
        )
        for arch in ARCHES
        for i in range(plan.clients)
    ]
    started = time.monotonic()
    for client in clients:
        client.start()
    try:
        kills, recovery = _killer(lab, plan)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=plan.give_up + 10)
    soak_seconds = time.monotonic() - started
    data: dict[str, Any] = {"plan": plan.__dict__, "soak_seconds": round(soak_seconds, 1)}
    problems: dict[str, list[str]] = {}
    for arch in ARCHES:
        customers = [f"soak-{run_id}-{arch}-{i}" for i in range(plan.clients)]
        problems[arch] = _check(lab, arch, customers, products[arch], tallies[arch])
        tally = tallies[arch]
        data[arch] = {
            "kills": dict(kills[arch]),
            "requests": tally.requests,
            "acks": tally.acks,
            "refused": tally.refused,
            "unknown": tally.unknown,
            "recovery_s": {
                "median": round(statistics.median(recovery[arch]), 2) if recovery[arch] else None,
                "max": round(max(recovery[arch]), 2) if recovery[arch] else None,
            },
            "violations": problems[arch],
        }
    result = ExperimentResult("consistency", [_row(plan, data)], data=data, invariants=problems)
    if any(problems.values()):
        result.save(lab.results)
        raise LabError(
            "consistency violated: "
            + "; ".join(f"{arch}: {p}" for arch in ARCHES for p in problems[arch])
        )
    return result


def _admin_token(runtime: Runtime) -> str:
    return runtime.admin_token()


def _new_products(entry: str, token: str) -> list[int]:
    ids = []
    with httpx.Client(base_url=entry, timeout=10.0) as http:
        for _ in range(PRODUCTS):
            sku = f"SOAK-{uuid.uuid4().hex[:10]}"
            response = http.post(
                "/products",
                json={"sku": sku, "name": f"Soak {sku}", "price_cents": 100, "stock": SEED_STOCK},
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status_code != 201:
                raise LabError(f"could not create a product on {entry}: {response.status_code}")
            ids.append(int(response.json()["id"]))
    return ids


def _killer(lab: Lab, plan: Plan) -> tuple[dict[str, Counter[str]], dict[str, list[float]]]:
    """Kill a random unit of each architecture in turn until each had ``plan.kills``."""
    kills: dict[str, Counter[str]] = {arch: Counter() for arch in ARCHES}
    recovery: dict[str, list[float]] = {arch: [] for arch in ARCHES}
    rng = random.Random()
    for round_ in range(plan.kills * len(ARCHES)):
        arch = ARCHES[round_ % len(ARCHES)]
        time.sleep(rng.uniform(*plan.every))
        unit = rng.choice([u.name for u in UNITS[arch]])  # type: ignore[index]
        lab.runtime.crash(unit)
        killed = time.monotonic()
        kills[arch][unit] += 1
        path = "/orders?limit=1" if unit == "orders" else "/products?limit=1"
        if _answers_again(lab.entries[arch], path, within=60):
            recovery[arch].append(time.monotonic() - killed)
        else:
            raise LabError(f"{arch} did not answer {path} within 60 s after {unit} was killed")
    return kills, recovery


def _answers_again(entry: str, path: str, *, within: float) -> bool:
    deadline = time.monotonic() + within
    with httpx.Client(base_url=entry, timeout=2.0) as http:
        while time.monotonic() < deadline:
            try:
                if http.get(path).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    return False


def _check(
    lab: Lab, arch: str, customers: list[str], products: list[int], tally: Tally
) -> list[str]:
    unit = HOSTING_ORDERS[arch]
    problems: list[str] = []
    deadline = time.monotonic() + 90
    while True:  # the reconciler finishes what the kills cut
        audits = [_audit(lab, unit, customer) for customer in customers]
        unsettled = audits[0]["unsettled"] if audits else 0
        if not unsettled or time.monotonic() > deadline:
            break
        time.sleep(1)
    orders = [order for audit in audits for order in audit["orders"]]
    if unsettled:
        problems.append(f"{unsettled} orders still pending/releasing/cancelling after 90 s")
    by_id = {order["id"]: order for order in orders}
    visible_per_key = Counter(o["key"] for o in orders if o["status"] in VISIBLE and o["key"])
    for key, count in visible_per_key.items():
        if count > 1:
            problems.append(f"key {key} has {count} orders")
    for order_id, told in tally.told.items():
        order = by_id.get(order_id)
        if order is None:
            problems.append(f"acknowledged order {order_id} is missing")
            continue
        status = "cancelled" if order["status"] == "cancelling" else order["status"]
        allowed = ("confirmed", "cancelled") if told == "either" else (told,)
        if status not in allowed:
            problems.append(f"order {order_id} is {status}, its client was told {told}")
        if order["key"] != tally.key_of[order_id]:
            problems.append(f"order {order_id} carries key {order['key']}, not its client's")
    confirmed: Counter[int] = Counter()
    for order in orders:
        if order["status"] == "confirmed":
            for product_id, quantity in order["lines"]:
                confirmed[product_id] += quantity
    with httpx.Client(base_url=lab.entries[arch], timeout=10.0) as http:
        for product_id in products:
            stock = int(http.get(f"/products/{product_id}").json()["stock"])
            if stock < 0:
                problems.append(f"product {product_id} has negative stock {stock}")
            if SEED_STOCK - stock != confirmed[product_id]:
                problems.append(
                    f"product {product_id}: seed − stock = {SEED_STOCK - stock}, "
                    f"confirmed quantities = {confirmed[product_id]}"
                )
    return problems


def _audit(lab: Lab, unit: str, customer: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        try:
            return dict(lab.runtime.admin_get(unit, f"/_orders/audit?customer={customer}"))
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _row(plan: Plan, data: dict[str, Any]) -> Row:
    def cell(arch: str) -> str:
        d = data[arch]
        kills = ", ".join(f"{unit} {n}" for unit, n in sorted(d["kills"].items()))
        back = d["recovery_s"]
        verdict = "no violation" if not d["violations"] else f"{len(d['violations'])} VIOLATIONS"
        return (
            f"{sum(d['kills'].values())} kills ({kills}); {d['requests']} requests, "
            f"{d['acks']} acknowledged, {d['unknown']} outcomes unknown to the client; "
            f"entry back after a kill in {back['median']} s median, {back['max']} s max; "
            f"{verdict}"
        )

    micro, mono = data["micro"]["recovery_s"], data["mono"]["recovery_s"]
    exact = not data["micro"]["violations"] and not data["mono"]["violations"]
    verdict = (
        "Both exact under crashes: every acknowledged order kept, one order per key, stock "
        "conserved. The monolith gets it from one transaction; the microservices need keys "
        "stored with the order's fate, a durable cancel and a reconciler — more machinery "
        "for the same guarantee."
        if exact
        else "Violations found: see the list in consistency.json."
    )
    if micro["max"] is not None and mono["max"] is not None:
        verdict += (
            f" Worst outage per kill: micro {micro['max']} s, mono {mono['max']} s "
            "(a killed monolith takes browsing down with it)."
        )
    return Row(
        "Consistency under crashes",
        f"{plan.clients} clients per architecture check out and cancel, retrying each request "
        f"with one Idempotency-Key until a definitive answer; SIGKILL of a random unit "
        f"(edges included) every {plan.every[0]:g}–{plan.every[1]:g} s, ≥ {plan.kills} per "
        "architecture, each comes back by itself",
        cell("micro"),
        cell("mono"),
        verdict,
    )
