"""One Airflow (scheduler, dag-processor, triggerer, api-server) for all end-to-end tests of the session.

Its DAG folders and extra environment are the session fixtures below; change them here, for instance::

    @pytest.fixture(scope="session")
    def airflow_extra_env(twilio_push_emulator_server: EmulatorProcess) -> dict[str, str]:
        return {CONN_ENV_VAR: twilio_push_emulator_server.conn_json}
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from .harness import AirflowHarness, run_airflow

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def airflow_dag_folders() -> list[Path]:
    return [HERE / "dags", HERE.parents[1] / "example_dags"]


@pytest.fixture(scope="session")
def airflow_extra_env() -> dict[str, str]:
    return {}


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
    harness = getattr(item, "funcargs", {}).get("airflow_harness")
    if report.failed and isinstance(harness, AirflowHarness):
        report.sections.append(("Airflow component logs", harness.log_tails()))
    return report
