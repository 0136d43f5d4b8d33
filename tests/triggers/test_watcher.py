"""The watcher (triggers/watcher.py) against a Comms API mocked at the transport (respx).

Watches are registered directly, all before the watcher's first look (no jitter): each test knows
which requests come. The triggers on top of the watcher are tested in test_twilio_push_trigger.py
and, against the emulator, in test_watcher_emulator.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_twilio_push.core.pacing import pacer_for
from airflow_provider_twilio_push.core.settings import ConnectionSettings
from airflow_provider_twilio_push.core.watching import plan_requests
from airflow_provider_twilio_push.exceptions import TwilioPushError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation
from airflow_provider_twilio_push.triggers import watcher as watcher_module
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger
from airflow_provider_twilio_push.triggers.watcher import Watch, watch_operation

from .helpers import single_event, twilio_error

pytestmark = pytest.mark.timeout(60)

CREATED = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
LIST_PATH = "/v1/PushNotifications/Operations"
INTERVAL = 0.2


def op_id(i: int) -> str:
    return f"comms_operation_01h9krwprkeee8fzqspvwy{i:04d}"


Fault = httpx.Response | Callable[[], Awaitable[None]]


class FakeApi:
    """The operations list and GET, over ``ops`` (wire JSON by id); records every request.

    ``page_limit``: items per page at most, whatever pageSize asks. ``hidden``: ids the list
    leaves out. ``list_faults``: what the next list requests get instead (a response), or wait
    for first (an async callable), one per request. Every answer has a new ``updatedAt`` (unless
    ``frozen``): a watch is woken for news only. ``password``: if set, the one secret accepted
    (others get a 401). ``junk``: items every listing starts with. ``get_bugs``: ids whose GET
    raises that exception (an unexpected one: a bug).
    """

    def __init__(self, router: respx.MockRouter, page_limit: int = 1000) -> None:
        self.ops: dict[str, dict[str, Any]] = {}
        self.page_limit = page_limit
        self.hidden: set[str] = set()
        self.list_faults: list[Fault] = []
        self.lists: list[dict[str, str]] = []
        self.gets: list[str] = []
        self.on_list: Callable[[], None] | None = None
        self.get_gate: asyncio.Event | None = None  # GETs wait for it (when set up)
        self.get_seen = asyncio.Event()  # set by the first GET
        self.frozen = False
        self.password: str | None = None
        self.junk: list[Any] = []
        self.get_bugs: dict[str, Exception] = {}
        self._answers = 0
        router.get(LIST_PATH).mock(side_effect=self._list)
        router.get(path__regex=rf"^{LIST_PATH}/(?P<operation_id>[^/]+)$").mock(side_effect=self._get)

    def add(self, count: int, status: str = "PROCESSING", start: int = 0) -> list[str]:
        ids = [op_id(start + i) for i in range(count)]
        for i in ids:
            self.ops[i] = {
                "id": i,
                "status": status,
                "stats": {"total": 2, "recipients": 2, "sent": 1, "queued": 1},
                "createdAt": "2026-11-30T09:30:00Z",
                "updatedAt": "2026-11-30T09:30:01Z",
            }
        return ids

    def set(self, ids: list[str], status: str) -> None:
        for i in ids:
            self.ops[i]["status"] = status
            if status in ("COMPLETED", "CANCELED"):
                self.ops[i]["stats"] = {"total": 2, "recipients": 2, "sent": 2, "queued": 0}

    def _fresh(self, operation: dict[str, Any]) -> dict[str, Any]:
        if self.frozen:
            return operation
        self._answers += 1
        return {
            **operation,
            "updatedAt": f"2026-11-30T{10 + self._answers // 3600:02d}:{self._answers // 60 % 60:02d}:{self._answers % 60:02d}Z",
        }

    def _refused(self, request: httpx.Request) -> httpx.Response | None:
        if self.password is None:
            return None
        secret = base64.b64decode(request.headers["Authorization"].removeprefix("Basic ")).decode()
        if secret.partition(":")[2] == self.password:
            return None
        return twilio_error(401, "Authenticate", 20003)

    async def _list(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.lists.append(params)
        if refused := self._refused(request):
            return refused
        if self.list_faults:
            fault = self.list_faults.pop(0)
            if isinstance(fault, httpx.Response):
                return fault
            await fault()
        if self.on_list is not None:
            self.on_list()
        start, end = params["startDate"], params["endDate"]
        listed = self.junk + [
            self._fresh(o)
            for i, o in sorted(self.ops.items(), reverse=True)
            if i not in self.hidden and start <= o["createdAt"] < end
        ]
        offset = int(params.get("pageToken", "0"))
        size = min(int(params["pageSize"]), self.page_limit)
        more = offset + size < len(listed)
        return httpx.Response(
            200,
            json={
                "operations": listed[offset : offset + size],
                "pagination": {"next": str(offset + size) if more else None, "self": str(offset)},
            },
        )

    async def _get(self, request: httpx.Request, operation_id: str) -> httpx.Response:
        self.gets.append(operation_id)
        self.get_seen.set()
        if refused := self._refused(request):
            return refused
        if self.get_gate is not None:
            await self.get_gate.wait()
        if operation_id in self.get_bugs:
            raise self.get_bugs[operation_id]
        if operation_id not in self.ops:
            return twilio_error(404, "Operation not found", 20404)
        return httpx.Response(200, json=self._fresh(self.ops[operation_id]))


@pytest.fixture
def fake(api: respx.MockRouter) -> FakeApi:
    return FakeApi(api)


@pytest.fixture(autouse=True)
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch's first look is due at once (instead of at a random point of its first interval).

    Watches of one operation are then always in step (each look resets them all): the tests of
    watches out of step (mixed intervals) set their first looks themselves."""
    monkeypatch.setattr(watcher_module.random, "uniform", lambda low, high: low)


