"""schemathesis against each entry's own /openapi.json: no 5xx, no answer that breaks
the document. Examples per operation stay few so that the suite runs on every CI build
(raise them with TWINSHOP_FUZZ_EXAMPLES for a longer hunt)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import Stack

EXAMPLES = int(os.environ.get("TWINSHOP_FUZZ_EXAMPLES", "30"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("arch", ["micro", "mono"])
def test_no_server_error_and_every_answer_matches_the_document(stack: Stack, arch: str) -> None:
    schema = schemathesis.openapi.from_url(stack.entries[arch] + "/openapi.json")
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 10  # 7 paths, 10 operations

    for operation in operations:
        # Valid requests and invalid ones (wrong types, missing fields, out of bounds).
        cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=admin, checks=CHECKS, timeout=10)

        exercise()
