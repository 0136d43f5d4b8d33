"""Issue 9: the auth token of the connection shows up nowhere Airflow writes.

Every e2e run talks to an emulator whose auth token is a canary, ``tok-CANARY-<32 random hex>``
(tests/e2e/conftest.py). After the example DAG's runs (one within its threshold, one breaching it, with
its exception text) the token is searched for, in three forms (the token, its random part, the HTTP
Basic credentials ``base64("AC...:token")``), in every log file, every XCom of the runs, the trigger rows
and task instance rows read while the sensors were deferred, the serialized DAG and every row of every
table of the metadata database. Each search also checks that it sees what it searches, so that none can
pass vacuously.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from airflow_provider_twilio_push.emulator import CONN_ENV_VAR, EmulatorProcess

from .conftest import EXAMPLE_DAG_ID, SENSOR_TASK_ID, ExampleRuns
from .harness import AirflowHarness

pytestmark = pytest.mark.e2e

CANARY_PREFIX = "tok-CANARY-"


@pytest.fixture(scope="module")
def secret_forms(twilio_push_emulator_server: EmulatorProcess, canary_token: str) -> dict[str, str]:
    """Name -> a form in which the token could leak."""
    emulator = twilio_push_emulator_server
    assert emulator.auth_token == canary_token
    assert canary_token.startswith(CANARY_PREFIX)
    basic = base64.b64encode(f"{emulator.account_sid}:{canary_token}".encode()).decode()
    return {
        "token": canary_token,
        "random part": canary_token.removeprefix(CANARY_PREFIX),
        "Basic credentials": basic,
    }


@pytest.fixture(scope="module")
def finished_runs(airflow_harness: AirflowHarness, example_runs: ExampleRuns) -> ExampleRuns:
    """The example runs that end by themselves (the watched one needs the killed-triggerer test)."""
    assert airflow_harness.wait_for_run(EXAMPLE_DAG_ID, example_runs.default) == "success"
    assert airflow_harness.wait_for_run(EXAMPLE_DAG_ID, example_runs.breaching) == "failed"
    return example_runs


def leaks(text: str, forms: Mapping[str, str]) -> list[str]:
    """The names of the forms that ``text`` contains."""
    return [name for name, form in forms.items() if form in text]


def leaks_in_files(paths: Iterable[Path], forms: Mapping[str, str]) -> dict[Path, list[str]]:
    found = {}
    for path in paths:
        if names := leaks(path.read_bytes().decode(errors="replace"), forms):
            found[path] = names
    return found


def operation_ids(harness: AirflowHarness, runs: ExampleRuns) -> list[str]:
    return [harness.xcom(EXAMPLE_DAG_ID, run_id, "send_push") for run_id in (runs.default, runs.breaching)]


def test_the_connection_carries_the_canary_and_the_search_finds_it(
    airflow_harness: AirflowHarness,
    twilio_push_emulator_server: EmulatorProcess,
    finished_runs: ExampleRuns,
    secret_forms: dict[str, str],
    tmp_path: Path,
) -> None:
    # Every Airflow process got the canary as the connection's password ...
    connection = json.loads(airflow_harness.env[CONN_ENV_VAR])
    assert connection["password"] == secret_forms["token"]
    assert connection["host"] == twilio_push_emulator_server.base_url
    # ... and used it: the emulator answered the runs, and never with 401.
    control = twilio_push_emulator_server.control
    assert control.request_count("POST /v1/PushNotifications", 202) >= 2
    assert control.request_count("GET /v1/PushNotifications/Operations/{id}", 200) >= 6
    assert control.request_count(status=401) == 0

    # A leak planted among the logs is found, in each form (test_no_log_file_shows_the_token says
    # whether the real ones have any).
    planted = tmp_path / "leaked.log"
    planted.write_text(
        f"{CONN_ENV_VAR}={twilio_push_emulator_server.conn_json}\n"
        f"Authorization: Basic {secret_forms['Basic credentials']}\n"
    )
    found = leaks_in_files([*airflow_harness.log_files(), planted], secret_forms)
    assert found[planted] == list(secret_forms)


def test_no_log_file_shows_the_token(
    airflow_harness: AirflowHarness, finished_runs: ExampleRuns, secret_forms: dict[str, str]
) -> None:
    harness = airflow_harness
    files = harness.log_files()
    # Every component's log, and the task and trigger logs of the runs, are searched ...
    names = {path.name for path in files}
    assert {"scheduler.log", "dag-processor.log", "triggerer.log", "api-server.log"} <= names
    for run_id in (finished_runs.default, finished_runs.breaching):
        run_dir = harness.logs_dir / f"dag_id={EXAMPLE_DAG_ID}" / f"run_id={run_id}"
        task_logs = {path.relative_to(run_dir).as_posix() for path in files if run_dir in path.parents}
        assert {
            f"task_id={task}/attempt=1.log" for task in ("send_push", "operation_stats", "report")
        } <= task_logs
        assert any(log.startswith(f"task_id={SENSOR_TASK_ID}/attempt=1.log.trigger.") for log in task_logs)
    # ... and they are read: the operations show up in them.
    text = "\n".join(path.read_bytes().decode(errors="replace") for path in files)
    for operation_id in operation_ids(harness, finished_runs):
        assert re.search(rf"COMPLETED, 100% done: .* \(operation {operation_id}\)", text)

    assert leaks_in_files(files, secret_forms) == {}


def test_no_exception_text_or_task_log_shows_the_token(
    airflow_harness: AirflowHarness, finished_runs: ExampleRuns, secret_forms: dict[str, str]
) -> None:
    harness = airflow_harness
    # The failure of the breaching run, as the REST API serves its log.
    stats_log = harness.task_log(EXAMPLE_DAG_ID, finished_runs.breaching, "operation_stats")
    assert "Task failed with exception" in stats_log
    assert "4 of 10 push notifications failed (40.0%), above max_failure_rate=5.0%" in stats_log
    assert leaks(stats_log, secret_forms) == []
    for run_id in (finished_runs.default, finished_runs.breaching):
        for ti in harness.task_instances(EXAMPLE_DAG_ID, run_id):
            log = harness.task_log(EXAMPLE_DAG_ID, run_id, ti["task_id"])
            assert log
            assert leaks(log, secret_forms) == [], ti["task_id"]


def test_no_xcom_shows_the_token(
    airflow_harness: AirflowHarness, finished_runs: ExampleRuns, secret_forms: dict[str, str]
) -> None:
    harness = airflow_harness
    values: dict[tuple[str, str, str], Any] = {}
    for run_id in (finished_runs.default, finished_runs.breaching):
        entries = harness.api("GET", f"/dags/{EXAMPLE_DAG_ID}/dagRuns/{run_id}/taskInstances/~/xcomEntries")
        for entry in entries["xcom_entries"]:
            value = harness.xcom(EXAMPLE_DAG_ID, run_id, entry["task_id"], entry["key"])
            values[run_id, entry["task_id"], entry["key"]] = value
    text = json.dumps(list(values.values()))
    # Every task's XComs were read: the stats, with errors for the breaching run.
    tasks = {task_id for _, task_id, _ in values}
    assert tasks == {"send_or_watch", "send_push", SENSOR_TASK_ID, "operation_stats", "report"}
    for operation_id in operation_ids(harness, finished_runs):
        assert f'"operation_id": "{operation_id}"' in text
    assert '"errors": {"sampled": 4' in text

    assert leaks(text, secret_forms) == []


def test_no_trigger_row_shows_the_token(
    airflow_harness: AirflowHarness, finished_runs: ExampleRuns, secret_forms: dict[str, str]
) -> None:
    fernet = Fernet(airflow_harness.env["AIRFLOW__CORE__FERNET_KEY"])
    for run_id in finished_runs.run_ids:
        [row] = finished_runs.trigger_rows[run_id]
        stored = row["kwargs"]
        # Airflow 3.3.2 stores the kwargs of a deferring task's trigger unencrypted; decrypt them if not.
        kwargs_text = stored if stored.startswith("{") else fernet.decrypt(stored.encode()).decode()
        kwargs = json.loads(kwargs_text)
        if (
            kwargs.get("__type") == "dict"
        ):  # Airflow 3.0 stores them serialized: {"__type": "dict", "__var": ...}
            kwargs = kwargs["__var"]
        assert row["classpath"].endswith(".TwilioPushOperationTrigger")
        assert kwargs["operation_id"].startswith("comms_operation_")
        assert kwargs["twilio_push_conn_id"] == "twilio_push_default"
        assert leaks(json.dumps(row) + kwargs_text, secret_forms) == []

        [task_row] = finished_runs.deferred_task_rows[run_id]
        assert task_row["state"] == "deferred"
        assert task_row["next_method"] == "execute_complete"
        assert leaks(json.dumps(task_row, default=str), secret_forms) == []


def test_no_database_row_shows_the_token(
    airflow_harness: AirflowHarness, finished_runs: ExampleRuns, secret_forms: dict[str, str]
) -> None:
    harness = airflow_harness
    # The serialized DAG, as the dag-processor stored it (uncompressed, so that it can be searched).
    [serialized] = harness.db_query(
        "SELECT data, data_compressed FROM serialized_dag WHERE dag_id = ?", [EXAMPLE_DAG_ID]
    )
    assert serialized["data_compressed"] is None
    assert "TwilioPushOperationStatsOperator" in serialized["data"]
    assert "fail-expired-token" in serialized["data"]  # the default recipients
    assert leaks(serialized["data"], secret_forms) == []

    # Every row of every table.
    tables = [row["name"] for row in harness.db_query("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert {"serialized_dag", "trigger", "task_instance", "xcom", "rendered_task_instance_fields"} <= set(
        tables
    )
    dump = {table: json.dumps(harness.db_query(f'SELECT * FROM "{table}"'), default=repr) for table in tables}
    for operation_id in operation_ids(harness, finished_runs):
        assert operation_id in dump["xcom"]
        assert operation_id in dump["rendered_task_instance_fields"]
    assert {
        table: leaks(text, secret_forms) for table, text in dump.items() if leaks(text, secret_forms)
    } == {}