@pytest.fixture(autouse=True)
def no_watcher_left() -> Iterator[None]:
    yield
    assert watcher_module._watchers == {}, "a watcher outlived its watches"


Connection = tuple[TwilioPushHook, ConnectionSettings]


async def connect(conn_id: str = "twilio_push_default") -> Connection:
    hook = TwilioPushHook(conn_id)
    return hook, await hook.aget_settings()


async def register(
    ids: list[str],
    *,
    conn_id: str = "twilio_push_default",
    created: bool = True,
    interval: float = INTERVAL,
    end_time: float | None = None,
) -> list[Watch]:
    return register_with(await connect(conn_id), ids, created=created, interval=interval, end_time=end_time)


def register_with(
    connection: Connection,
    ids: list[str],
    *,
    created: bool = True,
    interval: float = INTERVAL,
    end_time: float | None = None,
) -> list[Watch]:
    """Watches of ``ids``, registered without yielding to the event loop."""
    hook, settings = connection
    return [
        watch_operation(
            hook,
            settings,
            i,
            interval=interval,
            end_time=end_time,
            created_at=CREATED if created else None,
        )
        for i in ids
    ]


async def next_of(watch: Watch, limit: float = 5.0) -> Operation | TwilioPushError:
    async with asyncio.timeout(limit):
        return await watch.next()


async def until_terminal(watch: Watch, limit: float = 10.0) -> Operation:
    async with asyncio.timeout(limit):
        while True:
            outcome = await watch.next()
            if isinstance(outcome, Operation) and outcome.terminal:
                return outcome


def close_all(watches: list[Watch]) -> None:
    for watch in watches:
        watch.close()


# -- sweeps ----------------------------------------------------------------------------------------


async def test_one_sweep_serves_every_watch(fake: FakeApi) -> None:
    ids = fake.add(20)
    watches = await register(ids)

    first = await asyncio.gather(*(next_of(w) for w in watches))
    fake.set(ids, "COMPLETED")
    last = await asyncio.gather(*(until_terminal(w) for w in watches))
    close_all(watches)

    assert [o.id for o in first if isinstance(o, Operation)] == ids
    assert [o.status.value for o in last] == ["COMPLETED"] * 20
    assert fake.gets == []
    assert 2 <= len(fake.lists) <= 3
    assert fake.lists[0] == {
        "pageSize": "1000",
        "startDate": "2026-11-30T09:29:59Z",
        "endDate": "2026-11-30T09:30:02Z",
    }


