"""TwilioPushSendOperator (issues 6, 22): templated sends, the operation id, waiting, exactly-once sends."""

from __future__ import annotations

import json
import math
import time
from datetime import timedelta
from typing import Any

import httpx
import pendulum
import pytest
import respx
from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    BaseOperator,
    TaskDeferred,
)
from airflow.sdk import DAG

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.ledger import chunk_digest
from airflow_provider_twilio_push.models import OperationStatus
from airflow_provider_twilio_push.operators.twilio_push import TwilioPushSendOperator
from airflow_provider_twilio_push.sensors.twilio_push import TwilioPushOperationSensor
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

from .conftest import BASE_URL, OPERATION_ID, OPS_PATH, SEND_PATH, RecordingTI

OP_PATH = f"{OPS_PATH}/{OPERATION_ID}"
SEND_ROUTE = "POST /v1/PushNotifications"
TO = [{"token": "device-token-1", "provider": "FCM"}]
CONTENT = {"title": "Hello", "body": "World"}
ACCEPTED = {"operationId": OPERATION_ID, "operationLocation": f"{BASE_URL}{OP_PATH}"}


def send_operator(**kwargs: Any) -> TwilioPushSendOperator:
    kwargs.setdefault("task_id", "send")
    kwargs.setdefault("to", TO)
    kwargs.setdefault("content", CONTENT)
    return TwilioPushSendOperator(**kwargs)


def operation(status: str, **stats: int) -> dict[str, Any]:
    counters = {"total": 3, "recipients": 3, "unaddressable": 0, "scheduled": 0, "queued": 0}
    counters |= {"sent": 0, "failed": 0, "canceled": 0} | stats
    return {
        "id": OPERATION_ID,
        "status": status,
        "stats": counters,
        "createdAt": "2024-01-15T09:30:00Z",
        "updatedAt": "2024-01-15T09:30:05Z",
    }


def sent_body(route: respx.Route) -> Any:
    assert route.call_count == 1
    return json.loads(route.calls[0].request.content)


# ---------------------------------------------------------------------------------------------
# Sending


def test_a_send_returns_an_operation_id_the_hook_can_wait_for(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI
) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    to = [*TO, {"token": "fail-token", "provider": "APN"}, {"token": "unaddressable-x", "provider": "FCM"}]

    operation_id = send_operator(to=to).execute(context)

    hook = TwilioPushHook()
    assert hook.get_operation(operation_id).status is OperationStatus.PROCESSING
    control.advance(30)
    done = hook.get_operation(operation_id)
    assert done.status is OperationStatus.COMPLETED
    assert (done.stats.total, done.stats.sent, done.stats.failed, done.stats.unaddressable) == (3, 1, 1, 1)
    assert ti.pushed == []  # the id is the return value; Airflow pushes it
    assert control.request_count(SEND_ROUTE) == 1


def test_to_and_content_render_from_an_upstream_xcom_and_params(
    api_mock: respx.MockRouter, ti: RecordingTI
) -> None:
    route = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    audience = [{"token": "device-a", "provider": "FCM"}, {"token": "device-b", "provider": "APN"}]
    ti.upstream["audience"] = audience
    when = pendulum.now("UTC").add(days=2).strftime("%Y-%m-%dT%H:%M:%SZ")
    params = {"product": "shoes", "when": when, "sound": "ding"}
    with DAG(
        "send_templated",
        schedule=None,
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        render_template_as_native_obj=True,
        params=params,
    ):
        operator = send_operator(
            to="{{ ti.xcom_pull(task_ids='audience') }}",
            content={"title": "New {{ params.product }}", "body": "{{ params.product | upper }} in stock"},
            from_="{{ params.product }}_shop",
            sound="{{ params.sound }}",
            schedule="{{ params.when }}",
            tags={"product": "{{ params.product }}"},
        )
    context = {"ti": ti, "params": params}

    operator.render_template_fields(context)
    operation_id = operator.execute(context)

    assert operation_id == OPERATION_ID
    assert sent_body(route) == {
        "to": audience,
        "content": {"body": "SHOES in stock", "title": "New shoes"},
        "from": {"appName": "shoes_shop"},
        "sound": "ding",
        "schedule": {"sendAt": [when]},
        "tags": {"product": "shoes", "airflow-chunk": chunk_digest("test_dag", ti.run_id, "send", -1, 0)},
    }


