"""The emulator's state: operations whose status and stats follow lazily from an emulated clock.

An operation is a few numbers fixed when it is created (total, unaddressable, failures, start,
duration, and a cancel time once canceled). Every read computes status and stats from those
numbers and the clock's current time, so reads are cheap and each one is consistent:

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

import hashlib
import math
import random
import re
import time
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

RETENTION_SECONDS = 7 * 24 * 3600
TIME_EPSILON = 1e-6
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
_ERROR_WHEEL = (52131,) * 4 + (52134,) * 3 + (52143, 52146, 52182)
_FAIL_TOKEN_CODE_RE = re.compile(r"^fail[-_:]?(\d{5})")

_OPERATION_JSON = (
    '{"id":"%s","status":"%s","stats":{"total":%d,"recipients":%d,"unaddressable":%d,"scheduled":%d,'
    '"queued":%d,"sent":%d,"failed":%d,"canceled":%d},"createdAt":"%s","updatedAt":"%s"}'
)
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
# Ids carry a ULID-like timestamp of this epoch plus the operation's sequence number (in ms),
# so that they are deterministic given the seed and sort in creation order.
_ID_EPOCH_MS = 1_705_311_000_000  # 2024-01-15T09:30:00Z
# Notification ids carry their operation's sequence number as the time part and their recipient
# index, scrambled by an invertible multiplication, as the random part.
_ID_BITS = 2**80
_ID_MULTIPLIER = 0x9E3779B97F4A7C15F39D  # odd, so invertible modulo 2**80
_ID_INVERSE = pow(_ID_MULTIPLIER, -1, _ID_BITS)


def ulid(timestamp_ms: int, randomness: int) -> str:
    """26 lower-case Crockford base32 characters: 48 bits of time, then 80 bits of randomness."""
    value = (timestamp_ms & (2**48 - 1)) << 80 | (randomness & (2**80 - 1))
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def parse_ulid(text: str) -> tuple[int, int] | None:
    """``(timestamp_ms, randomness)`` of 26 lower-case Crockford base32 characters; None otherwise."""
    if len(text) != 26:
        return None
    value = 0
    for char in text:
        digit = _CROCKFORD.find(char)
        if digit < 0:
            return None
        value = value << 5 | digit
    return value >> 80, value & (_ID_BITS - 1)


def stable_hash(*parts: object) -> int:
    """An 80-bit hash of the parts that does not change between runs (unlike ``hash``)."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=10).digest()
    return int.from_bytes(digest, "big")


