"""Issue 16 on a real Airflow: an asset watched by TwilioPushOperationEventTrigger schedules one DAG run
per finished operation, also across a triggerer crash.

The DAG (events_dags/e2e_twilio_push_events.py) watches an emulator of its own (connection
``twilio_push_events``, created through the REST API), so that only this test's operations finish there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import airflow
import pytest
from packaging.version import Version

from airflow_provider_twilio_push.emulator import EmulatorProcess

from .harness import AirflowHarness, wait_until

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
DAG_ID = "e2e_twilio_push_events"
TASK_ID = "finished_operations"
LIST = "GET /v1/PushNotifications/Operations"
#: Where the triggerer gives event triggers the asset's state store: the position survives a restart.
STATE_STORE = Version(airflow.__version__) >= Version("3.3")


@pytest.fixture
def events_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as emulator:
        yield emulator


def dag_runs(harness: AirflowHarness) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = harness.api("GET", f"/dags/{DAG_ID}/dagRuns")["dag_runs"]
    return sorted(runs, key=lambda run: run["run_after"])


def finished_runs(harness: AirflowHarness, count: int) -> list[dict[str, Any]]:
    """Wait until the DAG has ``count`` runs, all finished; return them, oldest first."""

    def done() -> list[dict[str, Any]] | None:
        runs = dag_runs(harness)
        if len(runs) > count:
            raise AssertionError(f"more runs than {count}: {runs}")
        return runs if len(runs) == count and all(run["state"] == "success" for run in runs) else None

    return wait_until(done, 180, f"{count} successful runs of {DAG_ID}", interval=1)


def sweeps(emulator: EmulatorProcess) -> int:
    """Sweeps so far: each lists the operations SCHEDULED, those PROCESSING and the new ones."""
    return emulator.control.request_count(LIST, 200) // 3


def after_sweeps(emulator: EmulatorProcess, count: int) -> None:
    target = sweeps(emulator) + count
    wait_until(lambda: sweeps(emulator) >= target, 120, f"{count} sweeps", interval=0.5)


def test_one_run_per_finished_operation_across_a_triggerer_restart(
    airflow_harness: AirflowHarness, events_emulator: EmulatorProcess
) -> None:
    harness, emulator = airflow_harness, events_emulator
    control = emulator.control
    control.freeze()
    conn = json.loads(emulator.conn_json)
    harness.api(
        "POST",
        "/connections",
        json={
            "connection_id": "twilio_push_events",
            "conn_type": "twilio_push",
            "host": conn["host"],
            "login": conn["login"],
            "password": conn["password"],
        },
    )
    harness.add_dag_folder(HERE / "events_dags")
    harness.wait_for_dag(DAG_ID, timeout=120)
    after_sweeps(emulator, 2)  # the triggerer watches the asset

    # Three operations finish one after the other: three runs, each with its operation's payload.
    operations = []
    for failure_ratio in (0.0, 0.1, 0.2):
        operation = control.create_operation(total=10, duration=10, failure_ratio=failure_ratio)
        operations.append(operation["id"])
        control.advance(20)
        runs = finished_runs(harness, len(operations))
    for run, operation_id, failed in zip(runs, operations, (0, 1, 2), strict=True):
        [payload] = harness.xcom(DAG_ID, run["dag_run_id"], TASK_ID)
        assert payload["id"] == operation_id
        assert payload["status"] == "COMPLETED"
        assert payload["stats"]["failed"] == failed
        assert payload["stats"]["sent"] == 10 - failed
        assert payload["failure_rate"] == failed / 10
        assert payload["sent_rate"] == (10 - failed) / 10

    # A fourth finishes while the triggerer is down: the next triggerer reports it, once (without a
    # state store, before Airflow 3.3, watching starts again at the present: it is not reported).
    fourth = control.create_operation(total=10, duration=10)["id"]
    # The position that counts the third as reported is stored a sweep after it, 5 s at least.
    after_sweeps(emulator, 4)
    harness.kill_triggerer()
    control.advance(20)
    harness.start_triggerer()
    expected = 4 if STATE_STORE else 3
    finished_runs(harness, expected)
    after_sweeps(emulator, 5)  # the new triggerer goes on sweeping: nothing more is reported
    runs = finished_runs(harness, expected)
    if STATE_STORE:
        [payload] = harness.xcom(DAG_ID, runs[3]["dag_run_id"], TASK_ID)
        assert payload["id"] == fourth
        assert payload["status"] == "COMPLETED"
