"""Consumer-driven contracts in the Pact v3 JSON format, with no broker and no network.

The consumer (orders) writes down what it expects of a provider (catalog) as interactions,
runs its own HTTP client against a ``MockProvider`` that answers exactly those, and writes the
pact file. The provider's test run replays every interaction against the real provider app
(in-process) with ``verify`` and fails on any answer the consumer could not read.

Supported: provider states (with params), request matching (method, path, body, and the
headers named, by value or by a ``regex`` rule), and response matching as
Pact does it: the status, the expected headers, and a body where expected keys must be present
(extra keys are allowed) and values equal unless a matching rule (``type``, ``integer``,
``regex``, ``include``; ``min`` for arrays) says otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

SPECIFICATION = "3.0.0"


@dataclass
class Interaction:
    description: str
    request: dict[str, Any]  # method, path, optional headers and body
    response: dict[str, Any]  # status, optional headers, body and matchingRules
    states: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "params"}]

    def as_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "providerStates": self.states,
            "request": self.request,
            "response": self.response,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Interaction:
        return cls(
            data["description"],
            dict(data["request"]),
            dict(data["response"]),
            list(data.get("providerStates", [])),
        )


@dataclass
class Pact:
    consumer: str
    provider: str
    interactions: list[Interaction]

    def as_json(self) -> dict[str, Any]:
        return {
            "consumer": {"name": self.consumer},
            "provider": {"name": self.provider},
            "interactions": [i.as_json() for i in self.interactions],
            "metadata": {"pactSpecification": {"version": SPECIFICATION}},
        }

    def text(self) -> str:
        return json.dumps(self.as_json(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def load(cls, path: Path) -> Pact:
        data = json.loads(path.read_text())
        return cls(
            data["consumer"]["name"],
            data["provider"]["name"],
            [Interaction.from_json(i) for i in data["interactions"]],
        )


class MockProvider:
    """An ``httpx.MockTransport`` that answers the pact's interactions and nothing else,
    and remembers which were exercised (a pact may only hold interactions the consumer's
    client really made)."""

    def __init__(self, interactions: list[Interaction]) -> None:
        self.interactions = interactions
        self.exercised: set[str] = set()
        self.unexpected: list[str] = []
        self.transport = httpx.MockTransport(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        for interaction in self.interactions:
            wanted = interaction.request
            if (
                wanted["method"] == request.method
                and wanted["path"] == request.url.path
                and wanted.get("body") == body
                and _headers_match(wanted, request.headers)
            ):
                self.exercised.add(interaction.description)
                answer = interaction.response
                return httpx.Response(
                    answer["status"], headers=answer.get("headers"), json=answer.get("body")
                )
        self.unexpected.append(f"{request.method} {request.url.path} {body}")
        return httpx.Response(500, json={"detail": "no interaction in the pact matches"})

    def missed(self) -> list[str]:
        return [i.description for i in self.interactions if i.description not in self.exercised]


def _headers_match(wanted: Mapping[str, Any], headers: httpx.Headers) -> bool:
    """The request headers the interaction names are there, equal or matching their rule
    (``matchingRules.header.NAME``: a value that varies, such as a time budget)."""
    rules = wanted.get("matchingRules", {}).get("header", {})
    for name, value in wanted.get("headers", {}).items():
        actual = headers.get(name)
        if actual is None:
            return False
        matchers = rules.get(name, {}).get("matchers", [])
        if any(_match(m, value, actual) for m in matchers) or (not matchers and actual != value):
            return False
    return True


StateHandler = Callable[[dict[str, Any]], None]


def verify(
    pact: Pact, client: httpx.Client, states: Mapping[str, StateHandler]
) -> dict[str, list[str]]:
    """Replay every interaction against the provider behind ``client``; the mismatches per
    interaction (empty lists: the provider honours the contract)."""
    results: dict[str, list[str]] = {}
    for interaction in pact.interactions:
        problems: list[str] = []
        for state in interaction.states:
            handler = states.get(state["name"])
            if handler is None:
                problems.append(f"no handler for provider state {state['name']!r}")
            else:
                handler(dict(state.get("params", {})))
        if not problems:
            request = interaction.request
            response = client.request(
                request["method"],
                request["path"],
                headers=request.get("headers"),
                json=request.get("body"),
            )
            problems = mismatches(interaction.response, response)
        results[interaction.description] = problems
    return results


def mismatches(expected: Mapping[str, Any], response: httpx.Response) -> list[str]:
    found = []
    if response.status_code != expected["status"]:
        found.append(f"status: expected {expected['status']}, got {response.status_code}")
    for name, value in expected.get("headers", {}).items():
        actual = response.headers.get(name)
        if actual is None or not actual.startswith(value):
            found.append(f"header {name}: expected {value!r}, got {actual!r}")
    if "body" in expected:
        try:
            body = response.json()
        except ValueError:
            return [*found, f"body: expected JSON, got {response.text[:100]!r}"]
        rules = expected.get("matchingRules", {}).get("body", {})
        found += _compare(expected["body"], body, "$", rules)
    return found


def _compare(expected: Any, actual: Any, path: str, rules: Mapping[str, Any]) -> list[str]:
    matchers = _rule(rules, path)
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {json.dumps(actual)}"]
        found = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{path}.{key}: missing")
            else:
                found += _compare(value, actual[key], f"{path}.{key}", rules)
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected an array, got {json.dumps(actual)}"]
        minimum = next((m["min"] for m in matchers if "min" in m), None)
        if minimum is not None and expected:
            if len(actual) < minimum:
                return [f"{path}: expected at least {minimum} items, got {len(actual)}"]
            return [p for i, item in enumerate(actual)
                    for p in _compare(expected[0], item, f"{path}[{i}]", rules)]  # fmt: skip
        if len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {len(actual)}"]
        return [p for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for p in _compare(e, a, f"{path}[{i}]", rules)]  # fmt: skip
    for matcher in matchers:
        problem = _match(matcher, expected, actual)
        if problem:
            return [f"{path}: {problem}"]
    if not matchers and expected != actual:
        return [f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}"]
    return []


def _match(matcher: Mapping[str, Any], expected: Any, actual: Any) -> str | None:
    kind = matcher.get("match", "type")
    if kind == "type" and type(actual) is not type(expected):
        return f"expected a {type(expected).__name__}, got {json.dumps(actual)}"
    if kind == "integer" and (type(actual) is not int):
        return f"expected an integer, got {json.dumps(actual)}"
    if kind == "regex" and not (isinstance(actual, str) and re.fullmatch(matcher["regex"], actual)):
        return f"expected to match {matcher['regex']!r}, got {json.dumps(actual)}"
    if kind == "include" and not (isinstance(actual, str) and matcher["value"] in actual):
        return f"expected to include {matcher['value']!r}, got {json.dumps(actual)}"
    if kind == "equality" and actual != expected:
        return f"expected {json.dumps(expected)}, got {json.dumps(actual)}"
    return None


def _rule(rules: Mapping[str, Any], path: str) -> list[Mapping[str, Any]]:
    """The matchers of the rule whose JSON path (``$.items[*].price``) names ``path``."""
    for pattern, rule in rules.items():
        regex = re.escape(pattern).replace(r"\[\*\]", r"\[\d+\]").replace(r"\.\*", r"\.[^.\[]+")
        if re.fullmatch(regex, path):
            return list(rule.get("matchers", []))
    return []


class _PortalTransport(httpx.BaseTransport):
    """A synchronous httpx transport into an ASGI app running on a portal's event loop."""

    def __init__(self, portal: BlockingPortal, app: Any) -> None:
        self.portal = portal
        self.inner = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def call() -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self.portal.call(call)


@contextmanager
def asgi_client(app: Any, *, lifespan_of: Any = None) -> Iterator[httpx.Client]:
    """A synchronous client of an ASGI app in this process, its lifespan run around it (the
    lifespan of ``lifespan_of``, a FastAPI app, when ``app`` wraps one)."""
    owner = lifespan_of or app
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(owner.router.lifespan_context(owner)),
        httpx.Client(transport=_PortalTransport(portal, app), base_url="http://provider") as client,
    ):
        yield client