def iso(timestamp: float) -> str:
    """``2024-01-15T09:30:00Z``: UTC, whole seconds (rounded down)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.floor(timestamp)))


def round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


class Clock:
    """Emulated time: real time plus whatever was advanced, and it can stand still (frozen).

    It never goes backwards; ``reset`` brings it back to real time and unfreezes it.
    """

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self.reset()

    def reset(self) -> None:
        self._base = self._wall()
        self._base_monotonic = self._monotonic()
        self.frozen = False

    def now(self) -> float:
        if self.frozen:
            return self._base
        return self._base + (self._monotonic() - self._base_monotonic)

    def freeze(self) -> None:
        if not self.frozen:
            self._base = self.now()
            self.frozen = True

    def unfreeze(self) -> None:
        if self.frozen:
            self._base_monotonic = self._monotonic()
            self.frozen = False

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        self._base += seconds

    def to_json(self) -> dict[str, Any]:
        now = self.now()
        return {"now": iso(now), "epoch": now, "frozen": self.frozen, "offset": now - self._wall()}


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient of a send: a device token, or a user (whose provider the emulator picks)."""

    provider: str
    token: str | None = None
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class SendDetails:
    """What a send asked for, as its notifications show it."""

    recipients: tuple[Recipient, ...]
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
    #: failing ones at the failure positions). Scenarios have neither: position = index.
    send: SendDetails | None = None
    order: tuple[int, ...] | None = None
    created_s: int = field(init=False)
    created_iso: str = field(init=False)
    _final: bytes | None = field(default=None, init=False)
    _positions: list[int] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.created_s = math.floor(self.accepted_at)
        self.created_iso = iso(self.created_s)
        if self.order is not None:
            self._positions = [-1] * self.total
            for k, index in enumerate(self.order):
                self._positions[index] = k

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
        code = _ERROR_WHEEL[stable_hash(self.seed, self.seq, "failure", j) % len(_ERROR_WHEEL)]
        return Failure(position, self.provider_of(position), code)

    # -- notifications: by recipient ``index`` (their id) and processing position ``k`` --------

    def notification_id(self, index: int) -> str:
        scrambled = (index * _ID_MULTIPLIER + stable_hash(self.seed, self.seq, "notification")) % _ID_BITS
        return "comms_pushnotification_" + ulid(_ID_EPOCH_MS + self.seq, scrambled)

    def index_of(self, randomness: int) -> int:
        """The recipient index of the notification id with this random part."""
        return ((randomness - stable_hash(self.seed, self.seq, "notification")) * _ID_INVERSE) % _ID_BITS

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
            return self.send.recipients[index].provider
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
            recipient = send.recipients[index]
            to = (
                {"userId": recipient.user_id}
                if recipient.user_id
                else {"token": str(recipient.token), "provider": provider}
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

    def addresses(self, k: int, provider: str | None, user: str | None) -> bool:
        """Whether the notification at position ``k`` goes to ``provider`` and ``user`` (if given)."""
        index = self.recipient_at(k)
        if provider is not None and self.provider_of(index) != provider:
            return False
        return user is None or (self.send is not None and self.send.recipients[index].user_id == user)

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


def default_credential(seed: int, provider: str) -> str:
    """The id of the emulated App's credential for ``provider``."""
    return "comms_credential_" + ulid(_ID_EPOCH_MS, stable_hash(seed, "credential", provider))


def _processing_order(total: int, unaddressable: set[int], failing: list[int]) -> tuple[int, ...]:
    """The recipient index at each processing position: the failing ones at the failure
    positions, the other addressable ones in between, in index order."""
    addressable = total - len(unaddressable)
    order = [-1] * addressable
    for j, index in enumerate(failing):
        order[failure_position(j, addressable, len(failing))] = index
    failing_set = set(failing)
    rest = (i for i in range(total) if i not in unaddressable and i not in failing_set)
    return tuple(next(rest) if index < 0 else index for index in order)


class OperationStore:
    """Operations by id and by sequence number, and their keys ``(created_s, id)`` in ascending
    order for listing."""

    def __init__(self) -> None:
        self.by_id: dict[str, Operation] = {}
        self.by_seq: dict[int, Operation] = {}
        self._keys: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self.by_id)

    def add(self, op: Operation) -> None:
        self.by_id[op.id] = op
        self.by_seq[op.seq] = op
        insort(self._keys, op.sort_key)

    def newest_first(self, before: tuple[int, str] | None = None) -> Iterator[Operation]:
        """Operations in descending ``(created_s, id)`` order, strictly below ``before``."""
        i = len(self._keys) if before is None else bisect_left(self._keys, before)
        while i > 0:
            i -= 1
            yield self.by_id[self._keys[i][1]]


@dataclass
class Defaults:
    """What a send (and a scenario that does not say) gets."""

    duration: float = 2.0
    failure_ratio: float = 0.0
    unaddressable_ratio: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


EXCLUSIVE_FAULTS = ("rate_drop", "rate_429", "rate_500", "rate_503", "rate_malformed")


@dataclass
class Faults:
    """Fault injection for /v1 routes; rates are probabilities, drawn from a seeded generator.

    One draw per request picks at most one of ``EXCLUSIVE_FAULTS`` (so their sum is at most
    1); ``rate_slow`` is drawn separately and delays the response by ``slow_seconds``.
    """

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0
    rate_malformed: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 1.0
    retry_after: int = 1
    rps_limit: float | None = None
    routes: tuple[str, ...] | None = None

    @property
    def active(self) -> bool:
        rates = (self.rate_slow, *(getattr(self, name) for name in EXCLUSIVE_FAULTS))
        return any(rates) or self.rps_limit is not None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["routes"] = None if self.routes is None else list(self.routes)
        return data