def test_templates_inside_a_recipient_list_render_without_native_rendering(
    api_mock: respx.MockRouter, context: dict[str, Any]
) -> None:
    route = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    operator = send_operator(to=[{"token": "{{ params.token }}", "provider": "APN"}])
    context["params"] = {"token": "device-from-params"}

    operator.render_template_fields(context)
    operator.execute(context)

    assert sent_body(route)["to"] == [{"token": "device-from-params", "provider": "APN"}]


def test_a_list_template_without_native_rendering_is_refused_before_sending(
    api_mock: respx.MockRouter, context: dict[str, Any]
) -> None:
    # A common mistake: "{{ params.recipients }}" renders to the list's text unless the DAG has
    # render_template_as_native_obj=True. Nothing may be sent then.
    route = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    operator = send_operator(to="{{ params.recipients }}")
    context["params"] = {"recipients": TO}

    operator.render_template_fields(context)
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        operator.execute(context)

    assert str(caught.value) == (
        "Invalid to: expected a list of recipients such as [{'token': '...', 'provider': 'FCM'}] or "
        "[{'userId': 'comms_pushnotificationuser_...'}], got str."
    )
    assert route.call_count == 0


def test_a_503_twilio_did_not_accept_is_sent_again_after_asking_twilio(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    post = api_mock.post(SEND_PATH).mock(
        side_effect=[
            httpx.Response(503, json={"code": 20503, "message": "Unavailable"}),
            httpx.Response(202, json=ACCEPTED),
        ]
    )
    listed = api_mock.get(SEND_PATH).respond(
        200, json={"pushNotifications": [], "pagination": {"next": None}}
    )
    operator = send_operator(recheck_delay=0)

    assert operator.execute(context) == OPERATION_ID

    tag = chunk_digest("test_dag", ti.run_id, "send", -1, 0)
    assert post.call_count == 2
    assert [json.loads(call.request.content)["tags"] for call in post.calls] == [{"airflow-chunk": tag}] * 2
    assert listed.call_count == 1
    assert listed.calls[0].request.url.params["tags"] == f"airflow-chunk:{tag};"


def test_a_500_twilio_accepted_is_adopted_not_sent_again(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], airflow_logs: Any
) -> None:
    control = twilio_push_emulator.control
    control.set_faults(rate_500=1, routes=[SEND_ROUTE])
    operator = send_operator(recheck_delay=0)

    with airflow_logs(operator.log) as entries:
        operation_id = operator.execute(context)

    control.clear_faults()
    operations = TwilioPushHook().list_operations().operations
    assert [op.id for op in operations] == [operation_id]
    assert control.request_count(SEND_ROUTE) == 1
    tag = chunk_digest("test_dag", context["ti"].run_id, "send", -1, 0)
    assert any(
        entry["event"]
        == f"Chunk 0 (tag airflow-chunk:{tag}) was accepted already: adopting operation {operation_id} "
        "instead of sending it again."
        for entry in entries
    ), entries


def test_a_retried_task_adopts_the_send_of_its_earlier_try(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI
) -> None:
    first = send_operator().execute(context)
    ti.try_number = 2

    assert send_operator().execute(context) == first
    assert twilio_push_emulator.control.request_count(SEND_ROUTE) == 1

    # Another run of the same task is another send.
    ti.run_id = "manual__2024-01-16T09:30:00+00:00"
    assert send_operator(recheck_delay=0).execute(context) != first
    assert twilio_push_emulator.control.request_count(SEND_ROUTE) == 2


