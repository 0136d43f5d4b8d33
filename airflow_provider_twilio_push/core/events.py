"""Which finished operations an event watcher reports, and where its next sweep starts. Free of I/O:
``triggers/twilio_push.py`` lists the operations and stores the position.

The API filters operations by *creation* time (``startDate``) and keeps them 7 days, so a watcher
cannot ask "what finished since I last looked". Its :class:`Position` is therefore:

- ``since``: the creation time a sweep starts at. Every operation created before it had finished
  and was handled when the position was taken: the earliest creation time of an operation still
  running, and at most :data:`VISIBILITY_LAG` before the newest operation seen (an operation may
  show up in the list a little after its ``createdAt``);
- ``handled``: the operations created at or after ``since`` that had finished and were handled
  (reported, or not reported because their status is not watched, or already finished when
  watching began). A sweep reports the finished operations at or after ``since`` not in it.

Its size is what one sweep lists: the operations created since the oldest one still running,
within the 7-day retention, and at most :data:`MAX_HANDLED` (past that, ``since`` moves on and an
older operation still running will not be reported; a warning says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_twilio_push.core.request import validate_poll_interval
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError
from airflow_provider_twilio_push.models import Operation, OperationStatus

#: Operations created this long before the newest one seen are still looked for in later sweeps.
VISIBILITY_LAG = timedelta(minutes=1)
#: ``startDate`` is sent this much before ``since``: the API states dates to the second.
SWEEP_MARGIN = timedelta(seconds=1)
#: The most handled operations a position keeps.
MAX_HANDLED = 20_000
#: The statuses an event watcher may report: the terminal ones.
TERMINAL_STATUSES = tuple(status.value for status in OperationStatus if status.terminal)
#: Sorts operations without dates first.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Bump when the stored shape changes; a position of another version starts over.
POSITION_VERSION = 1


def validate_statuses(statuses: object) -> list[str]:
    """``statuses`` as upper-case names (a single name or a list of names, any case), or a clear error."""
    items: Iterable[object] = [statuses] if isinstance(statuses, str) else statuses  # type: ignore[assignment]
    expected = f"one or more of {', '.join(TERMINAL_STATUSES)} (case-insensitive), e.g. ('COMPLETED',)"
    try:
        names = [item.strip().upper() if isinstance(item, str) else item for item in items]
    except TypeError:
        names = None
    if not names or any(name not in TERMINAL_STATUSES for name in names):
        raise TwilioPushInvalidInputError(f"Invalid statuses={statuses!r}: expected {expected}.")
    return sorted(set(names), key=TERMINAL_STATUSES.index)  # type: ignore[arg-type]


def validate_event_poll_interval(poll_interval: object) -> float:
    validate_poll_interval(poll_interval)
    return float(poll_interval)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Position:
    """Where a watcher is: see the module's docstring."""

    since: datetime | None
    handled: frozenset[str]

    def sweep_start(self) -> datetime | None:
        """``startDate`` of the next sweep (None: the whole retention)."""
        return None if self.since is None else self.since - SWEEP_MARGIN

    def to_json(self) -> dict[str, Any]:
        return {
            "version": POSITION_VERSION,
            "since": None if self.since is None else self.since.isoformat(),
            "handled": sorted(self.handled),
        }

    @classmethod
    def from_json(cls, value: object) -> Position | None:
        """The stored position, or None when there is none (or it is of another version)."""
        if not isinstance(value, dict) or value.get("version") != POSITION_VERSION:
            return None
        since = value.get("since")
        return cls(
            since=None if since is None else datetime.fromisoformat(since),
            handled=frozenset(value.get("handled") or ()),
        )


@dataclass(frozen=True)
class Sweep:
    """The operations listed from ``start`` (creation time; None: the whole retention) on."""

    start: datetime | None
    operations: Sequence[Operation]

    def covers(self, since: datetime | None) -> bool:
        if self.start is None:
            return True
        return since is not None and self.start <= since - SWEEP_MARGIN


@dataclass(frozen=True)
class Advance:
    """What a sweep changed: the operations to report (oldest first) and the new position.
    ``dropped``: operations still running that the position no longer looks for (see
    :data:`MAX_HANDLED`)."""

    report: list[Operation]
    position: Position
    dropped: int = 0


def advance(position: Position | None, sweep: Sweep, statuses: Iterable[str] = TERMINAL_STATUSES) -> Advance:
    """Report the operations that finished since ``position`` (None: watching begins now, nothing
    finished is reported) with one of ``statuses``; move the position on."""
    wanted = set(statuses)
    since = None if position is None else position.since
    floor = None if since is None else since - SWEEP_MARGIN
    seen = [op for op in sweep.operations if floor is None or op.created_at is None or op.created_at >= floor]
    report: list[Operation] = []
    if position is not None:
        report = [
            op for op in seen if op.terminal and op.id not in position.handled and op.status.value in wanted
        ]
        report.sort(key=lambda op: (op.updated_at or op.created_at or _EPOCH, op.id))
    handled = {op.id for op in seen if op.terminal}
    if not sweep.covers(since) and position is not None:
        # Operations between ``since`` and the sweep's start were not seen: keep looking for them.
        return Advance(report, Position(since, position.handled | handled))
    created = [op.created_at for op in seen if op.created_at is not None]
    running = [op.created_at for op in seen if not op.terminal and op.created_at is not None]
    candidates = [*running, *([max(created) - VISIBILITY_LAG] if created else [])]
    new_since = min(candidates) if candidates else since
    finished = sorted((op.created_at, op.id) for op in seen if op.terminal and op.created_at is not None)
    if new_since is not None:
        finished = [(at, op_id) for at, op_id in finished if at >= new_since - SWEEP_MARGIN]
    dropped = 0
    if len(finished) > MAX_HANDLED:
        cut = finished[-MAX_HANDLED][0]
        dropped = sum(1 for at in running if at < cut)
        new_since = cut + SWEEP_MARGIN
        finished = [(at, op_id) for at, op_id in finished if at >= cut]
    kept = {op_id for _, op_id in finished} | {op.id for op in seen if op.terminal and op.created_at is None}
    return Advance(report, Position(new_since, frozenset(kept)), dropped)
