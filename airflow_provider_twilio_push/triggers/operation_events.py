"""TwilioPushOperationEventTrigger: an asset watcher that fires once per operation that finishes.

Import it from ``airflow_provider_twilio_push.triggers.twilio_push`` (its stored class path).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Hashable, Iterable, Sequence
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from pydantic import ValidationError

from airflow_provider_twilio_push.core.events import (
    RUNNING_STATUSES,
    TERMINAL_STATUSES,
    Advancing,
    Position,
    Sweep,
    advance,
    first_window,
    validate_event_poll_interval,
    validate_statuses,
)
from airflow_provider_twilio_push.core.request import MAX_PAGE_SIZE
from airflow_provider_twilio_push.core.response import validate_operation
from airflow_provider_twilio_push.exceptions import (
    TwilioPushError,
    TwilioPushInvalidInputError,
    TwilioPushNotFoundError,
)
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation

#: Operations of a sweep read between two turns of the event loop.
VALIDATED_BETWEEN_YIELDS = 100
#: The triggerer hands the events a trigger yields to the database at its next loop, about a
#: second later: a position is stored only this long after the events it accounts for.
PERSIST_DELAY = 5.0
#: Airflow's default ``[state_store] max_value_storage_bytes``: a larger position is refused.
STATE_STORE_LIMIT = 64 * 1024

CLASSPATH = "airflow_provider_twilio_push.triggers.twilio_push.TwilioPushOperationEventTrigger"


def event_payload(operation: Operation) -> dict[str, Any]:
    """``operation.to_xcom()`` plus the stats operator's ``failure_rate`` and ``sent_rate``."""
    return {
        **operation.to_xcom(),
        "failure_rate": operation.stats.failure_rate,
        "sent_rate": operation.stats.sent_rate,
    }


