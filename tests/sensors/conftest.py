"""Fixtures of the sensor tests: a connection that retries once, the mocked Comms API, captured logs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from airflow_provider_twilio_push.sensors.twilio_push import TwilioPushOperationSensor

BASE_URL = "https://comms.twilio.com"
OPERATION_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
OPERATION_PATH = f"/v1/PushNotifications/Operations/{OPERATION_ID}"


@pytest.fixture
def wire_operation(make_operation: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Wire JSON of the operation: ``wire_operation("COMPLETED", sent=3, queued=0)``."""

    def build(status: str = "PROCESSING", **stats: int) -> dict[str, Any]:
        operation = make_operation(status=status)
        operation["stats"].update(stats)
        return operation

    return build


@pytest.fixture
def op_response(wire_operation: Callable[..., dict[str, Any]]) -> Callable[..., httpx.Response]:
    """A 200 answer with the operation: ``op_response("COMPLETED", sent=3, queued=0)``."""

    def respond(status: str = "PROCESSING", **stats: int) -> httpx.Response:
        return httpx.Response(200, json=wire_operation(status, **stats))

    return respond


@pytest.fixture
def logs(
    airflow_logs: Callable[[Any], AbstractContextManager[list[dict[str, Any]]]],
) -> Iterator[list[dict[str, Any]]]:
    """What the sensor logged through ``self.log``: dicts with ``event`` and ``log_level``."""
    with airflow_logs(TwilioPushOperationSensor(task_id="logs", operation_id=OPERATION_ID).log) as entries:
        yield entries
