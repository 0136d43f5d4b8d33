"""TwilioPushNotifier awaited in the triggerer (deadline alerts): it never blocks the event loop.

The check is the trigger tests' (tests/triggers/test_twilio_push_trigger_event_loop.py): the loop
in debug mode, any callback that ran 50 ms or more, less the time it waited for a CPU, fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG
from triggers.helpers import run_trigger
from triggers.test_twilio_push_trigger_event_loop import (
    SlowCallbacks,
    assert_nothing_blocked,
    debug_the_loop,
    warm_up_the_process,
)

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.exceptions import TwilioPushSendUncertainError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.notifications.twilio_push import TwilioPushNotifier

# A deadline alert's callback runs in the triggerer through Airflow's callback trigger: since 3.2
# Airflow's generic one, in 3.1 the deadline module's. Airflow 3.0 has no deadline alerts: there the
# notifier's own async_notify is what is tested instead.
try:
    from airflow.models.callback import CallbackState
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.triggers.callback import CallbackTrigger
except ImportError:
    try:
        from airflow.models.deadline import DeadlineCallbackState as CallbackState  # type: ignore[no-redef]
        from airflow.sdk.definitions.deadline import AsyncCallback  # type: ignore[no-redef]
        from airflow.triggers.deadline import (  # type: ignore[no-redef]
            DeadlineCallbackTrigger as CallbackTrigger,
        )
    except ImportError:
        CallbackTrigger = None  # type: ignore[assignment,misc]
if CallbackTrigger is not None:  # Airflow 3.1+ (3.2+ also exports both from airflow.sdk)
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

pytestmark = pytest.mark.timeout(60)

SEND_ROUTE = "POST /v1/PushNotifications"
ON_CALL = [{"token": "on-call-phone", "provider": "FCM"}]
CONTENT = {"title": "{{ dag_run.dag_id }} missed its deadline", "body": "Run {{ dag_run.dag_run_id }}"}


def deadline_context(dag_id: str, run_id: str) -> dict[str, Any]:
    """The context a deadline alert's callback gets in Airflow 3.3 (``Deadline.handle_miss``):
    the DAG run as the REST API shows it, and the deadline."""
    return {
        "dag_run": {"dag_id": dag_id, "dag_run_id": run_id, "state": "running"},
        "deadline": {"id": "0199a8a4-0000-7000-8000-000000000000", "deadline_time": datetime.now(UTC)},
    }


def titles_sent(emulator: EmulatorHandle) -> list[str]:
    operations = TwilioPushHook().list_operations().operations
    return sorted(emulator.control.operation(op.id)["send"]["content"]["title"] for op in operations)


def awaited_notifier(dag_id: str, run_id: str) -> Awaitable[None]:
    """A deadline alert's notifier as the triggerer awaits it: ``await notifier`` with its context
    (Airflow 3.1+, where ``BaseNotifier.__await__`` renders the templates, then runs ``async_notify``).
    Airflow 3.0 awaits no notifier (no deadline alerts): there ``async_notify`` is awaited itself,
    with the content the templates render to."""
    context = deadline_context(dag_id, run_id)
    if CallbackTrigger is None:
        content = {"title": f"{dag_id} missed its deadline", "body": f"Run {run_id}"}
        return TwilioPushNotifier(to=ON_CALL, content=content).async_notify(context)
    return asyncio.ensure_future(TwilioPushNotifier(to=ON_CALL, content=CONTENT, context=context))


async def test_awaited_notifiers_never_block_the_loop(
    twilio_push_emulator: EmulatorHandle, slow_callbacks: SlowCallbacks
) -> None:
    """Ten deadline alerts at once, the first async sends of the process (the CA bundle not loaded).
    Each answer takes 0.2 s: a send that waited for it on the loop (sync HTTP) would block it."""
    twilio_push_emulator.control.set_faults(rate_slow=1.0, slow_seconds=0.2, routes=[SEND_ROUTE])
    await asyncio.to_thread(warm_up_the_process, twilio_push_emulator, ca_bundle=False)
    loop = debug_the_loop()

    await asyncio.gather(*(awaited_notifier(f"etl_{i}", f"run_{i}") for i in range(10)))

    assert_nothing_blocked(slow_callbacks)
    assert loop.get_debug()
    assert titles_sent(twilio_push_emulator) == sorted(f"etl_{i} missed its deadline" for i in range(10))


if CallbackTrigger is not None:  # Airflow 3.1+

    async def test_a_deadline_alerts_callback_sends_the_push_in_the_triggerer(
        twilio_push_emulator: EmulatorHandle, slow_callbacks: SlowCallbacks
    ) -> None:
        """What Airflow stores for ``DeadlineAlert(..., callback=AsyncCallback(TwilioPushNotifier,
        kwargs=...))`` and the triggerer's ``CallbackTrigger`` runs when the deadline is missed."""
        callback = AsyncCallback(TwilioPushNotifier, kwargs={"to": ON_CALL, "content": CONTENT})
        kwargs = {**callback.kwargs, "context": deadline_context("nightly_etl", "scheduled__2026-11-30")}
        trigger = CallbackTrigger(callback_path=callback.path, callback_kwargs=kwargs)
        await asyncio.to_thread(warm_up_the_process, twilio_push_emulator, ca_bundle=True)
        debug_the_loop()

        events = await run_trigger(trigger)

        assert callback.path == "airflow_provider_twilio_push.notifications.twilio_push.TwilioPushNotifier"
        assert [event.payload["state"] for event in events] == [CallbackState.RUNNING, CallbackState.SUCCESS]
        assert_nothing_blocked(slow_callbacks)
        assert titles_sent(twilio_push_emulator) == ["nightly_etl missed its deadline"]
        [operation] = TwilioPushHook().list_operations().operations
        assert twilio_push_emulator.control.operation(operation.id)["send"]["content"]["body"] == (
            "Run scheduled__2026-11-30"
        )

    async def test_the_docs_deadline_alert_sends_its_push_in_the_triggerer(
        twilio_push_emulator: EmulatorHandle,
    ) -> None:
        """The deadline alert of docs/notifier.md, included from here: the DAG's alert, run by the
        triggerer's callback trigger when the deadline is missed, sends the push it describes."""
        # [START howto_notifier_twilio_push_deadline_alert]
        with DAG(
            "nightly_etl",
            schedule="@daily",
            start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
            deadline=DeadlineAlert(
                reference=DeadlineReference.DAGRUN_QUEUED_AT,
                interval=timedelta(hours=1),
                callback=AsyncCallback(
                    TwilioPushNotifier,
                    kwargs={"to": ON_CALL, "content": {"body": "{{ dag_run.dag_id }} is running late"}},
                ),
            ),
        ) as dag:
            ...
        # [END howto_notifier_twilio_push_deadline_alert]
        [alert] = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
        kwargs = {**alert.callback.kwargs, "context": deadline_context(dag.dag_id, "scheduled__2026-11-30")}

        events = await run_trigger(CallbackTrigger(callback_path=alert.callback.path, callback_kwargs=kwargs))

        assert [event.payload["state"] for event in events] == [CallbackState.RUNNING, CallbackState.SUCCESS]
        [operation] = TwilioPushHook().list_operations().operations
        assert twilio_push_emulator.control.operation(operation.id)["send"]["content"] == {
            "body": "nightly_etl is running late"
        }

    async def test_a_failed_deadline_alert_is_recorded_as_failed(
        twilio_push_emulator: EmulatorHandle,
    ) -> None:
        twilio_push_emulator.control.set_faults(rate_500=1.0, routes=[SEND_ROUTE])
        callback = AsyncCallback(TwilioPushNotifier, kwargs={"to": ON_CALL, "content": CONTENT})
        kwargs = {**callback.kwargs, "context": deadline_context("nightly_etl", "run_1")}

        events = await run_trigger(CallbackTrigger(callback_path=callback.path, callback_kwargs=kwargs))

        assert [event.payload["state"] for event in events] == [CallbackState.RUNNING, CallbackState.FAILED]
        assert "TwilioPushSendUncertainError: Twilio Push API answered 500" in events[1].payload["body"]
        assert twilio_push_emulator.control.request_count(SEND_ROUTE) == 1


if CallbackTrigger is None:  # Airflow 3.0: no deadline alerts, so no callback trigger to run the notifier

    async def test_async_notify_sends_the_push(twilio_push_emulator: EmulatorHandle) -> None:
        await asyncio.to_thread(warm_up_the_process, twilio_push_emulator, ca_bundle=True)

        await awaited_notifier("nightly_etl", "scheduled__2026-11-30")

        [operation] = TwilioPushHook().list_operations().operations
        assert twilio_push_emulator.control.operation(operation.id)["send"]["content"] == {
            "title": "nightly_etl missed its deadline",
            "body": "Run scheduled__2026-11-30",
        }

    async def test_a_failed_async_notify_raises(twilio_push_emulator: EmulatorHandle) -> None:
        twilio_push_emulator.control.set_faults(rate_500=1.0, routes=[SEND_ROUTE])

        with pytest.raises(TwilioPushSendUncertainError, match=r"^Twilio Push API answered 500 "):
            await awaited_notifier("nightly_etl", "run_1")

        assert twilio_push_emulator.control.request_count(SEND_ROUTE) == 1
