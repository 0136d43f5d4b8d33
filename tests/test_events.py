"""core/events.py: which finished operations an event watcher reports, and what it remembers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_twilio_push.core import events
from airflow_provider_twilio_push.core.events import Position, Sweep, advance, first_window
from airflow_provider_twilio_push.models import Operation, OperationStatus

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
LAG = events.VISIBILITY_LAG
MARGIN = events.SWEEP_MARGIN


def op(name: str, status: str, minute: float, updated: float | None = None) -> Operation:
    return Operation(
        id=f"comms_operation_{name}",
        status=OperationStatus(status),
        created_at=T0 + timedelta(minutes=minute),
        updated_at=T0 + timedelta(minutes=minute if updated is None else updated),
    )


def ids(*names: str) -> frozenset[str]:
    return frozenset(f"comms_operation_{name}" for name in names)


def digests(*names: str) -> frozenset[str]:
    return frozenset(events.digest(operation_id) for operation_id in ids(*names))


def names(operations: list[Operation]) -> list[str]:
    return [operation.id.removeprefix("comms_operation_") for operation in operations]


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def sweep_for(
    position: Position, operations: list[Operation], *, running: frozenset[str] = frozenset()
) -> Sweep:
    """A sweep as the trigger makes it: the running ids, and what was created since the window."""
    start = position.window_start()
    listed = [o for o in operations if start is None or o.created_at is None or o.created_at >= start]
    return Sweep(start, running, listed)


def test_watching_begins_now_then_reports_what_finishes_once() -> None:
    now = at(10)
    first = advance(
        None,
        Sweep(first_window(now), ids("old", "b"), [op("a", "COMPLETED", 9.5), op("b", "PROCESSING", 9.8)]),
    )
    assert first.report == []  # what had finished when watching began is not reported
    assert first.position == Position(now, ids("old", "b"), digests("a"))

    second = advance(
        first.position,
        sweep_for(
            first.position,
            [op("a", "COMPLETED", 9.5), op("b", "COMPLETED", 9.8, 12), op("c", "CANCELED", 11, 11.5)],
            running=ids("old"),
        ),
    )
    assert names(second.report) == ["c", "b"]  # in the order they finished
    assert second.position == Position(at(11), ids("old"), digests("c"))  # "b" is older than the window

    third = advance(
        second.position,
        sweep_for(
            second.position, [op("b", "COMPLETED", 9.8, 12), op("c", "CANCELED", 11)], running=ids("old")
        ),
    )
    assert third.report == []
    assert third.position == second.position


def test_an_old_operation_is_reported_from_its_read_by_id_whatever_finished_since() -> None:
    """The position keeps the ids of what runs, not of what finished: an operation scheduled six
    days ago is reported when it finishes, after more finished than the old position could hold (20,000)."""
    position = Position(at(0), ids("scheduled"), frozenset())
    busy = [op(f"f{i}", "COMPLETED", i / 250) for i in range(25_000)]
    step = advance(position, sweep_for(position, busy, running=ids("scheduled")))
    assert len(step.report) == 25_000
    assert step.position.running == ids("scheduled")
    assert 250 <= len(step.position.recent) <= 260  # those created in the minute before the newest
    window = step.position.window_start()
    assert window == busy[-1].created_at - LAG - MARGIN  # type: ignore[operator]
    assert step.position.recent == {events.digest(o.id) for o in busy if o.created_at >= window}  # type: ignore[operator]

    quiet = advance(step.position, sweep_for(step.position, busy, running=ids("scheduled")))
    assert quiet.report == []
    gone_from_the_list = sweep_for(quiet.position, busy)
    assert gone_from_the_list.unknown(quiet.position) == ids("scheduled")
    done = advance(
        quiet.position, gone_from_the_list.plus([op("scheduled", "COMPLETED", -6 * 24 * 60, 101)], ())
    )
    assert names(done.report) == ["scheduled"]
    assert done.position.running == frozenset()


def test_the_state_is_bounded_by_what_runs_and_the_last_minute() -> None:
    """A week of 100,000 operations, swept every minute: the position never holds more than the
    operations still running and those created in the last minute."""
    position = advance(None, Sweep(first_window(at(0)), frozenset(), [])).position
    sizes = []
    per_minute = 10
    for minute in range(1, 600):
        created = [op(f"m{minute}x{i}", "COMPLETED", minute - 1 + i / per_minute) for i in range(per_minute)]
        position = advance(position, sweep_for(position, created, running=ids("slow"))).position
        sizes.append(len(json.dumps(position.to_json())))
    assert position.running == ids("slow")
    assert max(sizes) < 2_000


def test_operations_that_show_up_late_are_still_found() -> None:
    """An operation may be listed a little after its creation time: the window reaches back
    :data:`VISIBILITY_LAG` before the newest operation seen."""
    position = Position(at(0), frozenset(), frozenset())
    step = advance(position, sweep_for(position, [op("new", "COMPLETED", 10)]))
    assert names(step.report) == ["new"]
    late = op("late", "COMPLETED", 9.5)  # created before "new", listed only now
    later = advance(step.position, sweep_for(step.position, [late, op("new", "COMPLETED", 10)]))
    assert names(later.report) == ["late"]
    assert step.position.window_start() == at(10) - LAG - MARGIN


def test_statuses_filter_the_report_not_the_position() -> None:
    position = Position(at(0), ids("a", "b"), frozenset())
    sweep = sweep_for(position, [op("a", "COMPLETED", 1), op("b", "CANCELED", 1)])
    step = advance(position, sweep, ["CANCELED"])
    assert names(step.report) == ["b"]
    assert step.position.running == frozenset()
    assert step.position.recent == digests("a", "b")


def test_what_the_sweep_says_nothing_about_is_still_running() -> None:
    position = Position(at(10), ids("a", "b"), frozenset())
    sweep = Sweep(position.window_start(), ids("a"), [])
    assert sweep.unknown(position) == ids("b")
    step = advance(position, sweep)
    assert step.report == []
    assert step.position.running == ids("a", "b")  # "b" is read by id at the next sweep

    read = sweep.plus([op("b", "PROCESSING", 1)], ())  # listed a moment late as running
    assert read.unknown(position) == frozenset()
    assert advance(position, read).position.running == ids("a", "b")
    expired = sweep.plus([], ["comms_operation_b"])
    assert advance(position, expired).position.running == ids("a")
    assert advance(position, expired).report == []


def test_a_sweep_that_starts_after_the_position_is_refused() -> None:
    """A trigger whose position is older than its group's sweeps catches up on its own first."""
    position = Position(at(0), frozenset(), frozenset())
    later = Sweep(at(10), frozenset(), [op("n", "COMPLETED", 12)])
    assert not later.covers(position)
    assert Sweep(None, frozenset(), []).covers(position)
    assert later.covers(None)
    assert not later.covers(Position(None))
    with pytest.raises(ValueError, match="does not cover"):
        advance(position, later)


