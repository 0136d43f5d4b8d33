"""Waiting for an operation in the triggerer, shared by the sensor and the operators."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, NoReturn

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSensorTimeout, BaseOperator
from pydantic import ValidationError

from airflow_provider_twilio_push.api import describe_progress
from airflow_provider_twilio_push.exceptions import TwilioPushError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation, OperationStatus

# The trigger module (and airflow.triggers.base, ~10 ms) is imported when a task defers or
# resumes, not by every DAG file that imports the sensor or an operator.

#: The deferral's own timeout fires this long after the trigger's deadline: it is only a
#: backstop for a trigger that could not run at all.
BACKSTOP_MARGIN = timedelta(minutes=5)


def defer_until_terminal(
    task: BaseOperator,
    *,
    operation_id: str,
    twilio_push_conn_id: str,
    poll_interval: float,
    timeout: float | timedelta | None,
    method_name: str = "execute_complete",
) -> NoReturn:
    """Defer ``task`` to a :class:`TwilioPushOperationTrigger` with an absolute deadline."""
    from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    end_time = None if seconds is None else time.time() + seconds
    task.log.info(
        "Deferring: waiting for operation %s in the triggerer, polling every %s s%s.",
        operation_id,
        poll_interval,
        "" if seconds is None else f" for up to {seconds:,.0f} s",
    )
    task.defer(
        trigger=TwilioPushOperationTrigger(
            operation_id=operation_id,
            twilio_push_conn_id=twilio_push_conn_id,
            poll_interval=poll_interval,
            end_time=end_time,
        ),
        method_name=method_name,
        timeout=None if seconds is None else timedelta(seconds=seconds) + BACKSTOP_MARGIN,
    )


def poll_until_terminal(
    task: BaseOperator, hook: TwilioPushHook, operation: Operation, *, poll_interval: float, timeout: float
) -> Operation:
    """Poll from the worker (not deferrable) until ``operation`` ends or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not operation.terminal:
        if time.monotonic() + poll_interval > deadline:
            raise AirflowSensorTimeout(
                f"Timed out after {timeout:,.0f} s waiting for operation {operation.id}; "
                f"last seen {describe_progress(operation)}."
            )
        time.sleep(poll_interval)
        try:
            operation = hook.get_operation(operation.id)
        except TwilioPushError as exc:
            if not exc.transient:
                raise
            task.log.warning("Could not read operation %s, will try again: %s", operation.id, exc)
            continue
        task.log.info("%s", describe_progress(operation))
    return operation


def operation_from_event(event: Any, *, operation_id: str) -> Operation:
    """The final operation of a trigger event, or the error the event stands for."""
    from airflow_provider_twilio_push.triggers.twilio_push import (
        EVENT_CANCELED,
        EVENT_COMPLETED,
        EVENT_ERROR,
        EVENT_TIMEOUT,
    )

    status = event.get("status") if isinstance(event, dict) else None
    message = event.get("message") if isinstance(event, dict) else None
    if status in (EVENT_COMPLETED, EVENT_CANCELED):
        try:
            operation = Operation.model_validate(event.get("operation"))
        except ValidationError:
            pass
        else:
            # A success that carries an operation still PROCESSING is garbled, not a success.
            if operation.terminal:
                return operation
    elif status == EVENT_TIMEOUT:
        raise AirflowSensorTimeout(message or f"Timed out waiting for operation {operation_id}.")
    elif status == EVENT_ERROR and message:
        raise TwilioPushError(message)
    raise TwilioPushError(f"Unexpected event from the trigger watching operation {operation_id}: {event!r}")


def settle(operation: Operation, *, fail_on_canceled: bool) -> dict[str, Any]:
    """The XCom value for a terminal operation; fails the task on CANCELED if asked to."""
    if operation.status is OperationStatus.CANCELED and fail_on_canceled:
        raise AirflowFailException(
            f"{describe_progress(operation)}: it was canceled. "
            "Set fail_on_canceled=False to accept canceled operations."
        )
    return operation.to_xcom()
