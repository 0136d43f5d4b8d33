"""TwilioPushOperationTrigger: polls an operation in the triggerer until it ends or time runs out."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator
from typing import Any

# Imported here, where the triggerer loads the trigger class, rather than by the hook's first
# aget_settings on the event loop; DAG files (the sensor, the operators) do not import this module.
import airflow.providers.common.compat.connection  # noqa: F401
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_twilio_push.core.progress import describe_progress
from airflow_provider_twilio_push.exceptions import TwilioPushError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation, OperationStatus
from airflow_provider_twilio_push.triggers.operation_events import TwilioPushOperationEventTrigger

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
#: When the deadline falls between two polls, one last poll at the deadline may take this long.
FINAL_POLL_TIMEOUT = 0.5
#: Polls after the first fall on a grid of ``poll_interval / POLL_GRID_STEPS`` (a poll comes at
#: most that much later): the triggers of a fleet, spread over the interval, then wake the event
#: loop once per grid step rather than once each (a wake-up costs the loop more CPU than half of
#: a poll). The first poll, which also looks the connection up, stays where chance put it.
POLL_GRID_STEPS = 100


class TwilioPushOperationTrigger(BaseTrigger):
    """Waits until a push-notification operation is COMPLETED or CANCELED.

    It emits exactly one event, a dict with ``status`` (``completed``, ``canceled``, ``timeout``
    or ``error``), a ``message`` for people, and ``operation`` (the last operation seen, as
    :meth:`Operation.to_xcom` makes it, or None).

    :param operation_id: The operation to wait for.
    :param twilio_push_conn_id: The Airflow connection; only its id is stored, never a secret.
    :param poll_interval: Seconds between two polls.
    :param end_time: Deadline as a UNIX timestamp (wall clock, so that it means the same on any
        host), or None to wait forever.
    """

    def __init__(
        self,
        operation_id: str,
        twilio_push_conn_id: str = TwilioPushHook.default_conn_name,
        poll_interval: float = 30.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()
        self.operation_id = operation_id
        self.twilio_push_conn_id = twilio_push_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "operation_id": self.operation_id,
                "twilio_push_conn_id": self.twilio_push_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    def _seconds_left(self) -> float:
        return float("inf") if self.end_time is None else self.end_time - time.time()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = TwilioPushHook(self.twilio_push_conn_id, shared_async_client=True)
        last: Operation | None = None
        progress = ""
        # A sensor may say poke_interval=0; that must not become a busy loop against the API.
        interval = max(self.poll_interval, MIN_POLL_INTERVAL)
        # A fleet of triggers deferred together must not poll in lockstep: start at a random
        # point of the first interval (the sensor checked the operation just before deferring).
        delay = random.uniform(0, interval)
        loop = asyncio.get_running_loop()
        step = interval / POLL_GRID_STEPS
        on_grid = False
        final = False
        try:
            while True:
                left = self._seconds_left()
                if left <= 0 or final:
                    yield self._timeout_event(last)
                    return
                if on_grid:
                    delay = math.ceil((loop.time() + delay) / step) * step - loop.time()
                if left <= delay:
                    # The deadline comes before the next poll: take a last look at the deadline.
                    final = True
                    delay = left
                await asyncio.sleep(delay)
                delay = interval
                on_grid = True
                try:
                    async with asyncio.timeout(FINAL_POLL_TIMEOUT if final else self._seconds_left()):
                        operation = await hook.aget_operation(self.operation_id)
                except TimeoutError:
                    yield self._timeout_event(last)
                    return
                except TwilioPushError as exc:
                    if not exc.transient:
                        yield TriggerEvent(
                            {
                                "status": EVENT_ERROR,
                                "message": f"Could not watch operation {self.operation_id}: {exc}",
                                "error_type": type(exc).__name__,
                                "operation": last.to_xcom() if last else None,
                            }
                        )
                        return
                    self.log.warning(
                        "Polling operation %s failed, will try again: %s", self.operation_id, exc
                    )
                    continue
                last = operation
                if (now := describe_progress(operation)) != progress:
                    progress = now
                    self.log.info("%s", progress)
                if operation.status is OperationStatus.COMPLETED:
                    yield self._event(EVENT_COMPLETED, operation, progress)
                    return
                if operation.status is OperationStatus.CANCELED:
                    yield self._event(EVENT_CANCELED, operation, progress)
                    return
        finally:
            await hook.aclose()

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
