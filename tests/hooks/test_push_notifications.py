"""TwilioPushHook.list_push_notifications / iter_push_notifications and their async twins (issue 14).

Against the emulator: an operation's notifications, every filter, paging as for operations.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import PushNotification, PushNotificationPage, PushNotificationStatus

USER = "comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq8"
LIST_ROUTE = "GET /v1/PushNotifications"
TO = [
    {"token": "device-1", "provider": "FCM"},
    {"token": "fail-52134-gone", "provider": "APN"},
    {"token": "device-2", "provider": "APN"},
    {"token": "fail-52131-bad", "provider": "FCM"},
    {"userId": USER},
]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def hook(twilio_push_emulator: EmulatorHandle) -> AsyncIterator[TwilioPushHook]:
    twilio_push_emulator.control.set_defaults(duration=0)
    hook = TwilioPushHook(retry_backoff=0.001, retry_backoff_max=0.002)
    yield hook
    await hook.aclose()


async def list_page(hook: TwilioPushHook, mode: str, **filters: Any) -> PushNotificationPage:
    if mode == "sync":
        return hook.list_push_notifications(**filters)
    return await hook.alist_push_notifications(**filters)


async def iterate(hook: TwilioPushHook, mode: str, **filters: Any) -> list[PushNotification]:
    if mode == "sync":
        return list(hook.iter_push_notifications(**filters))
    return [notification async for notification in hook.aiter_push_notifications(**filters)]


async def test_an_operations_failed_recipients(hook: TwilioPushHook, mode: str) -> None:
    operation_id = hook.send_push_notifications(TO, {"body": "Hi"}, tags={"campaign": "spring"})

    failed = await iterate(hook, mode, operation_id=operation_id, status="failed")

    assert [(n.to.token, n.to.provider) for n in failed] == [
        ("fail-52134-gone", "APN"),
        ("fail-52131-bad", "FCM"),
    ]
    assert {n.status for n in failed} == {PushNotificationStatus.FAILED}
    everything = await iterate(hook, mode, operation_id=operation_id)
    assert len(everything) == 5
    assert [n.to.user_id for n in everything if n.to.user_id] == [USER]
    errors = hook.get_operation_errors(operation_id)
    assert [e.push_notification_id for e in errors] == [n.id for n in failed]


async def test_every_filter_reaches_the_api(
    twilio_push_emulator: EmulatorHandle, hook: TwilioPushHook, mode: str
) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    before = hook.send_push_notifications(TO, {"body": "Hi"}, tags={"campaign": "winter"})
    control.advance(3600)
    start = control.clock()["now"]
    spring = hook.send_push_notifications(TO, {"body": "Hi"}, tags={"campaign": "spring", "ab": "B"})

    async def ids(**filters: Any) -> list[str]:
        return [n.id for n in await iterate(hook, mode, **filters)]

    spring_ids = await ids(operation_id=spring)
    assert await ids(tags={"campaign": "spring", "ab": "B"}) == spring_ids
    assert await ids(tags="campaign:spring;") == spring_ids
    assert await ids(start_date=start) == spring_ids
    assert await ids(end_date=start) == await ids(operation_id=before)
    assert len(await ids(user=USER)) == 2
    apn = await iterate(hook, mode, provider="apn", operation_id=spring)
    assert {n.to.token for n in apn if n.to.token} == {"fail-52134-gone", "device-2"}
    assert await ids(status=PushNotificationStatus.SENT, operation_id=spring, provider="FCM") == [
        n.id for n in await iterate(hook, mode, operation_id=spring) if n.to.token == "device-1"
    ]


async def test_pages_and_max_items(
    twilio_push_emulator: EmulatorHandle, hook: TwilioPushHook, mode: str
) -> None:
    operation_id = twilio_push_emulator.control.create_operation(total=25, duration=0)["id"]

    first = await list_page(hook, mode, operation_id=operation_id, page_size=10)
    assert len(first.push_notifications) == 10
    assert first.next_page_token
    second = await list_page(
        hook, mode, operation_id=operation_id, page_size=10, page_token=first.next_page_token
    )
    assert {n.id for n in first.push_notifications}.isdisjoint(n.id for n in second.push_notifications)

    control = twilio_push_emulator.control
    before = control.request_count(LIST_ROUTE)
    assert len(await iterate(hook, mode, operation_id=operation_id, page_size=10)) == 25
    assert control.request_count(LIST_ROUTE) - before == 3
    before = control.request_count(LIST_ROUTE)
    assert len(await iterate(hook, mode, operation_id=operation_id, page_size=10, max_items=12)) == 12
    assert control.request_count(LIST_ROUTE) - before == 2


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (
            {"status": "DELIVERED"},
            "Invalid status 'DELIVERED': expected one of SCHEDULED, QUEUED, SENT, FAILED, CANCELED.",
        ),
        ({"provider": "GCM"}, "Invalid provider 'GCM': expected one of FCM, APN."),
        (
            {"user": "ann"},
            "Invalid user 'ann': expected a user id like 'comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq8'.",
        ),
        ({"tags": "campaign=spring"}, "Invalid tags 'campaign=spring': expected a dict such as"),
        (
            {"tags": {"campaign": "two words"}},
            "Invalid value of tag 'campaign': 'two words'; expected 1 to 256 of",
        ),
        ({"operation_id": "op_1"}, "Invalid operation_id 'op_1'"),
        ({"page_size": 0}, "Invalid page_size 0: expected an integer from 1 to 1000."),
        ({"start_date": "2024-01-16T00:00:00Z", "end_date": "2024-01-15T00:00:00Z"}, "is after end_date"),
        ({"page_token": ""}, "Invalid page_token ''"),
    ],
)
async def test_bad_filters_send_nothing(
    twilio_push_emulator: EmulatorHandle,
    hook: TwilioPushHook,
    mode: str,
    filters: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        await list_page(hook, mode, **filters)
    assert message in str(caught.value)
    assert twilio_push_emulator.control.counters()["total"] == 0


@pytest.mark.parametrize(
    "method", ["list_push_notifications", "iter_push_notifications", "alist_push_notifications"]
)
async def test_an_unknown_filter_is_named_with_the_filters_there_are(
    twilio_push_emulator: EmulatorHandle, hook: TwilioPushHook, method: str
) -> None:
    async def call() -> None:
        result = getattr(hook, method)(operationId="comms_operation_01h9krwprkeee8fzqspvwy6nq8")
        if inspect.isawaitable(result):
            await result

    with pytest.raises(TypeError) as caught:
        await call()

    assert str(caught.value) == (
        f"TwilioPushHook.{method}() got an unexpected keyword argument 'operationId'; its filters are "
        "operation_id, status, tags, start_date, end_date, user, provider."
    )
    assert twilio_push_emulator.control.counters()["total"] == 0
