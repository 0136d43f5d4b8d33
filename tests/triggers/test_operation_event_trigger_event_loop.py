"""Event triggers share the triggerer's event loop too: their sweeps (1,000 operations a page,
parsed and compared) never block it. The check is the one of test_twilio_push_trigger_event_loop.py.

Each trigger here sweeps on its own (``run()``, as before Airflow 3.3): three sweeps of the account
at once."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationEventTrigger

from . import test_twilio_push_trigger_event_loop as loop_check
from .test_operation_event_trigger import LIST, MemoryStateStore, first_sweeps_done, watch
from .test_twilio_push_trigger_event_loop import (
    SlowCallbacks,
    assert_nothing_blocked,
    debug_the_loop,
    warm_up_the_process,
)

pytestmark = pytest.mark.timeout(120)

slow_callbacks = loop_check.slow_callbacks  # the fixture

OPERATIONS = 1500
TRIGGERS = 3


async def test_event_triggers_sweeping_a_busy_account_never_block_the_loop(
    twilio_push_emulator: EmulatorHandle, slow_callbacks: SlowCallbacks, caplog: pytest.LogCaptureFixture
) -> None:
    """Three event triggers sweep 1,500 operations (two pages each) through faults until all finish."""
    # pytest keeps each stdlib log record of a test for its report. Airflow 3.0 logs triggers (and
    # httpx its requests) through the stdlib at INFO: thousands of records the collections would walk.
    caplog.set_level(logging.WARNING)
    control = twilio_push_emulator.control
    control.freeze()
    for _ in range(OPERATIONS):
        control.create_operation(total=10, duration=10)
    control.set_faults(rate_503=0.1, rate_malformed=0.05, retry_after=0, routes=[LIST])
    await asyncio.to_thread(warm_up_the_process, twilio_push_emulator, ca_bundle=True)
    gc.freeze()  # what the warm-up imported belongs to the process, as the heap frozen before it
    # The loop's thread pool, as in a triggerer that has run a while: starting a thread waits for
    # the OS to schedule it (the hook builds its client after a to_thread; issue 15's tests cover
    # the first triggers of a process).
    await asyncio.gather(*(asyncio.to_thread(time.sleep, 0.05) for _ in range(16)))
    debug_the_loop()

    stores = [MemoryStateStore() for _ in range(TRIGGERS)]
    watchings = [watch(TwilioPushOperationEventTrigger(poll_interval=0.2), store) for store in stores]
    await first_sweeps_done(stores, limit=60)
    await asyncio.to_thread(control.advance, 20)
    for watching in watchings:
        assert len(await watching.until(OPERATIONS, limit=60)) == OPERATIONS
    for watching in watchings:
        await watching.stop()

    assert_nothing_blocked(slow_callbacks)
