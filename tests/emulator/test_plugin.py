"""The pytest fixtures, used the way a DAG author would use them."""

from __future__ import annotations

import json
import os

import httpx

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle


def test_the_default_connection_points_at_the_emulator(twilio_push_emulator: EmulatorHandle) -> None:
    op_id = twilio_push_emulator.control.create_operation(total=5)["id"]

    conn = json.loads(os.environ["AIRFLOW_CONN_TWILIO_PUSH_DEFAULT"])
    assert conn == json.loads(twilio_push_emulator.conn_json)
    assert twilio_push_emulator.conn_id == "twilio_push_default"
    assert conn["conn_type"] == "twilio_push"
    assert conn["host"] == twilio_push_emulator.base_url
    response = httpx.get(
        f"{conn['host']}/v1/PushNotifications/Operations/{op_id}",
        auth=(conn["login"], conn["password"]),
        trust_env=False,
    )
    assert response.status_code == 200
    assert response.json()["stats"]["total"] == 5


def test_a_test_that_leaves_a_mess(twilio_push_emulator: EmulatorHandle) -> None:
    control = twilio_push_emulator.control
    control.create_operation()
    control.set_faults(rate_500=1)
    control.freeze()
    with httpx.Client(base_url=twilio_push_emulator.base_url, trust_env=False) as client:
        assert client.get("/v1/PushNotifications/Operations").status_code == 401
    assert control.request_count() == 1


def test_the_next_test_starts_clean(twilio_push_emulator: EmulatorHandle) -> None:
    control = twilio_push_emulator.control
    assert control.info()["operations"] == 0
    assert control.request_count() == 0
    assert control.faults()["rate_500"] == 0
    assert control.clock()["frozen"] is False


def test_one_server_for_the_session(
    twilio_push_emulator: EmulatorHandle, twilio_push_emulator_server: object
) -> None:
    assert twilio_push_emulator.process is twilio_push_emulator_server
    assert twilio_push_emulator.process.returncode is None
