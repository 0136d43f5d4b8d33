"""TwilioPushOperationEventTrigger against the emulator: one event per finished operation."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_provider_twilio_push.core.events import Position
from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.triggers import operation_events
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationEventTrigger

pytestmark = pytest.mark.timeout(60)

LIST = "GET /v1/PushNotifications/Operations"
GET = "GET /v1/PushNotifications/Operations/{id}"
POLL = 0.1
#: A sweep lists the operations with status SCHEDULED, those with PROCESSING, and the new ones.
LISTS_PER_SWEEP = 3
STATE_KEY = "twilio_push_operation_events:twilio_push_default:COMPLETED+CANCELED"


@pytest.fixture(autouse=True)
def persist_delay(monkeypatch: pytest.MonkeyPatch) -> float:
    """Positions are stored a few sweeps after the events they account for."""
    monkeypatch.setattr(operation_events, "PERSIST_DELAY", 3 * POLL)
    return 3 * POLL


class MemoryStateStore:
    """The asset state store's async accessors, in memory; values go through JSON as in the database."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)
        self.writes += 1


async def eventually(condition: Callable[[], Awaitable[bool] | bool], limit: float = 20.0) -> None:
    """Wait until ``condition()`` holds (at most ``limit`` seconds)."""
    async with asyncio.timeout(limit):
        for _ in itertools.count():
            result = condition()
            if await result if inspect.isawaitable(result) else result:
                return
            await asyncio.sleep(0.02)


class Watching:
    """A trigger's events, collected by a task until :meth:`stop`."""

    def __init__(self, events: AsyncIterator[TriggerEvent]) -> None:
        self.payloads: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._collect(events))

    async def _collect(self, events: AsyncIterator[TriggerEvent]) -> None:
        async for event in events:
            self.payloads.append(event.payload)

    async def until(self, count: int, limit: float = 20.0) -> list[dict[str, Any]]:
        def arrived() -> bool:
            assert not self._task.done(), self._task
            return len(self.payloads) >= count

        try:
            await eventually(arrived, limit)
        except TimeoutError:
            raise AssertionError(f"{len(self.payloads)} events in {limit} s, not {count}") from None
        return self.payloads

    async def stop(self) -> list[dict[str, Any]]:
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task
        return self.payloads


def watch(trigger: TwilioPushOperationEventTrigger, store: MemoryStateStore | None = None) -> Watching:
    trigger.asset_state_store = store  # type: ignore[assignment]
    return Watching(trigger.run())


async def sweeps_done(
    control: Any, count: int, limit: float = 20.0, per_sweep: int = LISTS_PER_SWEEP
) -> None:
    """Wait until the emulator answered ``count`` more sweeps (``per_sweep`` list requests each) from now."""
    target = await asyncio.to_thread(control.request_count, LIST, 200) + count * per_sweep

    async def served() -> bool:
        return await asyncio.to_thread(control.request_count, LIST, 200) >= target

    await eventually(served, limit)


async def first_sweeps_done(stores: list[MemoryStateStore], limit: float = 30.0) -> None:
    """Wait until every trigger has stored its position: each has taken its first look."""
    await eventually(lambda: all(store.writes for store in stores), limit)


def stored(store: MemoryStateStore, key: str = STATE_KEY) -> dict[str, Any]:
    return json.loads(store.values[key]) if key in store.values else {}


async def position_stored(
    store: MemoryStateStore, holds: Callable[[dict[str, Any]], bool], limit: float = 20.0
) -> None:
    """Wait until the stored position satisfies ``holds``."""
    await eventually(lambda: holds(stored(store)), limit)


def handled(position: dict[str, Any], operation_id: str) -> bool:
    """Whether the stored ``position`` counts ``operation_id`` as handled."""
    read = Position.from_json(position)
    return read is not None and read.handled(operation_id)


def ids(payloads: list[dict[str, Any]]) -> list[str]:
    return [payload["id"] for payload in payloads]


