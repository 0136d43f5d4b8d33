"""One real ``airflow dags test`` of dags/twilio_push_sensor_deferrable.py against the emulator.

What only a real Airflow shows: the operation id rendered from the run's conf, the sensor
deferring, its trigger rebuilt from the serialized kwargs and run inline, execute_complete
resuming the task, and the operation reaching XCom for a downstream task.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

DAG_ID = "twilio_push_sensor_deferrable"
DAGS_FOLDER = Path(__file__).parent / "dags"
GET_OPERATION = "GET /v1/PushNotifications/Operations/{id}"


@pytest.mark.timeout(500)
def test_airflow_dags_test_defers_the_sensor_and_pushes_the_operation_to_xcom(
    twilio_push_emulator: EmulatorHandle, tmp_path: Path, airflow_cli: Callable[..., Any]
) -> None:
    control = twilio_push_emulator.control
    control.set_faults(rate_429=0.15, rate_503=0.1, retry_after=0, routes=[GET_OPERATION])
    control.freeze()
    operation = control.create_operation(total=40, duration=10, failure_ratio=0.1, unaddressable_ratio=0.05)
    out = tmp_path / "xcom.json"
    airflow = airflow_cli(DAGS_FOLDER, TWILIO_PUSH_SENSOR_XCOM_OUT=str(out))

    started = time.monotonic()
    airflow.migrate()
    migrated = time.monotonic()
    with control.advance_after(10, requests=2):
        result = airflow("dags", "test", DAG_ID, "--conf", json.dumps({"operation_id": operation["id"]}))
    finished = time.monotonic()
    print(f"airflow db migrate: {migrated - started:.1f} s, airflow dags test: {finished - migrated:.1f} s")
    output = result.stdout + result.stderr

    assert out.exists(), output[-6000:]
    xcom = json.loads(out.read_text())
    final = control.operation(operation["id"])["operation"]
    assert xcom == final
    assert xcom["id"] == operation["id"]
    assert xcom["status"] == "COMPLETED"
    assert xcom["stats"] == {
        "total": 40,
        "recipients": 40,
        "unaddressable": 2,
        "scheduled": 0,
        "queued": 0,
        "sent": 34,
        "failed": 4,
        "canceled": 0,
    }
    assert (
        f"Deferring: waiting for operation {operation['id']} in the triggerer, polling every 0.5 s" in output
    )
    assert "running trigger in line" in output
    assert (
        f"COMPLETED, 100% done: 34 sent, 4 failed, 2 unaddressable, 0 queued of 40 (operation {operation['id']})"
        in output
    )

    with sqlite3.connect(f"file:{airflow.home / 'airflow.db'}?mode=ro", uri=True) as db:
        states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (DAG_ID,)))
        [rendered] = db.execute(
            "SELECT rendered_fields FROM rendered_task_instance_fields WHERE dag_id = ? AND task_id = ?",
            (DAG_ID, "wait_for_operation"),
        ).fetchone()
    assert states == {"wait_for_operation": "success", "record": "success"}, output[-6000:]
    assert json.loads(rendered) == {"operation_id": operation["id"]}
    # The sensor's read, then the trigger's polls until it saw the operation complete.
    assert control.request_count(GET_OPERATION, 200) >= 3
