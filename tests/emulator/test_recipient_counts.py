"""recipient_counts: how many notifications the accepted sends created for each address, the judge
of exactly-once delivery; and the faults that make a send's fate uncertain."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .helpers import OPERATIONS, SEND, send_push

USER = "comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq8"


def _to(*tokens: str) -> list[dict[str, str]]:
    return [{"token": token, "provider": "FCM"} for token in tokens]


def test_each_address_counts_the_notifications_created_for_it(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    control = emulator.control
    assert control.recipient_counts() == {}
    send_push(api, to=[*_to("a", "b", "unaddressable-c", "fail-d"), {"userId": USER}])
    send_push(api, to=[*_to("a"), {"userId": USER, "variables": {"name": "Ann"}}])
    control.create_operation(total=50)  # scenarios address no one
    api.post(SEND, json={"to": _to("e", ""), "content": {"body": "x"}})  # refused: creates nothing
    assert control.recipient_counts() == {"a": 2, "b": 1, "fail-d": 1, USER: 2}
    assert control.recipient_counts(min_count=2) == {"a": 2, USER: 2}
    control.reset()
    assert control.recipient_counts() == {}


def test_the_same_token_twice_in_one_send_counts_twice(emulator: EmulatorHandle, api: httpx.Client) -> None:
    send_push(api, to=_to("a", "a"))
    assert emulator.control.recipient_counts() == {"a": 2}


def test_canceled_and_scheduled_sends_created_their_notifications(
    frozen: EmulatorHandle, api: httpx.Client
) -> None:
    control = frozen.control
    control.set_defaults(duration=100)
    op_id = send_push(api, to=_to("a", "b"))
    control.cancel(op_id)
    in_an_hour = datetime.fromtimestamp(control.clock()["epoch"] + 3600, UTC).isoformat()
    scheduled = send_push(api, to=_to("b"), schedule={"sendAt": [in_an_hour]})
    assert api.get(f"{OPERATIONS}/{scheduled}").json()["status"] == "SCHEDULED"
    assert control.recipient_counts() == {"a": 1, "b": 2}


def test_a_bad_min_count_is_400(emulator: EmulatorHandle) -> None:
    response = httpx.get(f"{emulator.base_url}/_emulator/recipient-counts?min_count=x", trust_env=False)
    assert response.status_code == 400
    assert "min_count must be an integer >= 0, got 'x'" in response.json()["errors"][0]["message"]


# -- the faults that make a send's fate uncertain, for sends only -------------------------------


@pytest.mark.parametrize("fault", ["rate_500", "rate_drop"])
def test_a_send_can_be_accepted_and_its_answer_lost(
    emulator: EmulatorHandle, api: httpx.Client, fault: str
) -> None:
    control = emulator.control
    control.set_faults(**{fault: 1}, routes=["POST /v1/PushNotifications"])
    if fault == "rate_500":
        assert api.post(SEND, json={"to": _to("a"), "content": {"body": "x"}}).status_code == 500
    else:
        with pytest.raises(httpx.TransportError):
            api.post(SEND, json={"to": _to("a"), "content": {"body": "x"}})
    assert control.recipient_counts() == {"a": 1}  # accepted all the same
    assert len(api.get(OPERATIONS).json()["operations"]) == 1  # reads are not faulted
    assert api.get(SEND).json()["pushNotifications"][0]["to"]["token"] == "a"


def test_a_send_can_be_refused_with_a_503_and_not_processed(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    control = emulator.control
    control.set_faults(rate_503=1, retry_after=2, routes=["POST /v1/PushNotifications"])
    response = api.post(SEND, json={"to": _to("a"), "content": {"body": "x"}})
    assert (response.status_code, response.headers["retry-after"]) == (503, "2")
    assert control.recipient_counts() == {}
    assert api.get(OPERATIONS).json()["operations"] == []
    control.clear_faults()
    send_push(api, to=_to("a"))
    assert control.recipient_counts() == {"a": 1}
