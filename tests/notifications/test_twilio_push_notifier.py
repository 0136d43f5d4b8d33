"""TwilioPushNotifier (issue 17) against the emulator: what it sends, checks, retries and logs.

A callback is called the way Airflow calls it: ``notifier(context)`` (``BaseNotifier.__call__``,
which renders the templates, then runs ``notify``) or ``await notifier`` with a ``context``
(``BaseNotifier.__await__``, what a deadline alert runs in the triggerer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk import DAG
from structlog.testing import capture_logs

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.exceptions import (
    TwilioPushInvalidInputError,
    TwilioPushSendUncertainError,
)
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.notifications.twilio_push import (
    TwilioPushNotifier,
    send_twilio_push_notification,
)

SEND_ROUTE = "POST /v1/PushNotifications"
ON_CALL = [{"token": "on-call-phone", "provider": "FCM"}]
CONTENT = {"title": "{{ dag.dag_id }} failed", "body": "{{ ti.task_id }} on {{ run_id }}"}
UNCERTAIN_500 = (
    "Twilio Push API answered 500 Internal Server Error to POST /v1/PushNotifications: Internal Server "
    "Error (Twilio error 20500). Twilio may have accepted this send anyway, so it was not retried (a "
    "retry could deliver the notifications twice). Check the recent operations "
    "(TwilioPushHook.list_operations(start_date=...)) before sending again."
)


class FakeTaskInstance:
    task_id = "load"


@pytest.fixture
def context() -> dict[str, Any]:
    """What a task's failure callback gets, as far as the templates here use it."""
    return {"dag": DAG(dag_id="nightly_etl", schedule=None), "ti": FakeTaskInstance(), "run_id": "manual__1"}


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """What was logged through structlog (Airflow's ``self.log``)."""
    with capture_logs() as captured:
        yield captured


def errors_logged(logs: list[dict[str, Any]]) -> list[str]:
    return [entry["event"] for entry in logs if entry["log_level"] == "error"]


def sent(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    """What every send the emulator accepted asked for (newest first), besides the recipients."""
    operations = TwilioPushHook().list_operations().operations
    return [emulator.control.operation(operation.id)["send"] for operation in operations]


async def notify(mode: str, notifier: TwilioPushNotifier, context: dict[str, Any]) -> None:
    """Run the notifier as Airflow does: called in a worker (here off the loop), or awaited."""
    if mode == "sync":
        await asyncio.to_thread(notifier, context)
    else:
        notifier.context = context
        await notifier


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


# ---------------------------------------------------------------------------------------------
# Sends


async def test_it_sends_one_push_rendered_with_the_callbacks_context(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], logs: list[dict[str, Any]], mode: str
) -> None:
    notifier = TwilioPushNotifier(
        to=ON_CALL, content=CONTENT, priority="high", tags={"dag": "{{ dag.dag_id }}"}, from_="alerts"
    )

    await notify(mode, notifier, context)

    assert sent(twilio_push_emulator) == [
        {
            "content": {"title": "nightly_etl failed", "body": "load on manual__1"},
            "from": {"appName": "alerts"},
            "priority": "HIGH",
            "tags": {"dag": "nightly_etl"},
        }
    ]
    assert twilio_push_emulator.control.request_count(SEND_ROUTE) == 1
    [accepted] = [entry["event"] for entry in logs if entry["log_level"] == "info"]
    assert accepted.startswith("Twilio accepted the push notification: operation comms_operation_")


async def test_a_templated_recipient_list_renders_to_a_list_in_a_native_dag(
    twilio_push_emulator: EmulatorHandle, mode: str
) -> None:
    dag = DAG(dag_id="native", schedule=None, render_template_as_native_obj=True)
    notifier = TwilioPushNotifier(to="{{ params.on_call }}", content={"body": "{{ dag.dag_id }} failed"})

    await notify(mode, notifier, {"dag": dag, "params": {"on_call": ON_CALL}})

    assert sent(twilio_push_emulator) == [{"content": {"body": "native failed"}}]


def test_the_alias_is_the_notifier() -> None:
    assert send_twilio_push_notification is TwilioPushNotifier


