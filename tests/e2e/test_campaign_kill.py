"""Issue 22: the task process of a campaign is killed (SIGKILL) after some chunks were accepted;
its retry sends each recipient exactly once, adopting what Twilio accepted.

Real Airflow (scheduler, LocalExecutor, SQLite): the task instance's pid in the metadata database
is the task process; the emulator answers each send 1.5 s late (counted and accepted at once), so
that the kill lands between two sends.
"""

from __future__ import annotations

import os
import secrets
import signal
import time

import pytest
from airflow import __version__ as airflow_version

from airflow_provider_twilio_push.emulator import EmulatorProcess

from .harness import AirflowHarness, wait_until

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_twilio_push_campaign_kill"
AIRFLOW_VERSION = tuple(int(part) for part in airflow_version.split(".")[:2])
SEND_ROUTE = "POST /v1/PushNotifications"


@pytest.mark.timeout(400)
def test_a_campaign_killed_after_chunk_k_sends_every_recipient_once_on_retry(
    airflow_harness: AirflowHarness, twilio_push_emulator_server: EmulatorProcess
) -> None:
    harness, control = airflow_harness, twilio_push_emulator_server.control
    prefix = f"kill-{secrets.token_hex(4)}"

    def ours() -> dict[str, int]:
        return {token: n for token, n in control.recipient_counts().items() if token.startswith(prefix)}

    harness.wait_for_dag(DAG_ID)
    control.set_faults(rate_slow=1, slow_seconds=1.5, routes=[SEND_ROUTE])
    try:
        run_id = harness.trigger_dag(DAG_ID, conf={"prefix": prefix})
        accepted = wait_until(lambda: len(ours()) >= 15 or None, 180, "three chunks to be accepted", 0.1)
        (row,) = harness.db_query(
            "SELECT pid, try_number FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = 'send'",
            (DAG_ID, run_id),
        )
        assert row["try_number"] == 1
        os.kill(row["pid"], signal.SIGKILL)
        killed_at = len(ours())
    finally:
        control.clear_faults()

    if harness.wait_for_run(DAG_ID, run_id, timeout=240) == "failed":
        # Airflow 3.0 fails a task whose process was killed, without its retry (3.3 retries it):
        # the user clears it, which is a second try of the same task instance all the same.
        assert AIRFLOW_VERSION < (3, 3)
        harness.api(
            "POST",
            f"/dags/{DAG_ID}/clearTaskInstances",
            json={"dry_run": False, "dag_run_id": run_id, "task_ids": ["send"], "reset_dag_runs": True},
        )
        assert harness.wait_for_run(DAG_ID, run_id, timeout=240) == "success"
    ti = harness.task_instance(DAG_ID, run_id, "send")
    assert ti["try_number"] == 2
    counts = ours()
    assert accepted
    assert 15 <= killed_at < 50
    assert counts == {f"{prefix}-{i}": 1 for i in range(50)}
    result = harness.xcom(DAG_ID, run_id, "send")
    assert (result["recipients"], result["chunks"], len(set(result["operation_ids"]))) == (50, 10, 10)
    log = harness.task_log(DAG_ID, run_id, "send", try_number=2)
    adopted = log.count("was accepted already: adopting operation")
    assert adopted >= killed_at // 5, log[-4000:]
    # A moment for stragglers: nothing more is sent after the run.
    time.sleep(1)
    assert ours() == counts
