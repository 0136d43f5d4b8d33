"""Shared by every test: an isolated Airflow home, the default connection, wire JSON of an operation."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import respx
import structlog
from structlog.testing import capture_logs

# Before Airflow is imported anywhere: never read or write the developer's ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="twilio-push-tests-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
OPERATION_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"


@pytest.fixture
def secret_token() -> str:
    """A password nothing may ever print: search for it in errors, logs and reprs."""
    return "tok-CANARY-9f1c2e7a"


@pytest.fixture
def twilio_conn(monkeypatch: pytest.MonkeyPatch, secret_token: str) -> dict[str, Any]:
    """The connection ``twilio_push_default`` (default base URL https://comms.twilio.com)."""
    conn = {"conn_type": "twilio_push", "login": ACCOUNT_SID, "password": secret_token}
    monkeypatch.setenv("AIRFLOW_CONN_TWILIO_PUSH_DEFAULT", json.dumps(conn))
    return conn


@pytest.fixture
def make_operation() -> Callable[..., dict[str, Any]]:
    """Wire JSON (camelCase) of an operation; keyword arguments replace top-level fields."""

    def make(**overrides: Any) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "id": OPERATION_ID,
            "status": "PROCESSING",
            "stats": {
                "total": 3,
                "recipients": 3,
                "unaddressable": 0,
                "scheduled": 0,
                "queued": 1,
                "sent": 2,
                "failed": 0,
                "canceled": 0,
            },
            "createdAt": "2024-01-15T09:30:00Z",
            "updatedAt": "2024-01-15T09:30:05Z",
        }
        operation.update(overrides)
        return operation

    return make


@pytest.fixture(autouse=True)
def _fresh_request_pacers() -> None:
    """Request pacers are per process and account: one test's 429 must not pause the next."""
    pacing = sys.modules.get("airflow_provider_twilio_push.core.pacing")
    if pacing is not None:  # importing it here would import Airflow for every test
        pacing._pacers.clear()


# The Comms API mocked at the transport, for the trigger and sensor unit tests.
MOCK_BASE_URL = "https://comms.twilio.com"
OPERATION_PATH = f"/v1/PushNotifications/Operations/{OPERATION_ID}"


@pytest.fixture
def fast_conn(twilio_conn: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``twilio_push_default`` with ``max_retries=1``: exhausting the hook's retries takes 2 requests."""
    conn = {**twilio_conn, "extra": {"max_retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_TWILIO_PUSH_DEFAULT", json.dumps(conn))
    return conn


@pytest.fixture
def api(fast_conn: dict[str, Any]) -> Iterator[respx.MockRouter]:
    """The Comms API, mocked at the transport; a request to any other route fails the test."""
    with respx.mock(base_url=MOCK_BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
def operation_route(api: respx.MockRouter) -> respx.Route:
    """``GET /v1/PushNotifications/Operations/{OPERATION_ID}``; give it a side_effect."""
    return api.get(OPERATION_PATH)


class AirflowCli:
    """``airflow`` commands in a subprocess, in an Airflow home of their own (sqlite)."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env

    def __call__(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), *args],
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def migrate(self) -> None:
        result = self("db", "migrate")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    def _query(self, sql: str, *params: str) -> list[Any]:
        with sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True) as db:
            return db.execute(sql, params).fetchall()

    def task_states(self, dag_id: str) -> dict[str, str]:
        """Each task's state in the DAG's runs (``dags test`` makes one)."""
        return dict(self._query("SELECT task_id, state FROM task_instance WHERE dag_id = ?", dag_id))

    def return_values(self, dag_id: str) -> dict[str, Any]:
        """Each task's ``return_value`` XCom in the DAG's runs."""
        return {
            # SQLite keeps a JSON number as a number, anything else as JSON text.
            task_id: json.loads(value) if isinstance(value, str | bytes) else value
            for task_id, value in self._query(
                "SELECT task_id, value FROM xcom WHERE dag_id = ? AND key = 'return_value'", dag_id
            )
        }


@pytest.fixture
def airflow_cli(tmp_path: Path, twilio_push_emulator: Any) -> Callable[..., AirflowCli]:
    """``airflow_cli(dags_folder, **env)``: a fresh Airflow home whose default connection is the
    emulator's; the commands see only these AIRFLOW_* variables (and ``env``)."""

    def make(dags_folder: Path, **env: str) -> AirflowCli:
        home = tmp_path / "airflow"
        home.mkdir()
        variables = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        variables |= {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_TWILIO_PUSH_DEFAULT": twilio_push_emulator.conn_json,
            **env,
        }
        return AirflowCli(home, variables)

    return make


#: Airflow's own warning on its sync connection lookup, which ``get_async_connection`` falls back to
#: before Airflow 3.3.2 (through structlog on 3.1): not a line of the code under test.
AIRFLOW_SCHEME_WARNING = "Connection schemes (type: twilio_push) shall not contain '_' according to RFC3986."


def _drop_airflow_scheme_warning(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    if event.get("event") == AIRFLOW_SCHEME_WARNING:
        raise structlog.DropEvent
    return event


class _Entries(logging.Handler):
    def __init__(self, entries: list[dict[str, Any]]) -> None:
        super().__init__(logging.DEBUG)
        self.entries = entries

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append({"event": record.getMessage(), "log_level": record.levelname.lower()})


@contextmanager
def _capture_airflow_logs(log: Any) -> Iterator[list[dict[str, Any]]]:
    with capture_logs() as entries:
        structlog.get_config()["processors"].insert(0, _drop_airflow_scheme_warning)
        if not isinstance(log, logging.Logger):
            yield entries
            return
        handler, level = _Entries(entries), log.level
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        try:
            yield entries
        finally:
            log.removeHandler(handler)
            log.setLevel(level)


@pytest.fixture
def airflow_logs() -> Callable[[Any], AbstractContextManager[list[dict[str, Any]]]]:
    """``with airflow_logs(obj.log) as entries``: what the code under test logs through its ``self.log``,
    as dicts with ``event`` (the formatted message) and ``log_level``. Airflow 3.1+ logs operators and
    triggers through structlog, 3.0 through a stdlib logger of the class."""
    return _capture_airflow_logs
