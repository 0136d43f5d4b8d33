"""Fixtures of the sensor tests: a connection that retries once, the mocked Comms API, captured logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

BASE_URL = "https://comms.twilio.com"
OPERATION_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
OPERATION_PATH = f"/v1/PushNotifications/Operations/{OPERATION_ID}"


@pytest.fixture
def fast_conn(twilio_conn: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``twilio_push_default`` with ``max_retries=1``: exhausting the hook's retries takes 2 requests."""
    conn = {**twilio_conn, "extra": {"max_retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_TWILIO_PUSH_DEFAULT", json.dumps(conn))
    return conn


@pytest.fixture
def api(fast_conn: dict[str, Any]) -> Iterator[respx.MockRouter]:
    """The Comms API, mocked at the transport; a request to any other route fails the test."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
def operation_route(api: respx.MockRouter) -> respx.Route:
    """``GET /v1/PushNotifications/Operations/{OPERATION_ID}``; give it a side_effect."""
    return api.get(OPERATION_PATH)


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
def logs() -> Iterator[list[dict[str, Any]]]:
    """What the code under test logged through structlog (Airflow's ``self.log``)."""
    with capture_logs() as captured:
        yield captured
