"""One real ``airflow dags test`` of dags/twilio_push_sensor_deferrable.py against the emulator.

What only a real Airflow shows: the operation id rendered from the run's conf, the sensor
deferring, its trigger rebuilt from the serialized kwargs and run inline, execute_complete
resuming the task, and the operation reaching XCom for a downstream task.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

DAG_ID = "twilio_push_sensor_deferrable"
DAGS_FOLDER = Path(__file__).parent / "dags"
AIRFLOW = Path(sys.executable).parent / "airflow"
GET_OPERATION = "GET /v1/PushNotifications/Operations/{id}"


def airflow(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AIRFLOW), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.timeout(500)
def test_airflow_dags_test_defers_the_sensor_and_pushes_the_operation_to_xcom(
    twilio_push_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    control = twilio_push_emulator.control
    control.set_faults(rate_429=0.15, rate_503=0.1, retry_after=0, routes=[GET_OPERATION])
    control.freeze()
    operation = control.create_operation(total=40, duration=10, failure_ratio=0.1, unaddressable_ratio=0.05)
    home = tmp_path / "airflow"
    home.mkdir()
    out = tmp_path / "xcom.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_TWILIO_PUSH_DEFAULT": twilio_push_emulator.conn_json,
        "TWILIO_PUSH_SENSOR_XCOM_OUT": str(out),
    }

    started = time.monotonic()
    migrate = airflow(["db", "migrate"], env, home)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    migrated = time.monotonic()
    with control.advance_after(10, requests=2):
        result = airflow(
            ["dags", "test", DAG_ID, "--conf", json.dumps({"operation_id": operation["id"]})], env, home
        )
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
    assert f"Operation {operation['id']} is COMPLETED: 34 sent, 4 failed, 0 queued of 40" in output

    with sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True) as db:
        states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (DAG_ID,)))
        [rendered] = db.execute(
            "SELECT rendered_fields FROM rendered_task_instance_fields WHERE dag_id = ? AND task_id = ?",
            (DAG_ID, "wait_for_operation"),
        ).fetchone()
    assert states == {"wait_for_operation": "success", "record": "success"}, output[-6000:]
    assert json.loads(rendered) == {"operation_id": operation["id"]}
    # The sensor's read, then the trigger's polls until it saw the operation complete.
    assert control.request_count(GET_OPERATION, 200) >= 3
