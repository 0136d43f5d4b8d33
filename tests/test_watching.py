"""core/watching.py: which requests a watcher of many operations makes next, without any I/O."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pendulum
import pytest

from airflow_provider_twilio_push.core.watching import (
    MAX_WINDOWS,
    RequestPlan,
    WatchedOperation,
    next_due,
    plain_utc,
    plan_requests,
    sweep_windows,
)

T0 = datetime(2026, 11, 30, 9, 30, 0, tzinfo=UTC)


def op(
    name: str, due_in: float = 0.0, *, interval: float = 10.0, created: int | None = 0
) -> WatchedOperation:
    """Operation ``name``, due in ``due_in`` s, created ``created`` s after T0 (None: not known)."""
    return WatchedOperation(
        name, due_in, interval, None if created is None else T0 + timedelta(seconds=created)
    )


def test_a_lone_operation_is_read_with_a_get_never_a_sweep() -> None:
    for pages in (None, 1, 5):
        assert plan_requests([op("a")], pages_per_sweep=pages) == RequestPlan(
            (), frozenset(), frozenset({"a"})
        )


def test_two_operations_due_are_swept_when_no_sweep_was_measured_yet() -> None:
    plan = plan_requests([op("a", created=0), op("b", created=5)], pages_per_sweep=None)

    assert plan.windows == ((T0 - timedelta(seconds=1), T0 + timedelta(seconds=7)),)
    assert plan.swept == {"a", "b"}
    assert plan.due == {"a", "b"}


@pytest.mark.parametrize(("due", "sweeps"), [(3, False), (5, False), (6, True)])
def test_a_sweep_is_chosen_only_when_cheaper_than_the_gets(due: int, sweeps: bool) -> None:
    plan = plan_requests([op(str(i)) for i in range(due)], pages_per_sweep=5)

    assert bool(plan.windows) is sweeps
    assert plan.due == {str(i) for i in range(due)}


def test_a_sweep_reads_ahead_half_an_interval_gets_only_a_hundredth() -> None:
    operations = [
        op("now"),
        op("late", -30.0),
        op("within a hundredth", 0.09),
        op("in 4 s", 4.0),
        op("in 5 s", 5.0),
        op("in 6 s", 6.0),
    ]

    plan = plan_requests(operations, pages_per_sweep=1)

    assert plan.due == {"now", "late", "within a hundredth"}
    assert plan.swept == {"now", "late", "within a hundredth", "in 4 s", "in 5 s"}


def test_operations_of_unknown_creation_are_due_but_not_swept() -> None:
    plan = plan_requests([op("a"), op("b"), op("c", created=None)], pages_per_sweep=1)

    assert plan.swept == {"a", "b"}
    assert plan.due == {"a", "b", "c"}  # c gets a GET, which tells its creation time


def test_nothing_due_means_no_request_even_if_much_could_be_read_ahead() -> None:
    plan = plan_requests([op(str(i), 3.0) for i in range(100)], pages_per_sweep=1)

    assert plan == RequestPlan((), frozenset(), frozenset())


def test_without_sweeps_every_operation_due_gets_a_get() -> None:
    plan = plan_requests([op(str(i)) for i in range(100)], pages_per_sweep=1, sweep=False)

    assert plan.windows == ()
    assert len(plan.due) == 100


def test_a_last_look_is_not_read_ahead() -> None:
    # interval 0: the watcher's way of saying "this look is due at the deadline, not before".
    plan = plan_requests([op("a"), op("b"), op("last", 0.001, interval=0.0)], pages_per_sweep=1)

    assert plan.due == {"a", "b"}
    assert "last" not in plan.swept


def test_windows_split_at_gaps_wider_than_half_an_hour() -> None:
    minutes = [0, 1, 2, 29, 100, 101, 500]
    windows = sweep_windows(T0 + timedelta(minutes=m) for m in minutes)

    assert windows == [
        (T0 - timedelta(seconds=1), T0 + timedelta(minutes=29, seconds=2)),
        (T0 + timedelta(minutes=100, seconds=-1), T0 + timedelta(minutes=101, seconds=2)),
        (T0 + timedelta(minutes=500, seconds=-1), T0 + timedelta(minutes=500, seconds=2)),
    ]


def test_at_most_a_few_windows_leaving_out_the_widest_gaps() -> None:
    hours = [0, 1, 3, 6, 10, 15, 21]  # gaps of 1 to 6 hours
    windows = sweep_windows(T0 + timedelta(hours=h) for h in hours)

    assert len(windows) == MAX_WINDOWS
    starts = [start + timedelta(seconds=1) for start, _ in windows]
    assert starts == [T0, T0 + timedelta(hours=10), T0 + timedelta(hours=15), T0 + timedelta(hours=21)]
    # Every creation time is inside a window.
    for h in hours:
        created = T0 + timedelta(hours=h)
        assert any(start <= created < end for start, end in windows)


def test_windows_cover_fractions_of_a_second() -> None:
    created = T0 + timedelta(seconds=3, microseconds=999_999)
    [(start, end)] = sweep_windows([created])

    assert start.microsecond == end.microsecond == 0  # the API states seconds
    assert start < created < end


def test_next_due_is_an_interval_later_capped_at_the_deadline_then_never() -> None:
    assert next_due(100.0, 10.0, None) == 110.0
    assert next_due(100.0, 10.0, 200.0) == 110.0
    assert next_due(195.0, 10.0, 200.0) == 200.0  # the last look, at the deadline
    assert next_due(200.0, 10.0, 200.0) == math.inf


def test_creation_times_are_kept_as_plain_utc_datetimes() -> None:
    """What the trigger passes on (a pendulum DateTime, any zone) becomes a standard-library UTC
    datetime of the same instant, which the planner sorts and subtracts six times faster."""
    created = pendulum.datetime(2026, 11, 30, 10, 30, 0, 250_000, tz="Europe/Paris")

    plain = plain_utc(created)

    assert type(plain) is datetime
    assert plain.tzinfo is UTC
    assert plain == T0.replace(microsecond=250_000)
    assert sweep_windows([plain, created]) == [(T0 - timedelta(seconds=1), T0 + timedelta(seconds=2))]
