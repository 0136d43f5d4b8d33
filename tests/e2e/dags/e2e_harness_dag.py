"""DAG for the harness's own tests: a deferrable sensor, then a task that returns a value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import dag, task


def seconds_from_now(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=float(seconds))).isoformat()


@dag(
    dag_id="e2e_harness",
    schedule=None,
    catchup=False,
    user_defined_macros={"seconds_from_now": seconds_from_now},
    tags=["e2e"],
)
def e2e_harness() -> None:
    # The target is rendered when the task starts, so the sensor always defers for about wait_seconds;
    # it then resumes on a worker (execute_complete), like the provider's sensors.
    wait = DateTimeSensorAsync(
        task_id="wait",
        target_time="{{ seconds_from_now(dag_run.conf.get('wait_seconds', 3)) }}",
    )

    @task
    def answer() -> dict[str, object]:
        return {"answer": 42, "items": ["a", "b"]}

    wait >> answer()


e2e_harness()