async def test_a_sweep_hands_its_observations_over_in_turns(fake: FakeApi) -> None:
    """A page that wakes 250 triggers lets the event loop turn after every 100 it hands over, so
    that the woken triggers (and every other task) run in turns, not all after the whole page."""
    ids = fake.add(250)
    watches = await register(ids)
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    async def woken_at(watch: Watch) -> int:
        await next_of(watch)
        return turns

    counting = asyncio.create_task(count_turns())
    woken = await asyncio.gather(*(woken_at(w) for w in watches))
    counting.cancel()
    close_all(watches)

    assert fake.gets == []
    assert len(fake.lists) == 1
    assert len(set(woken)) == 3  # 100, 100 and 50 at a time


async def test_a_trigger_joining_while_a_get_is_out_waits_for_the_watchers_next_look(fake: FakeApi) -> None:
    """A lone trigger's first look is a GET; one that joins while that GET is out takes its first
    look with the watcher's next one (an interval after the GET began): one sweep for both, not a
    GET of its own."""
    first, joining = fake.add(2)
    fake.get_gate = asyncio.Event()
    [watch] = await register([first])
    async with asyncio.timeout(5):
        await fake.get_seen.wait()
    [joined] = await register([joining])
    fake.get_gate.set()

    await asyncio.gather(next_of(watch), next_of(joined))
    await next_of(watch)
    close_all([watch, joined])

    assert fake.gets == [first]
    assert len(fake.lists) == 1


async def test_without_creation_times_the_first_look_is_a_get_each_then_sweeps(fake: FakeApi) -> None:
    ids = fake.add(5)
    watches = await register(ids, created=False, interval=1.0)  # the five GETs end well within it

    await asyncio.gather(*(next_of(w) for w in watches))
    assert sorted(fake.gets) == ids
    assert fake.lists == []
    fake.set(ids, "COMPLETED")
    await asyncio.gather(*(until_terminal(w) for w in watches))
    close_all(watches)

    assert sorted(fake.gets) == ids  # the GETs told the creation times: sweeps since
    assert len(fake.lists) >= 1


async def test_watches_joining_a_sweeping_watcher_wait_for_its_next_sweep(fake: FakeApi) -> None:
    ids = fake.add(10)
    connection = await connect()
    early = register_with(connection, ids[:5], interval=0.5)
    await asyncio.gather(*(next_of(w) for w in early))  # the first sweep, at once
    joined_at = time.monotonic()
    # Their first looks would be due at once (no jitter): they join the watcher's next sweep.
    late = register_with(connection, ids[5:], interval=0.5)

    await asyncio.gather(*(next_of(w) for w in late))
    close_all([*early, *late])

    assert time.monotonic() - joined_at >= 0.3
    assert len(fake.lists) == 2
    assert fake.gets == []


async def test_a_lone_watch_is_read_with_gets_only(fake: FakeApi) -> None:
    [i] = fake.add(1)
    [watch] = await register([i])

    for _ in range(3):
        await next_of(watch)
    watch.close()

    assert fake.lists == []
    assert fake.gets == [i] * 3


async def test_a_watch_is_woken_for_news_and_for_its_last_look_only(fake: FakeApi) -> None:
    [i] = fake.add(1)
    fake.frozen = True
    [watch] = await register([i], end_time=time.time() + 0.7)

    first = await next_of(watch)
    last = await next_of(watch)  # the same operation, looked at at the deadline
    watch.close()

    assert first == last
    assert watch.past_deadline
    assert len(fake.gets) >= 3  # looks between the two brought nothing new


async def test_one_operation_watched_twice_is_read_once_per_look(fake: FakeApi) -> None:
    [i] = fake.add(1)
    watches = await register([i, i])

    outcomes = await asyncio.gather(*(next_of(w) for w in watches))
    close_all(watches)

    assert outcomes[0] == outcomes[1]
    assert fake.gets == [i]


async def test_sweeps_follow_every_page(api: respx.MockRouter) -> None:
    fake = FakeApi(api, page_limit=3)
    ids = fake.add(10)
    watches = await register(ids)

    await asyncio.gather(*(next_of(w) for w in watches))
    close_all(watches)

    assert fake.gets == []
    assert [params.get("pageToken") for params in fake.lists[:4]] == [None, "3", "6", "9"]


