"""Helpers of the trigger tests (also used by the sensor tests' emulator runs)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

OPERATION_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
BASE_URL = "https://comms.twilio.com"
OPERATION_PATH = f"/v1/PushNotifications/Operations/{OPERATION_ID}"
TRIGGER_CLASSPATH = "airflow_provider_twilio_push.triggers.twilio_push.TwilioPushOperationTrigger"


async def run_trigger(trigger: BaseTrigger, *, limit: float = 15.0) -> list[TriggerEvent]:
    """Every event ``trigger.run()`` yields until the generator ends by itself (at most ``limit`` seconds)."""
    events: list[TriggerEvent] = []
    async with asyncio.timeout(limit):
        async for event in trigger.run():
            assert isinstance(event, TriggerEvent)
            events.append(event)
    return events


async def single_event(trigger: BaseTrigger, *, limit: float = 15.0) -> dict[str, Any]:
    """The payload of the one event the trigger emits; fails if it emits none or more than one."""
    events = await run_trigger(trigger, limit=limit)
    assert len(events) == 1, f"expected exactly one event, got {events!r}"
    payload: dict[str, Any] = events[0].payload
    return payload


def twilio_error(status: int, message: str, code: int, *, retry_after: str | None = None) -> httpx.Response:
    """An error answer with Twilio's (camelCase) error body."""
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    body = {
        "code": code,
        "message": message,
        "moreInfo": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return httpx.Response(status, json=body, headers=headers)


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start
