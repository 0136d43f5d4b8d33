"""waiting.py: the in-worker wait for an operation, against a Comms API mocked at the transport."""

from __future__ import annotations

import logging
import time
import types
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from airflow.providers.common.compat.sdk import AirflowSensorTimeout

from airflow_provider_twilio_push.core.retries import NOT_FOUND_GRACE
from airflow_provider_twilio_push.exceptions import TwilioPushNotFoundError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation
from airflow_provider_twilio_push.waiting import poll_until_terminal, read_operation

pytestmark = pytest.mark.timeout(60)

OPERATION_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
TASK: Any = types.SimpleNamespace(log=logging.getLogger("tests.waiting"))


def twilio_error(status: int, message: str, code: int) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "status": status})


def answer(make_operation: Callable[..., dict[str, Any]], status: str) -> httpx.Response:
    return httpx.Response(200, json=make_operation(status=status))


def test_the_last_look_is_taken_at_the_deadline(
    operation_route: respx.Route, make_operation: Callable[..., dict[str, Any]]
) -> None:
    """A deadline nearer than one poll interval: one more look, at the deadline (as the trigger
    takes it), not a timeout a whole interval early."""
    operation_route.side_effect = [answer(make_operation, "COMPLETED")]
    last = Operation.model_validate(make_operation(status="PROCESSING"))

    with TwilioPushHook() as hook:
        operation = poll_until_terminal(TASK, hook, OPERATION_ID, last, poll_interval=60.0, timeout=0.3)

    assert operation.status.value == "COMPLETED"
    assert operation_route.call_count == 1


def test_past_the_deadline_the_wait_times_out_with_what_it_saw(
    operation_route: respx.Route, make_operation: Callable[..., dict[str, Any]]
) -> None:
    operation_route.side_effect = [answer(make_operation, "PROCESSING")] * 3
    last = Operation.model_validate(make_operation(status="PROCESSING"))

    with TwilioPushHook() as hook, pytest.raises(AirflowSensorTimeout) as caught:
        poll_until_terminal(TASK, hook, OPERATION_ID, last, poll_interval=0.2, timeout=0.3)

    assert str(caught.value) == (
        f"Timed out after 0 s waiting for operation {OPERATION_ID}; last seen PROCESSING, 66% done: "
        f"2 sent, 0 failed, 1 queued of 3 (operation {OPERATION_ID})."
    )
    assert operation_route.call_count == 2  # at 0.2 s, and the last look at 0.3 s


def test_a_404_right_after_the_send_is_waited_out(
    operation_route: respx.Route,
    make_operation: Callable[..., dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    operation_route.side_effect = [
        twilio_error(404, "Operation not found", 20404),
        answer(make_operation, "COMPLETED"),
    ]

    with TwilioPushHook() as hook, caplog.at_level(logging.WARNING, logger="tests.waiting"):
        first = read_operation(TASK, hook, OPERATION_ID, sent_at=time.time())
        operation = poll_until_terminal(
            TASK, hook, OPERATION_ID, first, poll_interval=0.1, timeout=5.0, sent_at=time.time()
        )

    assert first is None
    assert operation.status.value == "COMPLETED"
    # Only the task's own log: Airflow 3.0 also warns about the connection type's name on lookup.
    assert [r.getMessage() for r in caplog.records if r.name == "tests.waiting"] == [
        f"Could not read operation {OPERATION_ID}, will try again: Twilio Push API answered 404 Not Found "
        f"to GET /v1/PushNotifications/Operations/{OPERATION_ID}: Operation not found (Twilio error 20404). "
        "The resource does not exist, or is older than Twilio's 7-day retention."
    ]


def test_a_404_once_the_operation_was_read_is_permanent(
    operation_route: respx.Route, make_operation: Callable[..., dict[str, Any]]
) -> None:
    operation_route.side_effect = [twilio_error(404, "Operation not found", 20404)]
    last = Operation.model_validate(make_operation(status="PROCESSING"))

    with TwilioPushHook() as hook, pytest.raises(TwilioPushNotFoundError):
        poll_until_terminal(
            TASK, hook, OPERATION_ID, last, poll_interval=0.1, timeout=5.0, sent_at=time.time()
        )

    assert operation_route.call_count == 1


@pytest.mark.parametrize("sent_ago", [None, NOT_FOUND_GRACE + 1])
def test_a_404_is_permanent_without_a_send_or_after_the_grace(
    operation_route: respx.Route, sent_ago: float | None
) -> None:
    operation_route.side_effect = [twilio_error(404, "Operation not found", 20404)]

    with TwilioPushHook() as hook, pytest.raises(TwilioPushNotFoundError):
        read_operation(TASK, hook, OPERATION_ID, sent_at=None if sent_ago is None else time.time() - sent_ago)

    assert operation_route.call_count == 1
