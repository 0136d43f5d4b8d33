"""TwilioPushHook.send_push_notifications and its async twin (issue 6).

Against the emulator: a send makes an operation the hook can read and wait for. Against a mocked
transport (respx): where the operation id is read from, which failures are retried (only those
Twilio surely did not process), and validation that sends nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pendulum
import pytest
import respx

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.exceptions import (
    TwilioPushBadRequestError,
    TwilioPushConnectionError,
    TwilioPushInvalidInputError,
    TwilioPushRateLimitedError,
    TwilioPushSendUncertainError,
)
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import OperationStatus

BASE_URL = "https://comms.twilio.com"
SEND_PATH = "/v1/PushNotifications"
SEND_ROUTE = "POST /v1/PushNotifications"
OPS_PATH = "/v1/PushNotifications/Operations"
OP_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
OTHER_ID = "comms_operation_01h9krwprkeee8fzqspvwy0002"
OPERATION_ID_RE = re.compile(r"comms_operation_[0-7][a-hjkmnpqrstv-z0-9]{25,34}")
TO = [{"token": "device-token-1", "provider": "FCM"}]
CONTENT = {"title": "Hello", "body": "World"}
ACCEPTED = {"operationId": OP_ID, "operationLocation": f"{BASE_URL}{OPS_PATH}/{OP_ID}"}
UNCERTAIN_ADVICE = (
    ". Twilio may have accepted this send anyway, so it was not retried (a retry could deliver the "
    "notifications twice). Check the recent operations (TwilioPushHook.list_operations(start_date=...)) "
    "before sending again."
)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def hook() -> AsyncIterator[TwilioPushHook]:
    """The default connection (set by twilio_conn or the emulator); retries wait about 1 ms."""
    hook = TwilioPushHook(retry_backoff=0.001, retry_backoff_max=0.002)
    yield hook
    await hook.aclose()


@pytest.fixture
def api_mock(twilio_conn: dict[str, Any]) -> Iterator[respx.MockRouter]:
    """The Comms API at its default URL, mocked; a request no route matches fails the test."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


async def send(hook: TwilioPushHook, mode: str, *args: Any, **kwargs: Any) -> str:
    if mode == "sync":
        return hook.send_push_notifications(*args, **kwargs)
    return await hook.asend_push_notifications(*args, **kwargs)


async def get_operation(hook: TwilioPushHook, mode: str, operation_id: str) -> Any:
    if mode == "sync":
        return hook.get_operation(operation_id)
    return await hook.aget_operation(operation_id)


def sent_body(route: respx.Route, call: int = -1) -> Any:
    return json.loads(route.calls[call].request.content)


# ---------------------------------------------------------------------------------------------
# Against the emulator


async def test_a_send_makes_an_operation_that_completes_with_the_stats_its_tokens_imply(
    twilio_push_emulator: EmulatorHandle, hook: TwilioPushHook, mode: str
) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    to = [
        {"token": "device-token-a", "provider": "FCM"},
        {"token": "device-token-b", "provider": "APN"},
        {"token": "device-token-c", "provider": "FCM"},
        {"token": "fail-52134-uninstalled", "provider": "APN"},
        {"token": "fail-52143-too-big", "provider": "FCM"},
        {"token": "unaddressable-no-device", "provider": "FCM"},
    ]

    operation_id = await send(hook, mode, to, CONTENT, tags={"campaign": "spring"}, priority="low")

    assert OPERATION_ID_RE.fullmatch(operation_id)
    accepted = await get_operation(hook, mode, operation_id)
    assert accepted.id == operation_id
    assert accepted.status is OperationStatus.PROCESSING
    assert (accepted.stats.total, accepted.stats.queued, accepted.stats.unaddressable) == (6, 5, 1)

    control.advance(60)
    done = await get_operation(hook, mode, operation_id)

    assert done.status is OperationStatus.COMPLETED
    assert done.stats.model_dump() == {
        "total": 6,
        "recipients": 6,
        "unaddressable": 1,
        "scheduled": 0,
        "queued": 0,
        "sent": 3,
        "failed": 2,
        "canceled": 0,
    }
    codes = sorted(error.code for error in hook.get_operation_errors(operation_id))
    assert codes == [52134, 52143]
    assert control.request_count(SEND_ROUTE) == 1