# ---------------------------------------------------------------------------------------------
# Bad input: refused when the notifier is built, or once rendered, before any request


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"to": "on-call-phone"},
            "Invalid to: expected a list of recipients such as [{'token': '...', 'provider': 'FCM'}] or "
            "[{'userId': 'comms_pushnotificationuser_...'}], got str.",
        ),
        ({"to": []}, "Invalid to: the list of recipients is empty."),
        (
            {"to": [{"token": "t", "provider": "GCM"}]},
            "Invalid to[0].provider 'GCM': expected one of FCM, APN.",
        ),
        (
            {"content": "it failed"},
            "Invalid content: expected a dict with a 'body' and an optional 'title', got str.",
        ),
        (
            {"content": {"title": "it failed"}},
            "Invalid content: 'body' is required, a non-empty string (the title is optional and defaults "
            "to the App's name).",
        ),
        ({"priority": "URGENT"}, "Invalid priority 'URGENT': expected one of HIGH, LOW."),
        (
            {"from_": ""},
            "Invalid from_ {'appName': ''}: an App name is 1 to 64 of a-z, 0-9 and _ (pattern ^[a-z0-9_]+$), "
            "alone in from_.",
        ),
        (
            {"tags": {"team": 7}},
            "Invalid value of tag 'team': 7; expected 1 to 256 of a-z, A-Z, 0-9, '.', '_', '~' and '-'.",
        ),
        # A template in one argument does not spare the others their checks.
        (
            {"to": "{{ params.on_call }}", "priority": "URGENT"},
            "Invalid priority 'URGENT': expected one of HIGH, LOW.",
        ),
        # Dict keys are not rendered: a key is checked as it is.
        (
            {"tags": {"{{ ti.task_id }}" * 9: "x"}},
            f"Invalid tag key {'{{ ti.task_id }}' * 9!r}: expected 1 to 128 of a-z, A-Z, 0-9, '.', '_', '~' "
            "and '-'.",
        ),
        # Airflow renders no template in priority: it is checked as it is.
        (
            {"priority": "{{ params.priority }}"},
            "Invalid priority '{{ params.priority }}': expected one of HIGH, LOW.",
        ),
    ],
    ids=[
        "to-a-string",
        "to-empty",
        "unknown-provider",
        "content-a-string",
        "content-without-body",
        "priority",
        "from-empty",
        "tag-value-not-a-string",
        "checked-beside-a-template",
        "templated-tag-key",
        "priority-not-templated",
    ],
)
def test_bad_arguments_are_refused_when_the_notifier_is_built(
    arguments: dict[str, Any], message: str
) -> None:
    kwargs: dict[str, Any] = {"to": ON_CALL, "content": {"body": "Hi"}, **arguments}

    with pytest.raises(TwilioPushInvalidInputError) as caught:
        TwilioPushNotifier(**kwargs)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    "arguments",
    [
        {"to": "{{ params.on_call }}"},
        {"to": [{"token": "{{ var.value.on_call_token }}", "provider": "{{ params.provider }}"}]},
        {"content": "{{ params.content }}"},
        {"content": {"title": "{{ dag.dag_id }}", "body": "failed"}},
        {"tags": {"dag": "{{ dag.dag_id }}" * 20}},  # longer than 256 characters before rendering
        {"tags": "{{ params.tags }}"},
    ],
)
def test_templates_are_checked_once_rendered_not_before(arguments: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {"to": ON_CALL, "content": {"body": "Hi"}, **arguments}

    notifier = TwilioPushNotifier(**kwargs)

    assert {name: getattr(notifier, name) for name in arguments} == arguments


async def test_a_template_that_renders_to_bad_input_fails_before_any_request(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], logs: list[dict[str, Any]], mode: str
) -> None:
    notifier = TwilioPushNotifier(to="{{ ti.task_id }}", content=CONTENT)
    message = (
        "Invalid to: expected a list of recipients such as [{'token': '...', 'provider': 'FCM'}] or "
        "[{'userId': 'comms_pushnotificationuser_...'}], got str."
    )

    with pytest.raises(TwilioPushInvalidInputError, match=r"^Invalid to: ") as caught:
        await notify(mode, notifier, context)

    assert str(caught.value) == message
    assert errors_logged(logs) == [f"Failed to send notification ({mode}): {message}"]
    assert twilio_push_emulator.control.request_count() == 0


# ---------------------------------------------------------------------------------------------
# Failures and retries: only what Twilio surely did not process is sent again


async def test_a_500_to_the_send_is_sent_once_logged_once_and_raised(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], logs: list[dict[str, Any]], mode: str
) -> None:
    control = twilio_push_emulator.control
    control.set_faults(rate_500=1.0, routes=[SEND_ROUTE])

    with pytest.raises(TwilioPushSendUncertainError) as caught:
        await notify(mode, TwilioPushNotifier(to=ON_CALL, content=CONTENT), context)

    assert str(caught.value) == UNCERTAIN_500
    assert control.request_count(SEND_ROUTE) == 1
    assert errors_logged(logs) == [f"Failed to send notification ({mode}): {UNCERTAIN_500}"]
    assert twilio_push_emulator.auth_token not in repr(logs)


async def test_a_429_is_retried_then_the_push_is_sent(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], logs: list[dict[str, Any]], mode: str
) -> None:
    control = twilio_push_emulator.control
    # Twilio's 429 asks to wait 2 s: long enough to lift the limit once the first attempt was refused.
    control.set_faults(rate_429=1.0, retry_after=2, routes=[SEND_ROUTE])

    def lift_the_limit_after_a_429() -> None:
        deadline = time.monotonic() + 20
        while not control.request_count(SEND_ROUTE, 429):
            assert time.monotonic() < deadline, "no 429 within 20 s"
            time.sleep(0.02)
        control.clear_faults()

    await asyncio.gather(
        notify(mode, TwilioPushNotifier(to=ON_CALL, content=CONTENT), context),
        asyncio.to_thread(lift_the_limit_after_a_429),
    )

    assert (control.request_count(SEND_ROUTE, 429), control.request_count(SEND_ROUTE, 202)) == (1, 1)
    assert [send["content"]["title"] for send in sent(twilio_push_emulator)] == ["nightly_etl failed"]
    assert errors_logged(logs) == []
