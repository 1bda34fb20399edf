"""What the emulated service is configured to be: server version, workflows, tenants, keys.

The real server decides a trigger's answer from the workflow it names (active? any steps? any
active step? does it need a tenant? does it wait in a delay or digest step?), so the emulator
keeps the same facts per workflow name. ``Settings`` is shared by the pipeline and the
endpoints and changed at runtime through :class:`~teleflow_py.emulator.Emulator`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

# The Teleflow server as forked: NxPKG/teleflow at 2066d4c74 (2024-05-07, @teleflow/api 0.24.1,
# forked from novuhq/novu's next on 2024-05-03). NestJS's default error body; idempotency, the
# token-bucket rate limiter and the event quota (402) behind feature flags.
FORK = "2024-05"
# The newer Novu API (novuhq/novu, 2024-10): the same guards, and the AllExceptionsFilter error
# body (``timestamp`` and ``path`` in every error answer).
LATEST = "2024-10"
SERVER_VERSIONS = (FORK, LATEST)
_VERSION_NAMES = {"fork": FORK, "latest": LATEST, FORK: FORK, LATEST: LATEST}


def server_version(value: str) -> str:
    """Return the canonical server version for ``value`` (``fork``, ``latest`` or a date).

    Raises:
        ValueError: for any other value.
    """
    canonical = _VERSION_NAMES.get(value) if isinstance(value, str) else None
    if canonical is None:
        choices = ", ".join(sorted(_VERSION_NAMES))
        raise ValueError(f"server_version must be one of {choices}, got {value!r}")
    return canonical


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


@dataclass(frozen=True)
class Workflow:
    """How a workflow is set up on the server, which decides a trigger's answer.

    Args:
        active: False answers ``trigger_not_active`` (no transaction id).
        steps: how many steps it has; 0 answers ``no_workflow_steps_defined``.
        active_steps: how many of them are active (default: all); 0 answers
            ``no_workflow_active_steps_defined``.
        tenant_required: the workflow uses tenant variables: a trigger without a tenant
            identifier is a 400 ``Trigger is missing: ...``.
        delayed: it has a delay or digest step, so a triggered transaction stays pending and
            cancelling it returns ``true`` (once).

    Raises:
        ValueError: for a value of the wrong type or out of range.
    """

    active: bool = True
    steps: int = 1
    active_steps: Optional[int] = None
    tenant_required: bool = False
    delayed: bool = False

    def __post_init__(self) -> None:
        _flag("active", self.active)
        _flag("tenant_required", self.tenant_required)
        _flag("delayed", self.delayed)
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"steps must be an integer >= 0, got {self.steps!r}")
        if self.active_steps is not None and (
            isinstance(self.active_steps, bool)
            or not isinstance(self.active_steps, int)
            or not 0 <= self.active_steps <= self.steps
        ):
            raise ValueError(
                f"active_steps must be an integer between 0 and steps, got {self.active_steps!r}"
            )

    def describe(self) -> dict[str, Any]:
        """A JSON-able view, for the inspection API and the dashboard."""
        return {
            "active": self.active,
            "steps": self.steps,
            "active_steps": self.steps if self.active_steps is None else self.active_steps,
            "tenant_required": self.tenant_required,
            "delayed": self.delayed,
        }


@dataclass
class Settings:
    """Behaviour switches of the emulated service.

    ``workflows`` maps names to their set-up; with ``any_workflow`` every other name is a
    workflow with the default set-up, otherwise it is ``workflow_not_found``.
    ``tenants`` (None: every tenant exists) makes other tenant identifiers ``no_tenant_found``.
    ``api_keys`` (None: any key) is the set of accepted keys.
    ``idempotency`` is the server's ``IS_API_IDEMPOTENCY_ENABLED``; ``event_quota`` (None: no
    quota) is how many events are triggered before the events routes answer 402;
    ``rate_limit_tier`` (None: rate limiting off) is only shown.
    """

    server_version: str = FORK
    workflows: dict[str, Workflow] = field(default_factory=dict)
    any_workflow: bool = True
    tenants: Optional[frozenset[str]] = None
    api_keys: Optional[frozenset[str]] = None
    batch_event_limit: Optional[int] = None
    idempotency: bool = True
    event_quota: Optional[int] = None
    rate_limit_tier: Optional[str] = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def workflow(self, name: str) -> Optional[Workflow]:
        """The set-up of workflow ``name``, or None when the server would not find it."""
        with self.lock:
            found = self.workflows.get(name)
        if found is None and self.any_workflow:
            return Workflow()
        return found

    def set_workflow(self, name: str, workflow: Workflow) -> None:
        """Add or replace the set-up of workflow ``name``."""
        with self.lock:
            self.workflows[name] = workflow

    def describe(self) -> dict[str, Any]:
        """A JSON-able view (no API keys), for the inspection API and the dashboard."""
        with self.lock:
            workflows = {name: wf.describe() for name, wf in sorted(self.workflows.items())}
        return {
            "server_version": self.server_version,
            "any_workflow": self.any_workflow,
            "workflows": workflows,
            "tenants": None if self.tenants is None else sorted(self.tenants),
            "api_keys": "any" if self.api_keys is None else len(self.api_keys),
            "batch_event_limit": self.batch_event_limit,
            "idempotency": self.idempotency,
            "rate_limiting": self.rate_limit_tier is not None,
            "rate_limit_tier": self.rate_limit_tier,
            "event_quota": self.event_quota,
        }


def build_settings(
    server_version_name: str = FORK,
    known_workflows: Optional[Iterable[str]] = None,
    workflows: Optional[Mapping[str, Any]] = None,
    tenants: Optional[Iterable[str]] = None,
    api_keys: Optional[Iterable[str]] = None,
    batch_event_limit: Optional[int] = None,
) -> Settings:
    """Build ``Settings`` from the Emulator's keyword arguments.

    ``workflows`` values are :class:`Workflow` objects or dicts of its fields. Giving
    ``known_workflows`` makes every name not in it nor in ``workflows`` ``workflow_not_found``.

    Raises:
        ValueError: for an unknown server version or a bad workflow set-up.
    """
    table: dict[str, Workflow] = {name: Workflow() for name in (known_workflows or ())}
    for name, spec in (workflows or {}).items():
        if isinstance(spec, Workflow):
            table[name] = spec
        elif isinstance(spec, Mapping):
            try:
                table[name] = Workflow(**spec)
            except TypeError as exc:
                raise ValueError(f"workflow {name!r}: {exc}") from None
        else:
            raise ValueError(f"workflow {name!r} must be a Workflow or a dict, got {spec!r}")
    keys = None
    if api_keys is not None:
        keys = frozenset(api_keys)
        if not keys or not all(isinstance(key, str) and key.strip() for key in keys):
            raise ValueError("api_keys must be non-empty strings")
    return Settings(
        server_version=server_version(server_version_name),
        workflows=table,
        any_workflow=known_workflows is None,
        tenants=None if tenants is None else frozenset(tenants),
        api_keys=keys,
        batch_event_limit=batch_event_limit,
    )
