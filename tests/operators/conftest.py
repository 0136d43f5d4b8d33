"""Shared by the operator tests: a task instance that records XCom, a mocked transport, fast hooks."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import respx

from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook

BASE_URL = "https://comms.twilio.com"
SEND_PATH = "/v1/PushNotifications"
OPS_PATH = "/v1/PushNotifications/Operations"
OPERATION_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"


class RecordingTI:
    """Stands in for the task instance of a context: records ``xcom_push``, answers ``xcom_pull``.

    Pushed values are deep-copied at push time (a later change of the dict does not show) and
    must survive a JSON round trip, as they would in Airflow's XCom table.
    """

    def __init__(self, upstream: dict[str, Any] | None = None) -> None:
        self.upstream = upstream or {}
        self.pushed: list[tuple[str, Any]] = []
        # What the chunk tags of the exactly-once sends are derived from.
        self.dag_id = "test_dag"
        self.run_id = "manual__2024-01-15T09:30:00+00:00"
        self.task_id = "send"
        self.map_index = -1
        self.try_number = 1

    def xcom_push(self, key: str, value: Any) -> None:
        assert json.loads(json.dumps(value)) == value, f"XCom {key!r} is not JSON-safe: {value!r}"
        self.pushed.append((key, copy.deepcopy(value)))

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        return self.upstream.get(task_ids) if key == "return_value" else None

    def xcom(self, key: str = "return_value") -> Any:
        """The one value pushed under ``key``."""
        values = [value for pushed_key, value in self.pushed if pushed_key == key]
        assert len(values) == 1, f"expected one XCom {key!r}, got {self.pushed!r}"
        return values[0]


@pytest.fixture
def ti() -> RecordingTI:
    return RecordingTI()


@pytest.fixture
def context(ti: RecordingTI) -> dict[str, Any]:
    return {"ti": ti, "task_instance": ti, "params": {}}


@pytest.fixture
def api_mock(twilio_conn: dict[str, Any]) -> Iterator[respx.MockRouter]:
    """The Comms API at its default URL, mocked; a request no route matches fails the test."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
def fast_hook() -> Callable[[Any], Any]:
    """Give an operator a hook whose retries wait about a millisecond (same connection)."""

    def fast(operator: Any) -> Any:
        operator.hook = TwilioPushHook(
            operator.twilio_push_conn_id, retry_backoff=0.001, retry_backoff_max=0.002
        )
        return operator

    return fast
