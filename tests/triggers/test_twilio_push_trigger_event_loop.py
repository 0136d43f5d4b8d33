"""Triggers share the triggerer's event loop: nothing they do may block it.

The loop runs in debug mode with ``slow_callback_duration = 0.05``, and the test fails on any
"Executing ... took ... seconds" warning of the ``asyncio`` logger that the code blocked for.

Debug mode measures wall-clock time, and a busy machine (this one runs several test suites at
once) preempts the loop's thread for tens of milliseconds: on Linux each warning is checked
against the thread's scheduler statistics (``/proc/thread-self/schedstat``), and the time the
thread spent *waiting for a CPU* is taken out. What remains is time spent running or blocked
(sleeping, sync I/O, waiting for the GIL): that must stay under the threshold. Without
schedstat, any warning fails the test.

Garbage collections are taken out too, and shown in the report: how long one takes depends on the
whole process and machine, not on the step it interrupts (the full collection of the event-trigger
test, a few thousand objects of the run, took 0.02 s in one run and 0.09 s in the next, on an idle
machine). The heap that exists before the run is frozen (``gc.freeze``), so that
collections only look at what the run allocates. What remains is the code's own time: sync I/O, a
sleep, or CPU work too long for one step.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

from airflow_provider_twilio_push.core.settings import _ssl_context, shared_ssl_context
from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

from .helpers import single_event

pytestmark = pytest.mark.timeout(60)

GET_OPERATION = "GET /v1/PushNotifications/Operations/{id}"
LIST_OPERATIONS = "GET /v1/PushNotifications/Operations"
SLOW_CALLBACK = 0.05
SCHEDSTAT = Path("/proc/thread-self/schedstat")


def read_schedstat() -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable but waiting for a CPU) of the calling thread."""
    try:
        on_cpu, waiting, _ = SCHEDSTAT.read_text().split()
    except (OSError, ValueError):
        return None
    return int(on_cpu) / 1e9, int(waiting) / 1e9


@dataclass
class Step:
    wall: float
    waiting_for_cpu: float | None
    garbage_collection: float


@dataclass
class SlowCallback:
    message: str
    step: Step | None

    @property
    def blocked(self) -> float | None:
        """Wall time minus time spent waiting for a CPU and collecting garbage; None if unknown."""
        if self.step is None or self.step.waiting_for_cpu is None:
            return None
        return self.step.wall - self.step.waiting_for_cpu - self.step.garbage_collection

    def describe(self) -> str:
        if self.step is None:
            return self.message
        waiting = self.step.waiting_for_cpu
        return (
            f"{self.message[:300]}... [wall {self.step.wall:.3f} s, waiting for a CPU "
            f"{'?' if waiting is None else f'{waiting:.3f}'} s, garbage collection "
            f"{self.step.garbage_collection:.3f} s]"
        )


class SlowCallbacks(logging.Handler):
    """Collects the ``asyncio`` logger's slow-callback warnings, each with the step it is about.

    ``Handle._run`` is wrapped to measure every callback; the loop logs its warning right after
    the callback returns, so the last measured step is the one the warning is about.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[SlowCallback] = []
        self.last: Step | None = None
        self.gc_seconds = 0.0
        self._gc_started = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_seconds += time.perf_counter() - self._gc_started

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing ") and " took " in message:
            self.found.append(SlowCallback(message, self.last))

    def blocking(self) -> list[SlowCallback]:
        return [slow for slow in self.found if slow.blocked is None or slow.blocked >= SLOW_CALLBACK]


@pytest.fixture
def slow_callbacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowCallbacks]:
    handler = SlowCallbacks()
    original_run = asyncio.events.Handle._run

    def measured_run(self: asyncio.events.Handle) -> None:
        before, gc_before, start = read_schedstat(), handler.gc_seconds, time.perf_counter()
        try:
            original_run(self)
        finally:
            wall = time.perf_counter() - start
            after = read_schedstat()
            waiting = None if before is None or after is None else after[1] - before[1]
            handler.last = Step(wall, waiting, handler.gc_seconds - gc_before)

    monkeypatch.setattr(asyncio.events.Handle, "_run", measured_run)
    logger = logging.getLogger("asyncio")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    gc.collect()
    gc.freeze()
    gc.callbacks.append(handler.on_gc)
    try:
        yield handler
    finally:
        gc.callbacks.remove(handler.on_gc)
        gc.unfreeze()
        logger.removeHandler(handler)
        logger.setLevel(level)


def debug_the_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK
    return loop


def assert_nothing_blocked(slow_callbacks: SlowCallbacks) -> None:
    blocking = slow_callbacks.blocking()
    assert blocking == [], "callbacks blocked the event loop:\n" + "\n".join(b.describe() for b in blocking)


@pytest.fixture
def operations(twilio_push_emulator: EmulatorHandle) -> list[str]:
    """Ten short operations, and faults on the way to them (set up before the loop runs)."""
    control = twilio_push_emulator.control
    control.set_faults(
        rate_429=0.05,
        rate_503=0.05,
        rate_malformed=0.05,
        retry_after=0,
        routes=[GET_OPERATION, LIST_OPERATIONS],
    )
    return [control.create_operation(total=100 * (i + 1), duration=1.0)["id"] for i in range(10)]


def warm_up_the_process(emulator: EmulatorHandle, *, ca_bundle: bool) -> None:
    """Pay, on another event loop, what only the first trigger of a triggerer process pays.

    Airflow's connection lookup imports its secrets machinery and asgiref the first time, and
    httpcore imports anyio on its first request: once per process, in Airflow's and httpx's code.
    With ``ca_bundle``, the provider's shared SSL context is loaded too; without, the triggers
    load it (the path of the first triggers of a process).
    """

    async def warm_up() -> None:
        conn = await get_async_connection(emulator.conn_id)
        await get_async_extra_dejson(conn)
        async with httpx.AsyncClient(trust_env=False) as client:
            await client.get(f"{emulator.base_url}/_emulator/info")

    asyncio.run(warm_up())
    _ssl_context.cache_clear()
    if ca_bundle:
        shared_ssl_context()


async def run_twenty_triggers(operations: list[str]) -> None:
    """Two triggers per operation, all at once, on this (new) loop: no client exists on it yet."""
    end_time = time.time() + 30
    triggers: list[Any] = [
        TwilioPushOperationTrigger(operation_id, "twilio_push_default", 0.1, end_time)
        for operation_id in operations
        for _ in range(2)
    ]
    payloads = await asyncio.gather(*(single_event(trigger, limit=30) for trigger in triggers))
    assert [payload["status"] for payload in payloads] == ["completed"] * 20
    assert [payload["operation"]["id"] for payload in payloads] == [op for op in operations for _ in range(2)]


async def test_concurrent_triggers_never_block_the_loop(
    twilio_push_emulator: EmulatorHandle, operations: list[str], slow_callbacks: SlowCallbacks
) -> None:
    """Twenty triggers poll through faults, the first ones creating the loop's shared client."""
    await asyncio.to_thread(warm_up_the_process, twilio_push_emulator, ca_bundle=True)
    loop = debug_the_loop()

    await run_twenty_triggers(operations)

    assert_nothing_blocked(slow_callbacks)
    assert loop.get_debug()


