"""core/events.py: which finished operations an event watcher reports, and its position."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_twilio_push.core import events
from airflow_provider_twilio_push.core.events import Position, Sweep, advance
from airflow_provider_twilio_push.models import Operation, OperationStatus

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def op(name: str, status: str, minute: float, updated: float | None = None) -> Operation:
    return Operation(
        id=f"comms_operation_{name}",
        status=OperationStatus(status),
        created_at=T0 + timedelta(minutes=minute),
        updated_at=T0 + timedelta(minutes=minute if updated is None else updated),
    )


def names(operations: list[Operation]) -> list[str]:
    return [operation.id.removeprefix("comms_operation_") for operation in operations]


def test_watching_begins_now_then_reports_what_finishes_once() -> None:
    first = advance(None, Sweep(None, [op("a", "COMPLETED", 0), op("b", "PROCESSING", 5)]))
    assert first.report == []
    assert first.position.since == T0 + timedelta(minutes=5) - events.VISIBILITY_LAG
    assert first.position.handled == frozenset()

    start = first.position.sweep_start()
    assert start == first.position.since - events.SWEEP_MARGIN  # type: ignore[operator]
    second = advance(first.position, Sweep(start, [op("b", "COMPLETED", 5, 9), op("c", "CANCELED", 7, 8)]))
    assert names(second.report) == ["c", "b"]  # in the order they finished
    third = advance(
        second.position,
        Sweep(second.position.sweep_start(), [op("b", "COMPLETED", 5), op("c", "CANCELED", 7)]),
    )
    assert third.report == []


def test_the_oldest_running_operation_holds_the_position() -> None:
    position = advance(None, Sweep(None, [op("old", "SCHEDULED", 0), op("x", "PROCESSING", 100)])).position
    assert position.since == T0
    step = advance(
        position, Sweep(position.sweep_start(), [op("old", "SCHEDULED", 0), op("x", "COMPLETED", 100)])
    )
    assert names(step.report) == ["x"]
    assert step.position.since == T0
    assert step.position.handled == {"comms_operation_x"}

    done = advance(
        step.position,
        Sweep(step.position.sweep_start(), [op("old", "COMPLETED", 0, 200), op("x", "COMPLETED", 100)]),
    )
    assert names(done.report) == ["old"]
    # Both finished: the position moves to just before the newest creation time; the oldest is forgotten.
    assert done.position.since == T0 + timedelta(minutes=100) - events.VISIBILITY_LAG
    assert done.position.handled == {"comms_operation_x"}


def test_statuses_filter_the_report_not_the_position() -> None:
    position = advance(None, Sweep(None, [op("a", "PROCESSING", 0), op("b", "PROCESSING", 0)])).position
    step = advance(position, Sweep(None, [op("a", "COMPLETED", 0), op("b", "CANCELED", 0)]), ["CANCELED"])
    assert names(step.report) == ["b"]
    assert step.position.handled == {"comms_operation_a", "comms_operation_b"}


def test_a_sweep_that_starts_later_than_the_position_keeps_it() -> None:
    position = Position(T0, frozenset({"comms_operation_a"}))
    later = Sweep(T0 + timedelta(minutes=10), [op("n", "COMPLETED", 12)])
    step = advance(position, later)
    assert names(step.report) == ["n"]
    assert step.position == Position(T0, frozenset({"comms_operation_a", "comms_operation_n"}))


def test_an_empty_account_reports_every_later_operation() -> None:
    empty = advance(None, Sweep(None, []))
    assert empty.position == Position(None, frozenset())
    step = advance(empty.position, Sweep(None, [op("a", "COMPLETED", 0)]))
    assert names(step.report) == ["a"]


def test_the_position_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "MAX_HANDLED", 3)
    position = Position(T0, frozenset())
    finished = [op(f"f{i}", "COMPLETED", 10 + i) for i in range(5)]
    step = advance(position, Sweep(position.sweep_start(), [op("stuck", "SCHEDULED", 0), *finished]))
    assert len(step.report) == 5
    assert step.position.handled == {"comms_operation_f2", "comms_operation_f3", "comms_operation_f4"}
    assert step.dropped == 1
    assert step.position.since == T0 + timedelta(minutes=12) + events.SWEEP_MARGIN


def test_the_position_round_trips_through_json() -> None:
    position = Position(T0, frozenset({"comms_operation_b", "comms_operation_a"}))
    stored = json.loads(json.dumps(position.to_json()))
    assert stored == {
        "version": 1,
        "since": "2026-11-30T09:00:00+00:00",
        "handled": ["comms_operation_a", "comms_operation_b"],
    }
    assert Position.from_json(stored) == position
    assert Position.from_json(None) is None
    assert Position.from_json({"version": 99, "since": None}) is None
