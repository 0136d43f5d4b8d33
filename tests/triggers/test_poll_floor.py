"""A poll interval of 0 (Airflow allows poke_interval=0) must not become a busy loop."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import respx

from airflow_provider_twilio_push.triggers.twilio_push import MIN_POLL_INTERVAL, TwilioPushOperationTrigger

OPERATION_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
URL = f"https://comms.twilio.com/v1/PushNotifications/Operations/{OPERATION_ID}"


@respx.mock
async def test_poll_interval_zero_is_floored(twilio_conn: dict[str, Any], make_operation: Any) -> None:
    polled = asyncio.Event()

    def answer(request: httpx.Request) -> httpx.Response:
        polled.set()
        return httpx.Response(200, json=make_operation())

    route = respx.get(URL).mock(side_effect=answer)
    trigger = TwilioPushOperationTrigger(OPERATION_ID, poll_interval=0)
    events = trigger.run()
    task = asyncio.ensure_future(events.__anext__())
    # The connection lookup comes first (in a thread, and slower, before Airflow 3.3.2).
    await asyncio.wait_for(polled.wait(), timeout=30)
    first = route.call_count
    await asyncio.sleep(1.0)
    polls = route.call_count - first
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # In one second at most 1 / MIN_POLL_INTERVAL polls (plus one); a busy loop makes hundreds.
    assert polls <= 1 / MIN_POLL_INTERVAL + 1
