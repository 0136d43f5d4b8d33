"""TwilioPushOperationSensor against a Comms API mocked at the transport (respx)."""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pendulum
import pytest
import respx
from airflow.providers.common.compat.module_loading import import_string
from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    PokeReturnValue,
    TaskDeferred,
)
from airflow.sdk import DAG
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

try:
    from airflow.sdk.exceptions import AirflowRescheduleException
except ImportError:  # Airflow < 3.2, where the SDK raises this one
    from airflow.exceptions import AirflowRescheduleException

from airflow_provider_twilio_push.exceptions import (
    TwilioPushError,
    TwilioPushInvalidInputError,
    TwilioPushNotFoundError,
)
from airflow_provider_twilio_push.sensors.twilio_push import TwilioPushOperationSensor
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

from .conftest import OPERATION_ID

pytestmark = pytest.mark.timeout(60)

WireOperation = Callable[..., dict[str, Any]]
OpResponse = Callable[..., httpx.Response]
Logs = list[dict[str, Any]]


def make_sensor(**overrides: Any) -> TwilioPushOperationSensor:
    kwargs: dict[str, Any] = {
        "task_id": "wait_for_operation",
        "operation_id": OPERATION_ID,
        "poke_interval": 0.01,
        "timeout": 600,
    }
    kwargs.update(overrides)
    return TwilioPushOperationSensor(**kwargs)


def event(status: str, operation: dict[str, Any] | None, message: str = "from the trigger") -> dict[str, Any]:
    return {"status": status, "message": message, "operation": operation}


class RescheduleTI:
    """The one thing reschedule mode asks of the task instance: when it was first rescheduled."""

    def get_first_reschedule_date(self, context: Any) -> datetime | None:
        return None


CANCELED_MESSAGE = (
    f"CANCELED, 100% done: 2 sent, 0 failed, 1 canceled, 0 queued of 3 (operation {OPERATION_ID}): "
    "it was canceled. Set fail_on_canceled=False to accept canceled operations."
)


# -- deferral --------------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [600, timedelta(minutes=10)], ids=["seconds", "timedelta"])
def test_defers_to_the_trigger_with_an_absolute_deadline_and_a_backstop(
    timeout: float | timedelta, operation_route: respx.Route, op_response: OpResponse
) -> None:
    operation_route.side_effect = [op_response("PROCESSING")]
    sensor = make_sensor(deferrable=True, poke_interval=2, timeout=timeout)

    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    after = time.time()

    trigger = deferred.value.trigger
    assert type(trigger) is TwilioPushOperationTrigger
    assert deferred.value.method_name == "execute_complete"
    assert not deferred.value.kwargs
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_twilio_push.triggers.twilio_push.TwilioPushOperationTrigger"
    assert kwargs.keys() == {"operation_id", "twilio_push_conn_id", "poll_interval", "end_time", "created_at"}
    assert kwargs["operation_id"] == OPERATION_ID
    # From the sensor's own read: the triggerer's watcher finds the operation in its sweeps at once.
    assert kwargs["created_at"] == "2024-01-15T09:30:00+00:00"
    assert kwargs["twilio_push_conn_id"] == "twilio_push_default"
    assert kwargs["poll_interval"] == 2.0
    assert before + 600 <= kwargs["end_time"] <= after + 600
    # The deferral's own timeout is only a backstop, five minutes after the trigger's deadline.
    assert deferred.value.timeout == timedelta(seconds=600) + timedelta(minutes=5)
    assert operation_route.call_count == 1


def test_deferral_uses_the_sensors_connection(
    api: respx.MockRouter, op_response: OpResponse, monkeypatch: pytest.MonkeyPatch, secret_token: str
) -> None:
    other_host = "http://127.0.0.1:9"
    monkeypatch.setenv(
        "AIRFLOW_CONN_TWILIO_PUSH_OTHER",
        f'{{"conn_type": "twilio_push", "host": "{other_host}", "login": "ACx", "password": "{secret_token}"}}',
    )
    with respx.mock(base_url=other_host) as other_api:
        route = other_api.get(f"/v1/PushNotifications/Operations/{OPERATION_ID}")
        route.side_effect = [op_response("PROCESSING")]
        sensor = make_sensor(deferrable=True, twilio_push_conn_id="twilio_push_other")
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute({})

    assert route.call_count == 1
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["twilio_push_conn_id"] == "twilio_push_other"
    assert secret_token not in repr(kwargs)
    assert secret_token not in repr(deferred.value.trigger)


