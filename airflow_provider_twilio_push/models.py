"""The Comms API's resources, parsed leniently: camelCase on the wire, snake_case here.

Every field of the documented 200 bodies is optional and unknown fields are ignored, but an
operation without an ``id`` or a ``status`` we know cannot be acted on, so those are required;
a push notification needs an ``id``, and keeps a status it does not know as a plain string.
A date-time without an offset is read as UTC: every date-time here is timezone-aware.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    TypeAdapter,
    ValidationError,
)
from pydantic.alias_generators import to_camel


class OperationStatus(enum.StrEnum):
    """The four statuses of an operation; COMPLETED and CANCELED are terminal."""

    SCHEDULED = "SCHEDULED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in (OperationStatus.COMPLETED, OperationStatus.CANCELED)


def _utc_if_naive(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None or value.utcoffset() is None else value


#: A date-time from the API: one without an offset is read as UTC, so that every date-time the
#: models hold can be compared with any other.
ApiDatetime = Annotated[datetime, AfterValidator(_utc_if_naive)]
_api_datetime: TypeAdapter[datetime] = TypeAdapter(ApiDatetime)


def read_api_datetime(value: object) -> datetime | None:
    """``value`` read as the models read a date-time from the API (one without an offset is UTC),
    or None if it is not one: for dates that were stored, such as a trigger's ``created_at``."""
    try:
        return _api_datetime.validate_python(value)
    except ValidationError:
        return None


class _WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class OperationStats(_WireModel):
    """Counters of an operation; a counter the server leaves out is 0."""

    total: NonNegativeInt = 0
    recipients: NonNegativeInt = 0
    unaddressable: NonNegativeInt = 0
    scheduled: NonNegativeInt = 0
    queued: NonNegativeInt = 0
    sent: NonNegativeInt = 0
    failed: NonNegativeInt = 0
    canceled: NonNegativeInt = 0

    @property
    def failure_rate(self) -> float:
        """failed / total (0.0 when total is 0)."""
        return self.failed / self.total if self.total else 0.0

    @property
    def sent_rate(self) -> float:
        """sent / total (0.0 when total is 0)."""
        return self.sent / self.total if self.total else 0.0


class Operation(_WireModel):
    """One push-notification send operation."""

    id: str
    status: OperationStatus
    stats: OperationStats = Field(default_factory=OperationStats)
    created_at: ApiDatetime | None = None
    updated_at: ApiDatetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    def to_xcom(self) -> dict[str, Any]:
        """The JSON-safe dict pushed to XCom: the wire shape (camelCase keys, ISO 8601 dates).

        ``Operation.model_validate(d)`` turns it back into an ``Operation``.
        """
        return self.model_dump(mode="json", by_alias=True)


class OperationPage(_WireModel):
    """One page of ``GET /v1/PushNotifications/Operations``."""

    operations: list[Operation] = Field(default_factory=list)
    next_page_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices(AliasPath("pagination", "next"), "next_page_token"),
    )


class OperationError(_WireModel):
    """One failure of an operation, from its Errors endpoint, whose shape Twilio does not document.

    Whatever the item holds, ``code`` and ``message`` are looked for under a few likely names.
    """

    model_config = ConfigDict(extra="allow")

    code: int | str | None = Field(
        default=None, validation_alias=AliasChoices("code", "errorCode", "error_code")
    )
    message: str | None = Field(
        default=None, validation_alias=AliasChoices("message", "errorMessage", "error_message")
    )
    push_notification_id: str | None = None


class PushNotificationStatus(enum.StrEnum):
    """The statuses of one push notification."""

    SCHEDULED = "SCHEDULED"
    QUEUED = "QUEUED"
    SENT = "SENT"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class PushNotificationRecipient(_WireModel):
    """Whom a notification went to: a device ``token`` and its ``provider``, or a ``user_id``."""

    token: str | None = None
    provider: str | None = None
    user_id: str | None = None


class PushNotificationContent(_WireModel):
    """The content of a notification as Twilio resolved it."""

    title: str | None = None
    body: str | None = None


class PushNotification(_WireModel):
    """One push notification, from ``GET /v1/PushNotifications`` (without ``content``) or
    ``GET /v1/PushNotifications/{id}`` (with it)."""

    id: str
    status: PushNotificationStatus | str | None = Field(default=None, union_mode="left_to_right")
    to: PushNotificationRecipient = Field(default_factory=PushNotificationRecipient)
    #: The credential id used per provider, e.g. ``{"fcm": "comms_credential_..."}``.
    from_: dict[str, str] = Field(default_factory=dict, alias="from")
    priority: str | None = None
    sound: str | None = None
    content: PushNotificationContent | None = None
    created_at: ApiDatetime | None = None
    updated_at: ApiDatetime | None = None


class PushNotificationPage(_WireModel):
    """One page of ``GET /v1/PushNotifications``."""

    push_notifications: list[PushNotification] = Field(default_factory=list)
    next_page_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices(AliasPath("pagination", "next"), "next_page_token"),
    )