class TwilioPushOperationEventTrigger(BaseEventTrigger):
    """Fires one event per operation of the account that reaches one of ``statuses``.

    For an :class:`~airflow.sdk.AssetWatcher`: a DAG scheduled on the asset runs once per finished
    operation and reads the event's payload (``operation.to_xcom()`` plus ``failure_rate`` and
    ``sent_rate``) from ``triggering_asset_events[asset][-1].extra["payload"]``.

    Every ``poll_interval`` seconds it lists the operations still running (one status filter
    each), those created since the last look, and reads by id each one it saw running that is no
    longer listed as such: requests and state grow with what is running, not with the account's
    history. On Airflow 3.3+ every such trigger with the same connection id and ``poll_interval``
    shares that sweep, and the position is kept in the asset's state store, so that operations that
    finished while the triggerer was down are reported after it restarts (within Twilio's 7-day
    retention). Delivery is at least once: the position is stored a sweep after the events it
    accounts for, so those of the last sweeps before a restart may be reported again (use the
    payload's ``id`` to deduplicate). Without a state store (Airflow < 3.3) watching starts when the
    trigger starts. Operations already finished when watching begins are not reported.

    :param twilio_push_conn_id: The Airflow connection; only its id is stored, never a secret.
    :param statuses: The terminal statuses to report: ``COMPLETED``, ``CANCELED`` or both (any case).
    :param poll_interval: Seconds between two sweeps.
    """

    def __init__(
        self,
        twilio_push_conn_id: str = TwilioPushHook.default_conn_name,
        statuses: Sequence[str] | str = TERMINAL_STATUSES,
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        # Injected by the triggerer on Airflow 3.3+; older ones have no state store.
        self.asset_state_store = getattr(self, "asset_state_store", None)
        self.twilio_push_conn_id = twilio_push_conn_id
        self.statuses = validate_statuses(statuses)
        self.poll_interval = validate_event_poll_interval(poll_interval)
        self._warned_size = False

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "twilio_push_conn_id": self.twilio_push_conn_id,
                "statuses": list(self.statuses),
                "poll_interval": self.poll_interval,
            },
        )

    @property
    def state_key(self) -> str:
        """This trigger's key in the asset's state store (two watchers of one asset keep apart)."""
        return f"twilio_push_operation_events:{self.twilio_push_conn_id}:{'+'.join(self.statuses)}"

    def shared_stream_key(self) -> Hashable | None:
        return ("twilio-push-operation-sweep", self.twilio_push_conn_id, self.poll_interval)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncGenerator[Any]:
        """Sweep the account every ``poll_interval`` seconds, forever; yield each :class:`Sweep`.

        The group keeps its own position, from the present on. A failed sweep is logged and tried
        again later.
        """
        trigger = cls(**kwargs)
        position: Position | None = None
        async with TwilioPushHook(trigger.twilio_push_conn_id) as hook:
            while True:
                sweep = await trigger._sweep(hook, position)
                if sweep is not None:
                    position = advance(position, sweep).position
                    yield sweep
                await asyncio.sleep(trigger.poll_interval)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """Report this trigger's operations from the shared sweeps, keeping its own position.

        A position is stored once the events it accounts for are safe in the database: at a later
        sweep, at least :data:`PERSIST_DELAY` after they were yielded.
        """
        position, stored = await self._load_position()
        unsafe: deque[tuple[float, Position]] = deque()  # (when it is safe, position), oldest first
        yielded_at = -math.inf
        async for shared in shared_stream:
            step: list[Advancing] = []
            async with aclosing(self._advance(shared, position, step)) as reports:
                async for operation in reports:
                    self.log.info("Operation %s is %s", operation.id, operation.status.value)
                    yield TriggerEvent(event_payload(operation))
                    yielded_at = time.monotonic()
                    await asyncio.sleep(0)  # a sweep may report thousands: let the loop run between them
            if not step:
                continue
            position = step[0].position()
            unsafe.append((yielded_at + PERSIST_DELAY, position))
            safe = None
            while unsafe and unsafe[0][0] <= time.monotonic():
                safe = unsafe.popleft()[1]
            if safe is not None and safe != stored:
                stored = await self._store_position(safe)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """The trigger on its own (no shared-stream manager, Airflow < 3.3): the same sweeps."""
        async with aclosing(type(self).open_shared_stream(self.serialize()[1])) as sweeps:
            async for event in self.filter_shared_stream(sweeps):
                yield event

    async def _advance(
        self, sweep: Sweep, position: Position | None, done: list[Advancing]
    ) -> AsyncGenerator[Operation]:
        """The operations to report from ``sweep``, completed with what this trigger's position
        needs and the group's did not look at; the finished step is appended to ``done``. Nothing
        is appended when a look failed (logged; the next sweep tries again)."""
        if not sweep.covers(position):
            # Its position is older than the group's (e.g. it restarted): catch up on its own,
            # page by page.
            async with TwilioPushHook(self.twilio_push_conn_id) as hook:
                async for operation in self._catch_up(hook, position, done):
                    yield operation
            return
        step = Advancing(position, sweep.start, sweep.running, self.statuses)
        for operation in step.take(sweep.operations, sweep.gone):
            yield operation
        unknown = step.unknown()
        if unknown:
            async with TwilioPushHook(self.twilio_push_conn_id) as hook:
                for operation in step.take(*await self._read(hook, unknown)):
                    yield operation
        done.append(step)

    async def _catch_up(
        self, hook: TwilioPushHook, position: Position | None, done: list[Advancing]
    ) -> AsyncGenerator[Operation]:
        """:meth:`_sweep` for an old ``position``, reporting page by page: it holds a page and what
        the position keeps, never the listing."""
        start = first_window(datetime.now(UTC)) if position is None else position.window_start()
        try:
            running = await self._running(hook)
            step = Advancing(position, start, running, self.statuses)
            page: list[Operation] = []
            async for operation in self._listing(hook, start_date=start):
                page.append(operation)
                if len(page) == VALIDATED_BETWEEN_YIELDS:
                    for reported in step.take(page):
                        yield reported
                    page = []
            for reported in step.take(page):
                yield reported
        except TwilioPushError as exc:
            self._listing_failed(exc)
            return
        for reported in step.take(*await self._read(hook, step.unknown())):
            yield reported
        done.append(step)

    async def _sweep(self, hook: TwilioPushHook, position: Position | None) -> Sweep | None:
        """A look at the account for ``position`` (None: watching begins now), or None when a
        listing failed (logged; the watch goes on)."""
        start = first_window(datetime.now(UTC)) if position is None else position.window_start()
        listed: list[Operation] = []
        try:
            running = await self._running(hook)
            async for operation in self._listing(hook, start_date=start):
                listed.append(operation)
        except TwilioPushError as exc:
            self._listing_failed(exc)
            return None
        sweep = Sweep(start, running, listed)
        return sweep.plus(*await self._read(hook, sweep.unknown(position)))

    async def _running(self, hook: TwilioPushHook) -> frozenset[str]:
        """The ids of the operations listed with a running status."""
        running: set[str] = set()
        for status in RUNNING_STATUSES:
            async for operation in self._listing(hook, status=status):
                running.add(operation.id)
        return frozenset(running)

    def _listing_failed(self, exc: TwilioPushError) -> None:
        self.log.warning(
            "Listing the operations of connection %r failed, will try again in %s s: %s",
            self.twilio_push_conn_id,
            self.poll_interval,
            exc,
        )

    async def _listing(self, hook: TwilioPushHook, **filters: Any) -> AsyncIterator[Operation]:
        """The operations listed with ``filters``, page by page, each read on its own: a malformed
        one is logged and skipped. The loop runs between every :data:`VALIDATED_BETWEEN_YIELDS`."""
        count = 0
        async with aclosing(hook.aiter_operation_pages(page_size=MAX_PAGE_SIZE, **filters)) as pages:
            async for page in pages:
                for item in page.operations:
                    try:
                        operation = validate_operation(item)
                    except ValidationError as exc:
                        self._skip(item, exc)
                        continue
                    yield operation
                    count += 1
                    if count % VALIDATED_BETWEEN_YIELDS == 0:
                        await asyncio.sleep(0)

    def _skip(self, item: object, exc: ValidationError) -> None:
        operation_id = item.get("id") if isinstance(item, dict) else None
        first = exc.errors()[0]
        self.log.warning(
            "Skipped an operation of the list that is not valid (id %s): %s: %s",
            repr(operation_id)[:80],
            ".".join(str(part) for part in first["loc"]) or "the item",
            first["msg"],
        )

    async def _read(self, hook: TwilioPushHook, ids: Iterable[str]) -> tuple[list[Operation], set[str]]:
        """The operations ``ids`` (no longer listed as running: most have finished), each on its own;
        and the ids Twilio no longer has. One that cannot be read now is read at the next sweep."""
        operations: list[Operation] = []
        gone: set[str] = set()
        for operation_id in sorted(ids):
            try:
                operations.append(await hook.aget_operation(operation_id))
            except (TwilioPushNotFoundError, TwilioPushInvalidInputError) as exc:
                self.log.warning("Operation %s can no longer be watched: %s", operation_id, exc)
                gone.add(operation_id)
            except TwilioPushError as exc:
                self.log.warning(
                    "Reading operation %s failed, will try again in %s s: %s",
                    operation_id,
                    self.poll_interval,
                    exc,
                )
        return operations, gone

    async def _load_position(self) -> tuple[Position | None, Position | None]:
        """(where to start, what is stored): the stored position, or None to start at the present.

        A store that cannot be read (e.g. one trigger watching several assets) is not used at all.
        """
        if self.asset_state_store is None:
            return None, None
        try:
            stored = Position.from_json(await self.asset_state_store.aget(self.state_key))
        except Exception as exc:  # the store's own errors; watching goes on from the present
            self.log.warning("Could not read this watcher's position, watching from now on: %s", exc)
            self.asset_state_store = None
            return None, None
        return stored, stored

    async def _store_position(self, position: Position) -> Position | None:
        """Store ``position``; return what is stored now."""
        if self.asset_state_store is None:
            return position
        value = position.to_json()
        size = len(json.dumps(value).encode())
        if size > STATE_STORE_LIMIT and not self._warned_size:
            self._warned_size = True
            self.log.warning(
                "This watcher's position is %s bytes: %s operations are running, and their ids are "
                "stored in full. Airflow refuses a value larger than [state_store] "
                "max_value_storage_bytes (64 KB by default): raise it (or set it to 0) to keep the "
                "position across restarts.",
                size,
                len(position.running),
            )
        try:
            await self.asset_state_store.aset(self.state_key, value)
        except Exception as exc:  # the store's own errors; the position stays in memory
            self.log.warning("Could not store this watcher's position, will try again: %s", exc)
            return None
        return position
