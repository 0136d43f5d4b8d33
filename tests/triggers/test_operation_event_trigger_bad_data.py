"""The event trigger against untrusted list items, mocked at the transport (respx): one malformed
item, a date-time without an offset or an id longer than expected never fails the others."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationEventTrigger

from .test_operation_event_trigger import MemoryStateStore, Watching, eventually, ids, watch

pytestmark = pytest.mark.timeout(60)

LIST_PATH = "/v1/PushNotifications/Operations"
POLL = 0.05


def op_id(i: int) -> str:
    return f"comms_operation_01h9krwprkeee8fzqspvwy{i:04d}"


class FakeList:
    """The operations list (with its status and startDate filters) and GET over ``ops``; every
    listing starts with ``junk``."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.ops: dict[str, dict[str, Any]] = {}
        self.junk: list[Any] = []
        self.lists = 0
        router.get(LIST_PATH).mock(side_effect=self._list)
        router.get(path__regex=rf"^{LIST_PATH}/(?P<operation_id>[^/]+)$").mock(side_effect=self._get)

    def add(self, i: int, status: str, created: datetime) -> str:
        self.ops[op_id(i)] = {
            "id": op_id(i),
            "status": status,
            "stats": {"total": 2, "sent": 2 if status == "COMPLETED" else 0},
            "createdAt": created.strftime("%Y-%m-%dT%H:%M:%S"),  # no offset: UTC
            "updatedAt": created.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        return op_id(i)

    def _list(self, request: httpx.Request) -> httpx.Response:
        self.lists += 1
        params = request.url.params
        start = params.get("startDate", "")
        listed = [
            o
            for o in self.ops.values()
            if params.get("status", o["status"]) == o["status"] and o["createdAt"] + "Z" >= start
        ]
        return httpx.Response(
            200, json={"operations": self.junk + listed, "pagination": {"next": None, "self": ""}}
        )

    def _get(self, request: httpx.Request, operation_id: str) -> httpx.Response:
        if operation_id not in self.ops:
            return httpx.Response(404, json={"errors": [{"code": 20404, "message": "Not found"}]})
        return httpx.Response(200, json=self.ops[operation_id])


@pytest.fixture
def fake(api: respx.MockRouter) -> FakeList:
    return FakeList(api)


@pytest.fixture
def logs(
    airflow_logs: Callable[[Any], AbstractContextManager[list[dict[str, Any]]]],
) -> Iterator[list[dict[str, Any]]]:
    """What the event trigger logged through ``self.log``."""
    with airflow_logs(TwilioPushOperationEventTrigger().log) as entries:
        yield entries


async def test_malformed_list_items_are_skipped_each_on_its_own(
    fake: FakeList, logs: list[dict[str, Any]]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    running = fake.add(1, "PROCESSING", now - timedelta(days=2))
    fake.junk = [
        {"id": ["x"], "status": "PROCESSING"},
        {"id": 7, "status": "COMPLETED"},
        "an operation",
        None,
        {"id": op_id(1) + "0123456789abcdef", "status": "PROCESSING"},
        {"id": op_id(9), "status": "DONE?"},
    ]
    store = MemoryStateStore()
    watching: Watching = watch(TwilioPushOperationEventTrigger(poll_interval=POLL), store)
    await eventually(lambda: store.writes > 0)
    fake.ops[running]["status"] = "COMPLETED"
    new = fake.add(2, "COMPLETED", now + timedelta(seconds=5))

    payloads = await watching.until(2)
    await eventually(lambda: fake.lists >= 12)
    await watching.stop()

    assert sorted(ids(payloads)) == sorted([running, new])
    assert len(watching.payloads) == 2
    by_id = {payload["id"]: payload for payload in payloads}
    assert by_id[running]["createdAt"] == fake.ops[running]["createdAt"] + "Z"  # read as UTC
    skipped = {entry["event"] for entry in logs if entry["event"].startswith("Skipped an operation")}
    prefix = "Skipped an operation of the list that is not valid"
    assert skipped == {
        f"{prefix} (id ['x']): id: Input should be a valid string",
        f"{prefix} (id 7): id: Input should be a valid string",
        f"{prefix} (id None): the item: Input should be a valid dictionary or instance of Operation",
        f"{prefix} (id '{op_id(9)}'): status: Input should be 'SCHEDULED', 'PROCESSING', 'COMPLETED' or 'CANCELED'",
    }
    assert all(entry["log_level"] == "warning" for entry in logs if entry["event"] in skipped)
