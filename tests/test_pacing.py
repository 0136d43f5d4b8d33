"""One request pacer per account and process: spacing, the shared 429 pause, threads."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_twilio_push.core.pacing import RequestPacer, pacer_for
from airflow_provider_twilio_push.core.settings import ConnectionSettings
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError, TwilioPushRateLimitedError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook

OPERATION_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
PATH = f"https://comms.twilio.com/v1/PushNotifications/Operations/{OPERATION_ID}"


def test_requests_are_spaced_by_the_rate() -> None:
    pacer = RequestPacer(max_requests_per_second=10)
    assert [round(pacer.book_slot(now=100.0), 3) for _ in range(3)] == [0.0, 0.1, 0.2]
    assert pacer.book_slot(now=200.0) == 0.0  # an idle pacer does not bank slots


def test_without_a_rate_only_a_pause_delays() -> None:
    pacer = RequestPacer()
    assert pacer.book_slot(now=10.0) == 0.0
    assert pacer.book_slot(now=10.0) == 0.0
    pacer.pause(2.0, now=10.0)
    assert pacer.book_slot(now=10.5) == 1.5
    pacer.pause(0.5, now=10.5)  # a shorter pause never shortens a longer one
    assert pacer.book_slot(now=11.0) == 1.0


def set_connection(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
    conn = {"conn_type": "twilio_push", "login": "ACx", "password": "pw", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_TWILIO_PUSH_DEFAULT", json.dumps(conn))


@respx.mock
def test_a_429_pauses_every_hook_of_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, max_retries=0)
    respx.get(PATH).mock(return_value=httpx.Response(429, headers={"Retry-After": "1"}))
    first = TwilioPushHook()
    with pytest.raises(TwilioPushRateLimitedError):
        first.get_operation(OPERATION_ID)
    other = TwilioPushHook()
    # The other hook shares the pacer: its next request would wait out most of the Retry-After.
    assert pacer_for(other.get_settings()) is pacer_for(first.get_settings())
    assert 0 < pacer_for(other.get_settings()).book_slot() <= 1.0


@respx.mock
async def test_max_requests_per_second_spaces_concurrent_requests(
    monkeypatch: pytest.MonkeyPatch, make_operation: Any
) -> None:
    set_connection(monkeypatch, max_requests_per_second=20)
    sent_at: list[float] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.monotonic())
        return httpx.Response(200, json=make_operation())

    respx.get(PATH).mock(side_effect=record)
    hook = TwilioPushHook()
    assert (await hook.aget_settings()).max_requests_per_second == 20.0
    started = time.monotonic()
    await asyncio.gather(*(hook.aget_operation(OPERATION_ID) for _ in range(5)))
    await hook.aclose()
    assert len(sent_at) == 5
    # Sent together, the n-th went out no sooner than n slots of 50 ms after they started: a bound
    # load cannot break (a late request narrows the gap to the next one, never moves it earlier).
    after = [at - started for at in sorted(sent_at)]
    assert all(at >= n * 0.05 - 0.001 for n, at in enumerate(after)), after


@pytest.mark.parametrize("value", [0, -1, "fast", True])
def test_invalid_max_requests_per_second(monkeypatch: pytest.MonkeyPatch, value: object) -> None:
    set_connection(monkeypatch, max_requests_per_second=value)
    with pytest.raises(TwilioPushInvalidInputError) as excinfo:
        TwilioPushHook().get_settings()
    assert str(excinfo.value) == (
        f"The connection 'twilio_push_default' has extra max_requests_per_second={value!r}: "
        "expected a number > 0."
    )


def set_named_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, login: str, **extra: Any) -> str:
    conn = {"conn_type": "twilio_push", "login": login, "password": "pw", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.mark.parametrize(("other_login", "paused"), [("ACsame", True), ("ACother", False)])
@respx.mock
def test_a_429_pauses_every_connection_to_the_same_account(
    monkeypatch: pytest.MonkeyPatch, make_operation: Any, other_login: str, paused: bool
) -> None:
    first = TwilioPushHook(set_named_connection(monkeypatch, "twilio_push_a", "ACsame", max_retries=0))
    other = TwilioPushHook(set_named_connection(monkeypatch, "twilio_push_b", other_login, max_retries=0))
    route = respx.get(PATH).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(200, json=make_operation()),
        ]
    )
    with pytest.raises(TwilioPushRateLimitedError):
        first.get_operation(OPERATION_ID)
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)

    other.get_operation(OPERATION_ID)

    assert route.call_count == 2
    # Another connection id to the same account (base URL and login) waits out the Retry-After.
    if paused:
        assert len(sleeps) == 1
        assert 0 < sleeps[0] <= 1.0
    else:
        assert sleeps == []


def test_threads_never_book_the_same_slot() -> None:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to expose a race
    pacer = RequestPacer(max_requests_per_second=1000)
    threads, per_thread = 8, 20_000
    booked: list[list[float]] = [[] for _ in range(threads)]

    def book(mine: list[float]) -> None:
        for _ in range(per_thread):
            mine.append(round(pacer.book_slot(now=0.0), 6))

    workers = [threading.Thread(target=book, args=(mine,)) for mine in booked]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(previous)
    slots = sorted(slot for mine in booked for slot in mine)
    assert slots == [round(n / 1000, 6) for n in range(threads * per_thread)]


def test_connections_to_one_account_share_a_pacer_at_the_lowest_rate_in_use() -> None:
    account = {"base_url": "https://comms.twilio.com", "username": "ACsame", "password": "pw"}
    fast = ConnectionSettings(conn_id="fast", max_requests_per_second=20, **account)
    slow = ConnectionSettings(conn_id="slow", max_requests_per_second=4, **account)
    unpaced = ConnectionSettings(conn_id="unpaced", **account)
    elsewhere = ConnectionSettings(conn_id="elsewhere", **{**account, "username": "ACother"})
    pacer = pacer_for(unpaced)

    assert pacer_for(fast) is pacer_for(slow) is pacer
    assert pacer_for(elsewhere) is not pacer
    release_fast, release_slow, release_unpaced = (
        pacer.use(s.max_requests_per_second) for s in (fast, slow, unpaced)
    )
    release_other_fast = pacer.use(fast.max_requests_per_second)
    release_elsewhere = pacer_for(elsewhere).use(elsewhere.max_requests_per_second)
    assert pacer.interval == 0.25
    assert pacer_for(elsewhere).interval == 0.0
    release_slow()
    release_slow()  # releasing twice releases once
    assert pacer.interval == 0.05
    release_fast()
    assert pacer.interval == 0.05  # the other user of the fast connection
    release_other_fast()
    release_unpaced()
    release_elsewhere()
    assert pacer.interval == 0.0


@respx.mock
async def test_a_slow_connection_no_longer_in_use_stops_slowing_its_account(
    monkeypatch: pytest.MonkeyPatch, make_operation: Any
) -> None:
    """A DAG's connection with a tiny budget paces the account while a hook of it is open, not
    for the life of the worker or triggerer."""
    respx.get(PATH).mock(return_value=httpx.Response(200, json=make_operation()))
    fast_id = set_named_connection(monkeypatch, "twilio_fast", "ACsame", max_requests_per_second=50)
    slow_id = set_named_connection(monkeypatch, "twilio_slow", "ACsame", max_requests_per_second=0.5)
    fast, slow = TwilioPushHook(fast_id), TwilioPushHook(slow_id)
    pacer = pacer_for(await fast.aget_settings())

    await fast.aget_operation(OPERATION_ID)
    assert pacer.interval == 0.02
    async with slow:
        slow.get_operation(OPERATION_ID)
        assert pacer.interval == 2.0
    assert pacer.interval == 0.02
    await fast.aclose()
    assert pacer.interval == 0.0
