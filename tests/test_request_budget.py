"""One request budget per connection and process: pacing and the shared 429 pause."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_twilio_push.api import RequestBudget
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError, TwilioPushRateLimitedError
from airflow_provider_twilio_push.hooks import twilio_push
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook

OPERATION_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
PATH = f"https://comms.twilio.com/v1/PushNotifications/Operations/{OPERATION_ID}"


def test_requests_are_spaced_by_the_rate() -> None:
    budget = RequestBudget(max_requests_per_second=10)
    assert [round(budget.reserve(now=100.0), 3) for _ in range(3)] == [0.0, 0.1, 0.2]
    assert budget.reserve(now=200.0) == 0.0  # an idle budget does not bank slots


def test_without_a_rate_only_a_pause_delays() -> None:
    budget = RequestBudget()
    assert budget.reserve(now=10.0) == 0.0
    assert budget.reserve(now=10.0) == 0.0
    budget.pause(2.0, now=10.0)
    assert budget.reserve(now=10.5) == 1.5
    budget.pause(0.5, now=10.5)  # a shorter pause never shortens a longer one
    assert budget.reserve(now=11.0) == 1.0


def set_connection(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
    conn = {"conn_type": "twilio_push", "login": "ACx", "password": "pw", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_TWILIO_PUSH_DEFAULT", json.dumps(conn))


@respx.mock
def test_a_429_pauses_every_hook_of_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, max_retries=0)
    respx.get(PATH).mock(return_value=httpx.Response(429, headers={"Retry-After": "1"}))
    first = TwilioPushHook()
    with pytest.raises(TwilioPushRateLimitedError):
        first.get_operation(OPERATION_ID)
    other = TwilioPushHook()
    # The other hook shares the budget: its next request would wait out most of the Retry-After.
    assert twilio_push._budget(other.get_settings()) is twilio_push._budget(first.get_settings())
    assert 0 < twilio_push._budget(other.get_settings()).reserve() <= 1.0


@respx.mock
async def test_max_requests_per_second_spaces_concurrent_requests(
    monkeypatch: pytest.MonkeyPatch, make_operation: Any
) -> None:
    set_connection(monkeypatch, max_requests_per_second=20)
    route = respx.get(PATH).mock(return_value=httpx.Response(200, json=make_operation()))
    hook = TwilioPushHook()
    settings = await hook.aget_settings()
    assert settings.max_requests_per_second == 20.0
    started = time.monotonic()
    for _ in range(5):
        await hook.aget_operation(OPERATION_ID)
    assert route.call_count == 5
    # Five slots 50 ms apart: the fifth request went at least 200 ms after the start (later on a busy
    # machine, where a slot missed by far is booked anew; unpaced, five mocked requests take a few ms).
    assert time.monotonic() - started >= 0.2
    await hook.aclose()


@pytest.mark.parametrize("value", [0, -1, "fast", True])
def test_invalid_max_requests_per_second(monkeypatch: pytest.MonkeyPatch, value: object) -> None:
    set_connection(monkeypatch, max_requests_per_second=value)
    with pytest.raises(TwilioPushInvalidInputError) as excinfo:
        TwilioPushHook().get_settings()
    assert str(excinfo.value) == (
        f"The connection 'twilio_push_default' has extra max_requests_per_second={value!r}: "
        "expected a number > 0."
    )