async def test_reports_each_operation_that_completes_with_its_stats(
    twilio_push_emulator: EmulatorHandle,
) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    done_before = control.create_operation(total=10, duration=0)
    running = [control.create_operation(total=100, duration=10, failure_ratio=0.25) for _ in range(2)]
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL))
    await sweeps_done(control, 2)

    control.advance(20)
    payloads = await watching.until(2)
    await sweeps_done(control, 3)
    await watching.stop()

    assert sorted(ids(payloads)) == sorted(op["id"] for op in running)
    assert done_before["id"] not in ids(watching.payloads)
    first = payloads[0]
    assert first["status"] == "COMPLETED"
    assert first["stats"]["total"] == 100
    assert first["failure_rate"] == first["stats"]["failed"] / 100 == 0.25
    assert first["sent_rate"] == first["stats"]["sent"] / 100 == 0.75
    assert set(first) == {"id", "status", "stats", "createdAt", "updatedAt", "failure_rate", "sent_rate"}
    assert json.loads(json.dumps(payloads)) == payloads
    assert len(watching.payloads) == 2  # later sweeps report nothing again


async def test_reports_only_the_statuses_asked_for(twilio_push_emulator: EmulatorHandle) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    to_cancel = control.create_operation(total=10, duration=10)
    to_complete = control.create_operation(total=10, duration=10)
    watching = watch(TwilioPushOperationEventTrigger(statuses=["canceled"], poll_interval=POLL))
    await sweeps_done(control, 2)

    control.cancel(to_cancel["id"])
    control.advance(20)
    [payload] = await watching.until(1)
    await sweeps_done(control, 3)
    await watching.stop()

    assert payload["id"] == to_cancel["id"]
    assert payload["status"] == "CANCELED"
    assert to_complete["id"] not in ids(watching.payloads)


async def test_many_pages(twilio_push_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operation_events, "MAX_PAGE_SIZE", 3)
    control = twilio_push_emulator.control
    control.freeze()
    running = [control.create_operation(total=5, duration=10)["id"] for _ in range(8)]
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL))
    # PROCESSING: three pages; SCHEDULED: one; created since a minute ago: three.
    await sweeps_done(control, 2, per_sweep=7)

    control.advance(20)
    payloads = await watching.until(8)
    await sweeps_done(control, 3)
    await watching.stop()

    assert sorted(ids(payloads)) == sorted(running)
    assert len(watching.payloads) == 8


async def test_api_failures_are_waited_out_and_logged(
    twilio_push_emulator: EmulatorHandle, event_logs: list[dict[str, Any]]
) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    operation = control.create_operation(total=10, duration=10)
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL))
    await sweeps_done(control, 1)
    control.set_faults(rate_503=1.0, retry_after=0, routes=[LIST])
    control.advance(20)

    await eventually(lambda: any("failed, will try again" in entry["event"] for entry in event_logs))
    assert watching.payloads == []
    control.clear_faults()
    [payload] = await watching.until(1)
    await watching.stop()

    assert payload["id"] == operation["id"]
    warning = next(entry for entry in event_logs if "failed, will try again" in entry["event"])
    assert warning["log_level"] == "warning"
    assert warning["event"].startswith(
        "Listing the operations of connection 'twilio_push_default' failed, will try again in 0.1 s: "
    )
    assert "503" in warning["event"]


async def test_a_missing_connection_is_logged_and_waited_out(
    twilio_push_emulator: EmulatorHandle, event_logs: list[dict[str, Any]]
) -> None:
    watching = watch(TwilioPushOperationEventTrigger("no_such_connection", poll_interval=POLL))
    await eventually(lambda: sum("no_such_connection" in entry["event"] for entry in event_logs) >= 2)
    await watching.stop()

    assert watching.payloads == []
    warning = next(entry for entry in event_logs if "no_such_connection" in entry["event"])
    assert warning["log_level"] == "warning"
    assert warning["event"] == (
        "Listing the operations of connection 'no_such_connection' failed, will try again in 0.1 s: "
        "The connection 'no_such_connection' is not defined: create it (type twilio_push) in the UI "
        "or set AIRFLOW_CONN_NO_SUCH_CONNECTION."
    )


