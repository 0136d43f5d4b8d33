"""What a watcher of many operations asks the API for next (:func:`plan_requests`): one sweep of
the operations list over a few creation-date windows, or one GET per operation due. Free of I/O:
``triggers/watcher.py`` sends the requests."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: A sweep also refreshes the operations due within this share of their poll interval: a fleet
#: that joined at random moments falls into step after a sweep or two.
SWEEP_AHEAD = 0.5
#: GETs go to the operations due within this share of their interval, together: a fleet read by
#: GETs wakes the watcher at most 1 / GET_AHEAD times an interval, not once per operation.
GET_AHEAD = 0.01
#: Creation times further apart than this get windows of their own (at most MAX_WINDOWS), so that
#: a sweep does not page through a busy week to refresh last Monday's operation and today's.
WINDOW_GAP = timedelta(minutes=30)
MAX_WINDOWS = 4
#: Margins around a window: the API states dates to the second and does not say whether
#: ``startDate`` / ``endDate`` are inclusive. An operation a sweep misses is read with a GET anyway.
WINDOW_MARGIN = timedelta(seconds=1)


@dataclass(frozen=True)
class WatchedOperation:
    """One watch of an operation, as the planner sees it (an operation watched twice: two).

    ``due_in``: seconds until the watch needs a fresher look than it has (<= 0: now);
    ``interval``: its poll interval (0 when it needs its last look, at its deadline: no
    read-ahead); ``created_at``: None until known.
    """

    operation_id: str
    due_in: float
    interval: float
    created_at: datetime | None


@dataclass(frozen=True)
class RequestPlan:
    """``windows``: the sweep's creation-date windows (none: no sweep); ``swept``: the operations
    the sweep is for. ``due``: the operations that need a look now; those a sweep did not show are
    read with one GET each."""

    windows: tuple[tuple[datetime, datetime], ...]
    swept: frozenset[str]
    due: frozenset[str]


def plan_requests(
    operations: Iterable[WatchedOperation], *, pages_per_sweep: int | None, sweep: bool = True
) -> RequestPlan:
    """The cheaper of one sweep and a GET per operation due.

    An operation watched with several intervals may come once per watch: it is due when one of
    them is (:func:`wake_in`), and read ahead by the widest share of any of them.

    ``pages_per_sweep``: what the last sweep cost (None: no sweep yet; one page is assumed). A
    sweep is chosen only when it is expected to cost fewer requests than the GETs, so a lone
    operation is always read with a GET, as if nothing were coalesced. ``sweep=False``: GETs only.
    """
    due: set[str] = set()
    soon: dict[str, datetime] = {}
    for operation in operations:
        if wake_in(operation) <= 0:
            due.add(operation.operation_id)
        if operation.created_at is not None and operation.due_in <= operation.interval * SWEEP_AHEAD:
            soon[operation.operation_id] = operation.created_at
    expected_pages = pages_per_sweep or 1
    if not sweep or not due or len(soon) <= expected_pages:
        return RequestPlan((), frozenset(), frozenset(due))
    return RequestPlan(tuple(sweep_windows(soon.values())), frozenset(soon), frozenset(due))


def wake_in(operation: WatchedOperation) -> float:
    """Seconds until ``operation`` is due (<= 0: it is), GETs reading ahead of time: the one
    notion of "due" of the planner and of the watcher, which sleeps until the next of these."""
    return operation.due_in - operation.interval * GET_AHEAD


def sweep_windows(created: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """``(startDate, endDate)`` windows that cover every creation time: one, or a few where the
    times are more than :data:`WINDOW_GAP` apart (the widest gaps are left out)."""
    times = sorted(set(created))
    if not times:
        return []
    gaps = sorted(
        ((later - earlier, i) for i, (earlier, later) in enumerate(itertools.pairwise(times))),
        reverse=True,
    )
    cuts = sorted(i for gap, i in gaps[: MAX_WINDOWS - 1] if gap > WINDOW_GAP)
    windows = []
    first = 0
    for cut in [*cuts, len(times) - 1]:
        windows.append(_window(times[first], times[cut]))
        first = cut + 1
    return windows


def _window(earliest: datetime, latest: datetime) -> tuple[datetime, datetime]:
    start = earliest.replace(microsecond=0) - WINDOW_MARGIN
    end = latest.replace(microsecond=0) + 2 * WINDOW_MARGIN
    return start, end


def plain_utc(value: datetime) -> datetime:
    """``value`` as a standard-library UTC datetime: the planner sorts and subtracts thousands of
    creation times, which as pendulum DateTimes take 6 times longer (windows for 5,000: 14 ms, not 2)."""
    return datetime.fromtimestamp(value.timestamp(), UTC)


def next_due(observed_at: float, interval: float, deadline: float | None) -> float:
    """When a watcher that saw its operation at ``observed_at`` needs the next look: an interval
    later, or at its deadline for a last look, and never after that (``math.inf``)."""
    if deadline is None:
        return observed_at + interval
    if observed_at >= deadline:
        return math.inf
    return min(observed_at + interval, deadline)
