"""One Airflow (scheduler, dag-processor, triggerer, api-server) for all end-to-end tests of the session.

Override ``airflow_dag_folders`` or ``airflow_extra_env`` here to give it more DAGs or settings (for instance
an ``AIRFLOW_CONN_...`` that points at an emulator started by another session fixture).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from .harness import AirflowHarness, run_airflow

DAGS = Path(__file__).parent / "dags"


@pytest.fixture(scope="session")
def airflow_dag_folders() -> list[Path]:
    return [DAGS]


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