async def test_a_scheduled_send_waits_for_its_time(
    twilio_push_emulator: EmulatorHandle, hook: TwilioPushHook, mode: str
) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    send_at = pendulum.now("UTC").add(hours=2)  # the emulator's frozen clock is real time here

    operation_id = await send(hook, mode, TO * 3, CONTENT, schedule=send_at)

    scheduled = await get_operation(hook, mode, operation_id)
    assert scheduled.status is OperationStatus.SCHEDULED
    assert scheduled.stats.scheduled == 3
    control.advance(3 * 3600)
    done = await get_operation(hook, mode, operation_id)
    assert (done.status, done.stats.sent) == (OperationStatus.COMPLETED, 3)


async def test_a_send_is_listed_among_the_recent_operations(
    twilio_push_emulator: EmulatorHandle, hook: TwilioPushHook, mode: str
) -> None:
    # The check the uncertain-send message recommends must find the send.
    operation_id = await send(hook, mode, TO, CONTENT)

    assert [op.id for op in hook.list_operations(page_size=5).operations] == [operation_id]


async def test_a_503_from_the_emulator_is_sent_once(
    twilio_push_emulator: EmulatorHandle, hook: TwilioPushHook, mode: str
) -> None:
    control = twilio_push_emulator.control
    control.set_faults(rate_503=1.0, routes=[SEND_ROUTE])

    with pytest.raises(TwilioPushSendUncertainError) as caught:
        await send(hook, mode, TO, CONTENT)

    assert str(caught.value) == (
        f"Twilio Push API answered 503 Service Unavailable to POST {SEND_PATH}: Service Unavailable: try "
        f"again later (Twilio error 20503){UNCERTAIN_ADVICE}"
    )
    assert control.request_count(SEND_ROUTE) == 1


async def test_a_dropped_answer_from_the_emulator_is_not_retried(
    twilio_push_emulator: EmulatorHandle, hook: TwilioPushHook, mode: str
) -> None:
    control = twilio_push_emulator.control
    control.set_faults(rate_drop=1.0, routes=[SEND_ROUTE])

    with pytest.raises(TwilioPushSendUncertainError) as caught:
        await send(hook, mode, TO, CONTENT)

    assert str(caught.value).startswith(
        f"No answer from the Twilio Push API at {twilio_push_emulator.base_url} to POST {SEND_PATH}: "
    )
    assert str(caught.value).endswith(UNCERTAIN_ADVICE)
    assert control.request_count(SEND_ROUTE) == 1


async def test_429s_from_the_emulator_are_retried_then_given_up(
    twilio_push_emulator: EmulatorHandle, hook: TwilioPushHook, mode: str
) -> None:
    control = twilio_push_emulator.control
    control.set_faults(rate_429=1.0, retry_after=0, routes=[SEND_ROUTE])

    with pytest.raises(TwilioPushRateLimitedError) as caught:
        await send(hook, mode, TO, CONTENT)

    assert str(caught.value) == (
        f"Twilio Push API answered 429 Too Many Requests to POST {SEND_PATH}: Too Many Requests: slow "
        "down (Twilio error 20429) (gave up after 5 attempts)"
    )
    assert not isinstance(caught.value, TwilioPushSendUncertainError)  # surely not processed
    assert control.request_count(SEND_ROUTE, 429) == 5
    assert hook.list_operations().operations == []