def test_an_already_completed_operation_never_defers(
    operation_route: respx.Route, op_response: OpResponse, wire_operation: WireOperation
) -> None:
    operation_route.side_effect = [op_response("COMPLETED", sent=3, queued=0)]

    result = make_sensor(deferrable=True).execute({})

    assert result == wire_operation("COMPLETED", sent=3, queued=0)
    assert operation_route.call_count == 1


@pytest.mark.parametrize(
    ("fail_on_canceled", "soft_fail", "outcome"),
    [(False, False, "success"), (True, False, "fail"), (True, True, "skip")],
)
def test_an_already_canceled_operation_never_defers(
    fail_on_canceled: bool,
    soft_fail: bool,
    outcome: str,
    operation_route: respx.Route,
    op_response: OpResponse,
    wire_operation: WireOperation,
) -> None:
    operation_route.side_effect = [op_response("CANCELED", queued=0, canceled=1)]
    sensor = make_sensor(deferrable=True, fail_on_canceled=fail_on_canceled, soft_fail=soft_fail)

    if outcome == "success":
        assert sensor.execute({}) == wire_operation("CANCELED", queued=0, canceled=1)
    elif outcome == "fail":
        with pytest.raises(AirflowFailException, match=f"^{re.escape(CANCELED_MESSAGE)}$"):
            sensor.execute({})
    else:
        # As in poke mode and when the trigger reports it: soft_fail skips.
        with pytest.raises(AirflowSkipException, match="it was canceled"):
            sensor.execute({})


def test_a_permanent_error_on_the_first_read_fails_without_deferring(operation_route: respx.Route) -> None:
    operation_route.side_effect = [httpx.Response(404, json={"code": 20404, "message": "Not found"})]

    with pytest.raises(TwilioPushNotFoundError, match=r"answered 404 Not Found to GET .*: Not found"):
        make_sensor(deferrable=True).execute({})
    assert operation_route.call_count == 1


def test_an_invalid_operation_id_fails_without_a_request(api: respx.MockRouter) -> None:
    route = api.route()

    with pytest.raises(TwilioPushInvalidInputError, match=r"^Invalid operation_id 'comms_operation_X'"):
        make_sensor(deferrable=True, operation_id="comms_operation_X").execute({})
    assert route.call_count == 0


def test_a_transient_error_on_the_first_read_defers_anyway(operation_route: respx.Route, logs: Logs) -> None:
    operation_route.side_effect = lambda request: httpx.Response(503, headers={"Retry-After": "0"})

    with pytest.raises(TaskDeferred) as deferred:
        make_sensor(deferrable=True).execute({})

    assert type(deferred.value.trigger) is TwilioPushOperationTrigger
    assert operation_route.call_count == 2  # the hook's retries, then the triggerer's turn
    warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"Could not read operation {OPERATION_ID}, will wait for it in the triggerer:"
    )
    assert "503 Service Unavailable" in warnings[0]


# -- poke and reschedule modes ---------------------------------------------------------------------


def test_poke_is_false_until_the_operation_ends_then_returns_it(
    operation_route: respx.Route, op_response: OpResponse, wire_operation: WireOperation
) -> None:
    operation_route.side_effect = [
        op_response("SCHEDULED", scheduled=3, sent=0, queued=0),
        op_response("PROCESSING"),
        op_response("COMPLETED", sent=3, queued=0),
    ]
    sensor = make_sensor()

    assert sensor.poke({}) is False
    assert sensor.poke({}) is False
    done = sensor.poke({})

    assert isinstance(done, PokeReturnValue)
    assert done.is_done is True
    assert done.xcom_value == wire_operation("COMPLETED", sent=3, queued=0)


def test_poke_waits_out_transient_errors_and_raises_permanent_ones(
    operation_route: respx.Route, op_response: OpResponse, logs: Logs
) -> None:
    operation_route.side_effect = [
        httpx.ConnectError("Connection refused"),
        httpx.ConnectError("Connection refused"),
        httpx.Response(401, json={"code": 20003, "message": "Authenticate"}),
    ]
    sensor = make_sensor()

    assert sensor.poke({}) is False
    warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    assert warnings == [
        f"Could not read operation {OPERATION_ID}, will try again: No answer from the Twilio Push API at "
        "https://comms.twilio.com to "
        f"GET /v1/PushNotifications/Operations/{OPERATION_ID}: ConnectError (Connection refused) "
        "(gave up after 2 attempts)"
    ]
    with pytest.raises(TwilioPushError, match=r"401 Unauthorized .* of the connection 'twilio_push_default'"):
        sensor.poke({})


