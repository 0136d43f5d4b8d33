"""Fault injection: what a client sees for each kind, and what the counters say."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from airflow_provider_twilio_push.emulator.control import EmulatorControlError
from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .helpers import OPERATIONS, assert_error

GET_OP = "GET /v1/PushNotifications/Operations/{id}"
LIST = "GET /v1/PushNotifications/Operations"
SEND = "POST /v1/PushNotifications"
SEND_BODY = {"to": [{"token": "t", "provider": "FCM"}], "content": {"body": "Hi"}}


@pytest.fixture
def op_url(emulator: EmulatorHandle) -> str:
    return f"{OPERATIONS}/{emulator.control.create_operation()['id']}"


def test_429_carries_retry_after(emulator: EmulatorHandle, api: httpx.Client, op_url: str) -> None:
    emulator.control.set_faults(rate_429=1)
    response = api.get(op_url)
    assert_error(response, 429)
    assert response.headers["retry-after"] == "1"

    emulator.control.set_faults(rate_429=1, retry_after=7)
    assert api.get(op_url).headers["retry-after"] == "7"
    assert emulator.control.counters()["routes"] == {GET_OP: {"429": 2}}


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(emulator: EmulatorHandle, api: httpx.Client, op_url: str, status: int) -> None:
    emulator.control.set_faults(**{f"rate_{status}": 1}, retry_after=3)
    response = api.get(op_url)
    assert_error(response, status)
    # The contract: a 503 says when to retry; a 500 "should not be retried".
    assert response.headers.get("retry-after") == ("3" if status == 503 else None)
    assert_error(api.get(OPERATIONS), status)
    assert emulator.control.request_count(status=status) == 2
    assert emulator.control.request_count(status=200) == 0


def test_drop_closes_the_connection_without_an_answer(
    emulator: EmulatorHandle, api: httpx.Client, op_url: str
) -> None:
    emulator.control.set_faults(rate_drop=1)
    for _ in range(3):
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            api.get(op_url)
    assert emulator.control.counters()["routes"] == {GET_OP: {"dropped": 3}}
    emulator.control.clear_faults()
    assert api.get(op_url).status_code == 200  # the client reconnects


def test_malformed_bodies_are_not_json(emulator: EmulatorHandle, api: httpx.Client, op_url: str) -> None:
    emulator.control.set_faults(rate_malformed=1)
    kinds = set()
    for _ in range(12):
        response = api.get(op_url)
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
        kinds.add(response.headers["content-type"])
    assert kinds == {"application/json", "text/html"}  # truncated JSON and an HTML error page
    assert emulator.control.request_count(GET_OP, 200) == 12


def test_slow_answers_late(emulator: EmulatorHandle, api: httpx.Client, op_url: str) -> None:
    emulator.control.set_faults(rate_slow=1, slow_seconds=0.3)
    started = time.monotonic()
    assert api.get(op_url).status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        api.get(op_url, timeout=0.1)
    # Counted before the delay: also when the client gave up.
    assert emulator.control.request_count(GET_OP, 200) == 2


def test_rps_limit_answers_429_beyond_the_limit(
    emulator: EmulatorHandle, api: httpx.Client, op_url: str
) -> None:
    emulator.control.set_faults(rps_limit=2)
    started = time.monotonic()
    responses = [api.get(op_url) for _ in range(20)]
    refilled = 2 * (time.monotonic() - started)
    statuses = [response.status_code for response in responses]
    assert statuses[:2] == [200, 200]
    assert 2 <= statuses.count(200) <= 2 + refilled + 1  # a burst of 2, then what refills meanwhile
    limited = next(response for response in responses if response.status_code == 429)
    assert_error(limited, 429)
    assert limited.headers["retry-after"] == "1"
    assert emulator.control.request_count(GET_OP, 429) == statuses.count(429)
    time.sleep(0.55)  # one request's worth of tokens comes back in 0.5 s
    assert api.get(op_url).status_code == 200


def test_faults_can_be_scoped_to_routes(emulator: EmulatorHandle, api: httpx.Client, op_url: str) -> None:
    emulator.control.set_faults(rate_503=1, routes=[GET_OP])
    assert_error(api.get(op_url), 503)
    assert api.get(OPERATIONS).status_code == 200
    assert api.post("/v1/PushNotifications", json=SEND_BODY).status_code == 202
    assert emulator.control.request_count(LIST, 200) == 1
    assert emulator.control.request_count("/v1/PushNotifications/Operations/{id}") == 1


def test_fault_draws_are_deterministic_given_the_seed(emulator: EmulatorHandle, api: httpx.Client) -> None:
    def run() -> list[int]:
        emulator.control.reset()
        url = f"{OPERATIONS}/{emulator.control.create_operation()['id']}"
        emulator.control.set_faults(rate_500=0.3, rate_429=0.2)
        return [api.get(url).status_code for _ in range(30)]

    first = run()
    assert set(first) == {200, 429, 500}
    assert run() == first


def test_a_429_send_is_never_processed_but_a_500_send_is(emulator: EmulatorHandle, api: httpx.Client) -> None:
    control = emulator.control
    control.set_faults(rate_429=1)
    assert api.post("/v1/PushNotifications", json=SEND_BODY).status_code == 429
    control.set_faults(rate_503=1)
    assert api.post("/v1/PushNotifications", json=SEND_BODY).status_code == 503
    control.clear_faults()
    assert api.get(OPERATIONS).json()["operations"] == []

    # A 500 (or a dropped connection) may come after the send was accepted, as the docs warn.
    control.set_faults(rate_500=1)
    assert api.post("/v1/PushNotifications", json=SEND_BODY).status_code == 500
    control.set_faults(rate_drop=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.post("/v1/PushNotifications", json=SEND_BODY)
    control.clear_faults()
    assert len(api.get(OPERATIONS).json()["operations"]) == 2
    assert control.counters()["routes"][SEND] == {"429": 1, "503": 1, "500": 1, "dropped": 1}


def test_faults_never_touch_the_control_api_or_unauthenticated_requests(
    emulator: EmulatorHandle, op_url: str
) -> None:
    emulator.control.set_faults(rate_500=1)
    assert emulator.control.faults()["rate_500"] == 1
    assert emulator.control.create_operation()["status"] == "PROCESSING"
    assert_error(httpx.get(emulator.base_url + op_url, trust_env=False), 401)


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ({"rate_500": 1.5}, "rate_500 must be a number from 0 to 1"),
        ({"rate_500": 0.6, "rate_503": 0.6}, "must be at most 1"),
        ({"rate_drop": "often"}, "rate_drop must be a number"),
        ({"rate_teapot": 1}, "Unknown field(s) rate_teapot"),
        ({"routes": ["GET /v1/Nope"]}, "routes must be null or a list of some of"),
        ({"retry_after": 1.5}, "retry_after must be an integer"),
        ({"rps_limit": 0}, "rps_limit must be a number"),
        ({"skip": -1}, "skip must be an integer from 0 to"),
        ({"max_faults": 1.5}, "max_faults must be an integer from 0 to"),
    ],
)
def test_bad_faults_are_refused(emulator: EmulatorHandle, faults: dict[str, object], message: str) -> None:
    with pytest.raises(EmulatorControlError) as caught:
        emulator.control.set_faults(**faults)
    assert caught.value.status == 400
    assert message in caught.value.body["errors"][0]["message"]
    assert emulator.control.faults()["rate_500"] == 0


def test_faults_read_back_and_clear(emulator: EmulatorHandle) -> None:
    set_to = emulator.control.set_faults(rate_slow=0.5, slow_seconds=2, rps_limit=100, routes=[LIST])
    assert emulator.control.faults() == set_to
    assert (set_to["rate_slow"], set_to["slow_seconds"], set_to["rps_limit"], set_to["routes"]) == (
        0.5,
        2,
        100,
        [LIST],
    )
    cleared = emulator.control.clear_faults()
    assert cleared["rate_slow"] == 0
    assert cleared["rps_limit"] is None
    assert cleared["routes"] is None


def test_a_slow_send_is_accepted_even_if_the_client_gives_up(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    emulator.control.set_faults(rate_slow=1, slow_seconds=0.5, routes=[SEND])
    with pytest.raises(httpx.ReadTimeout):
        api.post("/v1/PushNotifications", json=SEND_BODY, timeout=0.1)
    assert len(api.get(OPERATIONS).json()["operations"]) == 1


def test_skip_and_max_faults_pick_which_requests_of_a_route_meet_the_fault(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    control = emulator.control
    # The third send is accepted but its answer is a 500; the sends before and after are not faulted.
    faults = control.set_faults(rate_500=1, routes=[SEND], skip=2, max_faults=1)
    assert (faults["skip"], faults["max_faults"]) == (2, 1)
    statuses = []
    for _ in range(5):
        statuses.append(api.post("/v1/PushNotifications", json=SEND_BODY).status_code)
        api.get(OPERATIONS)  # other routes neither meet the fault nor count towards skip
    assert statuses == [202, 202, 500, 202, 202]
    assert len(api.get(OPERATIONS).json()["operations"]) == 5
    assert control.counters()["routes"][SEND] == {"202": 4, "500": 1}


def test_max_faults_counts_only_the_requests_that_met_a_fault(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    emulator.control.set_faults(rate_503=0.5, max_faults=3)
    statuses = [api.get(OPERATIONS).status_code for _ in range(40)]
    assert statuses.count(503) == 3
    assert statuses[-10:] == [200] * 10
    emulator.control.set_faults(rate_503=1, max_faults=0)  # 0: never
    assert api.get(OPERATIONS).status_code == 200
