"""Issue 7: ``example_twilio_push_operation`` on a real Airflow (REST API, scheduler, workers, triggerer)
against the emulator.

The three runs start together (the ``example_runs`` fixture, tests/e2e/conftest.py), which waits until
each sensor is deferred. The killed-triggerer test comes first, so that the other runs go on meanwhile;
their triggers are taken over by the new triggerer too.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_twilio_push.emulator import CONN_ENV_VAR, EmulatorProcess
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook

from .conftest import EXAMPLE_DAG_ID, SENSOR_TASK_ID, WATCHED_DURATION, ExampleRuns
from .harness import AirflowHarness, wait_until

pytestmark = pytest.mark.e2e

TRIGGER = "airflow_provider_twilio_push.triggers.twilio_push.TwilioPushOperationTrigger"
FIRED = "Trigger fired event"
INVALID_TOKEN = "Invalid device token: the push provider rejected the registration token"


def task_states(harness: AirflowHarness, run_id: str) -> dict[str, tuple[str, int]]:
    return {
        ti["task_id"]: (ti["state"], ti["try_number"])
        for ti in harness.task_instances(EXAMPLE_DAG_ID, run_id)
    }


def triggerer_jobs(harness: AirflowHarness, job_ids: list[int]) -> list[str]:
    marks = ",".join("?" * len(job_ids))
    rows = harness.db_query(f"SELECT job_type FROM job WHERE id IN ({marks})", job_ids)
    return [row["job_type"] for row in rows]


def expected_stats(operation_id: str, **counters: int) -> dict[str, Any]:
    """The stats XCom of a COMPLETED operation, but for the dates."""
    stats: dict[str, Any] = {"operation_id": operation_id, "status": "COMPLETED"}
    stats.update(dict.fromkeys(("unaddressable", "scheduled", "queued", "sent", "failed", "canceled"), 0))
    stats.update(counters, recipients=counters["total"])
    stats["failure_rate"] = stats["failed"] / stats["total"]
    stats["sent_rate"] = stats["sent"] / stats["total"]
    return stats


def without_dates(stats: dict[str, Any]) -> dict[str, Any]:
    assert stats["created_at"] <= stats["updated_at"]
    return {k: v for k, v in stats.items() if k not in ("created_at", "updated_at")}


def test_run_survives_killed_triggerer(
    airflow_harness: AirflowHarness, example_runs: ExampleRuns, twilio_push_emulator_server: EmulatorProcess
) -> None:
    harness, run_id = airflow_harness, example_runs.watched
    control = twilio_push_emulator_server.control
    operation_id = example_runs.watched_operation["id"]

    def polling_trigger() -> int | None:
        """The triggerer job whose trigger for the sensor has read the operation at least once."""
        logs = harness.trigger_logs(EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID)
        return next((job for job, text in logs.items() if f"(operation {operation_id})" in text), None)

    old_triggerer = wait_until(polling_trigger, 60, "the trigger to poll in the first triggerer")
    harness.kill_triggerer()  # SIGKILL: a crash, no clean-up
    assert harness.task_instance(EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID)["state"] == "deferred"
    assert control.operation(operation_id)["operation"]["status"] == "PROCESSING"

    harness.start_triggerer()

    def taken_over() -> int | None:
        logs = harness.trigger_logs(EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID)
        return next((job for job, text in logs.items() if job != old_triggerer and "starting" in text), None)

    # The new triggerer adopts the trigger once the old one's heartbeat is older than the health threshold.
    new_triggerer = wait_until(taken_over, 90, "the new triggerer to take the trigger over")
    assert control.operation(operation_id)["operation"]["status"] == "PROCESSING"
    control.advance(WATCHED_DURATION)  # the operation completes now

    assert harness.wait_for_run(EXAMPLE_DAG_ID, run_id) == "success"
    assert task_states(harness, run_id) == {
        "send_or_watch": ("success", 1),
        "send_push": ("skipped", 0),
        SENSOR_TASK_ID: ("success", 1),
        "operation_stats": ("success", 1),
        "report": ("success", 1),
    }
    # One event, fired by the new triggerer, and the sensor resumed once (execute_complete pushes its
    # XCom; the first try deferred without one).
    logs = harness.trigger_logs(EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID)
    assert sorted(logs) == sorted([old_triggerer, new_triggerer])
    assert FIRED not in logs[old_triggerer]
    new_output = logs[new_triggerer] + harness.triggerer_lines(run_id, operation_id, latest_only=True)
    assert new_output.count(FIRED) == 1
    assert f"COMPLETED, 100% done: 19 sent, 1 failed, 0 queued of 20 (operation {operation_id})" in new_output
    assert triggerer_jobs(harness, [old_triggerer, new_triggerer]) == ["TriggererJob", "TriggererJob"]
    sensor_log = harness.task_log(EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID)
    assert sensor_log.count("Pausing task as DEFERRED") == 1
    assert sensor_log.count("Pushing xcom") == 1
    assert harness.xcom(EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID)["status"] == "COMPLETED"
    # 1 of 20 is exactly max_failure_rate=5%: not above it.
    stats = harness.xcom(EXAMPLE_DAG_ID, run_id, "operation_stats")
    assert without_dates(stats) == expected_stats(operation_id, total=20, sent=19, failed=1)


def test_default_run(airflow_harness: AirflowHarness, example_runs: ExampleRuns) -> None:
    harness, run_id = airflow_harness, example_runs.default

    # The sensor was deferred to the provider's trigger ...
    deferred = example_runs.deferred[run_id]
    assert deferred["trigger"]["classpath"] == TRIGGER
    assert harness.wait_for_run(EXAMPLE_DAG_ID, run_id) == "success"
    # ... and every task succeeded (the `report` teardown does not decide the run's state).
    assert task_states(harness, run_id) == {
        "send_or_watch": ("success", 1),
        "send_push": ("success", 1),
        SENSOR_TASK_ID: ("success", 1),
        "operation_stats": ("success", 1),
        "report": ("success", 1),
    }
    operation_id = harness.xcom(EXAMPLE_DAG_ID, run_id, "send_push")
    assert operation_id.startswith("comms_operation_")
    assert harness.xcom(EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID)["id"] == operation_id

    # ... and the trigger ran in a triggerer, which logged its progress for the task.
    logs = harness.trigger_logs(EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID)
    assert set(triggerer_jobs(harness, list(logs))) == {"TriggererJob"}
    trigger_log = "\n".join([*logs.values(), harness.triggerer_lines(run_id, operation_id)])
    assert (
        f"COMPLETED, 100% done: 38 sent, 1 failed, 1 unaddressable, 0 queued of 40 (operation {operation_id})"
        in trigger_log
    )
    assert FIRED in trigger_log
    sensor_log = harness.task_log(EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID)
    assert "Pausing task as DEFERRED" in sensor_log
    assert (
        f"Deferring: waiting for operation {operation_id} in the triggerer, polling every 5.0 s" in sensor_log
    )

    # 40 recipients: "fail-expired-token" fails, "unaddressable-uninstalled" has no device.
    stats = harness.xcom(EXAMPLE_DAG_ID, run_id, "operation_stats")
    assert without_dates(stats) == expected_stats(operation_id, total=40, sent=38, failed=1, unaddressable=1)
    assert stats["failure_rate"] == 0.025
    assert harness.xcom(EXAMPLE_DAG_ID, run_id, "report") == (
        f"Operation {operation_id} COMPLETED: 38 sent, 1 failed, 1 unaddressable of 40 "
        "(failure rate 2.5%) -> within the 5% threshold"
    )


def test_breaching_run(airflow_harness: AirflowHarness, example_runs: ExampleRuns) -> None:
    harness, run_id = airflow_harness, example_runs.breaching

    assert example_runs.deferred[run_id]["trigger"]["classpath"] == TRIGGER
    # The breach fails the run; `report` is a teardown: it still runs, and does not decide the state.
    assert harness.wait_for_run(EXAMPLE_DAG_ID, run_id) == "failed"
    assert task_states(harness, run_id) == {
        "send_or_watch": ("success", 1),
        "send_push": ("success", 1),
        SENSOR_TASK_ID: ("success", 1),
        "operation_stats": ("failed", 1),
        "report": ("success", 1),
    }
    operation_id = harness.xcom(EXAMPLE_DAG_ID, run_id, "send_push")

    message = (
        f"4 of 10 push notifications failed (40.0%), above max_failure_rate=5.0% for operation {operation_id}. "
        f"Top errors (of 4 read): 4 x 52131: {INVALID_TOKEN}."
    )
    assert message in harness.task_log(EXAMPLE_DAG_ID, run_id, "operation_stats")

    # The stats reached XCom before the task failed, with the error summary.
    stats = harness.xcom(EXAMPLE_DAG_ID, run_id, "operation_stats")
    assert stats.pop("errors") == {
        "sampled": 4,
        "top": [{"code": 52131, "message": INVALID_TOKEN, "count": 4}],
    }
    assert without_dates(stats) == expected_stats(operation_id, total=10, sent=6, failed=4)
    assert harness.xcom(EXAMPLE_DAG_ID, run_id, "report") == (
        f"Operation {operation_id} COMPLETED: 6 sent, 4 failed, 0 unaddressable of 10 "
        "(failure rate 40.0%) -> FAILED the 5% threshold"
    )


def test_a_failed_run_pushes_one_alert_and_a_successful_one_none(
    airflow_harness: AirflowHarness,
    example_runs: ExampleRuns,
    twilio_push_emulator_server: EmulatorProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The DAG's ``on_failure_callback`` (a TwilioPushNotifier), run by the dag processor."""
    harness, control = airflow_harness, twilio_push_emulator_server.control
    monkeypatch.setenv(CONN_ENV_VAR, twilio_push_emulator_server.conn_json)
    assert harness.wait_for_run(EXAMPLE_DAG_ID, example_runs.default) == "success"
    assert harness.wait_for_run(EXAMPLE_DAG_ID, example_runs.breaching) == "failed"

    def alerts() -> list[dict[str, Any]] | None:
        sends = [control.operation(op.id)["send"] for op in TwilioPushHook().iter_operations()]
        found = [
            send for send in sends if send and send["content"].get("title") == f"{EXAMPLE_DAG_ID} failed"
        ]
        return found or None

    found = wait_until(alerts, timeout=120, what="the failed run's push")
    assert found == [
        {
            "content": {
                "title": f"{EXAMPLE_DAG_ID} failed",
                "body": f"Run {example_runs.breaching}: task_failure",
            }
        }
    ]