def test_poke_mode_execute_returns_the_operation_for_xcom(
    operation_route: respx.Route, op_response: OpResponse, wire_operation: WireOperation
) -> None:
    operation_route.side_effect = [op_response("PROCESSING")] * 3 + [
        op_response("COMPLETED", sent=3, queued=0)
    ]

    result = make_sensor(mode="poke", deferrable=False).execute({})

    assert result == wire_operation("COMPLETED", sent=3, queued=0)
    assert operation_route.call_count == 4


@pytest.mark.parametrize("soft_fail", [False, True])
def test_poke_mode_times_out(soft_fail: bool, operation_route: respx.Route, op_response: OpResponse) -> None:
    operation_route.side_effect = lambda request: op_response("PROCESSING")
    sensor = make_sensor(mode="poke", poke_interval=0.05, timeout=0.2, soft_fail=soft_fail)

    expected = AirflowSkipException if soft_fail else AirflowSensorTimeout
    with pytest.raises(expected, match="Sensor has timed out"):
        sensor.execute({})


@pytest.mark.parametrize(
    ("soft_fail", "expected"), [(False, AirflowFailException), (True, AirflowSkipException)]
)
def test_poke_mode_canceled_operation(
    soft_fail: bool, expected: type[Exception], operation_route: respx.Route, op_response: OpResponse
) -> None:
    operation_route.side_effect = [op_response("PROCESSING"), op_response("CANCELED", queued=0, canceled=1)]

    with pytest.raises(expected) as raised:
        make_sensor(mode="poke", soft_fail=soft_fail).execute({})

    failure = raised.value if expected is AirflowFailException else raised.value.__cause__
    assert isinstance(failure, AirflowFailException)
    assert str(failure) == CANCELED_MESSAGE


def test_reschedule_mode_reschedules_then_returns_the_operation(
    operation_route: respx.Route, op_response: OpResponse, wire_operation: WireOperation
) -> None:
    operation_route.side_effect = [op_response("PROCESSING"), op_response("COMPLETED", sent=3, queued=0)]
    sensor = make_sensor(mode="reschedule", poke_interval=30)
    context: Any = {"ti": RescheduleTI()}

    before = datetime.now(UTC)
    with pytest.raises(AirflowRescheduleException) as rescheduled:
        sensor.execute(context)
    assert before + timedelta(seconds=29) <= rescheduled.value.reschedule_date
    assert rescheduled.value.reschedule_date <= datetime.now(UTC) + timedelta(seconds=31)

    assert sensor.execute(context) == wire_operation("COMPLETED", sent=3, queued=0)
    assert operation_route.call_count == 2


# -- templating ------------------------------------------------------------------------------------


def test_operation_id_is_templated(operation_route: respx.Route, op_response: OpResponse) -> None:
    operation_route.side_effect = [op_response("COMPLETED", queued=0)]
    suffix = OPERATION_ID.removeprefix("comms_operation_")
    with DAG("templating", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
        sensor = make_sensor(operation_id="{{ 'comms_operation_' ~ params.suffix }}")
    assert "operation_id" in TwilioPushOperationSensor.template_fields

    sensor.render_template_fields({"params": {"suffix": suffix}})  # type: ignore[arg-type]

    assert sensor.operation_id == OPERATION_ID
    assert sensor.execute({})["id"] == OPERATION_ID
    assert operation_route.call_count == 1


def test_templated_operation_id_reaches_the_trigger(
    operation_route: respx.Route, op_response: OpResponse
) -> None:
    operation_route.side_effect = [op_response("PROCESSING")]
    sensor = make_sensor(deferrable=True, operation_id="{{ params.operation_id }}")

    sensor.render_template_fields({"params": {"operation_id": OPERATION_ID}})  # type: ignore[arg-type]
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})

    assert deferred.value.trigger.serialize()[1]["operation_id"] == OPERATION_ID


# -- execute_complete: the trigger's events --------------------------------------------------------


