"""A real ``airflow dags test`` run of dags/twilio_push_notifier_failure.py against the emulator:
the failed task's callback sends one push, rendered with the task's context."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook

DAG_ID = "twilio_push_notifier_failure"
DAGS_FOLDER = Path(__file__).parent / "dags"


@pytest.mark.timeout(300)
def test_the_failure_callback_of_a_failed_run_sends_one_push_naming_the_dag(
    twilio_push_emulator: EmulatorHandle, airflow_cli: Callable[..., Any]
) -> None:
    airflow = airflow_cli(DAGS_FOLDER)
    airflow.migrate()

    result = airflow("dags", "test", DAG_ID, timeout=180)
    output = result.stdout + result.stderr

    finished = re.search(r"DagRun Finished: .*?run_id=(\S+?), .*?state=failed", output)
    assert finished, output[-6000:]
    run_id = finished.group(1)
    control = twilio_push_emulator.control
    assert control.request_count("POST /v1/PushNotifications") == 1, output[-6000:]
    [operation] = TwilioPushHook().list_operations().operations
    # Before 3.3, `airflow dags test` runs the callback without the exception in its context.
    exception = "" if Version(version("apache-airflow")) < Version("3.3") else ": the warehouse is down"
    assert control.operation(operation.id)["send"] == {
        "content": {"title": f"{DAG_ID} failed", "body": f"load on {run_id}{exception}"},
        "tags": {"task": "load"},
    }
    assert f"Twilio accepted the push notification: operation {operation.id}." in output
