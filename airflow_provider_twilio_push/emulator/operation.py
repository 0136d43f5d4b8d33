"""An operation: a few numbers fixed when it is created, whose status, stats and notifications
follow lazily from the emulated clock.

An operation is ``total``, ``unaddressable``, ``failures``, its start and ``duration`` (and a
cancel time once canceled). Every read computes status and stats from those numbers and the
clock's current time, so reads are cheap and each one is consistent:

- ``recipients == total``;
- ``unaddressable + scheduled + queued + sent + failed + canceled == total``;
- as the clock moves on, ``unaddressable`` never changes, ``sent``, ``failed`` and ``canceled``
  never decrease, ``scheduled`` only drops (to 0, when processing starts) and ``queued`` only
  drains once processing has started; the status only moves forward
  (SCHEDULED -> PROCESSING -> COMPLETED, or to CANCELED from either of the first two).

The addressable notifications are processed one after the other, evenly over ``duration``
seconds from the start; the failing ones are spread evenly among them. Each addressable
notification is a resource of its own (``GET /v1/PushNotifications``), whose status follows
from its place in that order, so that counting the notifications of an operation by status
gives its stats; unaddressable recipients get no notification (no attempt was made).
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_twilio_push.emulator.clock import TIME_EPSILON, iso
from airflow_provider_twilio_push.emulator.ids import (
    ID_BITS,
    ID_EPOCH_MS,
    ID_INVERSE,
    ID_MULTIPLIER,
    default_credential,
    stable_hash,
    ulid,
)
from airflow_provider_twilio_push.emulator.recipients import Recipients

RETENTION_SECONDS = 7 * 24 * 3600
OPERATION_ID_RE = re.compile(r"^comms_operation_[0-7][a-hjkmnpqrstv-z0-9]{25,34}$")
STATUSES = ("SCHEDULED", "PROCESSING", "COMPLETED", "CANCELED")
PROVIDERS = ("FCM", "APN")
NOTIFICATION_STATUSES = ("SCHEDULED", "QUEUED", "SENT", "FAILED", "CANCELED")
NOTIFICATION_ID_RE = re.compile(r"^comms_pushnotification_[0-7][a-hjkmnpqrstv-z0-9]{25,34}$")
#: The App a send without ``from.appName`` uses: the default title of its notifications.
DEFAULT_APP_NAME = "emulator_app"
SCENARIO_CONTENT = {"title": DEFAULT_APP_NAME, "body": "An emulated push notification"}

#: Failure codes of the (emulator-defined) Errors endpoint.
ERROR_CATALOG: dict[int, str] = {
    52131: "Invalid device token: the push provider rejected the registration token",
    52134: "Device token is not registered with the push provider (the app was uninstalled?)",
    52143: "Notification payload exceeds the push provider's size limit",
    52146: "The push provider rejected the credentials configured for this app",
    52182: "The push provider was unavailable; delivery abandoned after retries",
}
# How often each code comes up for failures that no token chose: 4:3:1:1:1.
ERROR_WHEEL = (52131,) * 4 + (52134,) * 3 + (52143, 52146, 52182)

_OPERATION_JSON = (
    '{"id":"%s","status":"%s","stats":{"total":%d,"recipients":%d,"unaddressable":%d,"scheduled":%d,'
    '"queued":%d,"sent":%d,"failed":%d,"canceled":%d},"createdAt":"%s","updatedAt":"%s"}'
)


@dataclass(frozen=True, slots=True)
class SendDetails:
    """What a send asked for, as its notifications show it."""

    recipients: Recipients
    sender: dict[str, str]
    priority: str
    sound: str | None
    tags: dict[str, str]
    title: str | None
    body: str


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed notification: the recipient's index in the send, its provider, an error code."""

    index: int
    provider: str
    code: int


