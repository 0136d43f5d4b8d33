"""Waiting for an operation, shared by the sensor and the operators: in the triggerer or polling
from the worker, and what the task returns (or raises) once it is over."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any, NoReturn

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSensorTimeout, BaseOperator
from pydantic import ValidationError

from airflow_provider_twilio_push.core.progress import describe_progress
from airflow_provider_twilio_push.core.retries import not_found_yet
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
    method_kwargs: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    sent_at: float | None = None,
) -> NoReturn:
    """Defer ``task`` to a :class:`TwilioPushOperationTrigger` with an absolute deadline; the trigger's
    event resumes it in ``method_name``, with ``method_kwargs``. ``created_at`` (of the operation,
    if it was read) lets the triggerer find it in its list sweeps without a GET first; ``sent_at``
    (when Twilio accepted the send, if this task sent it) waits out a 404 right after."""
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
            created_at=None if created_at is None else created_at.isoformat(),
            sent_at=sent_at,
        ),
        method_name=method_name,
        kwargs=method_kwargs,
        timeout=None if seconds is None else timedelta(seconds=seconds) + BACKSTOP_MARGIN,
    )


def read_operation(
    task: BaseOperator,
    hook: TwilioPushHook,
    operation_id: str,
    *,
    then: str = "will try again",
    sent_at: float | None = None,
) -> Operation | None:
    """The operation, logged; None after a transient error (logged, saying what comes ``then``).

    A permanent error (bad credentials, an unknown operation) is raised; a 404 within
    ``NOT_FOUND_GRACE`` of ``sent_at`` (UNIX time Twilio accepted the send; pass it only until
    the operation was read once) is transient.
    """
    try:
        operation = hook.get_operation(operation_id)
    except TwilioPushError as exc:
        if not exc.transient and not not_found_yet(exc, sent_at):
            raise
        task.log.warning("Could not read operation %s, %s: %s", operation_id, then, exc)
        return None
    task.log.info("%s", describe_progress(operation))
    return operation


def poll_until_terminal(
    task: BaseOperator,
    hook: TwilioPushHook,
    operation_id: str,
    last: Operation | None,
    *,
    poll_interval: float,
    timeout: float,
    sent_at: float | None = None,
) -> Operation:
    """Poll from the worker (not deferrable) until the operation ends or ``timeout`` passes.

    ``last`` is the operation as last read (None: not read yet, or a transient error). The last
    look is taken at the deadline, as the trigger takes it, even if less than ``poll_interval`` away.
    ``sent_at``: as :func:`read_operation` has it, until the operation was read once.
    """
    deadline = time.monotonic() + timeout
    while last is None or not last.terminal:
        left = deadline - time.monotonic()
        if left <= 0:
            seen = f"last seen {describe_progress(last)}" if last else "it was never read successfully"
            raise AirflowSensorTimeout(
                f"Timed out after {timeout:,.0f} s waiting for operation {operation_id}; {seen}."
            )
        time.sleep(min(poll_interval, left))
        last = read_operation(task, hook, operation_id, sent_at=None if last else sent_at) or last
    return last


def operation_from_event(event: Any, *, operation_id: str) -> Operation:
    """The final operation of a trigger event, or the error the event stands for."""
    from airflow_provider_twilio_push.triggers.twilio_push import (
        EVENT_CANCELED,
        EVENT_COMPLETED,
        EVENT_ERROR,
        EVENT_TIMEOUT,
        LEGACY_EVENT_COMPLETED,
    )

    status = event.get("status") if isinstance(event, dict) else None
    message = event.get("message") if isinstance(event, dict) else None
    if status in (EVENT_COMPLETED, LEGACY_EVENT_COMPLETED, EVENT_CANCELED):
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


def terminal_result(operation: Operation, *, fail_on_canceled: bool) -> dict[str, Any]:
    """The XCom value for a terminal operation; fails the task on CANCELED if asked to."""
    if operation.status is OperationStatus.CANCELED and fail_on_canceled:
        raise AirflowFailException(
            f"{describe_progress(operation)}: it was canceled. "
            "Set fail_on_canceled=False to accept canceled operations."
        )
    return operation.to_xcom()