# ---------------------------------------------------------------------------------------------
# Where the operation id comes from (mocked transport)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (ACCEPTED, {}),
        ({"operationId": OP_ID}, {}),
        ({"operationLocation": f"{BASE_URL}{OPS_PATH}/{OP_ID}/"}, {}),
        (None, {"operation-id": OP_ID}),
        ({}, {"Operation-Location": f"{BASE_URL}{OPS_PATH}/{OP_ID}"}),
        ({}, {"Location": f"{BASE_URL}{OPS_PATH}/{OP_ID}"}),
        ("accepted", {"Location": f"{OPS_PATH}/{OP_ID}"}),
        ({"operationId": "", "status": "accepted"}, {"operation-id": OP_ID}),
        ({"operationId": "op-123"}, {"location": f"{BASE_URL}{OPS_PATH}/{OP_ID}"}),
        ({"operationId": f"{OP_ID}\n"}, {"location": f"{BASE_URL}{OPS_PATH}/{OP_ID}"}),
        ({"operationId": 42}, {"operation-id": OP_ID}),
    ],
    ids=[
        "body",
        "body-id-only",
        "body-location",
        "no-body-operation-id-header",
        "operation-location-header",
        "location-header",
        "text-body-relative-location",
        "empty-id-in-body",
        "not-an-id-in-body",
        "id-with-newline-in-body",
        "number-in-body",
    ],
)
async def test_the_operation_id_is_read_from_the_body_then_the_headers(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, body: Any, headers: dict[str, str]
) -> None:
    if body is None:
        response = httpx.Response(202, headers=headers)
    elif isinstance(body, str):
        response = httpx.Response(202, text=body, headers=headers)
    else:
        response = httpx.Response(202, json=body, headers=headers)
    route = api_mock.post(SEND_PATH).mock(return_value=response)

    assert await send(hook, mode, TO, CONTENT) == OP_ID
    assert route.call_count == 1


