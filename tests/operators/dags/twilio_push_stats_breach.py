"""Run by ``airflow dags test`` in tests/operators/test_dags_test.py, against the emulator.

send -> stats (deferrable wait, threshold breached) -> stats_within (all_done; reads the same
operation, within its threshold) -> dump (all_done): writes the XComs to the JSON file named by
``TWILIO_PUSH_STATS_OUT``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_twilio_push.operators.twilio_push import (
    TwilioPushOperationStatsOperator,
    TwilioPushSendOperator,
)

DAG_ID = "twilio_push_stats_breach"
# In the emulator, a token "fail-NNNNN..." fails with error code NNNNN: 3 of 10 fail (30%).
RECIPIENTS = [{"token": f"device-token-{i}", "provider": "FCM"} for i in range(7)] + [
    {"token": "fail-52134-uninstalled-a", "provider": "APN"},
    {"token": "fail-52134-uninstalled-b", "provider": "FCM"},
    {"token": "fail-52143-too-big", "provider": "APN"},
]

with DAG(
    dag_id=DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"title": "Your order has shipped"},
) as dag:
    send = TwilioPushSendOperator(
        task_id="send",
        to=RECIPIENTS,
        content={"title": "{{ params.title }}", "body": "Run {{ run_id }}"},
        tags={"dag": "{{ dag.dag_id }}"},
    )
    stats = TwilioPushOperationStatsOperator(
        task_id="stats",
        operation_id="{{ ti.xcom_pull(task_ids='send') }}",
        max_failure_rate=0.2,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.2,
        wait_timeout=120,
    )
    stats_within = TwilioPushOperationStatsOperator(
        task_id="stats_within",
        operation_id="{{ ti.xcom_pull(task_ids='send') }}",
        max_failed=3,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.2,
        wait_timeout=120,
        trigger_rule="all_done",
    )

    @task(trigger_rule="all_done")
    def dump(ti: Any = None) -> None:
        stats_xcom = {name: ti.xcom_pull(task_ids=name) for name in ("send", "stats", "stats_within")}
        Path(os.environ["TWILIO_PUSH_STATS_OUT"]).write_text(json.dumps(stats_xcom))

    send >> stats >> stats_within >> dump()
