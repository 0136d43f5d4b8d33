"""``example_twilio_push_campaign`` run by ``airflow dags test`` against the emulator: the audience
file written upstream, three chunks sent once, one deferral (the trigger inline), the report."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

DAG_ID = "example_twilio_push_campaign"
EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"


@pytest.mark.timeout(400)
def test_the_example_campaign_sends_every_recipient_once_and_reports(
    twilio_push_emulator: EmulatorHandle, airflow_cli: Callable[..., Any], tmp_path: Path
) -> None:
    control = twilio_push_emulator.control
    control.set_defaults(duration=0)
    airflow = airflow_cli(EXAMPLE_DAGS)
    airflow.migrate()
    conf = json.dumps({"audience_folder": str(tmp_path / "audiences")})

    result = airflow("dags", "test", DAG_ID, "--conf", conf, timeout=240)
    output = result.stdout + result.stderr

    with sqlite3.connect(f"file:{airflow.home / 'airflow.db'}?mode=ro", uri=True) as db:
        states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (DAG_ID,)))
        xcom = {
            task_id: json.loads(value) if isinstance(value, str | bytes) else value
            for task_id, value in db.execute(
                "SELECT task_id, value FROM xcom WHERE dag_id = ? AND key = 'return_value'", (DAG_ID,)
            )
        }
    assert states == {"write_audience": "success", "send_campaign": "success", "report": "success"}, output[
        -6000:
    ]
    campaign = xcom["send_campaign"]
    assert (campaign["recipients"], campaign["chunks"], len(campaign["operation_ids"])) == (25_000, 3, 3)
    assert campaign["stats"]["failed"] == 125
    assert campaign["failure_rate"] == 0.005
    assert len(json.dumps(campaign)) < 2_000
    assert xcom["report"] == "Campaign: 25,000 recipients in 3 operations; 24,875 sent, 125 failed (0.5%)."
    assert "Deferring: waiting for the campaign's 3 operations in the triggerer" in output
    assert control.request_count("POST /v1/PushNotifications") == 3
    counts = control.recipient_counts()
    assert len(counts) == 25_000
    assert set(counts.values()) == {1}