async def test_the_body_id_wins_over_the_headers(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    api_mock.post(SEND_PATH).respond(202, json={"operationId": OP_ID}, headers={"operation-id": OTHER_ID})

    assert await send(hook, mode, TO, CONTENT) == OP_ID


async def test_an_accepted_send_without_an_id_is_uncertain_and_not_retried(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).respond(202, json={"status": "accepted"})

    with pytest.raises(TwilioPushSendUncertainError) as caught:
        await send(hook, mode, TO, CONTENT)

    assert str(caught.value) == (
        f"Twilio Push API accepted POST {SEND_PATH} (202) but its answer holds no operation id (neither "
        "operationId in the body nor operation-id / Location headers). The notifications are probably "
        "being sent: do not send again before checking the recent operations "
        "(TwilioPushHook.list_operations)."
    )
    assert route.call_count == 1


async def test_the_request_carries_every_argument_in_wire_form(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)

    await send(
        hook,
        mode,
        (TO[0], {"token": "apn-token", "provider": "APN"}),
        {"title": "Hi", "body": "There", "sound": "ding"},
        from_="MyApp",
        priority="low",
        schedule=dt.datetime(2030, 1, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        tags={"campaign": "spring", "cohort": ""},
    )

    request = route.calls[0].request
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"].startswith("Basic ")
    assert sent_body(route) == {
        "to": [TO[0], {"token": "apn-token", "provider": "APN"}],
        "content": {"title": "Hi", "body": "There", "sound": "ding"},
        "from": "MyApp",
        "priority": "LOW",
        "schedule": {"sendAt": "2030-01-01T09:30:00Z"},
        "tags": {"campaign": "spring", "cohort": ""},
    }


async def test_optional_arguments_left_out_are_not_sent(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)

    await send(hook, mode, TO, {"body": "only a body"}, schedule="2030-01-01T09:30:00+00:00")

    assert sent_body(route) == {
        "to": TO,
        "content": {"body": "only a body"},
        "schedule": {"sendAt": "2030-01-01T09:30:00Z"},
    }


# ---------------------------------------------------------------------------------------------
# Retries: only what Twilio surely did not process


async def test_a_429_is_retried_then_succeeds(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).mock(
        side_effect=[
            httpx.Response(
                429, json={"code": 20429, "message": "Too Many Requests"}, headers={"Retry-After": "0"}
            ),
            httpx.Response(202, json=ACCEPTED),
        ]
    )

    assert await send(hook, mode, TO, CONTENT) == OP_ID
    assert route.call_count == 2
    assert sent_body(route, 0) == sent_body(route, 1)  # the same send, again


async def test_a_connect_error_is_retried_then_succeeds(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).mock(
        side_effect=[httpx.ConnectError("connection refused"), httpx.Response(202, json=ACCEPTED)]
    )

    assert await send(hook, mode, TO, CONTENT) == OP_ID
    assert route.call_count == 2


async def test_a_connect_timeout_is_retried_then_succeeds(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).mock(
        side_effect=[httpx.ConnectTimeout("timed out"), httpx.Response(202, json=ACCEPTED)]
    )

    assert await send(hook, mode, TO, CONTENT) == OP_ID
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("status", "reason"), [(503, "Service Unavailable"), (500, "Internal Server Error"), (502, "Bad Gateway")]
)
async def test_a_5xx_is_not_retried_and_is_uncertain(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, status: int, reason: str
) -> None:
    route = api_mock.post(SEND_PATH).mock(
        side_effect=[
            httpx.Response(status, json={"code": 20000 + status, "message": "Try later"}),
            httpx.Response(202, json=ACCEPTED),
        ]
    )

    with pytest.raises(TwilioPushSendUncertainError) as caught:
        await send(hook, mode, TO, CONTENT)

    assert route.call_count == 1
    assert str(caught.value) == (
        f"Twilio Push API answered {status} {reason} to POST {SEND_PATH}: Try later "
        f"(Twilio error {20000 + status}){UNCERTAIN_ADVICE}"
    )
    error = caught.value
    assert (error.http_status, error.code, error.path) == (status, 20000 + status, SEND_PATH)
    assert "may have accepted" in str(error)
    assert "list_operations" in str(error)


@pytest.mark.parametrize(
    ("fault", "name"),
    [
        (httpx.ReadTimeout("The read operation timed out"), "ReadTimeout (The read operation timed out)"),
        (httpx.WriteTimeout("write timed out"), "WriteTimeout (write timed out)"),
        (httpx.RemoteProtocolError("Server disconnected"), "RemoteProtocolError (Server disconnected)"),
        (httpx.ReadError("connection reset"), "ReadError (connection reset)"),
    ],
    ids=["read-timeout", "write-timeout", "disconnected", "read-error"],
)
async def test_a_lost_answer_is_not_retried_and_is_uncertain(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, fault: Exception, name: str
) -> None:
    route = api_mock.post(SEND_PATH).mock(side_effect=[fault, httpx.Response(202, json=ACCEPTED)])

    with pytest.raises(TwilioPushSendUncertainError) as caught:
        await send(hook, mode, TO, CONTENT)

    assert route.call_count == 1
    assert (
        str(caught.value)
        == f"No answer from the Twilio Push API at {BASE_URL} to POST {SEND_PATH}: {name}{UNCERTAIN_ADVICE}"
    )
    assert isinstance(caught.value.__cause__, TwilioPushConnectionError)


async def test_429s_without_end_give_up_with_a_rate_limit_error(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).respond(429, json={"code": 20429, "message": "Too Many Requests"})

    with pytest.raises(TwilioPushRateLimitedError) as caught:
        await send(hook, mode, TO, CONTENT)

    assert route.call_count == 5  # max_retries=4
    assert str(caught.value) == (
        f"Twilio Push API answered 429 Too Many Requests to POST {SEND_PATH}: Too Many Requests "
        "(Twilio error 20429) (gave up after 5 attempts)"
    )


async def test_connect_errors_without_end_give_up_with_a_connection_error(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).mock(side_effect=httpx.ConnectError("connection refused"))

    with pytest.raises(TwilioPushConnectionError) as caught:
        await send(hook, mode, TO, CONTENT)

    assert route.call_count == 5
    assert not isinstance(caught.value, TwilioPushSendUncertainError)  # it never reached Twilio
    assert str(caught.value) == (
        f"No answer from the Twilio Push API at {BASE_URL} to POST {SEND_PATH}: ConnectError (connection refused) "
        "(gave up after 5 attempts)"
    )


async def test_a_400_is_not_retried_and_says_what_twilio_said(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).respond(
        400, json={"code": 20001, "message": "to[0].provider must be one of FCM, APN", "status": 400}
    )

    with pytest.raises(TwilioPushBadRequestError) as caught:
        await send(hook, mode, TO, CONTENT)

    assert route.call_count == 1
    assert str(caught.value) == (
        f"Twilio Push API answered 400 Bad Request to POST {SEND_PATH}: to[0].provider must be one of FCM, "
        "APN (Twilio error 20001)"
    )


# ---------------------------------------------------------------------------------------------
# Validation: nothing is sent


NAIVE = dt.datetime(2030, 1, 1, 9, 0)
NAIVE_MESSAGE = (
    "Invalid schedule '2030-01-01T09:00:00': it has no timezone. Pass a timezone-aware datetime "
    "(e.g. pendulum.datetime(..., tz='UTC')) or an ISO string with an offset ('...Z')."
)
LONG_KEY = "k" * 129


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (
            ([], CONTENT),
            {},
            "Invalid to: 0 recipients; expected 1 to 10,000 per send (split larger audiences into several sends).",
        ),
        (
            (TO * 10_001, CONTENT),
            {},
            "Invalid to: 10,001 recipients; expected 1 to 10,000 per send (split larger audiences into several "
            "sends).",
        ),
        (
            (["device-token-1"], CONTENT),
            {},
            "Invalid to[0]: expected a recipient dict such as {'token': '...', 'provider': 'FCM'}, got str.",
        ),
        (
            ([TO[0], {}], CONTENT),
            {},
            "Invalid to[1]: expected a recipient dict such as {'token': '...', 'provider': 'FCM'}, got dict.",
        ),
        (
            ([{"token": "", "provider": "FCM"}], CONTENT),
            {},
            "Invalid to[0]: token must be a non-empty string.",
        ),
        (
            ([TO[0], {"token": "  ", "provider": "APN"}], CONTENT),
            {},
            "Invalid to[1]: token must be a non-empty string.",
        ),
        (
            ([{"token": 123, "provider": "FCM"}], CONTENT),
            {},
            "Invalid to[0]: token must be a non-empty string.",
        ),
        (
            ([{"token": "t", "provider": "GCM"}], CONTENT),
            {},
            "Invalid to[0]: provider 'GCM'; expected 'FCM' or 'APN'.",
        ),
        (
            ([{"token": "t", "provider": "fcm"}], CONTENT),
            {},
            "Invalid to[0]: provider 'fcm'; expected 'FCM' or 'APN'.",
        ),
        (
            ("device-token-1", CONTENT),
            {},
            "Invalid to: expected a list of recipients such as [{'token': '...', 'provider': 'FCM'}], got str.",
        ),
        (
            (TO[0], CONTENT),
            {},
            "Invalid to: expected a list of recipients such as [{'token': '...', 'provider': 'FCM'}], got dict.",
        ),
        (
            (None, CONTENT),
            {},
            "Invalid to: expected a list of recipients such as [{'token': '...', 'provider': 'FCM'}], "
            "got NoneType.",
        ),
        ((TO, None), {}, "Invalid content: expected a dict with a title and/or body, got NoneType."),
        ((TO, "Hello"), {}, "Invalid content: expected a dict with a title and/or body, got str."),
        ((TO, {}), {}, "Invalid content: it needs a non-empty 'title' or 'body' string."),
        ((TO, {"sound": "ding"}), {}, "Invalid content: it needs a non-empty 'title' or 'body' string."),
        (
            (TO, {"title": "", "body": ""}),
            {},
            "Invalid content: it needs a non-empty 'title' or 'body' string.",
        ),
        ((TO, {"title": 5}), {}, "Invalid content: it needs a non-empty 'title' or 'body' string."),
        (
            (TO, CONTENT),
            {"tags": {f"key{i}": "v" for i in range(11)}},
            "Invalid tags: 11 tags; expected at most 10.",
        ),
        (
            (TO, CONTENT),
            {"tags": {"attempt": 1}},
            "Invalid value of tag 'attempt': expected a string of at most 256 characters.",
        ),
        (
            (TO, CONTENT),
            {"tags": {"note": "x" * 257}},
            "Invalid value of tag 'note': expected a string of at most 256 characters.",
        ),
        (
            (TO, CONTENT),
            {"tags": {LONG_KEY: "v"}},
            f"Invalid tag key {LONG_KEY!r}: expected a string of 1 to 128 characters.",
        ),
        ((TO, CONTENT), {"tags": {"": "v"}}, "Invalid tag key '': expected a string of 1 to 128 characters."),
        ((TO, CONTENT), {"tags": {1: "v"}}, "Invalid tag key 1: expected a string of 1 to 128 characters."),
        ((TO, CONTENT), {"tags": "campaign=spring"}, "Invalid tags: expected a dict of strings, got str."),
        ((TO, CONTENT), {"priority": "URGENT"}, "Invalid priority 'URGENT': expected one of HIGH, LOW."),
        ((TO, CONTENT), {"priority": 1}, "Invalid priority 1: expected one of HIGH, LOW."),
        ((TO, CONTENT), {"schedule": NAIVE}, NAIVE_MESSAGE),
        ((TO, CONTENT), {"schedule": pendulum.naive(2030, 1, 1, 9)}, NAIVE_MESSAGE),
        ((TO, CONTENT), {"schedule": "2030-01-01T09:00:00"}, NAIVE_MESSAGE),
        (
            (TO, CONTENT),
            {"schedule": "next tuesday"},
            "Invalid schedule 'next tuesday': expected an ISO 8601 date-time such as '2024-01-15T09:30:00Z'.",
        ),
        (
            (TO, CONTENT),
            {"schedule": 1_893_488_400},
            "Invalid schedule 1893488400: expected a timezone-aware datetime or an ISO 8601 string.",
        ),
        ((TO, CONTENT), {"from_": ""}, "Invalid from_ '': expected a string or a dict."),
        ((TO, CONTENT), {"from_": 42}, "Invalid from_ 42: expected a string or a dict."),
    ],
    ids=[
        "to-empty",
        "to-10001",
        "recipient-a-string",
        "recipient-empty-dict",
        "token-empty",
        "token-blank",
        "token-not-a-string",
        "provider-unknown",
        "provider-lower-case",
        "to-a-string",
        "to-a-dict",
        "to-none",
        "content-missing",
        "content-a-string",
        "content-empty",
        "content-no-title-no-body",
        "content-blank-title-and-body",
        "content-title-not-a-string",
        "tags-11",
        "tag-value-not-a-string",
        "tag-value-too-long",
        "tag-key-too-long",
        "tag-key-empty",
        "tag-key-not-a-string",
        "tags-a-string",
        "priority-unknown",
        "priority-not-a-string",
        "schedule-naive-datetime",
        "schedule-naive-pendulum",
        "schedule-naive-iso-string",
        "schedule-not-iso",
        "schedule-a-timestamp",
        "from-empty",
        "from-a-number",
    ],
)
async def test_invalid_sends_make_no_request(
    hook: TwilioPushHook,
    api_mock: respx.MockRouter,
    mode: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    route = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)

    with pytest.raises(TwilioPushInvalidInputError) as caught:
        await send(hook, mode, *args, **kwargs)

    assert str(caught.value) == message
    assert route.call_count == 0
    assert api_mock.calls.call_count == 0


async def test_the_limits_themselves_are_accepted(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    to = [{"token": f"t{i}", "provider": "APN" if i % 2 else "FCM"} for i in range(10_000)]
    tags = {f"{i}".rjust(128, "k"): "v" * 256 for i in range(10)}

    await send(hook, mode, to, {"title": "t"}, tags=tags, priority="HIGH")

    body = sent_body(route)
    assert len(body["to"]) == 10_000
    assert body["tags"] == tags


async def test_the_emulator_agrees_with_what_the_hook_sends(
    twilio_push_emulator: EmulatorHandle, hook: TwilioPushHook, mode: str
) -> None:
    """Every option the hook accepts, the (independent) emulator accepts too."""
    operation_id = await send(
        hook,
        mode,
        [{"token": "t1", "provider": "FCM"}, {"token": "t2", "provider": "APN"}],
        {"title": "t", "body": "b", "sound": "default"},
        from_="MyApp",
        priority="low",
        schedule="2030-01-01T09:30:00+01:00",
        tags={"a": "b"},
    )

    assert OPERATION_ID_RE.fullmatch(operation_id)
    assert twilio_push_emulator.control.request_count(SEND_ROUTE, 202) == 1
