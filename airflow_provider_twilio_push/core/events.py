"""Which finished operations an event watcher reports, and what it remembers. Free of I/O:
``triggers/operation_events.py`` lists and reads the operations and stores the position.

The API filters operations by *creation* time (``startDate``) and by status, and keeps them 7
days: it cannot say "what finished since I last looked". A :class:`Sweep` is therefore three
looks, each as large as what is running or new, never as the account's history:

- the operations still running (``status=SCHEDULED`` and ``status=PROCESSING``): their ids;
- the operations created since the position's window (new ones, finished or not);
- each operation the position knew as running that neither listing shows any more, read by id:
  it finished (or expired: ``gone``).

A :class:`Position` is:

- ``newest``: the newest creation time seen. Every operation created before
  :meth:`Position.window_start` (:data:`VISIBILITY_LAG` earlier: an operation may show up in the
  list a little after its ``createdAt``) is in ``running`` or was handled;
- ``running``: the operations seen running and not yet seen finished;
- ``recent``: the finished operations created since the window start that were handled
  (reported, or not because their status is not watched or they had finished when watching began),
  as :func:`digest` of their ids: only asked "handled already?", they are stored in 11 bytes each.

:class:`Advancing` moves a position on page by page: a catch-up over days of operations holds one
page and what the position keeps, never the listing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_twilio_push.core.request import validate_poll_interval
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError
from airflow_provider_twilio_push.models import Operation, OperationStatus

#: Operations created this long before the newest one seen are still looked for in later sweeps.
VISIBILITY_LAG = timedelta(minutes=1)
#: ``startDate`` is sent this much before the window: the API states dates to the second.
SWEEP_MARGIN = timedelta(seconds=1)
#: The statuses an event watcher may report: the terminal ones.
TERMINAL_STATUSES = tuple(status.value for status in OperationStatus if status.terminal)
#: The statuses of an operation still running, each listed on its own (the filter takes one),
#: SCHEDULED first: one that starts between the two listings is in the first.
RUNNING_STATUSES = tuple(status for status in OperationStatus if not status.terminal)
#: Sorts operations without dates first.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Bump when the stored shape changes. Version 1 (``since``, ``handled``) and version 2 (``recent``
#: as a list of full ids) are still read.
POSITION_VERSION = 3
#: Characters of a :func:`digest`.
DIGEST_LENGTH = 11


def digest(operation_id: str) -> str:
    """A short stand-in for ``operation_id`` (8 bytes of BLAKE2b, URL-safe base64, 11 characters)."""
    raw = hashlib.blake2b(operation_id.encode(), digest_size=8).digest()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


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


def first_window(now: datetime) -> datetime:
    """``startDate`` of a first sweep at ``now``: what is older had finished, or is running."""
    return now - VISIBILITY_LAG - SWEEP_MARGIN


def _read_datetime(value: object) -> datetime | None:
    """A stored date-time (ISO 8601); one without an offset is UTC."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    return parsed.replace(tzinfo=UTC) if parsed is not None and parsed.tzinfo is None else parsed


def _read_ids(value: object) -> frozenset[str]:
    return (
        frozenset(item for item in value if isinstance(item, str)) if isinstance(value, list) else frozenset()
    )


def _read_digests(value: object) -> frozenset[str]:
    """The digests stored as one string (version 3)."""
    if not isinstance(value, str):
        return frozenset()
    return frozenset(
        value[i : i + DIGEST_LENGTH] for i in range(0, len(value) - DIGEST_LENGTH + 1, DIGEST_LENGTH)
    )


@dataclass(frozen=True)
class Position:
    """Where a watcher is: see the module's docstring."""

    newest: datetime | None
    running: frozenset[str] = frozenset()
    recent: frozenset[str] = frozenset()  # digests

    def handled(self, operation_id: str) -> bool:
        """Whether ``operation_id`` is one of ``recent``."""
        return digest(operation_id) in self.recent

    def window_start(self) -> datetime | None:
        """``startDate`` of the next listing of new operations (None: the whole retention)."""
        return None if self.newest is None else self.newest - VISIBILITY_LAG - SWEEP_MARGIN

    def to_json(self) -> dict[str, Any]:
        return {
            "version": POSITION_VERSION,
            "newest": None if self.newest is None else self.newest.isoformat(),
            "running": sorted(self.running),
            "recent": "".join(sorted(self.recent)),
        }

    @classmethod
    def from_json(cls, value: object) -> Position | None:
        """The stored position, or None when there is none (or it is unreadable).

        A version 1 position (``since``: the oldest operation still running, ``handled``: the
        finished ones created since) resumes as a window that starts at its ``since``: the first
        sweep lists the operations created since then once, and finds those still running.
        """
        if not isinstance(value, dict):
            return None
        try:
            if value.get("version") == POSITION_VERSION:
                return cls(
                    _read_datetime(value.get("newest")),
                    _read_ids(value.get("running")),
                    _read_digests(value.get("recent")),
                )
            if value.get("version") == 2:
                recent = frozenset(map(digest, _read_ids(value.get("recent"))))
                return cls(_read_datetime(value.get("newest")), _read_ids(value.get("running")), recent)
            if value.get("version") == 1:
                since = _read_datetime(value.get("since"))
                newest = None if since is None else since + VISIBILITY_LAG
                return cls(newest, frozenset(), frozenset(map(digest, _read_ids(value.get("handled")))))
        except ValueError:  # a date-time that is not ISO 8601
            return None
        return None