# "success" is what versions up to 0.1.0 sent for "completed": such events may still be stored.
@pytest.mark.parametrize("status", ["completed", "success"])
def test_completed_event_returns_the_operation(wire_operation: WireOperation, status: str) -> None:
    completed = wire_operation("COMPLETED", sent=2, failed=1, queued=0)

    assert make_sensor().execute_complete({}, event(status, completed)) == completed


def test_canceled_event_fails_when_fail_on_canceled(wire_operation: WireOperation) -> None:
    canceled = wire_operation("CANCELED", queued=0, canceled=1)

    with pytest.raises(AirflowFailException) as raised:
        make_sensor(fail_on_canceled=True).execute_complete({}, event("canceled", canceled))

    assert str(raised.value) == CANCELED_MESSAGE


def test_canceled_event_succeeds_without_fail_on_canceled(wire_operation: WireOperation) -> None:
    canceled = wire_operation("CANCELED", queued=0, canceled=1)

    assert make_sensor(fail_on_canceled=False).execute_complete({}, event("canceled", canceled)) == canceled


TIMEOUT_MESSAGE = (
    f"Timed out waiting for operation {OPERATION_ID} to complete; last seen "
    f"Operation {OPERATION_ID} is PROCESSING: 2 sent, 0 failed, 1 queued of 3."
)


def test_timeout_event_raises_sensor_timeout_with_the_triggers_message(wire_operation: WireOperation) -> None:
    with pytest.raises(AirflowSensorTimeout) as raised:
        make_sensor().execute_complete({}, event("timeout", wire_operation(), TIMEOUT_MESSAGE))

    assert str(raised.value) == TIMEOUT_MESSAGE


def test_timeout_event_without_a_message_still_names_the_operation() -> None:
    with pytest.raises(AirflowSensorTimeout, match=rf"^Timed out waiting for operation {OPERATION_ID}\.$"):
        make_sensor().execute_complete({}, {"status": "timeout", "operation": None})


@pytest.mark.parametrize("soft_fail", [False, True])
def test_timeout_event_through_resume_execution(soft_fail: bool, wire_operation: WireOperation) -> None:
    sensor = make_sensor(soft_fail=soft_fail)
    next_kwargs = {"event": event("timeout", wire_operation(), TIMEOUT_MESSAGE)}

    if soft_fail:
        with pytest.raises(AirflowSkipException) as skipped:
            sensor.resume_execution("execute_complete", next_kwargs, {})  # type: ignore[arg-type]
        assert isinstance(skipped.value.__cause__, AirflowSensorTimeout)
        assert str(skipped.value.__cause__) == TIMEOUT_MESSAGE
    else:
        with pytest.raises(AirflowSensorTimeout, match=f"^{re.escape(TIMEOUT_MESSAGE)}$"):
            sensor.resume_execution("execute_complete", next_kwargs, {})  # type: ignore[arg-type]


@pytest.mark.parametrize("soft_fail", [False, True])
def test_backstop_deferral_timeout_is_a_sensor_timeout(soft_fail: bool) -> None:
    """The defer(timeout=...) backstop fires when the trigger could not run at all."""
    sensor = make_sensor(soft_fail=soft_fail)
    next_kwargs = {"error": TriggerFailureReason.TRIGGER_TIMEOUT}

    expected = AirflowSkipException if soft_fail else AirflowSensorTimeout
    with pytest.raises(expected):
        sensor.resume_execution(TRIGGER_FAIL_REPR, next_kwargs, {})  # type: ignore[arg-type]


def test_error_event_raises_the_triggers_message() -> None:
    message = (
        f"Could not watch operation {OPERATION_ID}: Twilio Push API answered 401 Unauthorized to GET "
        f"/v1/PushNotifications/Operations/{OPERATION_ID}. Check the Account SID or API Key SID (login) "
        "and the Auth Token or API Key secret (password) of the connection 'twilio_push_default'."
    )
    error_event = {
        "status": "error",
        "message": message,
        "error_type": "TwilioPushAuthError",
        "operation": None,
    }

    with pytest.raises(TwilioPushError) as raised:
        make_sensor().execute_complete({}, error_event)

    assert str(raised.value) == message


def test_error_event_with_soft_fail_skips() -> None:
    error_event = {"status": "error", "message": "Could not watch operation: 404", "operation": None}

    with pytest.raises(AirflowSkipException) as skipped:
        make_sensor(soft_fail=True).resume_execution(
            "execute_complete",
            {"event": error_event},
            {},  # type: ignore[arg-type]
        )
    assert str(skipped.value.__cause__) == "Could not watch operation: 404"


