"""Every status a trigger can answer, produced by per-workflow settings.

Follows novuhq/novu apps/api/src/app/events/usecases/parse-event-request/
parse-event-request.usecase.ts (statuses from packages/shared/src/types/events/index.ts) and
usecases/trigger-event-to-all/trigger-event-to-all.usecase.ts.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from teleflow_py.emulator import Emulator

from ._support import Api, trigger_body

WORKFLOWS = {
    "off": {"active": False},
    "empty": {"steps": 0},
    "all-steps-off": {"steps": 2, "active_steps": 0},
    "needs-tenant": {"tenant_required": True},
}


@pytest.mark.parametrize(
    ("name", "extra", "status"),
    [
        ("off", {}, "trigger_not_active"),
        ("empty", {}, "no_workflow_steps_defined"),
        ("all-steps-off", {}, "no_workflow_active_steps_defined"),
        ("welcome", {"tenant": "ghost"}, "no_tenant_found"),
        ("needs-tenant", {"tenant": {"identifier": "acme"}}, "processed"),
    ],
)
def test_each_status_is_a_201_without_transaction_id(
    name: str, extra: dict[str, Any], status: str
) -> None:
    with Emulator(workflows=WORKFLOWS, tenants=["acme"]) as emu:
        response = Api(emu.url).post("/v1/events/trigger", trigger_body(name=name, **extra))
        assert response.status_code == 201
        data = response.json()["data"]
        assert data["acknowledged"] is True and data["status"] == status
        assert ("transactionId" in data) is (status == "processed")
        assert [t["status"] for t in emu.triggers()] == [status]


@pytest.mark.parametrize(
    ("tenant", "message"),
    [
        (None, "Trigger is missing: tenant object"),
        ("acme", "Trigger is missing: identifier property of tenant"),
        ({"name": "Acme"}, "Trigger is missing: identifier property of tenant"),
    ],
)
def test_a_tenant_workflow_without_tenant_is_a_400(tenant: Any, message: str) -> None:
    # validateTriggerContext: reads the reserved "identifier" off the tenant value.
    with Emulator(workflows=WORKFLOWS) as emu:
        body = trigger_body(name="needs-tenant", tenant=tenant)
        response = Api(emu.url).post("/v1/events/trigger", body)
        assert response.status_code == 400
        assert response.json()["message"] == message


def test_statuses_inside_bulk_results() -> None:
    with Emulator(workflows=WORKFLOWS, known_workflows=["welcome"]) as emu:
        events = [
            trigger_body(name=name, payload={})
            for name in ("off", "welcome", "nope", "needs-tenant")
        ]
        slots = Api(emu.url).post("/v1/events/trigger/bulk", {"events": events}).json()["data"]
        assert [slot["status"] for slot in slots] == [
            "trigger_not_active",
            "processed",
            "error",
            "error",
        ]
        assert slots[2]["error"] == ["workflow_not_found"]
        assert slots[3]["error"] == ["Trigger is missing: tenant object"]


def test_a_broadcast_answers_processed_whatever_the_workflow_state() -> None:
    with Emulator(workflows=WORKFLOWS) as emu:
        response = Api(emu.url).post("/v1/events/trigger/broadcast", {"name": "off", "payload": {}})
        data = response.json()["data"]
        assert data["status"] == "processed" and data["transactionId"]


def test_workflows_can_be_set_over_http_and_are_listed(emu: Emulator) -> None:
    answer = requests.post(
        emu.url + "/emulator/workflows", json={"name": "w", "active": False}, timeout=30
    )
    assert answer.status_code == 201
    bad = requests.post(
        emu.url + "/emulator/workflows", json={"name": "w", "steps": -1}, timeout=30
    )
    assert bad.status_code == 400 and "steps" in bad.json()["message"]
    settings = requests.get(emu.url + "/emulator/settings", timeout=30).json()
    assert settings["workflows"]["w"]["active"] is False
    assert settings["server_version"] == "2024-05"
    # The hosted service's flags by default (apps/api/src/.env.production has both false).
    assert (settings["idempotency"], settings["rate_limiting"]) == (True, True)
    assert (settings["rate_limit_tier"], settings["event_quota"]) == ("unlimited", None)
    assert emu.settings() == settings
    response = Api(emu.url).post("/v1/events/trigger", trigger_body(name="w"))
    assert response.json()["data"]["status"] == "trigger_not_active"


def test_subscriber_id_missing_is_never_answered(api: Api) -> None:
    # packages/shared/src/types/events/index.ts: "TODO: Seems not used" - no code path sets it.
    response = api.post("/v1/events/trigger", {"name": "w", "to": {"email": "a@b.c"}})
    assert response.json()["data"]["status"] == "processed"


def test_bad_workflow_settings_are_refused_at_the_call() -> None:
    with pytest.raises(ValueError, match="active_steps"):
        Emulator(workflows={"w": {"steps": 1, "active_steps": 2}})
    with pytest.raises(ValueError, match="server_version"):
        Emulator(server_version="2019")