def test_an_empty_account_waits_at_the_present() -> None:
    now = at(0)
    empty = advance(None, Sweep(first_window(now), frozenset(), []))
    assert empty.position == Position(now)
    step = advance(empty.position, sweep_for(empty.position, [op("a", "COMPLETED", 0.5)]))
    assert names(step.report) == ["a"]


def test_the_position_round_trips_through_json() -> None:
    position = Position(T0, ids("r2", "r1"), digests("b", "a"))
    stored = json.loads(json.dumps(position.to_json()))
    assert stored == {
        "version": 3,
        "newest": "2026-11-30T09:00:00+00:00",
        "running": ["comms_operation_r1", "comms_operation_r2"],
        "recent": "".join(sorted(digests("a", "b"))),
    }
    assert Position.from_json(stored) == position
    assert Position.from_json(None) is None
    assert Position.from_json({"version": 99, "newest": None}) is None
    assert Position.from_json({"version": 3, "newest": "yesterday"}) is None
    naive = Position.from_json(
        {"version": 3, "newest": "2026-11-30T09:00:00", "running": [7, "x"], "recent": 5}
    )
    assert naive == Position(T0, frozenset({"x"}))


def test_a_busy_minute_is_stored_under_64_kb_and_still_suppresses_duplicates() -> None:
    """50 operations a second: 3,000 finished in the window, each reported once."""
    finished = [op(f"{n:05d}", "COMPLETED", n / 3000) for n in range(3000)]
    position = Position(at(0), frozenset(), frozenset())
    step = advance(position, sweep_for(position, finished))
    assert len(step.report) == 3000
    stored = json.dumps(step.position.to_json())
    assert len(stored.encode()) < 64 * 1024
    resumed = Position.from_json(json.loads(stored))
    assert resumed == step.position
    assert resumed is not None
    assert len(resumed.recent) == 3000
    assert advance(resumed, sweep_for(resumed, finished)).report == []