async def test_sweeps_through_thousands_of_operations_never_block_the_loop(
    twilio_push_emulator: EmulatorHandle, slow_callbacks: SlowCallbacks
) -> None:
    """Twenty triggers whose operations hide among 2,500 others: each sweep reads three pages of up
    to 1,000 operations, through faults."""
    control = twilio_push_emulator.control
    control.freeze()
    watched = [control.create_operation(total=10, duration=2.0) for _ in range(20)]
    await asyncio.to_thread(lambda: [control.create_operation(total=10, duration=3600) for _ in range(2500)])
    control.set_faults(rate_429=0.05, rate_503=0.05, retry_after=0, routes=[LIST_OPERATIONS])
    await asyncio.to_thread(warm_up_the_process, twilio_push_emulator, ca_bundle=True)
    control.unfreeze()
    debug_the_loop()
    end_time = time.time() + 30
    triggers = [
        TwilioPushOperationTrigger(op["id"], "twilio_push_default", 0.2, end_time, created_at=op["createdAt"])
        for op in watched
    ]

    payloads = await asyncio.gather(*(single_event(trigger, limit=30) for trigger in triggers))

    assert_nothing_blocked(slow_callbacks)
    assert [payload["status"] for payload in payloads] == ["completed"] * 20
    assert control.request_count(LIST_OPERATIONS, 200) >= 3
    assert control.request_count(GET_OPERATION) <= 1  # a trigger that found the watcher alone


async def test_first_triggers_of_a_process_never_block_the_loop(
    twilio_push_emulator: EmulatorHandle, operations: list[str], slow_callbacks: SlowCallbacks
) -> None:
    """As above, in a fresh process: the CA bundle is not loaded yet when twenty triggers start."""
    await asyncio.to_thread(warm_up_the_process, twilio_push_emulator, ca_bundle=False)
    debug_the_loop()

    await run_twenty_triggers(operations)

    assert_nothing_blocked(slow_callbacks)


async def test_the_check_catches_a_blocking_call(slow_callbacks: SlowCallbacks) -> None:
    """The check above is live: a 0.1 s ``time.sleep`` inside a task is reported as blocking."""
    debug_the_loop()

    async def blocking() -> None:
        time.sleep(0.1)  # noqa: ASYNC251

    await asyncio.create_task(blocking())

    [found] = slow_callbacks.blocking()
    assert "took" in found.message
    if found.blocked is not None:
        assert found.blocked >= 0.09


async def test_the_check_catches_cpu_work_too_long_for_one_step(slow_callbacks: SlowCallbacks) -> None:
    """CPU work counts (only waiting for a CPU and collecting garbage are taken out): building
    objects for 0.15 s of the thread's own CPU time in one step is reported as blocking."""
    debug_the_loop()

    async def busy() -> None:
        started = time.thread_time()
        while time.thread_time() - started < 0.15:
            [str(i) for i in range(1000)]

    await asyncio.create_task(busy())

    [found] = slow_callbacks.blocking()
    assert found.blocked is None or found.blocked >= 0.1