async def test_a_watch_may_be_slower_than_the_sweeps(fake: FakeApi) -> None:
    ids = fake.add(3)
    watches = await register(ids)
    [slow] = register_with(await connect(), [op_id(0)], interval=10.0)

    await asyncio.gather(*(next_of(w) for w in watches))
    # The slow watch takes what the sweeps saw: fresher than it asked for, never staler.
    assert isinstance(await next_of(slow, limit=2.0), Operation)
    close_all([*watches, slow])


# -- what a sweep does not show ----------------------------------------------------------------


async def test_an_operation_the_sweep_leaves_out_is_read_with_a_get_that_decides(fake: FakeApi) -> None:
    ids = fake.add(3)
    late, gone = ids[1], op_id(99)
    fake.hidden.add(late)
    # It completes between the sweep and its GET: the GET sees it.
    fake.on_list = lambda: fake.set([late], "COMPLETED")
    watches = await register([*ids, gone])

    outcomes = dict(zip([*ids, gone], await asyncio.gather(*(next_of(w) for w in watches)), strict=True))
    close_all(watches)

    assert isinstance(outcomes[late], Operation)
    assert outcomes[late].status.value == "COMPLETED"
    assert sorted(fake.gets) == sorted([late, gone])
    error = outcomes[gone]
    assert isinstance(error, TwilioPushError)
    assert not error.transient
    assert str(error) == (
        f"Twilio Push API answered 404 Not Found to GET {LIST_PATH}/{gone}: Operation not found "
        "(Twilio error 20404). The resource does not exist, or is older than Twilio's 7-day retention."
    )


# -- failing sweeps --------------------------------------------------------------------------------


async def test_a_fault_in_the_middle_of_a_sweep_is_waited_out(api: respx.MockRouter) -> None:
    fake = FakeApi(api, page_limit=3)
    ids = fake.add(7)
    unavailable = twilio_error(503, "Service Unavailable", 20503, retry_after="0")

    async def answer() -> None:
        return None

    # Page 1 answers; page 2 fails twice (the connection retries once): the sweep fails.
    fake.list_faults = [answer, unavailable, unavailable]
    watches = await register(ids)

    first = await asyncio.gather(*(next_of(w) for w in watches))
    on_page_1 = sorted(ids, reverse=True)[:3]
    seen = {o.id for o in first if isinstance(o, Operation)}
    failed = [o for o in first if isinstance(o, TwilioPushError)]
    assert seen == set(on_page_1)
    assert len(failed) == 4
    assert all(e.transient for e in failed)
    assert str(failed[0]) == (
        f"Twilio Push API answered 503 Service Unavailable to GET {LIST_PATH}: Service Unavailable "
        "(Twilio error 20503) (gave up after 2 attempts)"
    )
    # The next sweep reads them all; nothing was read with a GET (the API was struggling).
    second = await asyncio.gather(*(next_of(w) for w in watches))
    close_all(watches)
    assert all(isinstance(o, Operation) for o in second)
    assert fake.gets == []


async def test_a_malformed_page_makes_the_watcher_read_the_operations_due_with_gets(fake: FakeApi) -> None:
    ids = fake.add(3)
    fake.list_faults = [httpx.Response(200, text="<html>Bad Gateway</html>")]
    watches = await register(ids)

    outcomes = await asyncio.gather(*(next_of(w) for w in watches))
    assert all(isinstance(o, Operation) for o in outcomes)
    assert sorted(fake.gets) == ids
    await asyncio.gather(*(next_of(w) for w in watches))
    close_all(watches)
    assert len(fake.lists) == 2  # sweeps again