def test_a_send_whose_fate_cannot_be_told_fails_without_retry_naming_its_tag(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], fast_hook: Any
) -> None:
    control = twilio_push_emulator.control
    control.set_faults(rate_500=1)  # the send, then every lookup
    operator = fast_hook(send_operator(recheck_delay=0, retries=3))

    with pytest.raises(AirflowFailException) as caught:
        operator.execute(context)

    tag = chunk_digest("test_dag", context["ti"].run_id, "send", -1, 0)
    assert str(caught.value).startswith(
        f"Could not tell whether Twilio accepted the chunk tagged airflow-chunk:{tag}: Twilio Push API "
        "answered 500 Internal Server Error to GET /v1/PushNotifications"
    )
    assert str(caught.value).endswith(
        f"It is not sent again blindly; check GET /v1/PushNotifications?tags=airflow-chunk:{tag}; before "
        "running the task again."
    )
    assert control.request_count(SEND_ROUTE) == 1


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (
            {f"k{i}": "v" for i in range(10)},
            "Invalid tags: 10 tags leave no room for the tag 'airflow-chunk' that makes every send "
            "exactly-once (Twilio takes at most 10 a send); expected at most 9.",
        ),
        (
            {"airflow-chunk": "mine"},
            "Invalid tags: the key 'airflow-chunk' is this provider's own (it identifies each chunk sent); "
            "use another key.",
        ),
    ],
)
def test_tags_that_leave_no_room_for_the_chunk_tag_are_refused_before_sending(
    api_mock: respx.MockRouter, context: dict[str, Any], tags: dict[str, str], message: str
) -> None:
    route = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)

    with pytest.raises(TwilioPushInvalidInputError) as caught:
        send_operator(tags=tags).execute(context)

    assert str(caught.value) == message
    assert route.call_count == 0


def test_retries_default_to_airflows_own() -> None:
    # Retried tasks adopt what Twilio accepted: retries are safe, and default_args apply.
    assert send_operator().retries == BaseOperator(task_id="plain").retries
    assert send_operator(retries=2).retries == 2
    with DAG("retried", schedule=None, default_args={"retries": 3}):
        assert send_operator().retries == 3


@pytest.mark.parametrize("poll_interval", [0, -5, math.nan, math.inf, "30"])
def test_an_invalid_poll_interval_is_refused_at_construction(poll_interval: Any) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        send_operator(wait_for_completion=True, poll_interval=poll_interval)

    assert str(caught.value) == f"Invalid poll_interval={poll_interval!r}: expected a number of seconds > 0."


def test_template_fields() -> None:
    assert set(TwilioPushSendOperator.template_fields) == {
        "to",
        "content",
        "from_",
        "sound",
        "schedule",
        "tags",
    }


# ---------------------------------------------------------------------------------------------
# wait_for_completion=True, deferrable