@dataclass(frozen=True)
class Sweep:
    """One look at the account.

    ``start``: the creation time the listing of new operations started at (None: the whole
    retention); ``running``: the ids listed with a running status; ``operations``: those listed from
    ``start`` on and those read by id; ``gone``: ids read that Twilio no longer has.
    """

    start: datetime | None
    running: frozenset[str]
    operations: Sequence[Operation]
    gone: frozenset[str] = field(default_factory=frozenset)

    def covers(self, position: Position | None) -> bool:
        """Whether its listing of new operations starts early enough for ``position``."""
        if position is None or self.start is None:
            return True
        start = position.window_start()
        return start is not None and self.start <= start

    def unknown(self, position: Position | None) -> frozenset[str]:
        """The operations ``position`` knows as running about which this sweep says nothing."""
        if position is None:
            return frozenset()
        return position.running - self.running - self.gone - {op.id for op in self.operations}

    def plus(self, operations: Sequence[Operation], gone: Collection[str]) -> Sweep:
        """This sweep with more operations read by id."""
        return Sweep(self.start, self.running, [*self.operations, *operations], self.gone | frozenset(gone))


@dataclass(frozen=True)
class Advance:
    """What a sweep changed: the operations to report (in the order they finished) and the new position."""

    report: list[Operation]
    position: Position


def advance(position: Position | None, sweep: Sweep, statuses: Iterable[str] = TERMINAL_STATUSES) -> Advance:
    """Report the operations that finished since ``position`` (None: watching begins now, nothing
    finished is reported) with one of ``statuses``; move the position on.

    The sweep must cover the position (:meth:`Sweep.covers`); what it says nothing about
    (:meth:`Sweep.unknown`) is still running as far as the position knows.
    """
    step = Advancing(position, sweep.start, sweep.running, statuses)
    report = step.take(sweep.operations, sweep.gone)
    return Advance(report, step.position())


class Advancing:
    """:func:`advance` fed page by page: :meth:`take` each page of the listing of new operations
    (then those read by id), report what it returns, and finally store :meth:`position`.

    It keeps what the new position needs: the running ids, and the finished ones created in the
    window of the newest seen so far.
    """

    def __init__(
        self,
        position: Position | None,
        start: datetime | None,
        running: frozenset[str],
        statuses: Iterable[str] = TERMINAL_STATUSES,
    ) -> None:
        if position is not None and not Sweep(start, running, ()).covers(position):
            raise ValueError(f"a sweep from {start} does not cover a position from {position}")
        self.old = position
        self.start = start
        self.listed_running = running
        self._wanted = set(statuses)
        self._old_window = None if position is None else position.window_start()
        self._running = set(running if position is None else position.running | running)
        self._seen_known: set[str] = set()  # ids of old.running listed or read in this sweep
        created = [] if start is None else [start + VISIBILITY_LAG + SWEEP_MARGIN]
        if position is not None and position.newest is not None:
            created.append(position.newest)
        self._newest = max(created, default=None)
        self._recent: dict[str, datetime | None] = {}  # digest: created_at

    def unknown(self) -> frozenset[str]:
        """The operations the old position knows as running about which the pages said nothing."""
        if self.old is None:
            return frozenset()
        return self.old.running - self.listed_running - self._seen_known

    def take(self, operations: Iterable[Operation], gone: Collection[str] = ()) -> list[Operation]:
        """Account for ``operations`` (and ids Twilio no longer has); the ones to report, in the
        order they finished."""
        old = self.old
        report: list[Operation] = []
        newest = self._newest
        for op in operations:
            if op.created_at is not None and (newest is None or op.created_at > newest):
                newest = op.created_at
            known = old is not None and op.id in old.running
            if known:
                self._seen_known.add(op.id)
            if not op.terminal:
                self._running.add(op.id)
                continue
            key = digest(op.id)
            first_time = key not in self._recent and (not known or op.id in self._running)
            self._running.discard(op.id)
            self._recent[key] = op.created_at
            if (
                old is not None
                and first_time
                and op.status.value in self._wanted
                and (
                    known
                    or (
                        key not in old.recent
                        and (
                            self._old_window is None
                            or op.created_at is None
                            or op.created_at >= self._old_window
                        )
                    )
                )
            ):
                report.append(op)
        self._running.difference_update(gone)
        self._seen_known.update(gone)
        if newest != self._newest:
            self._newest = newest
            self._prune()
        report.sort(key=lambda op: (op.updated_at or op.created_at or _EPOCH, op.id))
        return report

    def _prune(self) -> None:
        window = self._window()
        if window is not None:
            self._recent = {k: c for k, c in self._recent.items() if c is None or c >= window}

    def _window(self) -> datetime | None:
        return None if self._newest is None else self._newest - VISIBILITY_LAG - SWEEP_MARGIN

    def position(self) -> Position:
        """The position after what was taken."""
        self._prune()
        return Position(self._newest, frozenset(self._running), frozenset(self._recent))
