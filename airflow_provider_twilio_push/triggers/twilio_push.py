"""TwilioPushOperationTrigger: polls an operation in the triggerer until it ends or time runs out."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

# Imported here, where the triggerer loads the trigger class, rather than by the hook's first
# aget_settings on the event loop; DAG files (the sensor, the operators) do not import this module.
import airflow.providers.common.compat.connection  # noqa: F401
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_twilio_push.core.progress import describe_progress
from airflow_provider_twilio_push.core.request import validate_operation_id
from airflow_provider_twilio_push.core.retries import ends_the_wait
from airflow_provider_twilio_push.exceptions import TwilioPushError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation, OperationStatus, read_api_datetime
from airflow_provider_twilio_push.triggers.operation_events import TwilioPushOperationEventTrigger
from airflow_provider_twilio_push.triggers.watcher import watch_operation

__all__ = [
    "EVENT_CANCELED",
    "EVENT_COMPLETED",
    "EVENT_ERROR",
    "EVENT_TIMEOUT",
    "TwilioPushOperationEventTrigger",
    "TwilioPushOperationTrigger",
    "describe_progress",
]

#: ``status`` values of the events this trigger emits.
EVENT_COMPLETED = "completed"
EVENT_CANCELED = "canceled"
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"
#: What versions up to 0.1.0 emitted for ``EVENT_COMPLETED``: such events may still be stored.
LEGACY_EVENT_COMPLETED = "success"

#: Seconds between polls at the least, whatever ``poll_interval`` says.
MIN_POLL_INTERVAL = 0.1
#: The last look at the deadline may take this long to answer.
FINAL_POLL_TIMEOUT = 0.5


def read_created_at(value: object, operation_id: str, log: logging.Logger | Any) -> datetime | None:
    """A trigger's ``created_at`` kwarg, read leniently: it is only a hint (the watcher learns the
    truth from the API), and rows stored by earlier versions may hold one without an offset, which
    is UTC, as in the API's answers. One that cannot be read is unknown (None), with a warning."""
    if value is None:
        return None
    when = read_api_datetime(value) if isinstance(value, str | datetime) else None
    if when is None:
        log.warning(
            "Ignoring created_at %r of operation %s: expected an ISO 8601 date-time such as "
            "'2024-01-15T09:30:00Z'. The operation is watched all the same.",
            value,
            operation_id,
        )
    return when


class TwilioPushOperationTrigger(BaseTrigger):
    """Waits until a push-notification operation is COMPLETED or CANCELED.

    It emits exactly one event, a dict with ``status`` (``completed``, ``canceled``, ``timeout``
    or ``error``), a ``message`` for people, and ``operation`` (the last operation seen, as
    :meth:`Operation.to_xcom` makes it, or None).

    In a triggerer, the triggers of one account share one watcher (``triggers/watcher.py``),
    which reads all their operations with a few list requests per interval instead of a GET
    each: every trigger still sees its operation at most ``poll_interval`` seconds old.

    :param operation_id: The operation to wait for.
    :param twilio_push_conn_id: The Airflow connection; only its id is stored, never a secret.
    :param poll_interval: Seconds between two polls: the oldest state the trigger acts on.
    :param end_time: Deadline as a UNIX timestamp (wall clock, so that it means the same on any
        host), or None to wait forever.
    :param created_at: When the operation was created (ISO 8601, as the API gives it; without an
        offset, UTC), if known: the watcher can then find it in its list sweeps from the start.
        Optional; one that cannot be read is ignored with a warning.
    :param sent_at: When Twilio accepted the send (UNIX timestamp), if the deferring task sent it:
        a 404 in the first ``NOT_FOUND_GRACE`` seconds after, before the operation was read, is
        waited out. Optional.
    """

    def __init__(
        self,
        operation_id: str,
        twilio_push_conn_id: str = TwilioPushHook.default_conn_name,
        poll_interval: float = 30.0,
        end_time: float | None = None,
        created_at: str | None = None,
        sent_at: float | None = None,
    ) -> None:
        super().__init__()
        self.operation_id = operation_id
        self.twilio_push_conn_id = twilio_push_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self.created_at = created_at
        self.sent_at = sent_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "operation_id": self.operation_id,
            "twilio_push_conn_id": self.twilio_push_conn_id,
            "poll_interval": self.poll_interval,
            "end_time": self.end_time,
        }
        if self.created_at is not None:
            kwargs["created_at"] = self.created_at
        if self.sent_at is not None:
            kwargs["sent_at"] = self.sent_at
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def _seconds_left(self) -> float:
        return float("inf") if self.end_time is None else self.end_time - time.time()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if self._seconds_left() <= 0:
            yield self._timeout_event(None)
            return
        try:
            validate_operation_id(self.operation_id)
            hook = TwilioPushHook(self.twilio_push_conn_id)
            settings = await hook.aget_settings()
        except TwilioPushError as exc:
            yield self._error_event(exc, None)
            return
        created_at = read_created_at(self.created_at, self.operation_id, self.log)
        # A sensor may say poke_interval=0; that must not become a busy loop against the API.
        interval = max(self.poll_interval, MIN_POLL_INTERVAL)
        watch = watch_operation(
            hook,
            settings,
            self.operation_id,
            interval=interval,
            end_time=self.end_time,
            created_at=created_at,
        )
        last: Operation | None = None
        progress = ""
        try:
            while True:
                left = self._seconds_left()
                try:
                    async with asyncio.timeout(None if math.isinf(left) else left + FINAL_POLL_TIMEOUT):
                        outcome = await watch.next()
                except TimeoutError:
                    yield self._timeout_event(last)
                    return
                if isinstance(outcome, TwilioPushError):
                    if ends_the_wait(outcome, None if last else self.sent_at):
                        yield self._error_event(outcome, last)
                        return
                    self.log.warning(
                        "Polling operation %s failed, will try again: %s", self.operation_id, outcome
                    )
                else:
                    last = outcome
                    if (now := describe_progress(outcome)) != progress:
                        progress = now
                        self.log.info("%s", progress)
                    if outcome.status is OperationStatus.COMPLETED:
                        yield self._event(EVENT_COMPLETED, outcome, progress)
                        return
                    if outcome.status is OperationStatus.CANCELED:
                        yield self._event(EVENT_CANCELED, outcome, progress)
                        return
                if watch.past_deadline:
                    yield self._timeout_event(last)
                    return
        finally:
            watch.close()

    def _error_event(self, exc: TwilioPushError, last: Operation | None) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": EVENT_ERROR,
                "message": f"Could not watch operation {self.operation_id}: {exc}",
                "error_type": type(exc).__name__,
                "operation": last.to_xcom() if last else None,
            }
        )

    def _event(self, status: str, operation: Operation, message: str) -> TriggerEvent:
        return TriggerEvent({"status": status, "message": message, "operation": operation.to_xcom()})

    def _timeout_event(self, last: Operation | None) -> TriggerEvent:
        seen = f"; last seen {describe_progress(last)}" if last else "; it was never read successfully"
        return TriggerEvent(
            {
                "status": EVENT_TIMEOUT,
                "message": f"Timed out waiting for operation {self.operation_id} to complete{seen}.",
                "operation": last.to_xcom() if last else None,
            }
        )