def test_deferrable_wait_defers_to_the_sensors_trigger(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    post = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    get = api_mock.get(OP_PATH).respond(200, json=operation("PROCESSING", queued=3))
    operator = send_operator(
        wait_for_completion=True, deferrable=True, poll_interval=3, wait_timeout=timedelta(minutes=30)
    )

    before = time.time()
    with pytest.raises(TaskDeferred) as caught:
        operator.execute(context)
    after = time.time()

    trigger = caught.value.trigger
    sensor = TwilioPushOperationSensor(task_id="wait", operation_id=OPERATION_ID, deferrable=True)
    with pytest.raises(TaskDeferred) as sensor_deferred:
        sensor.execute(context)
    assert type(trigger) is type(sensor_deferred.value.trigger) is TwilioPushOperationTrigger
    assert trigger.serialize() == (
        "airflow_provider_twilio_push.triggers.twilio_push.TwilioPushOperationTrigger",
        {
            "operation_id": OPERATION_ID,
            "twilio_push_conn_id": "twilio_push_default",
            "poll_interval": 3,
            "end_time": trigger.end_time,
            "created_at": "2024-01-15T09:30:00+00:00",
        },
    )
    assert before + 1800 <= trigger.end_time <= after + 1800
    assert caught.value.method_name == "execute_complete"
    assert caught.value.kwargs == {"operation_id": OPERATION_ID}
    assert caught.value.timeout == timedelta(minutes=35)
    assert post.call_count == 1
    # The id reaches XCom as soon as Twilio accepts the send, before the task waits.
    assert ti.xcom("operation_id") == OPERATION_ID
    assert get.call_count == 2  # one read by the operator, one by the sensor


def test_deferrable_wait_on_an_operation_already_over_does_not_defer(
    api_mock: respx.MockRouter, context: dict[str, Any]
) -> None:
    api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    api_mock.get(OP_PATH).respond(200, json=operation("COMPLETED", sent=3))

    result = send_operator(wait_for_completion=True, deferrable=True).execute(context)

    assert result == operation("COMPLETED", sent=3)


def event(status: str, op: dict[str, Any] | None, message: str = "") -> dict[str, Any]:
    return json.loads(json.dumps({"status": status, "message": message, "operation": op}))


# "success" is what versions up to 0.1.0 sent: such events may still be stored.
@pytest.mark.parametrize("status", ["completed", "success"])
def test_execute_complete_returns_the_final_operation_and_sends_nothing(
    api_mock: respx.MockRouter, context: dict[str, Any], status: str
) -> None:
    operator = send_operator(wait_for_completion=True, deferrable=True)
    final = operation("COMPLETED", sent=2, failed=1)

    result = operator.execute_complete(context, event(status, final, "done"), operation_id=OPERATION_ID)

    assert result == final
    assert operator.execute_complete(context, event(status, final, "done")) == final  # idempotent
    assert api_mock.calls.call_count == 0  # resuming never sends again


CANCELED_MESSAGE = (
    f"CANCELED, 100% done: 1 sent, 0 failed, 2 canceled, 0 queued of 3 (operation {OPERATION_ID}): it was "
    "canceled. "
    "Set fail_on_canceled=False to accept canceled operations."
)


def test_execute_complete_canceled_fails_unless_accepted(context: dict[str, Any]) -> None:
    canceled = operation("CANCELED", sent=1, canceled=2)

    with pytest.raises(AirflowFailException) as caught:
        send_operator(wait_for_completion=True, deferrable=True).execute_complete(
            context, event("canceled", canceled)
        )
    assert str(caught.value) == CANCELED_MESSAGE

    accepting = send_operator(wait_for_completion=True, deferrable=True, fail_on_canceled=False)
    assert accepting.execute_complete(context, event("canceled", canceled)) == canceled


@pytest.mark.parametrize(
    "last", [None, operation("PROCESSING", sent=1, queued=2)], ids=["never-read", "last-seen"]
)
def test_execute_complete_timeout_raises_the_trigger_message(context: dict[str, Any], last: Any) -> None:
    message = f"Timed out waiting for operation {OPERATION_ID} to complete; it was never read successfully."

    with pytest.raises(AirflowSensorTimeout) as caught:
        send_operator(wait_for_completion=True, deferrable=True).execute_complete(
            context, event("timeout", last, message)
        )

    assert str(caught.value) == message


def test_execute_complete_error_fails_without_retry_with_the_trigger_message(context: dict[str, Any]) -> None:
    message = f"Could not watch operation {OPERATION_ID}: Twilio Push API answered 404 Not Found."

    with pytest.raises(AirflowFailException) as caught:
        send_operator(wait_for_completion=True, deferrable=True).execute_complete(
            context, event("error", None, message), operation_id=OPERATION_ID
        )

    assert str(caught.value) == went_out(message)


@pytest.mark.parametrize("bad_event", [None, {"status": "error"}, {"status": "completed", "operation": None}])
def test_execute_complete_unexpected_event(context: dict[str, Any], bad_event: Any) -> None:
    with pytest.raises(AirflowFailException) as caught:
        send_operator(wait_for_completion=True, deferrable=True).execute_complete(
            context, bad_event, operation_id=OPERATION_ID
        )

    assert str(caught.value) == went_out(
        f"Unexpected event from the trigger watching operation {OPERATION_ID}: {bad_event!r}"
    )


def test_execute_complete_of_a_task_deferred_by_0_1_0_takes_the_id_from_the_event(
    context: dict[str, Any],
) -> None:
    # Deferred without kwargs: the id comes from the event's operation, or is unknown.
    operator = send_operator(wait_for_completion=True, deferrable=True)
    message = f"Could not watch operation {OPERATION_ID}: Twilio Push API answered 404 Not Found."

    with pytest.raises(AirflowFailException) as caught:
        operator.execute_complete(context, event("error", operation("PROCESSING", queued=3), message))
    assert str(caught.value) == went_out(message)

    with pytest.raises(AirflowFailException) as caught:
        operator.execute_complete(context, event("error", None, message))
    assert str(caught.value) == (
        "Twilio accepted the send: the notifications of the operation went out, but waiting for it "
        f"failed: {message.removesuffix('.')}. The task fails without retrying (a retry would not send them again, but "
        "would meet the same error); watch the operation with TwilioPushOperationSensor (the id is this "
        "task's XCom operation_id)."
    )


# ---------------------------------------------------------------------------------------------
# wait_for_completion=True, not deferrable


def test_worker_wait_returns_the_final_operation(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI
) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    to = [{"token": f"device-{i}", "provider": "FCM"} for i in range(8)] + [
        {"token": "fail-52131-bad", "provider": "APN"},
        {"token": "unaddressable-gone", "provider": "FCM"},
    ]
    operator = send_operator(to=to, wait_for_completion=True, deferrable=False, poll_interval=0.05)

    with twilio_push_emulator.control.advance_after(10, requests=3):
        result = operator.execute(context)

    assert json.loads(json.dumps(result)) == result
    assert result["id"] == ti.xcom("operation_id")
    assert result["status"] == "COMPLETED"
    assert result["stats"] == {
        "total": 10,
        "recipients": 10,
        "unaddressable": 1,
        "scheduled": 0,
        "queued": 0,
        "sent": 8,
        "failed": 1,
        "canceled": 0,
    }
    assert set(result) == {"id", "status", "stats", "createdAt", "updatedAt"}
    assert control.request_count(SEND_ROUTE) == 1
    assert control.request_count("GET /v1/PushNotifications/Operations/{id}") >= 4


@pytest.mark.parametrize("fail_on_canceled", [True, False])
def test_worker_wait_on_a_canceled_operation(
    api_mock: respx.MockRouter, context: dict[str, Any], fail_on_canceled: bool
) -> None:
    api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    get = api_mock.get(OP_PATH).mock(
        side_effect=[
            httpx.Response(200, json=operation("PROCESSING", sent=1, queued=2)),
            httpx.Response(200, json=operation("PROCESSING", sent=1, queued=2)),
            httpx.Response(200, json=operation("CANCELED", sent=1, canceled=2)),
        ]
    )
    operator = send_operator(
        wait_for_completion=True, deferrable=False, poll_interval=0.01, fail_on_canceled=fail_on_canceled
    )

    if fail_on_canceled:
        with pytest.raises(AirflowFailException) as caught:
            operator.execute(context)
        assert str(caught.value) == CANCELED_MESSAGE
    else:
        assert operator.execute(context)["status"] == "CANCELED"
    assert get.call_count == 3


def test_worker_wait_times_out(twilio_push_emulator: EmulatorHandle, context: dict[str, Any]) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    operator = send_operator(wait_for_completion=True, deferrable=False, poll_interval=0.05, wait_timeout=0.2)

    with pytest.raises(AirflowSensorTimeout) as caught:
        operator.execute(context)

    operation_id = context["ti"].xcom("operation_id")
    assert str(caught.value) == (
        f"Timed out after 0 s waiting for operation {operation_id}; last seen PROCESSING, 0% done: 0 sent, "
        f"0 failed, 1 queued of 1 (operation {operation_id})."
    )
    assert control.request_count(SEND_ROUTE) == 1


# ---------------------------------------------------------------------------------------------
# After Twilio accepted the send, nothing may lead to sending it again


def went_out(detail: str) -> str:
    return (
        f"Twilio accepted the send: the notifications of operation {OPERATION_ID} went out, but waiting "
        f"for it failed: {detail.removesuffix('.')}. The task fails without retrying (a retry would not send them again, "
        f"but would meet the same error); watch the operation with "
        f"TwilioPushOperationSensor(operation_id='{OPERATION_ID}')."
    )


def test_a_transient_error_reading_the_accepted_send_defers_instead_of_failing(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI, fast_hook: Any
) -> None:
    post = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    get = api_mock.get(OP_PATH).respond(503)
    operator = fast_hook(send_operator(wait_for_completion=True, deferrable=True))

    with pytest.raises(TaskDeferred) as caught:
        operator.execute(context)

    assert caught.value.trigger.operation_id == OPERATION_ID
    assert get.call_count == 5  # the hook's retries, then the triggerer waits it out
    assert post.call_count == 1
    assert ti.xcom("operation_id") == OPERATION_ID


def test_transient_errors_while_the_worker_waits_are_waited_out(
    api_mock: respx.MockRouter, context: dict[str, Any], fast_hook: Any
) -> None:
    post = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    get = api_mock.get(OP_PATH).mock(
        side_effect=[httpx.Response(503)] * 5
        + [httpx.ConnectError("refused")] * 5
        + [httpx.Response(200, json=operation("COMPLETED", sent=3))]
    )
    operator = fast_hook(send_operator(wait_for_completion=True, deferrable=False, poll_interval=0.01))

    assert operator.execute(context) == operation("COMPLETED", sent=3)
    assert get.call_count == 11
    assert post.call_count == 1


@pytest.mark.parametrize("deferrable", [True, False])
def test_a_permanent_error_after_the_send_fails_without_retry_naming_the_operation(
    api_mock: respx.MockRouter, context: dict[str, Any], deferrable: bool
) -> None:
    post = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    api_mock.get(OP_PATH).respond(403, json={"code": 20403, "message": "Forbidden"})
    operator = send_operator(wait_for_completion=True, deferrable=deferrable, retries=3)

    with pytest.raises(AirflowFailException) as caught:
        operator.execute(context)

    assert str(caught.value) == went_out(
        f"Twilio Push API answered 403 Forbidden to GET {OP_PATH}: Forbidden (Twilio error 20403). "
        "Check the Account SID or API Key SID (login) and the Auth Token or API Key secret (password) of the connection 'twilio_push_default' "
        "and that it may use the Comms API."
    )
    assert post.call_count == 1


def test_a_permanent_error_while_the_worker_waits_fails_without_retry(
    api_mock: respx.MockRouter, context: dict[str, Any]
) -> None:
    api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    api_mock.get(OP_PATH).mock(
        side_effect=[
            httpx.Response(200, json=operation("PROCESSING", queued=3)),
            httpx.Response(404, json={"code": 20404, "message": "Gone"}),
        ]
    )
    operator = send_operator(wait_for_completion=True, deferrable=False, poll_interval=0.01)

    with pytest.raises(AirflowFailException) as caught:
        operator.execute(context)

    assert str(caught.value) == went_out(
        f"Twilio Push API answered 404 Not Found to GET {OP_PATH}: Gone (Twilio error 20404). "
        "The resource does not exist, or is older than Twilio's 7-day retention."
    )


def test_an_error_event_after_the_send_fails_without_retry(context: dict[str, Any]) -> None:
    detail = f"Could not watch operation {OPERATION_ID}: Twilio Push API answered 404 Not Found"
    last = operation("PROCESSING", sent=1, queued=2)

    with pytest.raises(AirflowFailException) as caught:
        send_operator(wait_for_completion=True, deferrable=True).execute_complete(
            context, event("error", last, detail)
        )

    assert str(caught.value) == went_out(detail)


def test_a_retry_adopts_its_send_when_twilio_dates_have_no_offset(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    """Twilio's dates without an offset are UTC: the ledger finds the operation created closest
    before the chunk's notification, confirming it first."""
    older = "comms_operation_01h9krwprkeee8fzqspvwy6nq9"
    tag = chunk_digest("test_dag", ti.run_id, "send", -1, 0)
    notification = {
        "id": "comms_pushnotification_01h9krwprkeee8fzqspvwy6nq8",
        "createdAt": "2024-01-15T09:30:02",
    }

    def notifications(request: httpx.Request) -> httpx.Response:
        found = request.url.params.get("operationId") in (None, OPERATION_ID)
        return httpx.Response(
            200, json={"pushNotifications": [notification] if found else [], "pagination": {}}
        )

    listed = api_mock.get(SEND_PATH).mock(side_effect=notifications)
    operations = api_mock.get(OPS_PATH).respond(
        200,
        json={
            "operations": [
                operation("COMPLETED", recipients=1, total=1) | {"createdAt": "2024-01-15T09:30:01"},
                operation("COMPLETED", recipients=1, total=1)
                | {"id": older, "createdAt": "2024-01-15T09:20:00"},
            ],
            "pagination": {},
        },
    )
    post = api_mock.post(SEND_PATH)
    ti.try_number = 2

    assert send_operator().execute(context) == OPERATION_ID

    assert post.call_count == 0
    assert operations.calls[0].request.url.params["endDate"] == "2024-01-15T09:30:03Z"
    assert [call.request.url.params.get("operationId") for call in listed.calls] == [None, OPERATION_ID]
    assert listed.calls[0].request.url.params["tags"] == f"airflow-chunk:{tag};"


def test_a_task_instance_without_a_try_number_is_treated_as_a_retry(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI
) -> None:
    first = send_operator().execute(context)
    del ti.try_number

    assert send_operator(recheck_delay=0).execute(context) == first
    assert twilio_push_emulator.control.request_count(SEND_ROUTE) == 1


def adoptable(api_mock: respx.MockRouter, operations: list[Any]) -> tuple[respx.Route, respx.Route]:
    """A retry's lookups: the chunk's notification is listed, and held by OPERATION_ID only."""
    notification = {
        "id": "comms_pushnotification_01h9krwprkeee8fzqspvwy6nq8",
        "createdAt": "2024-01-15T09:30:02Z",
    }

    def notifications(request: httpx.Request) -> httpx.Response:
        found = request.url.params.get("operationId") in (None, OPERATION_ID)
        return httpx.Response(
            200, json={"pushNotifications": [notification] if found else [], "pagination": {}}
        )

    listed = api_mock.get(SEND_PATH).mock(side_effect=notifications)
    api_mock.get(OPS_PATH).respond(200, json={"operations": operations, "pagination": {}})
    return listed, api_mock.post(SEND_PATH)


def test_a_retry_adopts_its_send_past_malformed_operations_of_other_senders(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    listed, post = adoptable(
        api_mock,
        [
            {"id": 42, "status": "COMPLETED"},
            "not an operation",
            operation("COMPLETED", recipients=1, total=1)
            | {"id": "comms_operation_" + "x" * 200, "createdAt": "2024-01-15T09:30:02Z"},
            operation("COMPLETED", recipients=1, total=1)
            | {"status": "MISPLACED", "id": OPERATION_ID[:-1] + "7"},
            operation("COMPLETED", recipients=1, total=1) | {"createdAt": "2024-01-15T09:30:01Z"},
        ],
    )
    ti.try_number = 2

    assert send_operator().execute(context) == OPERATION_ID

    assert post.call_count == 0
    # Only the well-formed candidate is confirmed: the odd id is never sent back to Twilio.
    assert [call.request.url.params.get("operationId") for call in listed.calls] == [None, OPERATION_ID]


def test_an_adopted_operation_gets_no_grace_for_a_404(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    """The grace for a 404 right after a send is for an operation this try created: one adopted from
    an earlier try was listed, so a 404 means it is gone."""
    _, post = adoptable(
        api_mock, [operation("COMPLETED", recipients=1, total=1) | {"createdAt": "2024-01-15T09:30:01Z"}]
    )
    api_mock.get(OP_PATH).respond(404, json={"code": 20404, "message": "Gone"})
    ti.try_number = 2

    with pytest.raises(AirflowFailException) as caught:
        send_operator(wait_for_completion=True, deferrable=True).execute(context)

    assert str(caught.value) == went_out(
        f"Twilio Push API answered 404 Not Found to GET {OP_PATH}: Gone (Twilio error 20404). "
        "The resource does not exist, or is older than Twilio's 7-day retention."
    )
    assert post.call_count == 0
