"""One real ``airflow dags test`` run of dags/twilio_push_stats_breach.py against the emulator.

send -> stats (wait_for_completion, deferrable, threshold breached) -> stats_within (worker wait,
within threshold) -> dump (all_done, writes the XComs to a JSON file). It checks what only a real
Airflow shows: templated ids pulled from XCom, a deferral whose trigger runs inline, the failure
message in the task log, and the stats reaching the XCom table before the task failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

DAG_ID = "twilio_push_stats_breach"
DAGS_FOLDER = Path(__file__).parent / "dags"
UNREGISTERED = "Device token is not registered with the push provider (the app was uninstalled?)"
TOO_BIG = "Notification payload exceeds the push provider's size limit"


@pytest.mark.timeout(400)
def test_dags_test_breached_threshold_fails_the_task_and_keeps_the_stats_in_xcom(
    twilio_push_emulator: EmulatorHandle, tmp_path: Path, airflow_cli: Callable[..., Any]
) -> None:
    # The emulator's clock stands still until the stats task has read the operation and its
    # trigger polled it once: the task surely defers, and the trigger sees it complete.
    twilio_push_emulator.control.freeze()
    out = tmp_path / "xcom.json"
    airflow = airflow_cli(DAGS_FOLDER, TWILIO_PUSH_STATS_OUT=str(out))
    airflow.migrate()
    with twilio_push_emulator.control.advance_after(60, requests=2):
        result = airflow("dags", "test", DAG_ID, timeout=180)
    # Airflow 3.0 prints the task's traceback with rich: in colour, wrapped at 100 columns.
    output = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr).split())

    assert out.exists(), output[-6000:]
    xcom = json.loads(out.read_text())
    operation_id = xcom["send"]
    expected = (
        f"3 of 10 push notifications failed (30.0%), above max_failure_rate=20.0% for operation "
        f"{operation_id}. Top errors (of 3 read): 2 x 52134: {UNREGISTERED}; 1 x 52143: {TOO_BIG}."
    )
    assert f"AirflowFailException: {expected}" in output, output[-6000:]
    assert f"Deferring: waiting for operation {operation_id} in the triggerer" in output
    assert "running trigger in line" in output

    assert airflow.task_states(DAG_ID) == {
        "send": "success",
        "stats": "failed",
        "stats_within": "success",
        "dump": "success",
    }

    counters = ["total", "recipients", "unaddressable", "scheduled", "queued", "sent", "failed", "canceled"]
    final = {"total": 10, "recipients": 10, "unaddressable": 0, "scheduled": 0, "queued": 0}
    final |= {"sent": 7, "failed": 3, "canceled": 0}
    stats = xcom["stats"]
    assert {key: stats[key] for key in counters} == final
    assert (stats["operation_id"], stats["status"]) == (operation_id, "COMPLETED")
    assert (stats["failure_rate"], stats["sent_rate"]) == (0.3, 0.7)
    assert stats["created_at"] <= stats["updated_at"]
    assert stats["errors"] == {
        "sampled": 3,
        "top": [
            {"code": 52134, "message": UNREGISTERED, "count": 2},
            {"code": 52143, "message": TOO_BIG, "count": 1},
        ],
    }
    # The same operation's stats within thresholds: the return value, without "errors".
    assert xcom["stats_within"] == {key: value for key, value in stats.items() if key != "errors"}

    control = twilio_push_emulator.control
    assert control.request_count("POST /v1/PushNotifications") == 1
    assert control.request_count("GET /v1/PushNotifications/Operations/{id}/Errors") == 1