class Counters:
    """What the /v1 routes served: route template -> status (or ``dropped``) -> count."""

    def __init__(self) -> None:
        self.routes: dict[str, dict[str, int]] = {}

    def add(self, route: str, status: str) -> None:
        by_status = self.routes.get(route)
        if by_status is None:
            by_status = self.routes[route] = {}
        by_status[status] = by_status.get(status, 0) + 1

    def to_json(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for counts in self.routes.values():
            for status, n in counts.items():
                by_status[status] = by_status.get(status, 0) + n
        return {
            "routes": {route: dict(sorted(c.items())) for route, c in sorted(self.routes.items())},
            "by_status": dict(sorted(by_status.items())),
            "total": sum(by_status.values()),
        }


class _TokenBucket:
    def __init__(self, rate: float, monotonic: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self._monotonic = monotonic
        self.last = monotonic()

    def take(self) -> bool:
        now = self._monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(frozen=True, slots=True)
class FaultDecision:
    kind: str | None  # None, "429", "500", "503", "drop" or "malformed"
    slow: bool
    malformed_html: bool = False
    slow_seconds: float = 0.0


NO_FAULT = FaultDecision(None, False)


class EmulatorState:
    """Everything the emulator knows; ``reset`` brings it back to how it started."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        seed: int = 0,
        defaults: Defaults | None = None,
        base_url: str | None = None,
        clock: Clock | None = None,
        listing_delay: float = 0.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.seed = seed
        self.base_url = base_url
        self.initial_defaults = defaults or Defaults()
        self.initial_listing_delay = listing_delay
        self.clock = clock or Clock()
        self.reset()

    def reset(self) -> None:
        self.clock.reset()
        self.operations = OperationStore()
        self.counters = Counters()
        self.defaults = replace(self.initial_defaults)
        #: Seconds after a send's 202 before its notifications show up in listings.
        self.listing_delay = self.initial_listing_delay
        self._seq = 0
        self._id_rng = random.Random(stable_hash(self.seed, "ids"))
        self.set_faults(Faults())

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self._faults_active = faults.active
        self._fault_rng = random.Random(stable_hash(self.seed, "faults"))
        self._bucket = None if faults.rps_limit is None else _TokenBucket(faults.rps_limit, time.monotonic)

    # -- operations ------------------------------------------------------------------------

    def _new_operation(
        self,
        *,
        total: int,
        unaddressable: int,
        failures: int,
        duration: float,
        start_in: float = 0.0,
        age: float = 0.0,
        failure_details: tuple[Failure, ...] | None = None,
        send: SendDetails | None = None,
        order: tuple[int, ...] | None = None,
        message: dict[str, Any] | None = None,
        listing_delay: float = 0.0,
    ) -> Operation:
        seq = self._seq
        self._seq += 1
        accepted = self.clock.now() - age
        op = Operation(
            id="comms_operation_" + ulid(_ID_EPOCH_MS + seq, self._id_rng.getrandbits(80)),
            seq=seq,
            seed=self.seed,
            accepted_at=accepted,
            total=total,
            unaddressable=unaddressable,
            failures=failures,
            start_at=accepted + start_in,
            duration=duration,
            failure_details=failure_details,
            send=send,
            order=order,
            message=message,
            listing_delay=listing_delay,
        )
        self.operations.add(op)
        return op

    def create_scenario(
        self,
        *,
        total: int = 10,
        duration: float | None = None,
        failure_ratio: float | None = None,
        unaddressable_ratio: float | None = None,
        schedule_in: float = 0.0,
        age: float = 0.0,
    ) -> Operation:
        """An operation of ``total`` notifications; ratios are of ``total`` (rounded half up)."""
        d = self.defaults
        ua = d.unaddressable_ratio if unaddressable_ratio is None else unaddressable_ratio
        fr = d.failure_ratio if failure_ratio is None else failure_ratio
        unaddressable = min(total, round_half_up(total * ua))
        failures = min(total - unaddressable, round_half_up(total * fr))
        return self._new_operation(
            total=total,
            unaddressable=unaddressable,
            failures=failures,
            duration=d.duration if duration is None else duration,
            start_in=schedule_in,
            age=age,
        )

    def create_send(
        self, send: SendDetails, send_at: float | None, message: dict[str, Any] | None = None
    ) -> Operation:
        """An operation for a send's recipients, shaped by their tokens.

        ``message`` is the rest of the send (content, tags...), kept for the control API.

        A token starting with ``unaddressable`` is unaddressable, one starting with ``fail`` fails
        (``fail-52143...`` picks that error code); the default ratios apply to the others (users
        included).
        """
        recipients = send.recipients
        unaddressable: list[int] = []
        failing: list[int] = []
        others: list[int] = []
        for i, recipient in enumerate(recipients):
            lowered = (recipient.token or "").lower()
            if lowered.startswith("unaddressable"):
                unaddressable.append(i)
            elif lowered.startswith("fail"):
                failing.append(i)
            else:
                others.append(i)
        d = self.defaults
        extra_unaddressable = min(len(others), round_half_up(len(others) * d.unaddressable_ratio))
        extra_failing = min(len(others) - extra_unaddressable, round_half_up(len(others) * d.failure_ratio))
        rng = random.Random(stable_hash(self.seed, "send", self._seq))
        picked = rng.sample(others, extra_unaddressable + extra_failing)
        unaddressable += picked[:extra_unaddressable]
        failing = sorted(failing + picked[extra_unaddressable:])
        details = tuple(self._send_failure(i, recipients[i]) for i in failing)
        now = self.clock.now()
        return self._new_operation(
            total=len(recipients),
            unaddressable=len(unaddressable),
            failures=len(failing),
            duration=d.duration,
            start_in=0.0 if send_at is None else max(0.0, send_at - now),
            failure_details=details,
            send=send,
            order=_processing_order(len(recipients), set(unaddressable), failing),
            message=message,
            listing_delay=self.listing_delay,
        )

    def _send_failure(self, index: int, recipient: Recipient) -> Failure:
        match = _FAIL_TOKEN_CODE_RE.match((recipient.token or "").lower())
        if match and int(match.group(1)) in ERROR_CATALOG:
            code = int(match.group(1))
        else:
            code = _ERROR_WHEEL[stable_hash(self.seed, self._seq, "code", index) % len(_ERROR_WHEEL)]
        return Failure(index, recipient.provider, code)

    def live_operation(self, op_id: str) -> Operation | None:
        """The operation, unless it is unknown or older than the 7-day retention."""
        op = self.operations.by_id.get(op_id)
        if op is None or op.expired(self.clock.now()):
            return None
        return op

    def find_notification(self, notification_id: str) -> tuple[Operation, int] | None:
        """The live operation and processing position of a notification id; None if unknown."""
        parsed = parse_ulid(notification_id.removeprefix("comms_pushnotification_"))
        if parsed is None:
            return None
        op = self.operations.by_seq.get(parsed[0] - _ID_EPOCH_MS)
        if op is None or op.expired(self.clock.now()):
            return None
        k = op.position_of(op.index_of(parsed[1]))
        return None if k is None else (op, k)

    def list_notifications(
        self,
        *,
        now: float,
        after: tuple[int, str, int] | None,
        limit: int,
        operation_id: str | None,
        status: str | None,
        provider: str | None,
        user: str | None,
        tags: dict[str, str],
        start: float | None,
        end: float | None,
    ) -> tuple[list[tuple[Operation, int]], bool]:
        """Up to ``limit`` notifications ``(operation, position)`` after the cursor ``after``
        (``(created_s, operation id, position)``), newest operation first and each operation's in
        processing order; and whether more follow."""
        found: list[tuple[Operation, int]] = []
        for op, first in self._notification_sources(after, operation_id):
            if op.expired(now) or (start is not None and op.created_s < start):
                if operation_id is None:
                    break  # every operation after this one is older still
                continue
            if (end is not None and op.created_s >= end) or not op.listed_by(now):
                continue
            if tags and (op.send is None or any(op.send.tags.get(k) != v for k, v in tags.items())):
                continue
            if user is not None and (op.send is None or all(r.user_id != user for r in op.send.recipients)):
                continue
            for k in op.positions(first, status, now):
                if op.addresses(k, provider, user):
                    if len(found) == limit:
                        return found, True
                    found.append((op, k))
        return found, False

    def _notification_sources(
        self, after: tuple[int, str, int] | None, operation_id: str | None
    ) -> Iterator[tuple[Operation, int]]:
        """The operations to list from, each with the position to start at."""
        if operation_id is not None:
            op = self.operations.by_id.get(operation_id)
            if op is not None and (after is None or after[1] == op.id):
                yield op, 0 if after is None else after[2] + 1
            return
        before = None
        if after is not None:
            cursor_op = self.operations.by_id.get(after[1])
            if cursor_op is not None:
                yield cursor_op, after[2] + 1
            before = (after[0], after[1])
        for op in self.operations.newest_first(before):
            yield op, 0

    def recipient_counts(self, min_count: int = 1) -> dict[str, int]:
        """How many notifications the accepted sends created for each recipient address (the
        token, or the userId of a user recipient), of those with at least ``min_count``.

        Unaddressable recipients get no notification, so they are not counted; scenario
        operations have no addresses of their own.
        """
        counts: Counter[str] = Counter()
        for op in self.operations.by_id.values():
            if op.send is not None and op.order is not None:
                recipients = op.send.recipients
                counts.update(recipients[i].user_id or str(recipients[i].token) for i in op.order)
        if min_count <= 1:
            return dict(counts)
        return {address: n for address, n in counts.items() if n >= min_count}

    def cancel(self, op: Operation) -> bool:
        """Cancel the operation now; False if it had already COMPLETED. Canceling twice is a no-op."""
        now = self.clock.now()
        status = op.status(now)
        if status == "COMPLETED":
            return False
        if status != "CANCELED":
            op.canceled_at = now
            op._final = None
        return True

    def list_operations(
        self,
        *,
        now: float,
        before: tuple[int, str] | None,
        limit: int,
        status: str | None,
        start: float | None,
        end: float | None,
    ) -> tuple[list[Operation], bool]:
        """Up to ``limit`` live operations, newest first, below ``before``; and whether more follow."""
        found: list[Operation] = []
        for op in self.operations.newest_first(before):
            if op.expired(now) or (start is not None and op.created_s < start):
                break  # every operation after this one is older still
            if end is not None and op.created_s >= end:
                continue
            if status is not None and op.status(now) != status:
                continue
            if len(found) == limit:
                return found, True
            found.append(op)
        return found, False

    # -- faults ----------------------------------------------------------------------------

    def decide_fault(self, route: str) -> FaultDecision:
        faults = self.faults
        if not self._faults_active or (faults.routes is not None and route not in faults.routes):
            return NO_FAULT
        if self._bucket is not None and not self._bucket.take():
            return FaultDecision("429", False)
        rng = self._fault_rng
        slow = faults.rate_slow > 0 and rng.random() < faults.rate_slow
        draw = rng.random()
        for name in EXCLUSIVE_FAULTS:
            rate: float = getattr(faults, name)
            if draw < rate:
                kind = name.removeprefix("rate_")
                html = kind == "malformed" and rng.random() < 0.5
                return FaultDecision(kind, slow, html, faults.slow_seconds)
            draw -= rate
        return FaultDecision(None, slow, slow_seconds=faults.slow_seconds) if slow else NO_FAULT
