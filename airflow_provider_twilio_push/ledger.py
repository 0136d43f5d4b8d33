"""Twilio's own records as the ledger of a task's sends: each chunk of recipients is sent exactly
once, across task retries, worker crashes and uncertain answers.

Every send of a chunk carries a tag (:data:`CHUNK_TAG_KEY`) whose value is a digest of the task
instance (dag_id, run_id, task_id, map_index) and the chunk's index. Nothing local survives a task
retry, so before a retry sends a chunk, and after an answer that leaves in doubt whether Twilio
accepted it, :class:`ChunkSender` asks Twilio: notifications listed under the tag mean the chunk
was accepted, and its operation is found among the operations created before the first of them
(confirmed with ``operationId=<candidate>&tags=<tag>``) and adopted instead of sending again.

What this assumes of Twilio (the API does not document it): an accepted chunk's notifications are
listed within ``recheck_delay`` seconds of the answer; an accepted chunk creates notifications at
all (one whose recipients are all unaddressable may create none, and is sent again, delivering
nothing); and records are kept 7 days, so a retry later than that cannot check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_twilio_push.core.request import MAX_PAGE_SIZE, MAX_TAGS
from airflow_provider_twilio_push.exceptions import (
    TwilioPushError,
    TwilioPushInvalidInputError,
    TwilioPushMalformedResponseError,
    TwilioPushSendUncertainError,
)
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation

#: The key of the tag every chunk is sent with; its value is the chunk's digest.
CHUNK_TAG_KEY = "airflow-chunk"
#: Seconds to wait after an uncertain answer before asking Twilio whether it accepted the chunk.
DEFAULT_RECHECK_DELAY = 30.0
#: Sends of one chunk in one try, each after an uncertain answer Twilio then did not list.
MAX_SENDS_PER_CHUNK = 3
#: Operations created before a found chunk's first notification that are examined (newest first).
MAX_CANDIDATES = 5 * MAX_PAGE_SIZE
#: Of those, the ones of another size than the chunk that are confirmed at most.
MAX_OTHER_CONFIRMATIONS = 20
#: ``endDate`` means "created before", and dates go out to the second.
END_DATE_PAD = timedelta(seconds=1)


def chunk_digest(dag_id: str, run_id: str, task_id: str, map_index: int, chunk_index: int) -> str:
    """The chunk's tag value: the same for every try of the task instance, unique to the chunk."""
    text = json.dumps([dag_id, run_id, task_id, map_index, chunk_index])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class TaskChunks:
    """The chunk tags of one task instance."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int

    @classmethod
    def of(cls, context: Mapping[str, Any]) -> TaskChunks:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", None)
        return cls(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=-1 if map_index is None else int(map_index),
            try_number=int(getattr(ti, "try_number", 1) or 1),
        )

    def tag(self, chunk_index: int) -> str:
        return chunk_digest(self.dag_id, self.run_id, self.task_id, self.map_index, chunk_index)

    @property
    def retried(self) -> bool:
        """Whether an earlier try (or a cleared run of the task) may have sent chunks already."""
        return self.try_number > 1


def check_user_tags(tags: object) -> None:
    """User ``tags`` must leave room for the chunk tag: at most 9, none named like it."""
    if not isinstance(tags, Mapping):
        return  # send_request says what is wrong with it
    if len(tags) >= MAX_TAGS:
        raise TwilioPushInvalidInputError(
            f"Invalid tags: {len(tags)} tags leave no room for the tag {CHUNK_TAG_KEY!r} that makes "
            f"every send exactly-once (Twilio takes at most {MAX_TAGS} a send); expected at most "
            f"{MAX_TAGS - 1}."
        )
    if CHUNK_TAG_KEY in tags:
        raise TwilioPushInvalidInputError(
            f"Invalid tags: the key {CHUNK_TAG_KEY!r} is this provider's own (it identifies each chunk "
            "sent); use another key."
        )


@dataclass(frozen=True)
class SentChunk:
    """A chunk's operation: sent now, or adopted from an earlier send Twilio accepted."""

    operation_id: str
    #: When it was created: Twilio's time if the operation was read, else the local time of the 202.
    created_at: datetime
    adopted: bool


