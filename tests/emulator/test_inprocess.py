"""Fine-grained checks on the ASGI app in process (httpx.ASGITransport), with a hand-driven clock."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_twilio_push.emulator import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, create_app
from airflow_provider_twilio_push.emulator.state import Clock, EmulatorState, round_half_up, ulid

from .helpers import OPERATION_ID_RE, OPERATIONS, assert_error


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_705_311_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def state(fake_time: FakeTime) -> EmulatorState:
    return EmulatorState(
        account_sid=DEFAULT_ACCOUNT_SID,
        auth_token=DEFAULT_AUTH_TOKEN,
        seed=3,
        base_url="http://127.0.0.1:9",
        clock=Clock(wall=fake_time, monotonic=fake_time),
    )


@pytest.fixture
async def client(state: EmulatorState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state))
    auth = (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator", auth=auth) as client:
        yield client


async def test_the_clock_follows_real_time_until_frozen(
    state: EmulatorState, fake_time: FakeTime, client: httpx.AsyncClient
) -> None:
    op = state.create_scenario(total=4, duration=4)
    fake_time.now += 2
    assert (await client.get(f"{OPERATIONS}/{op.id}")).json()["stats"]["sent"] == 2
    state.clock.freeze()
    fake_time.now += 100
    assert (await client.get(f"{OPERATIONS}/{op.id}")).json()["stats"]["sent"] == 2
    state.clock.unfreeze()
    fake_time.now += 1
    assert (await client.get(f"{OPERATIONS}/{op.id}")).json()["stats"]["sent"] == 3


async def test_in_process_a_dropped_connection_is_an_exception(
    state: EmulatorState, client: httpx.AsyncClient
) -> None:
    op = state.create_scenario()
    await client.put("/_emulator/faults", json={"rate_drop": 1})
    with pytest.raises(ConnectionAbortedError):
        await client.get(f"{OPERATIONS}/{op.id}")
    assert state.counters.to_json()["routes"] == {"GET /v1/PushNotifications/Operations/{id}": {"dropped": 1}}


async def test_the_location_comes_from_the_host_header_without_a_base_url(
    state: EmulatorState, client: httpx.AsyncClient
) -> None:
    state.base_url = None
    body = {"to": [{"token": "t", "provider": "APN"}], "content": {"body": "b"}}
    response = await client.post("/v1/PushNotifications", json=body)
    assert response.json()["operationLocation"].startswith(f"http://emulator{OPERATIONS}/comms_operation_")


def test_seeds_change_the_ids(fake_time: FakeTime) -> None:
    def ids(seed: int) -> list[str]:
        state = EmulatorState(account_sid="AC", auth_token="t", seed=seed, clock=Clock(fake_time, fake_time))
        return [state.create_scenario().id for _ in range(3)]

    assert ids(1) == ids(1)
    assert ids(1) != ids(2)
    assert all(OPERATION_ID_RE.fullmatch(op_id) for op_id in ids(1) + ids(2))


@given(timestamp=st.integers(0, 2**48 - 1), randomness=st.integers(0, 2**80 - 1))
def test_ulids_always_match_the_id_pattern(timestamp: int, randomness: int) -> None:
    assert OPERATION_ID_RE.fullmatch("comms_operation_" + ulid(timestamp, randomness))


def test_ratios_round_half_up() -> None:
    assert [round_half_up(x) for x in (0.5, 1.5, 2.5, 2.4999, 100 * 0.07)] == [1, 2, 3, 2, 7]


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    token=st.one_of(
        st.text(max_size=60), st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode())
    )
)
async def test_any_page_token_is_a_page_or_a_400_never_a_500(client: httpx.AsyncClient, token: str) -> None:
    for path in (OPERATIONS, f"{OPERATIONS}/comms_operation_01hm679ne04926xaz2sh56s3e0/Errors"):
        response = await client.get(path, params={"pageToken": token})
        assert response.status_code in (200, 400, 404), response.text
        if response.status_code == 400:
            assert_error(response, 400)


def _token(**fields: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        _token(kind="operations", pageSize="x", before=None, status=None, startDate=None, endDate=None),
        _token(kind="operations", pageSize=5, before=None, status=5, startDate=None, endDate=None),
        _token(kind="operations", pageSize=5, before=None, status=None, startDate="abc", endDate=None),
        _token(kind="operations", pageSize=5, before=[True, "x"], status=None, startDate=None, endDate=None),
        _token(kind="operations", pageSize=0, before=None, status=None, startDate=None, endDate=None),
        _token(kind="operations"),
    ],
)
async def test_crafted_list_tokens_are_400(client: httpx.AsyncClient, token: str) -> None:
    assert_error(await client.get(OPERATIONS, params={"pageToken": token}), 400, "Invalid pageToken")


@pytest.mark.parametrize("after", [-1, "1", None, 1.5])
async def test_crafted_errors_tokens_are_400(
    state: EmulatorState, client: httpx.AsyncClient, after: object
) -> None:
    op = state.create_scenario(total=10, failure_ratio=1, duration=0)
    token = _token(kind="errors", operationId=op.id, pageSize=5, after=after)
    assert_error(await client.get(f"{OPERATIONS}/{op.id}/Errors", params={"pageToken": token}), 400)
    good = _token(kind="errors", operationId=op.id, pageSize=5, after=8)
    assert (
        len((await client.get(f"{OPERATIONS}/{op.id}/Errors", params={"pageToken": good})).json()["errors"])
        == 2
    )
