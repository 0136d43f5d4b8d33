"""TwilioPushHook.send_push_notifications and its async twin (issue 6).

Against the emulator: a send makes an operation the hook can read and wait for. Against a mocked
transport (respx): where the operation id is read from, which failures are retried (only those
Twilio surely did not process), and validation that sends nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pendulum
import pytest
import respx
from contract.bodies import CLIENT_BAD_SENDS, CLIENT_SENDS, USER

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.exceptions import (
    TwilioErrorDetail,
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


@pytest.mark.parametrize("suffix", ["0123456789", "-v2", ".x_~"])
async def test_an_id_longer_than_usual_that_the_contract_accepts_is_read_and_read_back(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, suffix: str
) -> None:
    """The contract's OperationId pattern has no '$': a 202 may hold a longer id. The send's
    notifications went out: the id is returned, and the operation can be read with it."""
    longer = OP_ID + suffix
    api_mock.post(SEND_PATH).respond(202, json={"operationId": longer})
    api_mock.get(f"{OPS_PATH}/{longer}").respond(200, json={"id": longer, "status": "PROCESSING"})

    operation_id = await send(hook, mode, TO, CONTENT)
    operation = await get_operation(hook, mode, operation_id)

    assert operation_id == longer
    assert operation.id == longer


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
    in_a_day = pendulum.now("UTC").add(days=1).replace(microsecond=0)

    await send(
        hook,
        mode,
        (TO[0], {"token": "apn-token", "provider": "apn"}, {"userId": USER, "variables": {"name": "Jo"}}),
        {"title": "Hi", "body": "There {{name}}", "providerPassthrough": {"apn": {"aps": {"badge": 1}}}},
        from_="my_app",
        priority="low",
        sound="ding",
        schedule=in_a_day.in_timezone("Europe/Tallinn"),
        tags={"campaign": "spring", "cohort": "b.2"},
    )

    request = route.calls[0].request
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"].startswith("Basic ")
    assert sent_body(route) == {
        "to": [
            TO[0],
            {"token": "apn-token", "provider": "APN"},
            {"userId": USER, "variables": {"name": "Jo"}},
        ],
        "content": {
            "body": "There {{name}}",
            "title": "Hi",
            "providerPassthrough": {"apn": {"aps": {"badge": 1}}},
        },
        "from": {"appName": "my_app"},
        "priority": "LOW",
        "sound": "ding",
        "schedule": {"sendAt": [in_a_day.strftime("%Y-%m-%dT%H:%M:%SZ")]},
        "tags": {"campaign": "spring", "cohort": "b.2"},
    }


async def test_optional_arguments_left_out_are_not_sent(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)

    await send(hook, mode, TO, {"body": "only a body"})

    assert sent_body(route) == {"to": TO, "content": {"body": "only a body"}}


async def test_a_schedule_more_than_30_days_ahead_sends_nothing(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)
    too_late = pendulum.now("UTC").add(days=30, minutes=1)

    with pytest.raises(TwilioPushInvalidInputError, match="it is more than 30 days ahead"):
        await send(hook, mode, TO, CONTENT, schedule=too_late)
    await send(hook, mode, TO, CONTENT, schedule=too_late.subtract(minutes=2))
    assert route.call_count == 1


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


async def test_a_400_is_not_retried_and_names_every_error_twilio_listed(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    first = {
        "code": 21601,
        "message": "Invalid device token",
        "infoUrl": "https://www.twilio.com/docs/api/errors/21601",
        "context": "$.to[0].token",
    }
    second = {"code": 21602, "message": "Unknown App", "infoUrl": "https://x/21602", "context": "null"}
    route = api_mock.post(SEND_PATH).respond(400, json={"errors": [first, second]})

    with pytest.raises(TwilioPushBadRequestError) as caught:
        await send(hook, mode, TO, CONTENT)

    assert route.call_count == 1
    assert str(caught.value) == (
        f"Twilio Push API answered 400 Bad Request to POST {SEND_PATH}: Invalid device token (Twilio error "
        "21601, field $.to[0].token); Unknown App (Twilio error 21602)"
    )
    error = caught.value
    assert (error.code, error.twilio_message, error.more_info) == (
        21601,
        "Invalid device token",
        "https://www.twilio.com/docs/api/errors/21601",
    )
    assert error.errors == (
        TwilioErrorDetail(
            21601, "Invalid device token", "https://www.twilio.com/docs/api/errors/21601", "$.to[0].token"
        ),
        TwilioErrorDetail(21602, "Unknown App", "https://x/21602", None),
    )


# ---------------------------------------------------------------------------------------------
# Validation: nothing is sent


@pytest.mark.parametrize(
    ("kwargs", "message"),
    # The 30-day case is relative to the case's NOW; tested above against the real clock.
    [c[1:] for c in CLIENT_BAD_SENDS if c[0] != "schedule-more-than-30-days-ahead"],
    ids=[c[0] for c in CLIENT_BAD_SENDS if c[0] != "schedule-more-than-30-days-ahead"],
)
async def test_invalid_sends_make_no_request(
    hook: TwilioPushHook,
    api_mock: respx.MockRouter,
    mode: str,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    route = api_mock.post(SEND_PATH).respond(202, json=ACCEPTED)

    with pytest.raises(TwilioPushInvalidInputError) as caught:
        await send(hook, mode, **kwargs)

    assert str(caught.value) == message
    assert route.call_count == 0
    assert api_mock.calls.call_count == 0


@pytest.mark.parametrize(
    ("kwargs", "expected"), [c[1:] for c in CLIENT_SENDS], ids=[c[0] for c in CLIENT_SENDS]
)
async def test_the_emulator_accepts_every_body_the_hook_builds(
    twilio_push_emulator: EmulatorHandle,
    hook: TwilioPushHook,
    mode: str,
    kwargs: dict[str, Any],
    expected: Any,
) -> None:
    """Every form the hook accepts, the (independent) emulator accepts too."""
    operation_id = await send(hook, mode, **kwargs)

    assert OPERATION_ID_RE.fullmatch(operation_id)
    assert twilio_push_emulator.control.request_count(SEND_ROUTE, 202) == 1
    assert twilio_push_emulator.control.operation(operation_id)["operation"]["stats"]["total"] == len(
        expected["to"]
    )