async def test_the_position_survives_a_restart(twilio_push_emulator: EmulatorHandle) -> None:
    """Operations that finish while no trigger runs are reported by the next one, none twice."""
    control = twilio_push_emulator.control
    control.freeze()
    store = MemoryStateStore()
    done_before = control.create_operation(total=10, duration=0)
    first = control.create_operation(total=10, duration=10)
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL), store)
    await sweeps_done(control, 2)
    control.advance(20)
    assert ids(await watching.until(1)) == [first["id"]]
    await position_stored(store, lambda position: handled(position, first["id"]))
    await watching.stop()

    # While down: one finishes, one is created and finishes, one is still running.
    while_down = control.create_operation(total=10, duration=10)
    created_and_done = control.create_operation(total=10, duration=0)
    control.advance(20)
    later = control.create_operation(total=10, duration=10)

    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL), store)
    assert sorted(ids(await watching.until(2))) == sorted([while_down["id"], created_and_done["id"]])
    control.advance(20)
    await watching.until(3)
    await position_stored(store, lambda position: handled(position, later["id"]))
    await sweeps_done(control, 2)
    await watching.stop()

    assert ids(watching.payloads)[2:] == [later["id"]]
    assert done_before["id"] not in ids(watching.payloads)
    assert stored(store)["version"] == 3
    assert handled(stored(store), later["id"])


async def test_events_not_yet_safe_are_reported_again_after_a_restart(
    twilio_push_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At least once: a triggerer that dies right after the trigger yielded events (before it
    handed them to the database) must not have stored a position that counts them as reported."""
    monkeypatch.setattr(operation_events, "PERSIST_DELAY", 60.0)
    control = twilio_push_emulator.control
    control.freeze()
    store = MemoryStateStore()
    operation = control.create_operation(total=10, duration=10)
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL), store)
    await first_sweeps_done([store])
    before = stored(store)
    assert before["running"] == [operation["id"]]
    control.advance(20)
    assert ids(await watching.until(1)) == [operation["id"]]
    await sweeps_done(control, 3)
    await watching.stop()  # the triggerer dies: the event may never have reached the database
    assert stored(store) == before

    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL), store)
    assert ids(await watching.until(1)) == [operation["id"]]
    await watching.stop()


async def test_an_operation_scheduled_days_ago_is_reported_and_sweeps_ignore_history(
    twilio_push_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A week of finished operations costs a sweep nothing: it lists what runs and what is new,
    and reads the old scheduled operation by id once it is no longer listed as running."""
    monkeypatch.setattr(operation_events, "MAX_PAGE_SIZE", 3)
    control = twilio_push_emulator.control
    control.freeze()
    day = 86_400
    scheduled = control.create_operation(total=10, duration=10, age=6 * day, schedule_in=6 * day + 30)
    for hour in range(6 * 24, 0, -2):  # 72 operations finished since, 24 pages of 3
        control.create_operation(total=1, duration=0, age=hour * 3600)
    store = MemoryStateStore()
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL), store)
    await first_sweeps_done([store])
    assert stored(store)["running"] == [scheduled["id"]]

    lists, gets = control.request_count(LIST), control.request_count(GET)
    await asyncio.sleep(10 * POLL)  # at most 11 sweeps
    assert control.request_count(LIST) - lists <= 11 * LISTS_PER_SWEEP  # a page per listing, not 24
    assert control.request_count(GET) == gets

    control.advance(60)  # it starts, and finishes
    [payload] = await watching.until(1)
    await position_stored(store, lambda position: position["running"] == [])
    await watching.stop()

    assert payload["id"] == scheduled["id"]
    assert payload["status"] == "COMPLETED"
    assert control.request_count(GET) >= gets + 1
    assert stored(store)["running"] == []
    assert len(json.dumps(stored(store))) < 1_000


async def test_without_a_store_watching_starts_at_the_present(twilio_push_emulator: EmulatorHandle) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL))
    await sweeps_done(control, 1)
    await watching.stop()
    finished_while_down = control.create_operation(total=10, duration=0)

    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL))
    await sweeps_done(control, 3)
    await watching.stop()

    assert finished_while_down["id"] not in ids(watching.payloads)
    assert watching.payloads == []


