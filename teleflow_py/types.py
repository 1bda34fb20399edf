"""Typed shapes of what the Events API takes: recipients, tenants, trigger bodies."""

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Union

from typing_extensions import Literal, NotRequired, Required, TypedDict


class ChannelCredentials(TypedDict, total=False):
    """Push or chat credentials of a subscriber's channel."""

    webhookUrl: str
    deviceTokens: List[str]


class SubscriberChannel(TypedDict, total=False):
    """One channel of a subscriber (for example a Slack webhook or FCM tokens)."""

    providerId: Required[str]
    integrationIdentifier: str
    credentials: ChannelCredentials


class SubscriberPayload(TypedDict, total=False):
    """A subscriber given inline; created or updated by the trigger."""

    subscriberId: Required[str]
    email: str
    firstName: str
    lastName: str
    phone: str
    avatar: str
    locale: str
    data: Dict[str, Any]
    channels: List[SubscriberChannel]


class TopicPayload(TypedDict):
    """Every subscriber of a topic."""

    type: Literal["Topic", "Subscriber"]
    topicKey: str


class TenantPayload(TypedDict, total=False):
    """A tenant given inline; created when new."""

    identifier: str
    name: str
    data: Dict[str, Any]


#: One recipient: a subscriber id, a subscriber, or a topic.
Recipient = Union[str, SubscriberPayload, TopicPayload]
#: What ``to`` accepts: one recipient or a list mixing them.
Recipients = Union[Recipient, List[Recipient]]
#: What ``actor`` accepts.
Actor = Union[str, SubscriberPayload]
#: What ``tenant`` accepts.
Tenant = Union[str, TenantPayload]


class TriggerEventBody(TypedDict):
    """The wire shape of one trigger, as ``trigger_bulk_event`` accepts it."""

    name: str
    to: Recipients
    payload: NotRequired[Dict[str, Any]]
    overrides: NotRequired[Dict[str, Any]]
    transactionId: NotRequired[str]
    actor: NotRequired[Actor]
    tenant: NotRequired[Tenant]


@dataclass(frozen=True)
class TriggerEvent:
    """One trigger as a typed object, for ``trigger_bulk_event``.

    Equivalent to the wire dict; ``transaction_id`` becomes ``transactionId``.
    """

    name: str
    to: Recipients
    payload: Optional[Mapping[str, Any]] = None
    overrides: Optional[Mapping[str, Any]] = None
    transaction_id: Optional[str] = None
    actor: Optional[Actor] = None
    tenant: Optional[Tenant] = None

    def to_dict(self) -> Dict[str, Any]:
        """The wire shape, leaving out what was not given."""
        body: Dict[str, Any] = {"name": self.name, "to": self.to}
        optional = (
            ("payload", self.payload),
            ("overrides", self.overrides),
            ("transactionId", self.transaction_id),
            ("actor", self.actor),
            ("tenant", self.tenant),
        )
        for key, value in optional:
            if value is not None:
                body[key] = value
        return body
