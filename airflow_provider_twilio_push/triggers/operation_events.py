"""TwilioPushOperationEventTrigger: an asset watcher that fires once per operation that finishes.

Import it from ``airflow_provider_twilio_push.triggers.twilio_push`` (its stored class path).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Hashable, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_twilio_push.core.events import (
    TERMINAL_STATUSES,
    Position,
    Sweep,
    advance,
    validate_event_poll_interval,
    validate_statuses,
)
from airflow_provider_twilio_push.core.request import MAX_PAGE_SIZE
from airflow_provider_twilio_push.exceptions import TwilioPushError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation

#: Operations of a sweep read between two turns of the event loop.
VALIDATED_BETWEEN_YIELDS = 100

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

    Every ``poll_interval`` seconds it lists the account's operations created since the oldest one
    still running (``GET /v1/PushNotifications/Operations``, 1,000 a page). On Airflow 3.3+ every
    such trigger with the same connection id and ``poll_interval`` shares that sweep, and the
    position is kept in the asset's state store, so that operations that finished while the
    triggerer was down are reported after it restarts (within Twilio's 7-day retention). Delivery
    is at least once: an operation reported just before a restart may be reported again (use the
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

        The first sweep lists the whole retention; the next ones start at the group's own position
        (the oldest operation still running). A failed sweep is logged and tried again later.
        """
        trigger = cls(**kwargs)
        position: Position | None = None
        async with TwilioPushHook(trigger.twilio_push_conn_id) as hook:
            while True:
                start = None if position is None else position.sweep_start()
                sweep = await trigger._sweep(hook, start)
                if sweep is not None:
                    position = advance(position, sweep).position
                    yield sweep
                await asyncio.sleep(trigger.poll_interval)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """Report this trigger's operations from the shared sweeps, keeping its own position."""
        position, stored = await self._load_position()
        async for sweep in shared_stream:
            if position is not None and not sweep.covers(position.since):
                # Joined a group that sweeps from later than this trigger's position: catch up once.
                async with TwilioPushHook(self.twilio_push_conn_id) as hook:
                    caught_up = await self._sweep(hook, position.sweep_start())
                sweep = caught_up or sweep
            step = advance(position, sweep, self.statuses)
            if step.dropped:
                self.log.warning(
                    "%d operations still running are older than the %d finished operations kept; "
                    "they will not be reported",
                    step.dropped,
                    len(step.position.handled),
                )
            for operation in step.report:
                self.log.info("Operation %s is %s", operation.id, operation.status.value)
                yield TriggerEvent(event_payload(operation))
                await asyncio.sleep(0)  # a sweep may report thousands: let the loop run between them
            position = step.position
            if position != stored:
                stored = await self._store_position(position)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """The trigger on its own (no shared-stream manager, Airflow < 3.3): the same sweeps."""
        async with aclosing(type(self).open_shared_stream(self.serialize()[1])) as sweeps:
            async for event in self.filter_shared_stream(sweeps):
                yield event

    async def _sweep(self, hook: TwilioPushHook, start: datetime | None) -> Sweep | None:
        """Every operation created from ``start`` on (None: the whole retention), or None when the
        sweep failed (logged; the watch goes on)."""
        operations: list[Operation] = []
        try:
            async for operation in hook.aiter_operations(start_date=start, page_size=MAX_PAGE_SIZE):
                operations.append(operation)
                if len(operations) % VALIDATED_BETWEEN_YIELDS == 0:
                    await asyncio.sleep(0)  # a page is validated an operation at a time: let the loop run
        except TwilioPushError as exc:
            self.log.warning(
                "Listing the operations of connection %r failed, will try again in %s s: %s",
                self.twilio_push_conn_id,
                self.poll_interval,
                exc,
            )
            return None
        return Sweep(start, operations)

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
        try:
            await self.asset_state_store.aset(self.state_key, position.to_json())
        except Exception as exc:  # the store's own errors; the position stays in memory
            self.log.warning("Could not store this watcher's position, will try again: %s", exc)
            return None
        return position
