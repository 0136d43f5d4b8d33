"""DAG for the watcher's end-to-end test: many deferrable sensors, each waiting for its own operation."""

from __future__ import annotations

from airflow.sdk import dag

from airflow_provider_twilio_push.sensors.twilio_push import TwilioPushOperationSensor

SENSORS = 48
CONN_ID = "twilio_push_fleet"


@dag(dag_id="e2e_watcher_fleet", schedule=None, catchup=False, max_active_tasks=SENSORS, tags=["e2e"])
def e2e_watcher_fleet() -> None:
    for i in range(SENSORS):
        TwilioPushOperationSensor(
            task_id=f"wait_{i:02d}",
            operation_id=f"{{{{ dag_run.conf['operation_ids'][{i}] }}}}",
            twilio_push_conn_id=CONN_ID,
            deferrable=True,
            poke_interval=2,
            timeout=900,
        )


e2e_watcher_fleet()