def test_a_version_2_position_resumes_with_its_full_ids() -> None:
    """Written before the digests: ``recent`` as a list of ids."""
    old = {"version": 2, "newest": "2026-11-30T09:00:00+00:00", "running": ["comms_operation_r"]}
    old["recent"] = ["comms_operation_a"]
    position = Position.from_json(old)
    assert position == Position(T0, ids("r"), digests("a"))
    step = advance(position, sweep_for(position, [op("a", "COMPLETED", 0), op("b", "COMPLETED", 0.5)]))
    assert names(step.report) == ["b"]
    assert step.position.running == ids("r")


def test_a_catch_up_is_advanced_page_by_page_keeping_only_the_window() -> None:
    """Seven days of operations, one page at a time: each page reports its own and what is kept
    is the finished ones of the last window and those running, not the history."""
    position = Position(at(0), ids("r"), frozenset())
    step = events.Advancing(position, position.window_start(), frozenset())
    reported: list[str] = []
    for day in range(7):
        page = [op(f"{day}-{n}", "COMPLETED", day * 1440 + n) for n in range(0, 1440, 2)]
        reported += names(step.take(page))
        assert len(step.position().recent) <= 31  # the minute before the newest, never the history
    reported += names(step.take([op("r", "COMPLETED", 1, 9000)]))
    assert len(reported) == 7 * 720 + 1
    assert reported[-1] == "r"
    final = step.position()
    assert final.newest == at(6 * 1440 + 1438)
    assert final.running == frozenset()
    assert advance(final, sweep_for(final, [op("6-1438", "COMPLETED", 6 * 1440 + 1438)])).report == []


def test_a_version_1_position_resumes_from_its_since() -> None:
    """Written by 0.x: the oldest running operation's creation time and the finished ones since."""
    old = {"version": 1, "since": "2026-11-30T09:00:00+00:00", "handled": ["comms_operation_a"]}
    position = Position.from_json(old)
    assert position == Position(T0 + LAG, frozenset(), digests("a"))
    assert position.window_start() == T0 - MARGIN  # the old sweep's start
    step = advance(
        position,
        sweep_for(position, [op("a", "COMPLETED", 0), op("b", "COMPLETED", 1), op("r", "PROCESSING", 0)]),
    )
    assert names(step.report) == ["b"]
    assert step.position.running == ids("r")
    assert Position.from_json({"version": 1, "since": None, "handled": []}) == Position(None)


def test_naive_dates_from_the_api_compare_with_the_position() -> None:
    """A date-time without an offset is read as UTC by the models: the position update holds."""
    naive = Operation.model_validate(
        {
            "id": "comms_operation_n",
            "status": "COMPLETED",
            "createdAt": "2026-11-30T09:05:00",
            "updatedAt": None,
        }
    )
    position = Position(at(0), ids("n"), frozenset())
    step = advance(position, sweep_for(position, [naive, op("z", "COMPLETED", 6)]))
    assert names(step.report) == ["n", "z"]
    assert step.position.newest == at(6)