class FanOut:
    """What Airflow 3.3's ``SharedStreamManager`` does, for an Airflow without it: one
    ``open_shared_stream`` per group, each sweep handed to every subscribed trigger."""

    def __init__(self) -> None:
        self._queues: dict[int, asyncio.Queue[Any]] = {}
        self._pump: asyncio.Task[None] | None = None

    def subscribe(
        self, *, trigger_id: int, trigger: TwilioPushOperationEventTrigger, key: Any
    ) -> AsyncIterator[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._queues[trigger_id] = queue
        if self._pump is None:
            self._pump = asyncio.create_task(self._run(trigger))

        async def drain() -> AsyncIterator[Any]:
            while True:
                yield await queue.get()

        return drain()

    async def _run(self, trigger: TwilioPushOperationEventTrigger) -> None:
        async with aclosing(type(trigger).open_shared_stream(trigger.serialize()[1])) as sweeps:
            async for sweep in sweeps:
                for queue in self._queues.values():
                    queue.put_nowait(sweep)

    async def unsubscribe(self, trigger_id: int, key: Any) -> None:
        self._queues.pop(trigger_id, None)
        if not self._queues and self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump


async def shared_events(triggers: list[TwilioPushOperationEventTrigger], manager: Any) -> list[Watching]:
    """Each trigger's events through Airflow's shared-stream manager, as the triggerer runs them."""

    async def through_manager(
        trigger_id: int, trigger: TwilioPushOperationEventTrigger
    ) -> AsyncIterator[TriggerEvent]:
        key = trigger.shared_stream_key()
        stream = manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
        try:
            async with aclosing(trigger.filter_shared_stream(stream)) as events:  # type: ignore[type-var]
                async for event in events:
                    yield event
        finally:
            await manager.unsubscribe(trigger_id, key)

    return [Watching(through_manager(i, trigger)) for i, trigger in enumerate(triggers)]


async def test_shared_and_unshared_sweeps_report_the_same_events(
    twilio_push_emulator: EmulatorHandle,
) -> None:
    """A COMPLETED watcher and a CANCELED watcher share one sweep: the requests of one, the same events."""
    control = twilio_push_emulator.control
    control.freeze()

    async def scenario(
        watchings: list[Watching], stores: list[MemoryStateStore]
    ) -> tuple[list[list[str]], int]:
        to_cancel = control.create_operation(total=10, duration=10)
        to_complete = control.create_operation(total=10, duration=10)
        await first_sweeps_done(stores)
        control.cancel(to_cancel["id"])
        control.advance(20)
        for watching in watchings:
            await watching.until(1)
        await asyncio.sleep(10 * POLL)
        requests = control.request_count(LIST)
        results = [ids(await watching.stop()) for watching in watchings]
        assert results == [[to_complete["id"]], [to_cancel["id"]]]
        return results, requests

    def both() -> list[TwilioPushOperationEventTrigger]:
        return [
            TwilioPushOperationEventTrigger(statuses="COMPLETED", poll_interval=POLL),
            TwilioPushOperationEventTrigger(statuses="CANCELED", poll_interval=POLL),
        ]

    stores = [MemoryStateStore(), MemoryStateStore()]
    triggers = both()
    _, unshared_requests = await scenario(
        [watch(t, store) for t, store in zip(triggers, stores, strict=True)], stores
    )
    control.reset()
    control.freeze()
    stores = [MemoryStateStore(), MemoryStateStore()]
    triggers = both()
    for trigger, store in zip(triggers, stores, strict=True):
        trigger.asset_state_store = store  # type: ignore[assignment]
    try:
        from airflow.triggers.shared_stream import SharedStreamManager

        manager: Any = SharedStreamManager()
    except ImportError:  # Airflow < 3.3: its triggerer runs each trigger on its own, as above
        manager = FanOut()
    _, shared_requests = await scenario(await shared_events(triggers, manager), stores)

    # Over the same time, two triggers on their own sweep twice as often as two sharing a sweep.
    assert shared_requests < 0.75 * unshared_requests


def test_statuses_are_checked_when_the_dag_is_parsed() -> None:
    trigger = TwilioPushOperationEventTrigger(statuses=("completed", "Canceled"))
    assert trigger.statuses == ["COMPLETED", "CANCELED"]
    assert TwilioPushOperationEventTrigger(statuses="canceled").statuses == ["CANCELED"]

    with pytest.raises(TwilioPushInvalidInputError) as raised:
        TwilioPushOperationEventTrigger(statuses=("COMPLETED", "FAILED"))
    assert str(raised.value) == (
        "Invalid statuses=('COMPLETED', 'FAILED'): expected one or more of COMPLETED, CANCELED "
        "(case-insensitive), e.g. ('COMPLETED',)."
    )
    with pytest.raises(TwilioPushInvalidInputError, match=r"^Invalid statuses=\[\]: expected one or more"):
        TwilioPushOperationEventTrigger(statuses=[])
    with pytest.raises(TwilioPushInvalidInputError, match=r"^Invalid statuses=None: expected"):
        TwilioPushOperationEventTrigger(statuses=None)  # type: ignore[arg-type]
    with pytest.raises(TwilioPushInvalidInputError) as raised:
        TwilioPushOperationEventTrigger(poll_interval=0)
    assert str(raised.value) == "Invalid poll_interval=0: expected a number of seconds > 0."


def test_serializes_to_its_public_class_path_and_resumes() -> None:
    trigger = TwilioPushOperationEventTrigger("my_conn", statuses=["completed"], poll_interval=30)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_twilio_push.triggers.twilio_push.TwilioPushOperationEventTrigger"
    assert kwargs == {"twilio_push_conn_id": "my_conn", "statuses": ["COMPLETED"], "poll_interval": 30.0}
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert TwilioPushOperationEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert trigger.shared_stream_key() == ("twilio-push-operation-sweep", "my_conn", 30.0)


class SeveralAssetsStore(MemoryStateStore):
    """What ``AssetStateStoreAccessors`` does when one trigger watches two assets."""

    async def aget(self, key: str, default: Any = None) -> Any:
        raise ValueError(
            "Task has 2 concrete inlets and outlets — use context['asset_state_store'][MY_ASSET]"
        )


async def test_a_store_it_cannot_read_is_not_used(
    twilio_push_emulator: EmulatorHandle, event_logs: list[dict[str, Any]]
) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    running = control.create_operation(total=10, duration=10)
    store = SeveralAssetsStore()
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL), store)
    await sweeps_done(control, 2)
    control.advance(20)
    [payload] = await watching.until(1)
    await watching.stop()

    assert payload["id"] == running["id"]
    assert store.writes == 0
    [warning] = [entry for entry in event_logs if "position" in entry["event"]]
    assert warning["event"] == (
        "Could not read this watcher's position, watching from now on: Task has 2 concrete inlets and "
        "outlets — use context['asset_state_store'][MY_ASSET]"
    )


