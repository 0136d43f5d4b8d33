"""``example_twilio_push_stale_tokens`` run by ``airflow dags test`` against the emulator: the FAILED
recipients of the campaign come from Twilio's notification list, and only they are forgotten."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

DAG_ID = "example_twilio_push_stale_tokens"
EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"


@pytest.mark.timeout(400)
def test_the_failed_recipients_are_collected_and_forgotten(
    twilio_push_emulator: EmulatorHandle, airflow_cli: Callable[..., Any]
) -> None:
    control = twilio_push_emulator.control
    control.set_defaults(duration=0)
    airflow = airflow_cli(EXAMPLE_DAGS)
    airflow.migrate()

    result = airflow("dags", "test", DAG_ID, timeout=180)
    output = result.stdout + result.stderr

    states = airflow.task_states(DAG_ID)
    xcom = airflow.return_values(DAG_ID)
    assert set(states.values()) == {"success"}, output[-6000:]
    assert xcom["collect_failed_recipients"] == [
        {"token": "fail-52134-uninstalled-a", "provider": "APN"},
        {"token": "fail-52134-uninstalled-b", "provider": "FCM"},
        {"token": "fail-52131-garbled", "provider": "FCM"},
    ]
    assert xcom["forget_stale_tokens"] == 3
    assert "3 of 12 failed, by provider: {'APN': 1, 'FCM': 2}" in output
    assert control.request_count("POST /v1/PushNotifications") == 1
    assert control.request_count("GET /v1/PushNotifications", 200) == 1
