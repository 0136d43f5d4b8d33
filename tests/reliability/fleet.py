"""Running many triggers in one event loop, as the triggerer does, and recording what they did."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_provider_twilio_push.core import pacing
from airflow_provider_twilio_push.emulator import CONN_ENV_VAR
from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

GET_OPERATION = "GET /v1/PushNotifications/Operations/{id}"


@dataclass
class Watch:
    """One trigger and what it emitted; times are wall-clock (``time.time()``), as deadlines are."""

    operation_id: str
    expected: str  # the event status it must end with
    deadline: float
    trigger: TwilioPushOperationTrigger
    events: list[dict[str, Any]] = field(default_factory=list)
    fired_at: float | None = None
    hung: bool = False

    @property
    def payload(self) -> dict[str, Any]:
        assert len(self.events) == 1, f"{self.operation_id}: expected one event, got {self.events!r}"
        return self.events[0]


def fired(w: Watch) -> float:
    """When the trigger emitted its event."""
    assert w.fired_at is not None, f"{w.operation_id}: no event"
    return w.fired_at


def watch(operation_id: str, expected: str, *, poll_interval: float, deadline: float) -> Watch:
    trigger = TwilioPushOperationTrigger(
        operation_id=operation_id,
        twilio_push_conn_id="twilio_push_default",
        poll_interval=poll_interval,
        end_time=deadline,
    )
    return Watch(operation_id, expected, deadline, trigger)


async def _run(w: Watch, hang_limit: float) -> None:
    """What the triggerer's ``run_trigger`` does: iterate ``run()``, keep every event, clean up.

    A trigger still running ``hang_limit`` seconds after its deadline is cancelled and marked hung.
    """
    try:
        async with asyncio.timeout(max(w.deadline - time.time(), 0) + hang_limit):
            async for event in w.trigger.run():
                assert isinstance(event, TriggerEvent)
                if w.fired_at is None:
                    w.fired_at = time.time()
                w.events.append(event.payload)
    except TimeoutError:
        w.hung = True
    finally:
        await w.trigger.cleanup()


async def _watch_the_loop(lags: list[float], interval: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time()
        await asyncio.sleep(interval)
        lags.append(loop.time() - asked - interval)


async def run_fleet(watches: Iterable[Watch], *, hang_limit: float = 10.0) -> float:
    """Run every trigger to its end in this loop; return the loop's longest stall, in seconds.

    The stall is how late the loop woke a sleeping task (other processes taking the CPU, or
    anything blocking the loop): no trigger can be on time by less than that.
    """
    lags: list[float] = [0.0]
    watchdog = asyncio.create_task(_watch_the_loop(lags))
    try:
        await asyncio.gather(*(_run(w, hang_limit) for w in watches))
    finally:
        watchdog.cancel()
    return max(lags)


async def control(emulator: EmulatorHandle, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call the (synchronous) control client off the loop."""
    return await asyncio.to_thread(getattr(emulator.control, method), *args, **kwargs)


def use_connection(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
    """Point ``twilio_push_default`` at the emulator with these extras; forget request budgets."""
    conn = {**json.loads(emulator.conn_json), "extra": extra}
    monkeypatch.setenv(CONN_ENV_VAR, json.dumps(conn))
    pacing._pacers.clear()


def final_view(emulator: EmulatorHandle, operation_id: str) -> dict[str, Any]:
    view: dict[str, Any] = emulator.control.operation(operation_id)["operation"]
    return view
