"""Twilio's own records as the ledger of a task's sends: each chunk of recipients is sent exactly
once, across task retries, worker crashes and uncertain answers.

Every send of a chunk carries a tag (:data:`CHUNK_TAG_KEY`) whose value is a digest of the task
instance (dag_id, run_id, task_id, map_index) and the chunk's index. Nothing local survives a task
retry, so before a retry sends a chunk, and after an answer that leaves in doubt whether Twilio
accepted it, :class:`ChunkSender` asks Twilio: notifications listed under the tag mean the chunk
was accepted, and its operation is found among the operations created before the first of them
(confirmed with ``operationId=<candidate>&tags=<tag>``) and adopted instead of sending again.
After an uncertain answer, Twilio is asked ``recheck_delay`` seconds later; on a retry, a chunk not
listed at once is looked for again when ``recheck_delay`` has passed since the try started (once a
try: the earlier tries' answers all came before it began). Every chunk of a retry is looked for,
even after one found missing: a chunk Twilio accepted but does not list (below) must not make the
chunks after it look unsent.

What this assumes of Twilio (the API does not document it): an accepted chunk's notifications are
listed within ``recheck_delay`` seconds of the answer; an accepted chunk creates notifications at
all (one whose recipients are all unaddressable may create none: a retry sends it again,
delivering nothing); and records are kept 7 days, so a retry
later than that cannot check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_twilio_push.core.request import MAX_PAGE_SIZE, MAX_TAGS, OPERATION_ID_RE
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
    #: None when the task instance does not say: treated as a retry.
    try_number: int | None

    @classmethod
    def of(cls, context: Mapping[str, Any]) -> TaskChunks:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", None)
        return cls(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=-1 if map_index is None else int(map_index),
            try_number=None if (try_number := getattr(ti, "try_number", None)) is None else int(try_number),
        )

    def tag(self, chunk_index: int) -> str:
        return chunk_digest(self.dag_id, self.run_id, self.task_id, self.map_index, chunk_index)

    @property
    def retried(self) -> bool:
        """Whether an earlier try (or a cleared run of the task) may have sent chunks already; when
        the try number is unknown, it may have."""
        return self.try_number is None or self.try_number > 1


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

    @property
    def sent_at(self) -> float | None:
        """When Twilio accepted the send (UNIX time) if this try sent it; None for an adopted
        operation, which was read."""
        return None if self.adopted else self.created_at.timestamp()


class ChunkSender:
    """Sends the chunks of one try of a task, each exactly once.

    :param task: The task instance, whose chunk tags the sends carry; a retried one asks Twilio
        before sending each chunk.
    :param tags: The user's tags, which leave room for the chunk tag (:func:`check_user_tags`).
    :param recheck_delay: Seconds to wait after an uncertain answer before asking Twilio.
    """

    @classmethod
    def of(cls, operator: Any, context: Mapping[str, Any]) -> ChunkSender:
        """The sender of an operator's try: its ``hook``, ``log``, ``recheck_delay`` and the send's
        fields (``content``, ``from_``, ``priority``, ``sound``, ``schedule``, ``tags``). Tags that
        leave no room for the chunk tag are refused before the task instance is read."""
        check_user_tags(operator.tags)
        return cls(
            operator.hook,
            operator.log,
            TaskChunks.of(context),
            content=operator.content,
            from_=operator.from_,
            priority=operator.priority,
            sound=operator.sound,
            schedule=operator.schedule,
            tags=operator.tags,
            recheck_delay=operator.recheck_delay,
        )

    def __init__(
        self,
        hook: TwilioPushHook,
        log: logging.Logger | Any,
        task: TaskChunks,
        *,
        content: Any,
        from_: Any = None,
        priority: str | None = None,
        sound: str | None = None,
        schedule: Any = None,
        tags: Mapping[str, str] | None = None,
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
        self.task = task
        self.recheck_delay = recheck_delay
        #: The operations of this try's chunks: never another chunk's.
        self.known: set[str] = set()
        #: Whether every chunk is looked for before it is sent: on a retry.
        self.lookups = task.retried
        #: When a chunk an earlier try sent is listed at the latest (monotonic clock).
        self.listed_by = time.monotonic() + recheck_delay

    def send(self, chunk_index: int, recipients: Sequence[Mapping[str, Any]]) -> SentChunk:
        """The chunk's operation: adopted if Twilio lists the chunk as accepted, else sent."""
        tag = self.task.tag(chunk_index)
        if self.lookups and (found := self._find_sent_earlier(chunk_index, tag, len(recipients))) is not None:
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

    def _find_sent_earlier(self, chunk_index: int, tag: str, size: int) -> Operation | None:
        """On a retry, the chunk's operation if an earlier try sent it: looked for at once and, when
        not listed, again once ``recheck_delay`` has passed since this try started."""
        asked_at = time.monotonic()
        if (found := self.find(tag, size)) is not None or asked_at >= self.listed_by:
            return found
        if (wait := self.listed_by - time.monotonic()) > 0:
            self.log.info(
                "Twilio lists no notification of chunk %s (tag %s:%s) yet: asking again in %.1f s, "
                "in case an earlier try's send of it is not listed yet.",
                chunk_index,
                CHUNK_TAG_KEY,
                tag,
                wait,
            )
            time.sleep(wait)
        return self.find(tag, size)

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
            end_date = None if created is None else created + END_DATE_PAD
            others: list[Operation] = []
            candidates = _Candidates(self.known)
            # Newest first, from the operations created just before the chunk's notification; an
            # item another sender's operation made malformed, or with an odd id, is skipped.
            pages = self.hook.iter_operation_pages(
                end_date=end_date, page_size=MAX_PAGE_SIZE, max_items=MAX_CANDIDATES
            )
            for page in pages:
                fresh = list(page.lenient(candidates))
                for operation in _closest_first(fresh, created, size):
                    if self._holds(operation.id, tags):
                        return operation
                others += [op for op in fresh if op.stats.recipients != size][
                    : MAX_OTHER_CONFIRMATIONS - len(others)
                ]
            for operation in others:
                if self._holds(operation.id, tags):
                    return operation
        except TwilioPushError as exc:
            raise AirflowFailException(
                f"Could not tell whether Twilio accepted the chunk tagged {CHUNK_TAG_KEY}:{tag}: {str(exc).rstrip('.')}. "
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


class _Candidates:
    """The ids of operations that may hold a chunk: well-formed (the confirmation sends them back to
    Twilio) and not an operation of this try's other chunks."""

    def __init__(self, known: set[str]) -> None:
        self.known = known

    def __contains__(self, operation_id: object) -> bool:
        return (
            isinstance(operation_id, str)
            and operation_id not in self.known
            and OPERATION_ID_RE.fullmatch(operation_id) is not None
        )


def _closest_first(operations: list[Operation], created: datetime | None, size: int) -> list[Operation]:
    """The candidates of the chunk's size, those created closest before its notification first and,
    among those of one second, the oldest first: a retry adopts a campaign's chunks in the order
    they were sent, and several are sent within a second."""
    same_size = [operation for operation in reversed(operations) if operation.stats.recipients == size]
    if created is None:
        return same_size

    def distance(operation: Operation) -> float:
        when = operation.created_at
        return math.inf if when is None else abs((created - when).total_seconds())

    return sorted(same_size, key=distance)