GARBLED_EVENTS: dict[str, Any] = {
    "None": None,
    "a string": "success",
    "empty": {},
    "unknown status": {"status": "done", "operation": None},
    "success without operation": {"status": "success", "message": "done"},
    "success with a null operation": {"status": "success", "operation": None},
    "operation without status": {"status": "success", "operation": {"id": OPERATION_ID}},
    "operation with an unknown status": {
        "status": "success",
        "operation": {"id": OPERATION_ID, "status": "X"},
    },
    "success of a PROCESSING operation": {
        "status": "success",
        "operation": {"id": OPERATION_ID, "status": "PROCESSING"},
    },
    "canceled of a SCHEDULED operation": {
        "status": "canceled",
        "operation": {"id": OPERATION_ID, "status": "SCHEDULED"},
    },
    "error without message": {"status": "error", "operation": None},
}


@pytest.mark.parametrize("name", list(GARBLED_EVENTS))
def test_unexpected_events_fail_with_a_clear_message(name: str) -> None:
    garbled = GARBLED_EVENTS[name]

    with pytest.raises(TwilioPushError) as raised:
        make_sensor(fail_on_canceled=False).execute_complete({}, garbled)

    assert str(raised.value) == (
        f"Unexpected event from the trigger watching operation {OPERATION_ID}: {garbled!r}"
    )


@pytest.mark.parametrize("kind", ["success", "canceled-allowed", "canceled-failing", "timeout", "error"])
def test_execute_complete_is_idempotent(kind: str, wire_operation: WireOperation) -> None:
    """The triggerer delivers events at least once: the same event twice gives the same outcome."""
    the_event = {
        "success": event("success", wire_operation("COMPLETED", sent=3, queued=0)),
        "canceled-allowed": event("canceled", wire_operation("CANCELED", queued=0, canceled=1)),
        "canceled-failing": event("canceled", wire_operation("CANCELED", queued=0, canceled=1)),
        "timeout": event("timeout", wire_operation(), TIMEOUT_MESSAGE),
        "error": event("error", None, "Could not watch operation: boom"),
    }[kind]
    pristine = copy.deepcopy(the_event)
    sensor = make_sensor(fail_on_canceled=kind != "canceled-allowed")

    outcomes = []
    for _ in range(2):
        try:
            outcomes.append(("returned", sensor.execute_complete({}, the_event)))
        except Exception as exc:
            outcomes.append((type(exc).__name__, str(exc)))

    assert outcomes[0] == outcomes[1]
    assert the_event == pristine
    if kind in ("success", "canceled-allowed"):
        assert outcomes[0] == ("returned", the_event["operation"])


# -- the trigger's own events, end to end in-process -------------------------------------------------


@pytest.mark.parametrize(
    ("final", "fail_on_canceled", "outcome"),
    [("COMPLETED", True, "returned"), ("CANCELED", False, "returned"), ("CANCELED", True, "failed")],
)
def test_defer_run_the_rebuilt_trigger_and_resume(
    final: str,
    fail_on_canceled: bool,
    outcome: str,
    operation_route: respx.Route,
    op_response: OpResponse,
    wire_operation: WireOperation,
) -> None:
    last = {"COMPLETED": {"sent": 3, "queued": 0}, "CANCELED": {"queued": 0, "canceled": 1}}[final]
    operation_route.side_effect = [
        op_response("PROCESSING"),
        op_response("PROCESSING"),
        op_response(final, **last),
    ]
    sensor = make_sensor(deferrable=True, poke_interval=0.01, fail_on_canceled=fail_on_canceled)

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    # What the triggerer does: rebuild the trigger from its serialized form and run it.
    classpath, kwargs = deferred.value.trigger.serialize()
    trigger = import_string(classpath)(**kwargs)

    async def first_event() -> dict[str, Any]:
        async for trigger_event in trigger.run():
            return trigger_event.payload  # type: ignore[no-any-return]
        raise AssertionError("the trigger ended without an event")

    payload = asyncio.run(first_event())
    resume = getattr(sensor, deferred.value.method_name)

    if outcome == "returned":
        assert resume({}, event=payload) == wire_operation(final, **last)
    else:
        with pytest.raises(AirflowFailException, match="it was canceled"):
            resume({}, event=payload)
    assert operation_route.call_count == 3
