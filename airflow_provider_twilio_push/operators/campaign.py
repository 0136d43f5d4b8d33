"""TwilioPushCampaignOperator: an audience of any size, sent in chunks exactly once, then waited
for in one deferral, with failure thresholds over the whole campaign."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    BaseOperator,
    Context,
    conf,
)

from airflow_provider_twilio_push.audience import Audience
from airflow_provider_twilio_push.core.request import (
    MAX_RECIPIENTS,
    validate_max_failed,
    validate_max_failure_rate,
    validate_poll_interval,
    validate_recheck_delay,
    wait_timeout_seconds,
)
from airflow_provider_twilio_push.exceptions import TwilioPushError, TwilioPushInvalidInputError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.ledger import (
    DEFAULT_RECHECK_DELAY,
    ChunkSender,
    TaskChunks,
    check_user_tags,
)
from airflow_provider_twilio_push.models import OperationStats
from airflow_provider_twilio_push.operators.twilio_push import DEFAULT_WAIT_TIMEOUT, _percent
from airflow_provider_twilio_push.waiting import BACKSTOP_MARGIN

#: How many of the most failed operations a threshold breach names.
WORST_CHUNKS = 3


class TwilioPushCampaignOperator(BaseOperator):
    """Sends push notifications to an audience of any size, exactly once, in chunks of at most
    10,000 recipients (one operation each), then waits for every chunk in one deferral.

    ``audience`` is a list of recipient dicts, or the path or URI of a JSON Lines file (one
    recipient object a line) or a CSV file (columns ``token,provider`` or ``userId``, optional
    ``variables`` as JSON), read through Airflow's ObjectStoragePath (local, ``file://``,
    ``s3://``, ``gs://``...). A file is read twice, a chunk at a time: once to check every line
    before anything is sent, once to send.

    Each chunk carries a tag derived from the task instance and the chunk's index: a retried task
    (and a re-check after an uncertain answer) asks Twilio which chunks it accepted and adopts
    their operations instead of sending them again (``ledger.py``; docs/campaigns.md says what it
    assumes of Twilio). A task cleared on purpose therefore does not resend: trigger a new run.

    The ``return_value`` XCom stays small whatever the audience: ``operation_ids`` (in chunk
    order), ``recipients`` (how many the audience holds), ``chunks``; and when waited, ``stats``
    (the eight counters summed over the operations), ``failure_rate`` (failed / total),
    ``sent_rate`` (sent / total) and ``statuses`` (how many operations ended in each status). It is
    pushed before a threshold fails the task.

    :param audience: The recipients (templated), see above.
    :param content: The notification (templated): a ``body``, an optional ``title`` and
        ``providerPassthrough``.
    :param from_: Sender (templated): an App name or credential ids ``{"fcm": ..., "apn": ...}``.
    :param priority: ``HIGH`` or ``LOW``.
    :param sound: The name of the sound to play (templated).
    :param schedule: When to send, at most 30 days ahead (templated).
    :param tags: Up to 9 key/values (templated); the tenth is each chunk's own ``airflow-chunk``.
    :param chunk_size: Recipients a send, 1 to 10,000.
    :param wait_for_completion: Wait until every operation is COMPLETED or CANCELED.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between looks at the operations while waiting.
    :param wait_timeout: How long to wait at most (seconds or timedelta).
    :param max_failure_rate: Fail when the campaign's failed / total is above this (0 to 1).
    :param max_failed: Fail when more than this many of the campaign's notifications failed.
    :param twilio_push_conn_id: The Airflow connection to the Comms API.
    :param recheck_delay: Seconds to wait after an uncertain answer to a send before asking
        Twilio whether it accepted the chunk.
    """

    template_fields: Sequence[str] = ("audience", "content", "from_", "sound", "schedule", "tags")
    template_fields_renderers = {"content": "json", "tags": "json"}
    ui_color = "#f22f46"

    def __init__(
        self,
        *,
        audience: Any,
        content: Any,
        from_: Any = None,
        priority: str | None = None,
        sound: str | None = None,
        schedule: Any = None,
        tags: Any = None,
        chunk_size: int = MAX_RECIPIENTS,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        wait_timeout: float | timedelta = DEFAULT_WAIT_TIMEOUT,
        max_failure_rate: float | None = None,
        max_failed: int | None = None,
        twilio_push_conn_id: str = TwilioPushHook.default_conn_name,
        recheck_delay: float = DEFAULT_RECHECK_DELAY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(chunk_size, bool)
            or not isinstance(chunk_size, int)
            or not 1 <= chunk_size <= MAX_RECIPIENTS
        ):
            raise TwilioPushInvalidInputError(
                f"Invalid chunk_size={chunk_size!r}: expected a number of recipients from 1 to "
                f"{MAX_RECIPIENTS:,} (Twilio's limit a send)."
            )
        validate_poll_interval(poll_interval)
        validate_max_failed(max_failed)
        validate_max_failure_rate(max_failure_rate)
        validate_recheck_delay(recheck_delay)
        self.audience = audience
        self.content = content
        self.from_ = from_
        self.priority = priority
        self.sound = sound
        self.schedule = schedule
        self.tags = tags
        self.chunk_size = chunk_size
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout_seconds(wait_timeout)
        self.max_failure_rate = max_failure_rate
        self.max_failed = max_failed
        self.twilio_push_conn_id = twilio_push_conn_id
        self.recheck_delay = recheck_delay

    @cached_property
    def hook(self) -> TwilioPushHook:
        return TwilioPushHook(self.twilio_push_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        check_user_tags(self.tags)
        audience = Audience(self.audience)
        recipients = audience.validate()
        chunks = math.ceil(recipients / self.chunk_size)
        self.log.info(
            "Audience %s: %s recipients, valid; sending them in %s chunks of at most %s.",
            audience.describe(),
            f"{recipients:,}",
            f"{chunks:,}",
            f"{self.chunk_size:,}",
        )
        task = TaskChunks.of(context)
        sender = ChunkSender(
            self.hook,
            self.log,
            content=self.content,
            from_=self.from_,
            priority=self.priority,
            sound=self.sound,
            schedule=self.schedule,
            tags=self.tags,
            check_first=task.retried,
            recheck_delay=self.recheck_delay,
        )
        sent = []
        for index, chunk in enumerate(audience.chunks(self.chunk_size)):
            sent.append(result := sender.send(index, chunk, task.tag(index)))
            self.log.info(
                "Chunk %s of %s (%s recipients): operation %s%s.",
                index + 1,
                chunks,
                f"{len(chunk):,}",
                result.operation_id,
                ", adopted" if result.adopted else "",
            )
        operation_ids = [chunk.operation_id for chunk in sent]
        if not self.wait_for_completion:
            return {"operation_ids": operation_ids, "recipients": recipients, "chunks": len(operation_ids)}
        end_time = time.time() + self.wait_timeout
        created_at = [chunk.created_at.isoformat() for chunk in sent]
        if self.deferrable:
            from airflow_provider_twilio_push.triggers.campaign import TwilioPushCampaignTrigger

            self.log.info(
                "Deferring: waiting for the campaign's %s operations in the triggerer, every %s s for up "
                "to %s s.",
                len(operation_ids),
                self.poll_interval,
                f"{self.wait_timeout:,.0f}",
            )
            self.defer(
                trigger=TwilioPushCampaignTrigger(
                    operation_ids=operation_ids,
                    twilio_push_conn_id=self.twilio_push_conn_id,
                    poll_interval=self.poll_interval,
                    end_time=end_time,
                    created_at=created_at,
                ),
                method_name="execute_complete",
                kwargs={"operation_ids": operation_ids, "recipients": recipients},
                timeout=timedelta(seconds=self.wait_timeout) + BACKSTOP_MARGIN,
            )
        from airflow_provider_twilio_push.triggers.campaign import wait_for_operations

        hook = TwilioPushHook(self.twilio_push_conn_id)  # the watcher's own: it closes it
        event = asyncio.run(
            wait_for_operations(
                hook,
                hook.get_settings(),
                operation_ids,
                interval=self.poll_interval,
                end_time=end_time,
                created_at=[chunk.created_at for chunk in sent],
                log=self.log,
            )
        )
        return self._report(context, event, operation_ids, recipients)

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any],
        operation_ids: list[str] | None = None,
        recipients: int | None = None,
    ) -> dict[str, Any]:
        """Called when the trigger fires; may run more than once for one event.

        ``operation_ids`` and ``recipients`` come from the deferral; ``airflow dags test`` resumes
        with the event only, whose operation ids and Twilio's recipient count stand in for them.
        """
        return self._report(context, event, operation_ids, recipients)

    def _report(
        self, context: Context, event: Any, operation_ids: list[str] | None, recipients: int | None
    ) -> dict[str, Any]:
        if not isinstance(event, dict) or not isinstance(event.get("stats"), dict):
            raise TwilioPushError(f"Unexpected event from the trigger watching the campaign: {event!r}")
        stats = OperationStats.model_validate(event["stats"])
        if operation_ids is None:
            operation_ids = [str(operation_id) for operation_id in event.get("operation_ids") or []]
        if recipients is None:
            recipients = stats.recipients
        statuses = list(event.get("statuses") or [])
        failed = list(event.get("failed") or [])
        result = {
            "operation_ids": operation_ids,
            "recipients": recipients,
            "chunks": len(operation_ids),
            "stats": stats.model_dump(),
            "failure_rate": stats.failure_rate,
            "sent_rate": stats.sent_rate,
            "statuses": dict(Counter(status or "UNKNOWN" for status in statuses).most_common()),
        }
        message = str(event.get("message") or "")
        if event.get("status") == "timeout":
            context["ti"].xcom_push(key="return_value", value=result)
            raise AirflowSensorTimeout(message)
        if event.get("status") != "completed":
            context["ti"].xcom_push(key="return_value", value=result)
            raise AirflowFailException(
                f"{message or 'The campaign could not be watched.'} Its chunks were sent: operations "
                f"{', '.join(operation_ids[:WORST_CHUNKS])}{'...' if len(operation_ids) > WORST_CHUNKS else ''}."
            )
        breaches = self._breaches(stats)
        if not breaches:
            self.log.info("%s Within thresholds.", message)
            return result
        context["ti"].xcom_push(key="return_value", value=result)
        raise AirflowFailException(
            "; ".join(breaches)
            + f" for the campaign's {len(operation_ids):,} operations. {_worst(operation_ids, failed)}"
        )

    def _breaches(self, stats: OperationStats) -> list[str]:
        counted = f"{stats.failed:,} of {stats.total:,} push notifications failed"
        breaches = []
        if self.max_failed is not None and stats.failed > self.max_failed:
            breaches.append(f"{counted}, above max_failed={self.max_failed:,}")
        if self.max_failure_rate is not None and stats.failure_rate > self.max_failure_rate:
            breaches.append(
                f"{counted} ({_percent(stats.failure_rate)}), above "
                f"max_failure_rate={_percent(self.max_failure_rate)}"
            )
        return breaches


def _worst(operation_ids: Sequence[str], failed: Sequence[Any]) -> str:
    """The operations with the most failures, by chunk."""
    counts = [
        (count, index)
        for index, count in enumerate(failed[: len(operation_ids)])
        if isinstance(count, int) and count > 0
    ]
    worst = sorted(counts, key=lambda pair: (-pair[0], pair[1]))[:WORST_CHUNKS]
    if not worst:
        return "No operation reported a failure."
    listed = ", ".join(f"chunk {index} {operation_ids[index]} ({count:,} failed)" for count, index in worst)
    return f"Most failed: {listed}."
