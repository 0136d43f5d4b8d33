"""Event triggers share the triggerer's event loop too: their sweeps (1,000 operations a page,
parsed and compared) never block it. The check is the one of test_twilio_push_trigger_event_loop.py."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationEventTrigger

from . import test_twilio_push_trigger_event_loop as loop_check
from .test_operation_event_trigger import LIST, MemoryStateStore, sweeps_done, watch
from .test_twilio_push_trigger_event_loop import (
    SlowCallbacks,
    assert_nothing_blocked,
    debug_the_loop,
    warm_up_the_process,
)

pytestmark = pytest.mark.timeout(120)

slow_callbacks = loop_check.slow_callbacks  # the fixture

OPERATIONS = 1500


async def test_event_triggers_sweeping_a_busy_account_never_block_the_loop(
    twilio_push_emulator: EmulatorHandle, slow_callbacks: SlowCallbacks
) -> None:
    """Ten event triggers sweep 1,500 operations (two pages each) through faults until all finish."""
    control = twilio_push_emulator.control
    control.freeze()
    for _ in range(OPERATIONS):
        control.create_operation(total=10, duration=10)
    control.set_faults(rate_503=0.1, rate_malformed=0.05, retry_after=0, routes=[LIST])
    await asyncio.to_thread(warm_up_the_process, twilio_push_emulator, ca_bundle=True)
    debug_the_loop()

    watchings = [
        watch(TwilioPushOperationEventTrigger(poll_interval=0.2), MemoryStateStore()) for _ in range(10)
    ]
    await sweeps_done(control, 20, limit=60)
    await asyncio.to_thread(control.advance, 20)
    for watching in watchings:
        assert len(await watching.until(OPERATIONS, limit=60)) == OPERATIONS
    for watching in watchings:
        await watching.stop()

    assert_nothing_blocked(slow_callbacks)
