"""Every request the SDK can build validates against the published OpenAPI contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teleflow_py import Client
from teleflow_py.emulator import Emulator

CONTRACT = json.loads((Path(__file__).parent.parent / "data" / "events-openapi.json").read_text())
SCHEMAS = CONTRACT["components"]["schemas"]

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12
).filter(lambda s: s.strip() != "")
json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
json_object = st.dictionaries(text, json_value, max_size=4)
subscriber = st.fixed_dictionaries(
    {"subscriberId": text},
    optional={
        "email": text,
        "firstName": text,
        "lastName": text,
        "phone": text,
        "locale": text,
        "avatar": text,
        "data": json_object,
    },
)
topic = st.fixed_dictionaries({"type": st.just("Topic"), "topicKey": text})
recipient = text | subscriber | topic
recipients = recipient | st.lists(recipient, min_size=1, max_size=4)
tenant = text | st.fixed_dictionaries(
    {}, optional={"identifier": text, "name": text, "data": json_object}
)
optional_fields = st.fixed_dictionaries(
    {},
    optional={
        "payload": json_object,
        "overrides": json_object,
        "transaction_id": text,
        "actor": text | subscriber,
        "tenant": tenant,
    },
)


def validate(body: Any, schema_name: str) -> None:
    jsonschema.validate(
        body, {"$ref": f"#/components/schemas/{schema_name}", "components": {"schemas": SCHEMAS}}
    )


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=text, to=recipients, extra=optional_fields)
def test_any_trigger_the_sdk_builds_matches_the_contract(
    name: str, to: Any, extra: Dict[str, Any]
) -> None:
    with Emulator() as emu, Client(api_key="k", base_url=emu.url, max_retries=0) as api:
        api.trigger_event(name, to, **extra)
        api.broadcast_event(
            name, extra.get("payload", {}), **{k: v for k, v in extra.items() if k != "payload"}
        )
        api.trigger_bulk_event([dict({"name": name, "to": to}, **_wire(extra))] * 3)
        trigger, broadcast, bulk = emu.requests()
    validate(trigger["body"], "TriggerEventRequestDto")
    validate(broadcast["body"], "TriggerEventToAllRequestDto")
    validate(bulk["body"], "BulkTriggerEventDto")
    assert trigger["status"] == 201 and bulk["status"] == 201


def _wire(extra: Dict[str, Any]) -> Dict[str, Any]:
    wire = dict(extra)
    if "transaction_id" in wire:
        wire["transactionId"] = wire.pop("transaction_id")
    return wire
