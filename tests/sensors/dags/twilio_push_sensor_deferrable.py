"""A deferrable TwilioPushOperationSensor, run by tests/sensors/test_sensor_dags_test.py (``airflow dags test``).

wait_for_operation (deferrable, templated operation_id from the run's conf) -> record (writes the
sensor's XCom as JSON to the file named by TWILIO_PUSH_SENSOR_XCOM_OUT).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_twilio_push.sensors.twilio_push import TwilioPushOperationSensor

with DAG(
    dag_id="twilio_push_sensor_deferrable",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"operation_id": Param("", type="string")},
    tags=["test"],
):
    wait_for_operation = TwilioPushOperationSensor(
        task_id="wait_for_operation",
        operation_id="{{ params.operation_id }}",
        deferrable=True,
        poke_interval=0.5,
        timeout=120,
    )

    @task
    def record(ti: Any = None) -> None:
        result = ti.xcom_pull(task_ids="wait_for_operation")
        Path(os.environ["TWILIO_PUSH_SENSOR_XCOM_OUT"]).write_text(json.dumps(result))

    wait_for_operation >> record()
