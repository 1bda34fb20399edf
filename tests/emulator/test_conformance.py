"""Schemathesis against the running emulator with tests/data/events-openapi.json.

Positive and negative cases for every operation, on both server versions: any 5xx, a status
the description does not list, a body or a required header that does not match it, fails the
test. Bounded examples and a fixed seed keep it quick and repeatable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis  # the dev extra: never skipped, this is the conformance gate
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from teleflow_py.emulator import Emulator

SPEC = Path(__file__).parent.parent / "data" / "events-openapi.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
SCHEMA = schemathesis.openapi.from_path(SPEC)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# The fork without a limit reaches every success answer; the newer server with a small bucket
# reaches its 429s too (bulk and broadcast cost 100 tokens: always refused with 20).
@pytest.mark.parametrize(("server_version", "rate_limit"), [("fork", None), ("latest", 20)])
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_the_emulator_conforms_to_the_description(
    operation: Any, mode: GenerationMode, server_version: str, rate_limit: Any
) -> None:
    with Emulator(server_version=server_version, rate_limit=rate_limit) as emu:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=10,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=emu.url, headers={"Authorization": "ApiKey test"}, checks=CHECKS
            )

        check()
