"""TwilioPushCampaignTrigger: waits in the triggerer until every operation of a campaign is
COMPLETED or CANCELED, or its deadline passes.

The operations are watched through the account's watcher (``triggers/watcher.py``), which reads
them together, a list sweep per interval rather than a GET each. The event stays small whatever
the campaign's size: the summed stats, and each operation's status and failed count.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

# As in triggers/twilio_push.py: imported where the triggerer loads the trigger class.
import airflow.providers.common.compat.connection  # noqa: F401
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_twilio_push.core.progress import describe_progress
from airflow_provider_twilio_push.core.request import validate_operation_id
from airflow_provider_twilio_push.core.retries import ends_the_wait
from airflow_provider_twilio_push.core.settings import ConnectionSettings
from airflow_provider_twilio_push.exceptions import TwilioPushError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation, OperationStats
from airflow_provider_twilio_push.triggers.twilio_push import (
    EVENT_COMPLETED,
    EVENT_ERROR,
    EVENT_TIMEOUT,
    FINAL_POLL_TIMEOUT,
    MIN_POLL_INTERVAL,
    read_created_at,
)
from airflow_provider_twilio_push.triggers.watcher import Watch, watch_operation


class TwilioPushCampaignTrigger(BaseTrigger):
    """Waits until every operation of ``operation_ids`` is COMPLETED or CANCELED.

    It emits one event, a dict with ``status`` (``completed``, ``timeout`` or ``error``), a
    ``message`` for people, ``stats`` (the eight counters summed over the operations as last
    seen), ``operation_ids``, and ``statuses`` and ``failed``: each operation's status and failed
    count as last seen (None if never read), in the order of ``operation_ids``.

    :param operation_ids: The operations, in chunk order.
    :param twilio_push_conn_id: The Airflow connection; only its id is stored, never a secret.
    :param poll_interval: Seconds between two looks at the operations.
    :param end_time: Deadline as a UNIX timestamp, or None to wait forever.
    :param created_at: When each operation was created (ISO 8601; without an offset, UTC), if
        known: the watcher can then find them in its list sweeps from the start. One that cannot
        be read is ignored with a warning.
    :param sent_at: When Twilio accepted each operation's send (UNIX timestamp), if the deferring
        task sent it: a 404 in the first ``NOT_FOUND_GRACE`` seconds after, before the operation
        was read, is waited out, as :class:`TwilioPushOperationTrigger` does. Optional.
    """

    def __init__(
        self,
        operation_ids: Sequence[str],
        twilio_push_conn_id: str = TwilioPushHook.default_conn_name,
        poll_interval: float = 30.0,
        end_time: float | None = None,
        created_at: Sequence[str | None] | None = None,
        sent_at: Sequence[float | None] | None = None,
    ) -> None:
        super().__init__()
        self.operation_ids = list(operation_ids)
        self.twilio_push_conn_id = twilio_push_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self.created_at = None if created_at is None else list(created_at)
        self.sent_at = None if sent_at is None else list(sent_at)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "operation_ids": self.operation_ids,
            "twilio_push_conn_id": self.twilio_push_conn_id,
            "poll_interval": self.poll_interval,
            "end_time": self.end_time,
        }
        if self.created_at is not None:
            kwargs["created_at"] = self.created_at
        if self.sent_at is not None:
            kwargs["sent_at"] = self.sent_at
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            for operation_id in self.operation_ids:
                validate_operation_id(operation_id)
            hook = TwilioPushHook(self.twilio_push_conn_id)
            settings = await hook.aget_settings()
        except TwilioPushError as exc:
            yield TriggerEvent(
                campaign_event(
                    EVENT_ERROR,
                    f"Could not watch the campaign: {exc}",
                    self.operation_ids,
                    [None] * len(self.operation_ids),
                )
            )
            return
        created = [
            read_created_at(text, operation_id, self.log)
            for operation_id, text in zip(self.operation_ids, self.created_at or (), strict=False)
        ]
        event = await wait_for_operations(
            hook,
            settings,
            self.operation_ids,
            interval=self.poll_interval,
            end_time=self.end_time,
            created_at=created,
            sent_at=self.sent_at or (),
            log=self.log,
        )
        yield TriggerEvent(event)


async def wait_for_operations(
    hook: TwilioPushHook,
    settings: ConnectionSettings,
    operation_ids: Sequence[str],
    *,
    interval: float,
    end_time: float | None,
    created_at: Sequence[datetime | None] = (),
    sent_at: Sequence[float | None] = (),
    log: logging.Logger | Any,
) -> dict[str, Any]:
    """Watch every operation until all are over, one fails to be read for good, or ``end_time``
    (a UNIX timestamp) passes; the event of :class:`TwilioPushCampaignTrigger`. ``created_at`` and
    ``sent_at`` are as the trigger has them, per operation.

    The triggerer runs it, and so does a task that waits in the worker (in ``asyncio.run``).
    """
    count = len(operation_ids)
    latest: list[Operation | None] = [None] * count
    if end_time is not None and end_time <= time.time():
        return campaign_event(EVENT_TIMEOUT, _timed_out(latest), operation_ids, latest)
    interval = max(interval, MIN_POLL_INTERVAL)
    created = list(created_at) + [None] * (count - len(created_at))
    sent = list(sent_at) + [None] * (count - len(sent_at))
    watches: list[Watch] = []
    done = 0
    unreadable = ""

    async def follow(index: int, watch: Watch) -> None:
        nonlocal done, unreadable
        while True:
            outcome = await watch.next()
            if isinstance(outcome, TwilioPushError):
                if ends_the_wait(outcome, None if latest[index] else sent[index]):
                    unreadable = unreadable or watch.operation_id
                    raise outcome
                log.warning("Polling operation %s failed, will try again: %s", watch.operation_id, outcome)
            else:
                latest[index] = outcome
                if outcome.terminal:
                    done += 1
                    log.info("%s (%s of %s operations over).", describe_progress(outcome), done, count)
                    return
            if watch.past_deadline:
                return

    failure: TwilioPushError | None = None
    left = math.inf if end_time is None else end_time - time.time()
    try:
        for operation_id, when in zip(operation_ids, created, strict=True):
            watches.append(
                watch_operation(
                    hook, settings, operation_id, interval=interval, end_time=end_time, created_at=when
                )
            )
        async with asyncio.timeout(None if math.isinf(left) else left + FINAL_POLL_TIMEOUT):
            try:
                async with asyncio.TaskGroup() as group:
                    for index, watch in enumerate(watches):
                        group.create_task(follow(index, watch))
            except* TwilioPushError as errors:
                failure = errors.exceptions[0]  # type: ignore[assignment]
    except TimeoutError:
        pass
    finally:
        for watch in watches:
            watch.close()
    if failure is not None:
        return campaign_event(
            EVENT_ERROR, f"Could not watch operation {unreadable}: {failure}", operation_ids, latest
        )
    if all(operation is not None and operation.terminal for operation in latest):
        return campaign_event(EVENT_COMPLETED, _over(latest), operation_ids, latest)
    return campaign_event(EVENT_TIMEOUT, _timed_out(latest), operation_ids, latest)


def campaign_event(
    status: str, message: str, operation_ids: Sequence[str], latest: Sequence[Operation | None]
) -> dict[str, Any]:
    return {
        "status": status,
        "message": message,
        "stats": summed_stats(latest).model_dump(),
        "operation_ids": list(operation_ids),
        "statuses": [None if op is None else op.status.value for op in latest],
        "failed": [None if op is None else op.stats.failed for op in latest],
    }


def summed_stats(operations: Sequence[Operation | None]) -> OperationStats:
    totals: Counter[str] = Counter()
    for operation in operations:
        if operation is not None:
            totals.update(operation.stats.model_dump())
    return OperationStats(**totals)


def _counted(latest: Sequence[Operation | None]) -> str:
    statuses = Counter("not read" if op is None else op.status.value for op in latest)
    return ", ".join(f"{count:,} {status}" for status, count in statuses.most_common())


def _over(latest: Sequence[Operation | None]) -> str:
    stats = summed_stats(latest)
    return (
        f"All {len(latest):,} operations of the campaign are over ({_counted(latest)}): "
        f"{stats.sent:,} of {stats.total:,} push notifications sent, {stats.failed:,} failed."
    )


def _timed_out(latest: Sequence[Operation | None]) -> str:
    waiting = sum(1 for op in latest if op is None or not op.terminal)
    return (
        f"Timed out waiting for the campaign's {len(latest):,} operations: {waiting:,} not over "
        f"({_counted(latest)})."
    )
