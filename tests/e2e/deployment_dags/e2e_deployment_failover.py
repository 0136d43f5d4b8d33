"""DAG for the triggerer failover test: deferred sensors and send-and-wait operators, each waiting
for its own operation (the test's ``conf``), spread over both triggerers."""

from __future__ import annotations

from airflow.sdk import dag

from airflow_provider_twilio_push.operators.twilio_push import (
    TwilioPushOperationStatsOperator,
    TwilioPushSendOperator,
)
from airflow_provider_twilio_push.sensors.twilio_push import TwilioPushOperationSensor

SENSORS = 40
SENDS = 4
STATS = 4
CONN_ID = "twilio_push_failover"


@dag(
    dag_id="e2e_deployment_failover",
    schedule=None,
    catchup=False,
    max_active_tasks=SENSORS + SENDS + STATS,
    default_args={"retries": 0},
    tags=["e2e"],
)
def e2e_deployment_failover() -> None:
    for i in range(SENSORS):
        TwilioPushOperationSensor(
            task_id=f"wait_{i:02d}",
            operation_id=f"{{{{ dag_run.conf['sensor_operations'][{i}] }}}}",
            twilio_push_conn_id=CONN_ID,
            deferrable=True,
            fail_on_canceled=False,
            poke_interval=2,
            timeout=1800,
        )
    for i in range(SENDS):
        TwilioPushSendOperator(
            task_id=f"send_and_wait_{i}",
            to=[{"token": f"failover-send-{i}-{n}", "provider": "FCM"} for n in range(5)],
            content={"body": "failover"},
            twilio_push_conn_id=CONN_ID,
            wait_for_completion=True,
            deferrable=True,
            poll_interval=2,
            wait_timeout=1800,
        )
    for i in range(STATS):
        TwilioPushOperationStatsOperator(
            task_id=f"stats_{i}",
            operation_id=f"{{{{ dag_run.conf['stats_operations'][{i}] }}}}",
            twilio_push_conn_id=CONN_ID,
            wait_for_completion=True,
            deferrable=True,
            poll_interval=2,
            wait_timeout=1800,
            max_failure_rate=0.05,
        )


e2e_deployment_failover()