@dataclass(slots=True, eq=False)
class Operation:
    id: str
    seq: int
    seed: int
    accepted_at: float
    total: int
    unaddressable: int
    failures: int
    start_at: float
    duration: float
    #: Sends: the failures in processing order; scenarios derive them from the seed instead.
    failure_details: tuple[Failure, ...] | None = None
    #: Sends: what the send asked for besides its recipients (content, tags...), for the control API.
    message: dict[str, Any] | None = None
    #: Sends: seconds after acceptance before the notifications show up in listings.
    listing_delay: float = 0.0
    canceled_at: float | None = None
    #: Sends: what was asked for, and the recipient index at each processing position (the
    #: failing ones at the failure positions), None when position = index (always for scenarios).
    send: SendDetails | None = None
    order: array[int] | None = None
    created_s: int = field(init=False)
    created_iso: str = field(init=False)
    _final: bytes | None = field(default=None, init=False)
    _positions: array[int] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.created_s = math.floor(self.accepted_at)
        self.created_iso = iso(self.created_s)
        if self.order is not None:
            positions = self._positions = array("i", [-1]) * self.total
            for k, index in enumerate(self.order):
                positions[index] = k

    @property
    def addressable(self) -> int:
        return self.total - self.unaddressable

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.created_s, self.id)

    def expired(self, now: float) -> bool:
        return now - self.created_s > RETENTION_SECONDS

    def listed_by(self, now: float) -> bool:
        """Whether its notifications show up in ``GET /v1/PushNotifications`` listings by ``now``."""
        return now - self.accepted_at + TIME_EPSILON >= self.listing_delay

    def _elapsed(self, t: float) -> float:
        """Seconds of processing by ``t`` (negative while scheduled).

        Epoch seconds carry ~2.4e-7 s of float error; ``TIME_EPSILON`` absorbs it, so that
        advancing the clock by exactly the duration (or to a failure's time) gets there.
        """
        return t - self.start_at + TIME_EPSILON

    def done_by(self, t: float) -> bool:
        """Whether every addressable notification was processed by ``t`` (ignoring any cancel)."""
        return self._elapsed(t) >= (self.duration if self.addressable else 0.0)

    def processed(self, now: float) -> int:
        """How many addressable notifications were processed (sent or failed) by ``now``."""
        if self.canceled_at is not None and now > self.canceled_at:
            now = self.canceled_at
        elapsed = self._elapsed(now)
        if elapsed < 0:
            return 0
        if elapsed >= self.duration:
            return self.addressable
        return int(self.addressable * elapsed / self.duration)

    def failed_among(self, processed: int) -> int:
        """How many of the first ``processed`` notifications failed.

        Failure ``j`` sits at position ``((2j + 1) * addressable) // (2 * failures)``; this counts
        the positions below ``processed`` without building the list.
        """
        if self.failures == 0 or processed <= 0:
            return 0
        highest_odd = (2 * self.failures * processed - 1) // self.addressable
        return min(self.failures, max(0, (highest_odd + 1) // 2))

    def failure_position(self, j: int) -> int:
        return failure_position(j, self.addressable, self.failures)

    def is_failure(self, k: int) -> bool:
        """Whether the notification processed at position ``k`` fails."""
        return self.failed_among(k + 1) > self.failed_among(k)

    def failure_time(self, j: int) -> float:
        return self.start_at + self.duration * (self.failure_position(j) + 1) / self.addressable

    def status(self, now: float) -> str:
        return self.snapshot(now)[0]

    def snapshot(self, now: float) -> tuple[str, int, int, int, int, int, float]:
        """``(status, scheduled, queued, sent, failed, canceled, updated)`` as of ``now``."""
        n = self.addressable
        t, canceled = now, False
        if self.canceled_at is not None and self.canceled_at <= now and not self.done_by(self.canceled_at):
            t, canceled = self.canceled_at, True
        processed = self.processed(t)
        scheduled = queued = canceled_count = 0
        if canceled:
            status, canceled_count, updated = "CANCELED", n - processed, t
        elif self._elapsed(t) < 0:
            status, scheduled, updated = "SCHEDULED", n, self.accepted_at
        elif processed < n:
            status, queued = "PROCESSING", n - processed
            updated = self.start_at + self.duration * processed / n
        else:
            status, updated = "COMPLETED", self.start_at + (self.duration if n else 0.0)
        failed = self.failed_among(processed)
        return (
            status,
            scheduled,
            queued,
            processed - failed,
            failed,
            canceled_count,
            max(updated, self.created_s),
        )

    def view(self, now: float) -> dict[str, Any]:
        """The Operation resource as of ``now`` (wire JSON, camelCase)."""
        status, scheduled, queued, sent, failed, canceled, updated = self.snapshot(now)
        return {
            "id": self.id,
            "status": status,
            "stats": {
                "total": self.total,
                "recipients": self.total,
                "unaddressable": self.unaddressable,
                "scheduled": scheduled,
                "queued": queued,
                "sent": sent,
                "failed": failed,
                "canceled": canceled,
            },
            "createdAt": self.created_iso,
            "updatedAt": iso(updated),
        }

    def render(self, now: float) -> bytes:
        """``view`` as compact JSON bytes, formatted directly (the hot path of the emulator).

        Nothing in it needs escaping. A terminal operation's bytes never change, so they are kept.
        """
        if self._final is not None:
            return self._final
        status, scheduled, queued, sent, failed, canceled, updated = self.snapshot(now)
        body = _OPERATION_JSON % (
            self.id,
            status,
            self.total,
            self.total,
            self.unaddressable,
            scheduled,
            queued,
            sent,
            failed,
            canceled,
            self.created_iso,
            iso(updated),
        )
        encoded = body.encode()
        if status in ("COMPLETED", "CANCELED"):
            self._final = encoded
        return encoded

    def failure(self, j: int) -> Failure:
        if self.failure_details is not None:
            return self.failure_details[j]
        position = self.failure_position(j)
        code = ERROR_WHEEL[stable_hash(self.seed, self.seq, "failure", j) % len(ERROR_WHEEL)]
        return Failure(position, self.provider_of(position), code)

    # -- notifications: by recipient ``index`` (their id) and processing position ``k`` --------

    def notification_id(self, index: int) -> str:
        scrambled = (index * ID_MULTIPLIER + stable_hash(self.seed, self.seq, "notification")) % ID_BITS
        return "comms_pushnotification_" + ulid(ID_EPOCH_MS + self.seq, scrambled)

    def index_of(self, randomness: int) -> int:
        """The recipient index of the notification id with this random part."""
        return ((randomness - stable_hash(self.seed, self.seq, "notification")) * ID_INVERSE) % ID_BITS

    def recipient_at(self, k: int) -> int:
        return k if self.order is None else self.order[k]

    def position_of(self, index: int) -> int | None:
        """The processing position of recipient ``index``; None if it is unaddressable or unknown."""
        if self._positions is None:
            return index if 0 <= index < self.addressable else None
        k = self._positions[index] if 0 <= index < self.total else -1
        return None if k < 0 else k

    def provider_of(self, index: int) -> str:
        if self.send is not None:
            return self.send.recipients.provider(index)
        return PROVIDERS[stable_hash(self.seed, self.seq, "provider", index) & 1]

    def positions(self, start: int, status: str | None, now: float) -> Iterator[int]:
        """The processing positions from ``start`` on whose notification has ``status`` (any if None)."""
        op_status, _, _, sent, failed, _, _ = self.snapshot(now)
        processed = sent + failed
        n = self.addressable
        if status is None:
            return iter(range(start, n))
        if status == "FAILED":
            return (self.failure_position(j) for j in range(self.failed_among(start), failed))
        if status == "SENT":
            return (k for k in range(start, processed) if not self.is_failure(k))
        if status == "SCHEDULED":
            return iter(range(start if op_status == "SCHEDULED" else n, n))
        waiting = {"QUEUED": "PROCESSING", "CANCELED": "CANCELED"}[status]
        return iter(range(max(start, processed) if op_status == waiting else n, n))

    def notification(self, k: int, now: float, *, content: bool = False) -> dict[str, Any]:
        """The notification processed at position ``k``, as of ``now`` (wire JSON, camelCase)."""
        op_status, _, _, sent, failed, _, _ = self.snapshot(now)
        processed = sent + failed
        updated: float = self.created_s
        if op_status == "SCHEDULED":
            status = "SCHEDULED"
        elif k < processed:
            status = "FAILED" if self.is_failure(k) else "SENT"
            updated = self.start_at + self.duration * (k + 1) / self.addressable
        elif op_status == "PROCESSING":
            status = "QUEUED"
        else:
            status = "CANCELED"
            updated = self.canceled_at or updated
        index = self.recipient_at(k)
        provider = self.provider_of(index)
        send = self.send
        sender = {} if send is None else send.sender
        credential = sender.get(provider.lower()) or default_credential(self.seed, provider)
        to: dict[str, str]
        if send is None:
            to = {"token": f"emulated-device-token-{self.seq}-{index}", "provider": provider}
        else:
            address = send.recipients.address(index)
            to = (
                {"userId": address}
                if send.recipients.is_user(index)
                else {"token": address, "provider": provider}
            )
        item: dict[str, Any] = {
            "id": self.notification_id(index),
            "from": {provider.lower(): credential},
            "to": to,
        }
        if content:
            if send is None:
                item["content"] = dict(SCENARIO_CONTENT)
            else:
                title = send.title or sender.get("appName") or DEFAULT_APP_NAME
                item["content"] = {"title": title, "body": send.body}
        item.update(
            status=status,
            priority="HIGH" if send is None else send.priority,
            sound=None if send is None else send.sound,
            createdAt=self.created_iso,
            updatedAt=iso(max(updated, self.created_s)),
        )
        return item

    def notified_addresses(self) -> Iterator[str]:
        """The address (token or userId) of each notification a send created; none for a scenario."""
        if self.send is None:
            return iter(())
        recipients = self.send.recipients
        if self.order is None:
            return recipients.addresses()
        return (recipients.address(index) for index in self.order)

    def addresses(self, k: int, provider: str | None, user: str | None) -> bool:
        """Whether the notification at position ``k`` goes to ``provider`` and ``user`` (if given)."""
        index = self.recipient_at(k)
        if provider is not None and self.provider_of(index) != provider:
            return False
        return user is None or (self.send is not None and self.send.recipients.user_id(index) == user)

    def error(self, j: int) -> dict[str, Any]:
        failure = self.failure(j)
        return {
            "pushNotificationId": self.notification_id(failure.index),
            "code": failure.code,
            "message": ERROR_CATALOG[failure.code],
            "provider": failure.provider,
            "occurredAt": iso(self.failure_time(j)),
        }

    def errors_so_far(self, now: float) -> int:
        return self.failed_among(self.processed(now))

    def scenario(self) -> dict[str, Any]:
        """The parameters the operation was made from (for the control API)."""
        return {
            "total": self.total,
            "unaddressable": self.unaddressable,
            "failures": self.failures,
            "accepted_at": self.accepted_at,
            "start_at": self.start_at,
            "duration": self.duration,
            "canceled_at": self.canceled_at,
        }


def failure_position(j: int, addressable: int, failures: int) -> int:
    """The processing position of failure ``j`` of ``failures`` spread evenly over ``addressable``."""
    return ((2 * j + 1) * addressable) // (2 * failures)


def processing_order(total: int, unaddressable: set[int], failing: list[int]) -> array[int] | None:
    """The recipient index at each processing position: the failing ones at the failure
    positions, the other addressable ones in between, in index order; None if that is the index
    itself at every position."""
    addressable = total - len(unaddressable)
    order = array("i", [-1]) * addressable
    for j, index in enumerate(failing):
        order[failure_position(j, addressable, len(failing))] = index
    failing_set = set(failing)
    rest = (i for i in range(total) if i not in unaddressable and i not in failing_set)
    for k in range(addressable):
        if order[k] < 0:
            order[k] = next(rest)
    if addressable == total and all(index == k for k, index in enumerate(order)):
        return None
    return order