async def test_a_list_the_api_refuses_means_gets_from_then_on(
    fake: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    ids = fake.add(3)
    fake.list_faults = [twilio_error(400, "Invalid startDate", 20001)]
    watches = await register(ids)

    with caplog.at_level(logging.WARNING, logger=watcher_module.__name__):
        for _ in range(2):
            outcomes = await asyncio.gather(*(next_of(w) for w in watches))
            assert all(isinstance(o, Operation) for o in outcomes)
    close_all(watches)

    assert len(fake.lists) == 1
    assert sorted(fake.gets) == sorted(ids * 2)
    assert [r.getMessage() for r in caplog.records if r.name == watcher_module.__name__] == [
        "Listing the operations of connection 'twilio_push_default' failed, reading each operation with "
        f"a GET from now on: Twilio Push API answered 400 Bad Request to GET {LIST_PATH}: Invalid startDate "
        "(Twilio error 20001)"
    ]


async def test_a_refused_sweep_leaves_each_watch_to_the_error_of_its_own_get(fake: FakeApi) -> None:
    ids = fake.add(2)
    fake.list_faults = [twilio_error(401, "Authentication failed", 20003)]
    watches = await register(ids)
    fake.ops.clear()

    outcomes = await asyncio.gather(*(next_of(w) for w in watches))
    close_all(watches)

    assert [type(o).__name__ for o in outcomes] == ["TwilioPushNotFoundError"] * 2
    assert sorted(fake.gets) == ids


# -- joining, leaving, deadlines -------------------------------------------------------------------


async def test_watches_join_and_leave_in_the_middle_of_a_sweep(fake: FakeApi) -> None:
    ids = fake.add(4)
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def held() -> None:
        entered.set()
        await gate.wait()

    fake.list_faults = [held]
    first = await register(ids[:3])
    async with asyncio.timeout(5):
        await entered.wait()
    # Mid-sweep: one leaves, one joins (its operation is on the page being read).
    first[0].close()
    [joined] = await register([ids[3]])
    gate.set()

    outcomes = await asyncio.gather(*(next_of(w) for w in [*first[1:], joined]))
    close_all([*first, joined])

    assert [o.id for o in outcomes if isinstance(o, Operation)] == [ids[1], ids[2], ids[3]]
    assert fake.gets == []


async def test_the_last_watch_leaving_mid_sweep_ends_the_watcher(
    fake: FakeApi, closed_hooks: list[TwilioPushHook]
) -> None:
    ids = fake.add(3)
    entered = asyncio.Event()

    async def hang() -> None:
        entered.set()
        await asyncio.sleep(30)

    fake.list_faults = [hang]
    watches = await register(ids)
    async with asyncio.timeout(5):
        await entered.wait()
    close_all(watches)
    await asyncio.sleep(0.1)

    assert watcher_module._watchers == {}
    assert len(closed_hooks) == 1
    assert closed_hooks[0]._async_client is None


async def test_a_deadline_inside_a_hanging_sweep_times_the_trigger_out(fake: FakeApi) -> None:
    ids = fake.add(3)

    async def hang() -> None:
        await asyncio.sleep(30)

    fake.list_faults = [hang] * 10
    others = await register(ids[1:])
    started = time.monotonic()
    trigger = TwilioPushOperationTrigger(ids[0], poll_interval=INTERVAL, end_time=time.time() + 0.3)

    payload = await single_event(trigger)
    close_all(others)

    assert 0.3 <= time.monotonic() - started < 1.5
    assert payload == {
        "status": "timeout",
        "message": f"Timed out waiting for operation {ids[0]} to complete; it was never read successfully.",
        "operation": None,
    }


# -- accounts --------------------------------------------------------------------------------------


async def test_connections_to_one_account_share_a_watcher_and_its_sweeps(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch, fast_conn: dict[str, Any]
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TWILIO_PUSH_OTHER", json.dumps({**fast_conn, "extra": {"max_requests_per_second": 100}})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_TWILIO_PUSH_ELSEWHERE", json.dumps({**fast_conn, "login": "ACelsewhere"})
    )
    ids = fake.add(4)
    default, other_conn, elsewhere_conn = [
        await connect(c) for c in ("twilio_push_default", "twilio_push_other", "twilio_push_elsewhere")
    ]
    mine = register_with(default, ids[:2])
    other = register_with(other_conn, ids[2:])
    [elsewhere] = register_with(elsewhere_conn, [ids[0]])

    assert len(watcher_module._watchers) == 2  # one per account
    await asyncio.gather(*(next_of(w) for w in [*mine, *other, elsewhere]))
    settings = await TwilioPushHook("twilio_push_other").aget_settings()
    assert pacer_for(settings).interval == pytest.approx(0.01)  # its budget joined the account's pacing
    close_all([*mine, *other, elsewhere])

    # One sweep for the four operations of the shared account; a GET for the other account's one.
    assert len(fake.lists) == 1
    assert fake.gets == [ids[0]]
    assert pacer_for(settings).interval == 0.0  # ... while its triggers watched


async def test_a_trigger_that_read_a_rotated_secret_gets_a_watcher_with_it(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch, fast_conn: dict[str, Any]
) -> None:
    ids = fake.add(2)
    fake.password = fast_conn["password"]
    [before] = await register(ids[:1])
    assert isinstance(await next_of(before), Operation)

    monkeypatch.setenv("AIRFLOW_CONN_TWILIO_PUSH_DEFAULT", json.dumps({**fast_conn, "password": "rotated"}))
    fake.password = "rotated"
    [after] = await register(ids[1:])
    first = await next_of(after)
    refused = await next_of(before)
    close_all([before, after])

    # The new trigger is served with the secret it read; the old watcher's client still sends the
    # revoked one, and its trigger meets the 401 a poll with that secret always met.
    assert isinstance(first, Operation)
    assert first.id == ids[1]
    assert isinstance(refused, TwilioPushError)
    assert str(refused).startswith("Twilio Push API answered 401 Unauthorized to GET")
    assert "rotated" not in str(refused)


# -- bad data, watches out of step, bugs -----------------------------------------------------------


async def test_watches_of_one_operation_out_of_step_do_not_spin_the_loop(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sensor polling every 300 s and an operator every 30 s on one operation, the slow one due
    first: the watcher wakes for it (3 s ahead, 1% of 300 s), and must then read it, not plan
    nothing and plan again without yielding for 2.7 s (the fast watch's 1% is 0.3 s)."""
    [i] = fake.add(1)
    firsts = iter([2.0, 29.0])  # the first looks: the slow watch's in 2 s, the fast one's in 29 s
    monkeypatch.setattr(watcher_module.random, "uniform", lambda low, high: next(firsts))
    plans = 0

    def counted(operations: Any, **options: Any) -> Any:
        nonlocal plans
        plans += 1
        return plan_requests(operations, **options)

    monkeypatch.setattr(watcher_module.OperationWatcher, "planner", staticmethod(counted))
    connection = await connect()
    [slow] = register_with(connection, [i], interval=300.0)
    [fast] = register_with(connection, [i], interval=30.0)

    outcomes = await asyncio.gather(next_of(slow), next_of(fast))
    close_all([slow, fast])

    assert [o.id for o in outcomes if isinstance(o, Operation)] == [i, i]
    assert fake.gets == [i]
    assert plans <= 3  # the look, then the plan that sleeps until the next one


async def test_malformed_list_items_are_skipped_each_on_its_own(fake: FakeApi) -> None:
    """Whatever a listing holds, one item never fails the others: ids of another type, ids longer
    than any the watcher knows, items that are not objects. A watched operation whose item is
    malformed is read with a GET instead."""
    ids = fake.add(4)
    fake.junk = [
        {"id": ["x"], "status": "PROCESSING"},
        {"id": {"nested": 1}},
        {"id": 7},
        "an operation",
        None,
        {"id": ids[0] + "0123456789", "status": "PROCESSING"},
        {"status": "PROCESSING"},
    ]
    malformed = ids[3]
    fake.ops[malformed]["status"] = "DONE?"  # listed as such; its GET says what is wrong
    watches = await register(ids)

    outcomes = await asyncio.gather(*(next_of(w) for w in watches))
    close_all(watches)

    assert [o.id for o in outcomes[:3] if isinstance(o, Operation)] == ids[:3]
    assert len(fake.lists) == 1
    assert fake.gets == [malformed]
    error = outcomes[3]
    assert isinstance(error, TwilioPushError)
    assert str(error).startswith(
        f"Twilio Push API answered 200 to GET {LIST_PATH}/{malformed} with JSON that is not a valid "
        "Operation: status: Input should be 'SCHEDULED', 'PROCESSING', 'COMPLETED' or 'CANCELED'"
    )


async def test_creation_times_without_an_offset_are_read_as_utc(fake: FakeApi) -> None:
    """Operations whose listing states createdAt without an offset join those whose creation time
    the trigger knew (aware): the windows compare them all."""
    ids = fake.add(4)
    for i in ids:
        fake.ops[i]["createdAt"] = "2026-11-30T09:30:00"
        fake.ops[i]["updatedAt"] = "2026-11-30T09:30:01"
    connection = await connect()
    known = register_with(connection, ids[:2], interval=0.5)
    unknown = register_with(connection, ids[2:], interval=0.5, created=False)
    watches = [*known, *unknown]

    for _ in range(2):
        outcomes = await asyncio.gather(*(next_of(w) for w in watches))
        assert all(isinstance(o, Operation) for o in outcomes), outcomes
    close_all(watches)

    # The first sweep (for the known ones) showed the others too, and told their creation times.
    assert fake.gets == []
    assert len(fake.lists) >= 2


async def test_a_wrong_creation_time_is_corrected_by_the_api(fake: FakeApi) -> None:
    """A trigger row written by hand or by an older version may carry a wrong created_at: the
    sweeps miss the operations, their GETs say when they were created, and sweeps find them
    from then on, instead of a GET each every interval."""
    ids = fake.add(3)
    connection = await connect()
    hook, settings = connection
    wrong = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    watches = [
        watch_operation(hook, settings, i, interval=INTERVAL, end_time=None, created_at=wrong) for i in ids
    ]

    for _ in range(4):
        await asyncio.gather(*(next_of(w) for w in watches))
    close_all(watches)

    assert sorted(fake.gets) == ids  # once each
    assert fake.lists[0]["startDate"] == "2026-11-27T09:29:59Z"
    assert all(params["startDate"] == "2026-11-30T09:29:59Z" for params in fake.lists[1:])


async def test_a_get_that_dies_of_a_bug_ends_its_trigger_with_an_error(fake: FakeApi) -> None:
    ids = fake.add(2)
    fake.get_bugs[ids[0]] = RuntimeError("boom")
    [other] = await register(ids[1:])
    trigger = TwilioPushOperationTrigger(ids[0], poll_interval=INTERVAL)

    payload = await single_event(trigger, limit=5)
    served = await next_of(other)  # the watcher serves the others on
    other.close()

    assert payload["status"] == "error"
    assert payload["message"] == (
        f"Could not watch operation {ids[0]}: The operation watcher failed: RuntimeError: boom"
    )
    assert isinstance(served, Operation)
    assert served.id == ids[1]


async def test_a_bug_of_the_watcher_ends_every_trigger_with_an_error(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = fake.add(2)

    def broken(operations: Any, **options: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(watcher_module.OperationWatcher, "planner", staticmethod(broken))
    [watch] = await register(ids[:1])
    trigger = TwilioPushOperationTrigger(ids[1], poll_interval=INTERVAL)

    payload = await single_event(trigger, limit=5)
    outcome = await next_of(watch)
    watch.close()

    assert payload["status"] == "error"
    assert payload["message"] == (
        f"Could not watch operation {ids[1]}: The operation watcher failed: ZeroDivisionError: division by zero"
    )
    assert isinstance(outcome, TwilioPushError)
    assert str(outcome) == "The operation watcher failed: ZeroDivisionError: division by zero"
    assert fake.gets == []
    assert fake.lists == []


async def test_an_observation_older_than_the_last_one_taken_is_ignored(fake: FakeApi) -> None:
    """A GET that began before a sweep but answers after it brings older news: the watch keeps the
    sweep's, and its next look is an interval after the sweep, not after the GET began."""
    hook, _ = await connect()
    loop = asyncio.get_running_loop()
    watcher = watcher_module.OperationWatcher((loop, ("base", "login", "digest")), hook)
    watch = Watch(watcher, op_id(0), 10.0, None)
    older = Operation.model_validate({"id": op_id(0), "status": "PROCESSING"})
    newer = Operation.model_validate({"id": op_id(0), "status": "COMPLETED"})

    watch.offer(newer, 100.0)
    watch.offer(older, 99.0)

    assert await next_of(watch) == newer
    assert watch.due_at == 110.0
