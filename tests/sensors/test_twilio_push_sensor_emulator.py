"""TwilioPushOperationSensor against the Comms API emulator (real HTTP on 127.0.0.1), in-process.

A deferral is carried out as the triggerer would: the trigger is rebuilt from its serialized
form, run on an event loop until its first event, and the sensor resumes with that event.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from airflow.providers.common.compat.module_loading import import_string
from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.sensors.twilio_push import TwilioPushOperationSensor

pytestmark = pytest.mark.timeout(60)

GET_OPERATION = "GET /v1/PushNotifications/Operations/{id}"


def make_sensor(operation_id: str, **overrides: Any) -> TwilioPushOperationSensor:
    kwargs: dict[str, Any] = {
        "task_id": "wait_for_operation",
        "operation_id": operation_id,
        "deferrable": True,
        "poke_interval": 0.05,
        "timeout": 60,
    }
    kwargs.update(overrides)
    return TwilioPushOperationSensor(**kwargs)


def defer(sensor: TwilioPushOperationSensor) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    return deferred.value


def run_in_triggerer(deferred: TaskDeferred) -> dict[str, Any]:
    """Rebuild the trigger from its serialized form and run it until its first event."""
    classpath, kwargs = deferred.trigger.serialize()
    trigger = import_string(classpath)(**kwargs)

    async def first_event() -> dict[str, Any]:
        async with asyncio.timeout(30):
            async for event in trigger.run():
                payload: dict[str, Any] = event.payload
                return payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first_event())


def resume(sensor: TwilioPushOperationSensor, deferred: TaskDeferred, payload: dict[str, Any]) -> Any:
    """What the task runner does when the task comes back from the triggerer."""
    return sensor.resume_execution(deferred.method_name, {"event": payload}, {})  # type: ignore[arg-type]


def check_stats(stats: dict[str, int]) -> None:
    assert stats["recipients"] == stats["total"]
    parts = ("unaddressable", "scheduled", "queued", "sent", "failed", "canceled")
    assert sum(stats[part] for part in parts) == stats["total"]


def test_deferrable_sensor_through_faults_returns_the_completed_operation(
    twilio_push_emulator: EmulatorHandle,
) -> None:
    control = twilio_push_emulator.control
    control.set_faults(rate_429=0.1, rate_503=0.1, rate_malformed=0.1, retry_after=0, routes=[GET_OPERATION])
    control.freeze()  # PROCESSING until the sensor has deferred
    operation = control.create_operation(total=40, duration=1.0, failure_ratio=0.1, unaddressable_ratio=0.05)
    sensor = make_sensor(operation["id"])

    deferred = defer(sensor)
    control.unfreeze()
    payload = run_in_triggerer(deferred)
    result = resume(sensor, deferred, payload)

    assert payload["status"] == "completed"
    assert result == control.operation(operation["id"])["operation"]
    assert result["status"] == "COMPLETED"
    assert result["stats"] == {
        "total": 40,
        "recipients": 40,
        "unaddressable": 2,
        "scheduled": 0,
        "queued": 0,
        "sent": 34,
        "failed": 4,
        "canceled": 0,
    }


def test_poke_mode_against_the_emulator(twilio_push_emulator: EmulatorHandle) -> None:
    control = twilio_push_emulator.control
    operation = control.create_operation(total=10, duration=0.5, schedule_in=0.3)
    sensor = make_sensor(operation["id"], deferrable=False, mode="poke", poke_interval=0.1)

    result = sensor.execute({})

    assert result == control.operation(operation["id"])["operation"]
    assert result["status"] == "COMPLETED"
    assert control.request_count(GET_OPERATION, 200) >= 3  # SCHEDULED, PROCESSING..., COMPLETED


def test_an_operation_completed_before_the_sensor_runs_is_not_deferred(
    twilio_push_emulator: EmulatorHandle,
) -> None:
    control = twilio_push_emulator.control
    operation = control.create_operation(total=10, duration=0, age=60)

    result = make_sensor(operation["id"]).execute({})

    assert result["status"] == "COMPLETED"
    assert control.request_count(GET_OPERATION) == 1


@pytest.mark.parametrize("fail_on_canceled", [True, False])
def test_canceled_while_deferred(fail_on_canceled: bool, twilio_push_emulator: EmulatorHandle) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    operation = control.create_operation(total=100, duration=100)
    control.advance(30)  # 30 processed
    sensor = make_sensor(operation["id"], fail_on_canceled=fail_on_canceled)

    deferred = defer(sensor)
    control.cancel(operation["id"])
    payload = run_in_triggerer(deferred)

    assert payload["status"] == "canceled"
    canceled = control.operation(operation["id"])["operation"]
    assert payload["operation"] == canceled
    assert canceled["stats"]["sent"] == 30
    assert canceled["stats"]["canceled"] == 70
    check_stats(canceled["stats"])
    if fail_on_canceled:
        with pytest.raises(AirflowFailException) as failed:
            resume(sensor, deferred, payload)
        assert str(failed.value) == (
            f"CANCELED, 100% done: 30 sent, 0 failed, 70 canceled, 0 queued of 100 (operation "
            f"{operation['id']}): it was canceled. Set fail_on_canceled=False to accept canceled operations."
        )
    else:
        assert resume(sensor, deferred, payload) == canceled


@pytest.mark.parametrize("soft_fail", [False, True])
def test_sensor_timeout_holds_while_deferred(soft_fail: bool, twilio_push_emulator: EmulatorHandle) -> None:
    control = twilio_push_emulator.control
    operation = control.create_operation(total=100, duration=3600)
    sensor = make_sensor(operation["id"], timeout=0.6, soft_fail=soft_fail)

    deferred = defer(sensor)
    payload = run_in_triggerer(deferred)

    assert payload["status"] == "timeout"
    message = re.escape(
        f"Timed out waiting for operation {operation['id']} to complete; last seen PROCESSING, "
    )
    if soft_fail:
        with pytest.raises(AirflowSkipException) as skipped:
            resume(sensor, deferred, payload)
        assert isinstance(skipped.value.__cause__, AirflowSensorTimeout)
        assert re.match(message, str(skipped.value.__cause__))
    else:
        with pytest.raises(AirflowSensorTimeout, match=f"^{message}"):
            resume(sensor, deferred, payload)
