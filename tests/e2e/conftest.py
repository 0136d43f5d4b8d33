"""One Airflow (scheduler, dag-processor, triggerer, api-server) for all end-to-end tests of the session.

Its DAG folders and extra environment are the session fixtures below; change them here, for instance::

    @pytest.fixture(scope="session")
    def airflow_extra_env(twilio_push_emulator_server: EmulatorProcess) -> dict[str, str]:
        return {CONN_ENV_VAR: twilio_push_emulator_server.conn_json}

Here ``twilio_push_default`` points at a session emulator whose auth token is a canary (issue 9): every
end-to-end run carries it, and ``test_secret_canary.py`` checks that it shows up nowhere.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_twilio_push.emulator import EmulatorProcess

from .harness import AirflowHarness, AirflowHarnessError, run_airflow

HERE = Path(__file__).parent

EXAMPLE_DAG_ID = "example_twilio_push_operation"
SENSOR_TASK_ID = "wait_for_operation"
#: Seconds a send takes in the emulator: long enough that the sensor, which starts a few seconds after
#: the send on a loaded machine, still finds the operation PROCESSING and defers.
SEND_DURATION = 15
#: The operation the "watched" run waits for: it stays PROCESSING this long unless the test advances the
#: emulator's clock (the killed-triggerer test does, once a new triggerer has taken the trigger over).
WATCHED_DURATION = 600
#: 4 of 10 fail (code 52131): 40% > the example's max_failure_rate of 5%.
BREACHING_RECIPIENTS = [{"token": f"fail-52131-{i}", "provider": "FCM"} for i in range(4)] + [
    {"token": f"device-token-{i}", "provider": "APN"} for i in range(6)
]


@pytest.fixture(scope="session")
def airflow_dag_folders() -> list[Path]:
    return [HERE / "dags", HERE.parents[1] / "example_dags"]


@pytest.fixture(scope="session")
def canary_token() -> str:
    """The auth token of the e2e emulator: Airflow must never write it anywhere."""
    return f"tok-CANARY-{secrets.token_hex(16)}"


@pytest.fixture(scope="session")
def twilio_push_emulator_server(canary_token: str) -> Iterator[EmulatorProcess]:
    """The plugin's session emulator, for the e2e tests with a canary auth token and slower sends."""
    with EmulatorProcess(
        account_sid=f"AC{secrets.token_hex(16)}",
        auth_token=canary_token,
        args=["--duration", str(SEND_DURATION)],
    ) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def airflow_extra_env(twilio_push_emulator_server: EmulatorProcess) -> dict[str, str]:
    return {
        **twilio_push_emulator_server.conn_env,
        # The UI's Test button is disabled unless [core] test_connection is Enabled (tests/e2e/test_ui.py).
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
    }


@pytest.fixture(scope="session")
def airflow_harness(
    tmp_path_factory: pytest.TempPathFactory,
    airflow_dag_folders: list[Path],
    airflow_extra_env: dict[str, str],
) -> Iterator[AirflowHarness]:
    with run_airflow(tmp_path_factory.mktemp("airflow"), airflow_dag_folders, airflow_extra_env) as harness:
        yield harness


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for harness in getattr(item, "funcargs", {}).values():
            if isinstance(harness, AirflowHarness):
                report.sections.append(("Airflow component logs", harness.log_tails()))
    return report


@dataclass
class ExampleRuns:
    """Runs of ``example_twilio_push_operation``, started together and observed while their sensors waited."""

    default: str
    """Run id: the DAG's default recipients (40: 1 fails, 1 unaddressable)."""
    breaching: str
    """Run id: ``BREACHING_RECIPIENTS``, so ``operation_stats`` fails."""
    watched: str
    """Run id: watches ``watched_operation`` (conf ``operation_id``), which stays PROCESSING for long."""
    watched_operation: dict[str, Any]
    """The operation as the emulator's control API created it."""
    deferred: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Run id -> the sensor's task instance (REST) as first seen ``deferred``."""
    trigger_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Run id -> rows of the ``trigger`` table for the sensor, read while it was deferred."""
    deferred_task_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Run id -> the sensor's ``task_instance`` row (``next_method``, ``next_kwargs``...) while deferred."""

    @property
    def run_ids(self) -> list[str]:
        return [self.default, self.breaching, self.watched]


@pytest.fixture(scope="session")
def example_runs(
    airflow_harness: AirflowHarness, twilio_push_emulator_server: EmulatorProcess
) -> ExampleRuns:
    """Trigger three runs of the example DAG at once through the REST API and wait until each sensor is
    deferred, recording what the REST API and the database show meanwhile.

    The runs then go on in the background; each test waits for the ones it checks. Starting them
    together makes the e2e suite about a minute shorter than running them one after the other.
    """
    harness = airflow_harness
    harness.wait_for_dag(EXAMPLE_DAG_ID)
    watched_operation = twilio_push_emulator_server.control.create_operation(
        total=20, duration=WATCHED_DURATION, failure_ratio=0.05, unaddressable_ratio=0
    )
    runs = ExampleRuns(
        default=harness.trigger_dag(EXAMPLE_DAG_ID),
        breaching=harness.trigger_dag(EXAMPLE_DAG_ID, conf={"recipients": BREACHING_RECIPIENTS}),
        watched=harness.trigger_dag(EXAMPLE_DAG_ID, conf={"operation_id": watched_operation["id"]}),
        watched_operation=watched_operation,
    )

    def observe(run_id: str) -> bool:
        """Record the sensor's deferral; True once it is recorded."""
        if run_id in runs.trigger_rows:
            return True
        ti = harness.task_instance(EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID)
        if ti["state"] != "deferred":
            if ti["state"] in ("success", "failed", "upstream_failed", "skipped", "up_for_retry"):
                raise AirflowHarnessError(
                    f"{SENSOR_TASK_ID} of {run_id} ended {ti['state']} without deferring"
                )
            return False
        rows = harness.db_query("SELECT * FROM trigger WHERE id = ?", [ti["trigger"]["id"]])
        if not rows:  # the trigger already fired and was cleaned up: not deferred any more
            return False
        runs.deferred.setdefault(run_id, ti)
        runs.deferred_task_rows[run_id] = harness.db_query(
            "SELECT * FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ?",
            [EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID],
        )
        runs.trigger_rows[run_id] = rows
        return True

    deadline = time.monotonic() + 120
    while not all([observe(run_id) for run_id in runs.run_ids]):
        if time.monotonic() > deadline:
            raise AirflowHarnessError(
                f"timed out waiting for the sensors to defer; seen: {sorted(runs.trigger_rows)}\n"
                f"{harness.log_tails()}"
            )
        time.sleep(0.5)
    return runs