class ChunkSender:
    """Sends the chunks of one try of a task, each exactly once.

    :param check_first: Ask Twilio before sending each chunk (a retried task instance).
    :param recheck_delay: Seconds to wait after an uncertain answer before asking Twilio.
    """

    def __init__(
        self,
        hook: TwilioPushHook,
        log: logging.Logger | Any,
        *,
        content: Any,
        from_: Any = None,
        priority: str | None = None,
        sound: str | None = None,
        schedule: Any = None,
        tags: Mapping[str, str] | None = None,
        check_first: bool,
        recheck_delay: float = DEFAULT_RECHECK_DELAY,
    ) -> None:
        self.hook = hook
        self.log = log
        self.message: dict[str, Any] = {
            "from_": from_,
            "priority": priority,
            "sound": sound,
            "schedule": schedule,
        }
        self.content = content
        self.tags = dict(tags or {})
        self.check_first = check_first
        self.recheck_delay = recheck_delay
        #: The operations of this try's chunks: never another chunk's.
        self.known: set[str] = set()

    def send(self, chunk_index: int, recipients: Sequence[Mapping[str, Any]], tag: str) -> SentChunk:
        """The chunk's operation: adopted if Twilio lists the chunk as accepted, else sent."""
        if self.check_first and (found := self.find(tag, len(recipients))) is not None:
            return self._adopt(chunk_index, tag, found)
        for attempt in range(1, MAX_SENDS_PER_CHUNK + 1):
            try:
                operation_id = self.hook.send_push_notifications(
                    recipients, self.content, tags={**self.tags, CHUNK_TAG_KEY: tag}, **self.message
                )
            except (TwilioPushSendUncertainError, TwilioPushMalformedResponseError) as exc:
                self.log.warning(
                    "Chunk %s (tag %s:%s): %s. Asking Twilio whether it accepted the chunk in %s s.",
                    chunk_index,
                    CHUNK_TAG_KEY,
                    tag,
                    exc,
                    self.recheck_delay,
                )
                time.sleep(self.recheck_delay)
                if (found := self.find(tag, len(recipients))) is not None:
                    return self._adopt(chunk_index, tag, found)
                self.log.warning(
                    "Twilio lists no notification of chunk %s (tag %s:%s): it was not accepted%s.",
                    chunk_index,
                    CHUNK_TAG_KEY,
                    tag,
                    ", sending it again" if attempt < MAX_SENDS_PER_CHUNK else "",
                )
                continue
            self.known.add(operation_id)
            return SentChunk(operation_id, datetime.now(UTC), adopted=False)
        raise AirflowException(
            f"Twilio answered {MAX_SENDS_PER_CHUNK} sends of chunk {chunk_index} (tag "
            f"{CHUNK_TAG_KEY}:{tag}) uncertainly and lists none of them as accepted. A retry of the "
            "task asks Twilio again before sending any chunk."
        )

    def _adopt(self, chunk_index: int, tag: str, operation: Operation) -> SentChunk:
        self.log.info(
            "Chunk %s (tag %s:%s) was accepted already: adopting operation %s instead of sending it again.",
            chunk_index,
            CHUNK_TAG_KEY,
            tag,
            operation.id,
        )
        self.known.add(operation.id)
        return SentChunk(operation.id, operation.created_at or datetime.now(UTC), adopted=True)

    def find(self, tag: str, size: int) -> Operation | None:
        """The operation that sent the chunk tagged ``tag`` (``size`` recipients), or None when
        Twilio lists no notification under the tag. Fails the task when its fate cannot be told."""
        tags = {CHUNK_TAG_KEY: tag}
        try:
            first = next(iter(self.hook.iter_push_notifications(tags=tags, page_size=1, max_items=1)), None)
            if first is None:
                return None
            created = first.created_at
            if created is not None and created.tzinfo is None:
                created = created.replace(tzinfo=UTC)  # the API's dates are UTC
            end_date = None if created is None else created + END_DATE_PAD
            others: list[str] = []
            page_token: str | None = None
            examined = 0
            while examined < MAX_CANDIDATES:
                # Newest first, from the operations created just before the chunk's notification.
                page = self.hook.list_operations(
                    end_date=end_date, page_size=MAX_PAGE_SIZE, page_token=page_token
                )
                examined += len(page.operations)
                fresh = [operation for operation in page.operations if operation.id not in self.known]
                for operation in _closest_first(fresh, created, size):
                    if self._holds(operation.id, tags):
                        return operation
                others += [op.id for op in fresh if op.stats.recipients != size][
                    : MAX_OTHER_CONFIRMATIONS - len(others)
                ]
                if not (page_token := page.next_page_token) or not page.operations:
                    break
            for operation_id in others:
                if self._holds(operation_id, tags):
                    return self.hook.get_operation(operation_id)
        except TwilioPushError as exc:
            raise AirflowFailException(
                f"Could not tell whether Twilio accepted the chunk tagged {CHUNK_TAG_KEY}:{tag}: {exc}. "
                "It is not sent again blindly; check GET /v1/PushNotifications?tags="
                f"{CHUNK_TAG_KEY}:{tag}; before running the task again."
            ) from exc
        raise AirflowFailException(
            f"Twilio lists notifications tagged {CHUNK_TAG_KEY}:{tag} (created {first.created_at}), so "
            f"that chunk was accepted, but none of the operations created before them holds them (up to "
            f"{MAX_CANDIDATES:,} examined). It is not sent again; find its operation with "
            f"GET /v1/PushNotifications?tags={CHUNK_TAG_KEY}:{tag};"
        )

    def _holds(self, operation_id: str, tags: Mapping[str, str]) -> bool:
        """Whether the operation's notifications include the chunk's."""
        page = self.hook.list_push_notifications(operation_id=operation_id, tags=tags, page_size=1)
        return bool(page.push_notifications)


def _closest_first(operations: list[Operation], created: datetime | None, size: int) -> list[Operation]:
    """The candidates of the chunk's size, those created closest before its notification first and,
    among those of one second, the oldest first: a retry adopts a campaign's chunks in the order
    they were sent, and several are sent within a second."""
    same_size = [operation for operation in reversed(operations) if operation.stats.recipients == size]
    if created is None:
        return same_size

    def distance(operation: Operation) -> float:
        when = operation.created_at
        if when is None:
            return float("inf")
        return abs((created - (when if when.tzinfo else when.replace(tzinfo=UTC))).total_seconds())

    return sorted(same_size, key=distance)