def shared_stream_manager() -> Any:
    try:
        from airflow.triggers.shared_stream import SharedStreamManager

        return SharedStreamManager()
    except ImportError:  # Airflow < 3.3: its triggerer runs each trigger on its own
        return FanOut()


async def test_a_trigger_behind_its_group_catches_up_on_its_own(twilio_push_emulator: EmulatorHandle) -> None:
    """A trigger that restarts into a group whose sweeps start later than its stored position
    (they look back one minute) reports what finished while it was down, then follows the group."""
    control = twilio_push_emulator.control
    control.freeze()
    store = MemoryStateStore()
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL), store)
    await first_sweeps_done([store])
    await watching.stop()

    finished_while_down = control.create_operation(total=10, duration=0)
    running = control.create_operation(total=10, duration=600)
    control.advance(300)  # the group's first sweep lists from a minute ago: not those
    assert control.operation(finished_while_down["id"])["operation"]["status"] == "COMPLETED"

    behind = TwilioPushOperationEventTrigger(poll_interval=POLL)
    behind.asset_state_store = store  # type: ignore[assignment]
    fresh = TwilioPushOperationEventTrigger(poll_interval=POLL)
    fresh.asset_state_store = MemoryStateStore()  # type: ignore[assignment]
    watchings = await shared_events([fresh, behind], shared_stream_manager())
    assert ids(await watchings[1].until(1)) == [finished_while_down["id"]]
    await sweeps_done(control, 2)
    gets = control.request_count(GET)
    control.advance(600)
    assert ids(await watchings[1].until(2))[1:] == [running["id"]]
    assert ids(await watchings[0].until(1)) == [running["id"]]
    await sweeps_done(control, 2)
    results = [await w.stop() for w in watchings]

    assert ids(results[0]) == [running["id"]]
    assert ids(results[1]) == [finished_while_down["id"], running["id"]]
    assert control.request_count(GET) - gets <= 2  # the group read it once (each trigger at most once)


