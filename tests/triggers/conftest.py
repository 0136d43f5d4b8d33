"""Fixtures of the trigger tests: a connection that retries once, the mocked Comms API, captured logs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.triggers.twilio_push import (
    TwilioPushOperationEventTrigger,
    TwilioPushOperationTrigger,
)

from .helpers import OPERATION_ID


@pytest.fixture
def op_response(make_operation: Callable[..., dict[str, Any]]) -> Callable[..., httpx.Response]:
    """A 200 answer with an operation: ``op_response("COMPLETED", sent=3, queued=0)``."""

    def respond(status: str = "PROCESSING", **stats: int) -> httpx.Response:
        operation = make_operation(status=status)
        operation["stats"].update(stats)
        return httpx.Response(200, json=operation)

    return respond


@pytest.fixture
def logs(
    airflow_logs: Callable[[Any], AbstractContextManager[list[dict[str, Any]]]],
) -> Iterator[list[dict[str, Any]]]:
    """What the trigger logged through ``self.log``: dicts with ``event`` (the formatted message) and
    ``log_level``."""
    with airflow_logs(TwilioPushOperationTrigger(operation_id=OPERATION_ID).log) as entries:
        yield entries


@pytest.fixture
def event_logs(
    airflow_logs: Callable[[Any], AbstractContextManager[list[dict[str, Any]]]],
) -> Iterator[list[dict[str, Any]]]:
    """What the event trigger logged through ``self.log``, as ``logs`` has it."""
    with airflow_logs(TwilioPushOperationEventTrigger().log) as entries:
        yield entries


@pytest.fixture
def closed_hooks(monkeypatch: pytest.MonkeyPatch) -> list[TwilioPushHook]:
    """Records each TwilioPushHook whose ``aclose()`` ran (and still runs it)."""
    closed: list[TwilioPushHook] = []
    original = TwilioPushHook.aclose

    async def aclose(self: TwilioPushHook) -> None:
        closed.append(self)
        await original(self)

    monkeypatch.setattr(TwilioPushHook, "aclose", aclose)
    return closed
