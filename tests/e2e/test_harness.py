"""The harness runs a deferrable sensor through the real scheduler, workers and triggerer."""

from __future__ import annotations

import pytest

from .harness import AirflowHarness, wait_until

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_harness"
TRIGGER = "airflow.providers.standard.triggers.temporal.DateTimeTrigger"


@pytest.fixture(scope="module")
def harness(airflow_harness: AirflowHarness) -> AirflowHarness:
    airflow_harness.wait_for_dag(DAG_ID)
    return airflow_harness


def test_deferred_sensor_then_task(harness: AirflowHarness) -> None:
    run_id = harness.trigger_dag(DAG_ID, conf={"wait_seconds": 5})

    deferred = harness.wait_for_task_state(DAG_ID, run_id, "wait", ["deferred"])
    assert deferred["trigger"]["classpath"] == TRIGGER

    assert harness.wait_for_run(DAG_ID, run_id) == "success"
    states = {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in harness.task_instances(DAG_ID, run_id)}
    assert states == {"wait": ("success", 1), "answer": ("success", 1)}
    assert harness.xcom(DAG_ID, run_id, "answer") == {"answer": 42, "items": ["a", "b"]}

    [(triggerer_job_id, trigger_log)] = harness.trigger_logs(DAG_ID, run_id, "wait").items()
    assert "Trigger fired event" in trigger_log + harness.triggerer_lines(run_id)
    job = harness.db_query("SELECT job_type FROM job WHERE id = ?", [triggerer_job_id])
    assert job == [{"job_type": "TriggererJob"}]
    assert "Pausing task as DEFERRED" in harness.task_log(DAG_ID, run_id, "wait")


def test_run_survives_killed_triggerer(harness: AirflowHarness) -> None:
    run_id = harness.trigger_dag(DAG_ID, conf={"wait_seconds": 10})
    harness.wait_for_task_state(DAG_ID, run_id, "wait", ["deferred"])

    def running_trigger() -> int | None:
        logs = harness.trigger_logs(DAG_ID, run_id, "wait")
        return next((job_id for job_id, text in logs.items() if "starting" in text), None)

    old_triggerer = wait_until(running_trigger, 30, "the trigger to run in the first triggerer")
    assert harness.task_instance(DAG_ID, run_id, "wait")["state"] == "deferred"
    harness.kill_triggerer()
    harness.start_triggerer()

    assert harness.wait_for_run(DAG_ID, run_id) == "success"
    logs = harness.trigger_logs(DAG_ID, run_id, "wait")
    assert "Trigger fired event" not in logs.pop(old_triggerer)
    [new_log] = logs.values()
    assert "Trigger fired event" in new_log + harness.triggerer_lines(run_id, latest_only=True)
    wait_ti = next(ti for ti in harness.task_instances(DAG_ID, run_id) if ti["task_id"] == "wait")
    assert (wait_ti["state"], wait_ti["try_number"]) == ("success", 1)