async def test_an_operation_that_expired_while_running_is_let_go(
    twilio_push_emulator: EmulatorHandle, event_logs: list[dict[str, Any]]
) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    age = 7 * 86_400 - 5
    expiring = control.create_operation(total=10, duration=600, age=age, schedule_in=age - 10)
    other = control.create_operation(total=10, duration=10)
    store = MemoryStateStore()
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL), store)
    await first_sweeps_done([store])
    assert stored(store)["running"] == sorted([expiring["id"], other["id"]])
    control.advance(20)
    [payload] = await watching.until(1)
    await position_stored(store, lambda position: position["running"] == [])
    await sweeps_done(control, 2)
    await watching.stop()

    assert payload["id"] == other["id"]
    [warning] = [entry for entry in event_logs if "no longer be watched" in entry["event"]]
    assert warning["log_level"] == "warning"
    assert warning["event"].startswith(f"Operation {expiring['id']} can no longer be watched: ")
    assert "7 days" in warning["event"]


async def test_a_position_of_version_1_resumes(twilio_push_emulator: EmulatorHandle) -> None:
    """A position stored by the previous version (the oldest running operation's creation time and
    the finished operations since) resumes: what finished since and was not handled is reported."""
    control = twilio_push_emulator.control
    control.freeze()
    running = control.create_operation(total=10, duration=10, age=3600)  # was running then
    handled = control.create_operation(total=10, duration=0, age=1800)
    unhandled = control.create_operation(total=10, duration=0, age=600)
    store = MemoryStateStore()
    store.values[STATE_KEY] = json.dumps(
        {"version": 1, "since": running["createdAt"], "handled": [handled["id"]]}
    )
    assert control.operation(running["id"])["operation"]["status"] == "COMPLETED"  # an hour: done
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL), store)
    payloads = await watching.until(2)
    await position_stored(store, lambda position: position.get("version") == 3)
    await sweeps_done(control, 2)
    await watching.stop()

    assert sorted(ids(payloads)) == sorted([running["id"], unhandled["id"]])
    assert len(watching.payloads) == 2
    assert stored(store)["running"] == []


async def test_a_catch_up_reports_page_by_page(
    twilio_push_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger that resumes from a version 1 position an hour back reports the operations of
    each page as it lists them: it never holds the whole listing (events arrive before its last
    page is asked for)."""
    monkeypatch.setattr(operation_events, "MAX_PAGE_SIZE", 100)
    control = twilio_push_emulator.control
    control.freeze()
    finished = [control.create_operation(total=5, duration=0, age=3600 - n)["id"] for n in range(500)]
    since = control.operation(finished[0])["operation"]["createdAt"]
    store = MemoryStateStore()
    store.values[STATE_KEY] = json.dumps({"version": 1, "since": since, "handled": []})

    reported_at_page: list[int] = []  # events reported when each page of those operations arrived
    pages = TwilioPushHook.aiter_operation_pages

    async def counting_pages(hook: TwilioPushHook, **filters: Any) -> AsyncIterator[Any]:
        async with aclosing(pages(hook, **filters)) as listing:
            async for page in listing:
                if page.operations and not filters.get("status"):  # the group's listings are empty
                    reported_at_page.append(len(watching.payloads))
                yield page

    monkeypatch.setattr(TwilioPushHook, "aiter_operation_pages", counting_pages)
    watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL), store)
    payloads = await watching.until(500)
    await watching.stop()

    assert sorted(ids(payloads)) == sorted(finished)
    assert len(reported_at_page) == 5
    assert reported_at_page[4] >= 300  # the first pages were reported before the fifth was listed


async def test_a_position_too_large_for_the_store_is_warned_about_once(
    event_logs: list[dict[str, Any]],
) -> None:
    """Running ids are kept in full: 2,000 running at once outgrow Airflow's default 64 KB."""
    store = MemoryStateStore()
    trigger = TwilioPushOperationEventTrigger(poll_interval=POLL)
    trigger.asset_state_store = store  # type: ignore[assignment]
    running = frozenset(f"comms_operation_{n:026d}" for n in range(2000))
    position = Position(None, running)
    for _ in range(2):
        assert await trigger._store_position(position) == position

    assert store.writes == 2
    [warning] = [entry for entry in event_logs if "max_value_storage_bytes" in entry["event"]]
    assert warning["log_level"] == "warning"
    size = len(json.dumps(position.to_json()).encode())
    assert warning["event"] == (
        f"This watcher's position is {size} bytes: 2000 operations are running, and their ids are "
        "stored in full. Airflow refuses a value larger than [state_store] max_value_storage_bytes "
        "(64 KB by default): raise it (or set it to 0) to keep the position across restarts."
    )
