"""Everything the emulator knows: its operations, defaults, faults, counters and clock.

The parts live in modules of their own: the clock (``clock``), ids (``ids``), an operation and
its notifications (``operation``), a send's recipients (``recipients``) and fault injection
(``faults``); their public names are importable from here too.
"""

from __future__ import annotations

import math
import random
import re
from array import array
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

from airflow_provider_twilio_push.emulator.clock import TIME_EPSILON, Clock, iso
from airflow_provider_twilio_push.emulator.faults import (
    EXCLUSIVE_FAULTS,
    NO_FAULT,
    FaultDecision,
    FaultInjector,
    Faults,
)
from airflow_provider_twilio_push.emulator.ids import (
    ID_EPOCH_MS,
    default_credential,
    parse_ulid,
    stable_hash,
    ulid,
)
from airflow_provider_twilio_push.emulator.operation import (
    DEFAULT_APP_NAME,
    ERROR_CATALOG,
    ERROR_WHEEL,
    NOTIFICATION_ID_RE,
    NOTIFICATION_STATUSES,
    OPERATION_ID_RE,
    PROVIDERS,
    RETENTION_SECONDS,
    STATUSES,
    Failure,
    Operation,
    SendDetails,
    failure_position,
    processing_order,
)
from airflow_provider_twilio_push.emulator.recipients import Recipients

__all__ = [
    "DEFAULT_APP_NAME",
    "ERROR_CATALOG",
    "EXCLUSIVE_FAULTS",
    "NOTIFICATION_ID_RE",
    "NOTIFICATION_STATUSES",
    "NO_FAULT",
    "OPERATION_ID_RE",
    "PROVIDERS",
    "RETENTION_SECONDS",
    "STATUSES",
    "TIME_EPSILON",
    "Clock",
    "Counters",
    "Defaults",
    "EmulatorState",
    "Failure",
    "FaultDecision",
    "Faults",
    "Operation",
    "OperationStore",
    "Recipients",
    "SendDetails",
    "default_credential",
    "failure_position",
    "iso",
    "parse_ulid",
    "round_half_up",
    "stable_hash",
    "ulid",
]

_FAIL_TOKEN_CODE_RE = re.compile(r"^fail[-_:]?(\d{5})")


def round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


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
        self.injector = FaultInjector(faults, stable_hash(self.seed, "faults"))

    @property
    def faults(self) -> Faults:
        return self.injector.faults

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
        order: array[int] | None = None,
        message: dict[str, Any] | None = None,
        listing_delay: float = 0.0,
    ) -> Operation:
        seq = self._seq
        self._seq += 1
        accepted = self.clock.now() - age
        op = Operation(
            id="comms_operation_" + ulid(ID_EPOCH_MS + seq, self._id_rng.getrandbits(80)),
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
        for i, address in enumerate(recipients.addresses()):
            lowered = "" if recipients.is_user(i) else address[:13].lower()
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
        details = tuple(self._send_failure(i, recipients) for i in failing)
        now = self.clock.now()
        return self._new_operation(
            total=len(recipients),
            unaddressable=len(unaddressable),
            failures=len(failing),
            duration=d.duration,
            start_in=0.0 if send_at is None else max(0.0, send_at - now),
            failure_details=details,
            send=send,
            order=processing_order(len(recipients), set(unaddressable), failing),
            message=message,
            listing_delay=self.listing_delay,
        )

    def _send_failure(self, index: int, recipients: Recipients) -> Failure:
        match = _FAIL_TOKEN_CODE_RE.match((recipients.token(index) or "")[:10].lower())
        if match and int(match.group(1)) in ERROR_CATALOG:
            code = int(match.group(1))
        else:
            code = ERROR_WHEEL[stable_hash(self.seed, self._seq, "code", index) % len(ERROR_WHEEL)]
        return Failure(index, recipients.provider(index), code)

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
        op = self.operations.by_seq.get(parsed[0] - ID_EPOCH_MS)
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
        tags: list[tuple[str, str]],
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
            if tags and (op.send is None or any(op.send.tags.get(k) != v for k, v in tags)):
                continue
            if user is not None and (op.send is None or not op.send.recipients.has_user(user)):
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
            counts.update(op.notified_addresses())
        if min_count <= 1:
            return counts
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
