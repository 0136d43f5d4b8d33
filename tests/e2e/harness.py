"""Run real Airflow components (scheduler, dag-processor, triggerer, api-server) for end-to-end tests.

Each component is its own subprocess in its own session, logging to ``<home>/logs/components/``, so a test
can kill the triggerer while a task is deferred and start a new one. Everything is driven through the
public REST API v2 of the api-server; the metadata database can be read directly (``db_query``).

By default: SQLite and the LocalExecutor, one of each component. ``tests/e2e/production.py`` runs the
same harness on PostgreSQL with the CeleryExecutor, two Celery workers and two triggerers.

In tests, use the ``airflow_harness`` fixture (tests/e2e/conftest.py); elsewhere::

    with run_airflow(home, [dag_folder], {"AIRFLOW_CONN_X": "..."}) as airflow:
        airflow.wait_for_dag("my_dag")
        run_id = airflow.trigger_dag("my_dag", conf={"key": "value"})
        assert airflow.wait_for_run("my_dag", run_id) == "success"
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
from cryptography.fernet import Fernet

AIRFLOW_BIN = Path(sys.executable).parent / "airflow"
#: The ``airflow`` command of each component, by the name the harness gives its process.
COMPONENTS: dict[str, list[str]] = {
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
    "api-server": ["api-server"],
}
#: What a Celery worker logs once it takes tasks.
CELERY_READY = " ready."
FINAL_RUN_STATES = frozenset({"success", "failed"})
T = TypeVar("T")


class AirflowHarnessError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def airflow_env(home: Path, port: int, extra_env: Mapping[str, str]) -> dict[str, str]:
    """The environment of every Airflow process: the caller's env minus any Airflow settings, plus ours."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        {
            # Airflow's modules compiled once (by `db migrate`) instead of in every process: half the CPU.
            "PYTHONPYCACHEPREFIX": str(home / "pycache"),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            # `db migrate` runs first; the components need not load every migration script again.
            "AIRFLOW__DATABASE__CHECK_MIGRATIONS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            # Workers reach the Execution API at http://localhost:8080 unless told otherwise.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            # Avoids a 3.3.2 race where a stale worker report fails a deferred task after its trigger fired.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
            # A new triggerer adopts the triggers of a dead one once its heartbeat is older than the threshold.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        }
    )
    env.update(extra_env)
    return env


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Call ``check`` until it returns something other than None (or False) and return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop_processes(procs: Sequence[subprocess.Popen[bytes]], sig: int, grace: float) -> None:
    """Send ``sig`` to each process, wait up to ``grace`` seconds, then SIGKILL every process group and
    every descendant still alive (task processes put themselves in process groups of their own).

    The signal is sent once: a second SIGTERM makes the triggerer "force" an exit that can hang.
    """
    descendants: list[psutil.Process] = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            descendants += psutil.Process(proc.pid).children(recursive=True)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    for child in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    for proc in procs:
        proc.wait(10)
    psutil.wait_procs(descendants, timeout=10)


class AirflowHarness:
    """Airflow's components as subprocesses of the test, sharing a temporary AIRFLOW_HOME."""

    def __init__(
        self,
        home: Path,
        dag_folders: Sequence[Path],
        extra_env: Mapping[str, str],
        components: Mapping[str, Sequence[str]] = COMPONENTS,
    ) -> None:
        """``components``: the ``airflow`` command of each process, by name; every name starting with
        ``triggerer`` is a triggerer, every name starting with ``celery-worker`` a Celery worker."""
        self.home = home
        self.components = {name: list(command) for name, command in components.items()}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = airflow_env(home, self.port, extra_env)
        self.dags_folder = home / "dags"
        self.logs_dir = home / "logs"
        self.components_log_dir = self.logs_dir / "components"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.component_logs: dict[str, Path] = {}
        #: The id of each triggerer's job (``job`` and ``trigger.triggerer_id``), by process name.
        self.triggerer_jobs: dict[str, int] = {}
        #: Seconds from ``start()`` until every component was ready.
        self.startup_seconds = 0.0
        self._log_counter: dict[str, int] = {}
        self.dags_folder.mkdir(parents=True)
        self.components_log_dir.mkdir(parents=True)
        for folder in dag_folders:
            self.add_dag_folder(folder)
        self.client = httpx.Client(base_url=self.base_url, timeout=30)

    # --- processes -------------------------------------------------------------------------------

    def start(self, timeout: float = 180) -> None:
        started = time.monotonic()
        migrate_log = self.components_log_dir / "db-migrate.log"
        with migrate_log.open("wb") as log:
            result = subprocess.run(
                [str(AIRFLOW_BIN), "db", "migrate"],
                env=self.env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if result.returncode != 0:
            raise AirflowHarnessError(f"airflow db migrate failed:\n{tail(migrate_log)}")
        for name in self.components:
            if not name.startswith("triggerer"):
                self._spawn(name)
        # One after the other, so that each triggerer's job id is known (they share a hostname).
        for name in self.triggerer_names:
            self.start_triggerer(name, timeout)
        self._wait(self._all_healthy, timeout, "every component to be healthy")
        for name in self.components:
            if name.startswith("celery-worker"):
                self._wait(
                    lambda name=name: CELERY_READY in tail(self.component_logs[name], 200),
                    timeout,
                    f"{name} to be ready",
                )
        # The api-server builds its Execution API on the first request to it, which takes 5-20 s here; the
        # first task's worker would time out (after 5 s) and retry while it does.
        self.client.get("/execution/health", timeout=timeout).raise_for_status()
        token = self.client.get("/auth/token").raise_for_status().json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.startup_seconds = time.monotonic() - started

    def _spawn(self, name: str) -> None:
        count = self._log_counter[name] = self._log_counter.get(name, 0) + 1
        log_path = self.components_log_dir / (f"{name}.log" if count == 1 else f"{name}-{count}.log")
        with log_path.open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [str(AIRFLOW_BIN), *self.components[name]],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.component_logs[name] = log_path

    def _wait(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        def check_alive() -> T | None:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise AirflowHarnessError(
                        f"{name} exited with {proc.returncode} while waiting for {what}:\n"
                        f"{tail(self.component_logs[name])}"
                    )
            return check()

        try:
            return wait_until(check_alive, timeout, what)
        except TimeoutError as e:
            raise AirflowHarnessError(f"{e}\n{self.log_tails()}") from e

    def health(self) -> dict[str, Any] | None:
        try:
            response = self.client.get("/api/v2/monitor/health")
        except httpx.TransportError:
            return None
        if response.status_code != 200:
            return None
        health: dict[str, Any] = response.json()
        return health

    def _all_healthy(self) -> bool:
        health = self.health()
        return health is not None and all(part.get("status") == "healthy" for part in health.values())

    def stop_component(self, name: str, sig: int = signal.SIGTERM, grace: float = 20) -> None:
        proc = self.processes.pop(name, None)
        if proc is not None:
            stop_processes([proc], sig, grace)

    def kill_component(self, name: str) -> None:
        """SIGKILL the component and every process it started at once, as when its machine dies."""
        proc = self.processes.pop(name, None)
        if proc is None:
            raise AirflowHarnessError(f"no {name} is running")
        tree = [psutil.Process(proc.pid)]
        with contextlib.suppress(psutil.NoSuchProcess):
            tree += tree[0].children(recursive=True)
        for member in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        proc.wait(10)
        psutil.wait_procs(tree, timeout=10)

    @property
    def triggerer_names(self) -> list[str]:
        return [name for name in self.components if name.startswith("triggerer")]

    def start_triggerer(self, name: str = "triggerer", timeout: float = 90) -> None:
        """Start a triggerer (its log goes to a new file) and wait until its job heartbeats."""
        if name in self.processes:
            raise AirflowHarnessError(f"{name} is already running")
        known = self.db_query("SELECT max(id) AS id FROM job WHERE job_type = 'TriggererJob'")[0]["id"] or 0
        self._spawn(name)

        def new_job() -> int | None:
            rows = self.db_query(
                "SELECT id FROM job WHERE job_type = 'TriggererJob' AND id > ? AND latest_heartbeat IS NOT NULL",
                [known],
            )
            return rows[0]["id"] if rows else None

        self.triggerer_jobs[name] = self._wait(new_job, timeout, f"the new {name} to heartbeat")

    def kill_triggerer(self, name: str = "triggerer", signal: int = signal.SIGKILL) -> None:
        """Kill the triggerer with ``signal`` (a crash, by default), then whatever is left of its processes."""
        if name not in self.processes:
            raise AirflowHarnessError(f"no {name} is running")
        self.stop_component(name, signal, grace=10)

    def restart_triggerer(self, name: str = "triggerer", timeout: float = 90) -> None:
        self.stop_component(name)
        self.start_triggerer(name, timeout)

    def stop(self) -> None:
        self.client.close()
        # Short grace: a triggerer whose trigger runner ignores SIGINT waits 10 s before escalating itself.
        stop_processes(list(self.processes.values()), signal.SIGTERM, grace=5)
        self.processes.clear()
        leftovers = self.leftover_processes()
        for proc in leftovers:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        if leftovers:
            raise AirflowHarnessError(f"processes survived the teardown: {[p.pid for p in leftovers]}")

    def leftover_processes(self) -> list[psutil.Process]:
        """Processes still running with this harness's AIRFLOW_HOME: only ours can have it."""
        found = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if proc.environ().get("AIRFLOW_HOME") == str(self.home) and proc.status() != "zombie":
                    found.append(proc)
        return found

    # --- files -----------------------------------------------------------------------------------

    def add_dag_folder(self, folder: Path) -> None:
        """Link ``folder`` into the DAGs folder; the dag-processor picks it up within a few seconds."""
        link = self.dags_folder / folder.name
        if link.exists():
            raise AirflowHarnessError(f"a DAG folder named {folder.name!r} is already linked")
        link.symlink_to(folder.resolve(), target_is_directory=True)

    def log_files(self) -> list[Path]:
        """Every log file: component logs, task logs, dag-processor logs."""
        return sorted(p for p in self.logs_dir.rglob("*") if p.is_file())

    def trigger_logs(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> dict[int, str]:
        """The logs the triggerers wrote for this task's trigger, by triggerer job id."""
        task_dir = self.logs_dir / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return {
            int(path.name.split(".")[-2]): path.read_text(errors="replace")
            for path in task_dir.glob(f"attempt={try_number}.log.trigger.*.log")
        }

    def triggerer_lines(self, *needles: str, latest_only: bool = False) -> str:
        """The lines of the triggerers' own logs (of the latest triggerer only, if asked) that mention
        one of ``needles``.

        A trigger's last lines can land there instead of in its log file: Airflow closes that file when
        the trigger runner reports the trigger finished, and lines still in flight on the separate log
        channel then go to the triggerer's own log.
        """
        paths = (
            [self.component_logs["triggerer"]]
            if latest_only
            else sorted(self.components_log_dir.glob("triggerer*.log"))
        )
        return "\n".join(
            line
            for path in paths
            for line in path.read_text(errors="replace").splitlines()
            if any(needle in line for needle in needles)
        )

    def log_tails(self, lines: int = 40) -> str:
        return "\n".join(
            f"----- {path.name} (last {lines} lines) -----\n{tail(path, lines)}"
            for path in sorted(self.components_log_dir.glob("*.log"))
        )

    def db_query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Read the metadata database directly, read-only; ``?`` stands for each of ``params``."""
        url = self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        if url.startswith("postgresql"):
            return _postgres_query(url, sql, params)
        db = sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in db.execute(sql, params)]
        finally:
            db.close()

    # --- REST API --------------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, f"/api/v2{path}", **kwargs)
        if response.is_error:
            raise AirflowHarnessError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 60) -> dict[str, Any]:
        """Wait until the dag-processor has parsed the DAG, unpause it and return it."""

        def parsed() -> bool:
            response = self.client.get(f"/api/v2/dags/{dag_id}")
            return response.status_code == 200

        try:
            self._wait(parsed, timeout, f"DAG {dag_id} to be parsed")
        except AirflowHarnessError as e:
            errors = self.api("GET", "/importErrors")["import_errors"]
            raise AirflowHarnessError(f"{e}\nimport errors: {errors}") from e
        dag: dict[str, Any] = self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        return dag

    def trigger_dag(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        run = self.api(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf or {})}
        )
        run_id: str = run["dag_run_id"]
        return run_id

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        return run

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120) -> str:
        """Wait until the run is finished and return its final state ("success" or "failed")."""

        def final_state() -> str | None:
            state: str = self.dag_run(dag_id, run_id)["state"]
            return state if state in FINAL_RUN_STATES else None

        return self._wait(final_state, timeout, f"run {run_id} of {dag_id} to finish")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        tis: list[dict[str, Any]] = response["task_instances"]
        return tis

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        ti: dict[str, Any] = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        return ti

    def wait_for_task_state(
        self, dag_id: str, run_id: str, task_id: str, states: Iterable[str], timeout: float = 60
    ) -> dict[str, Any]:
        """Wait until the task instance is in one of ``states`` and return it."""
        wanted = set(states)

        def in_state() -> dict[str, Any] | None:
            ti = self.task_instance(dag_id, run_id, task_id)
            return ti if ti["state"] in wanted else None

        return self._wait(in_state, timeout, f"{task_id} of {run_id} to be in {sorted(wanted)}")

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        entry = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        return entry["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task's log as text, one line per structured log event."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        content = self.api("GET", path, params={"full_content": True})["content"]
        return "\n".join(_log_line(entry) for entry in content)


def _log_line(entry: str | dict[str, Any]) -> str:
    if isinstance(entry, str):
        return entry
    fields = {k: v for k, v in entry.items() if k != "logger"}
    head = [str(fields.pop(k, "")) for k in ("timestamp", "level", "event")]
    return " ".join([*head, *(f"{k}={v}" for k, v in fields.items())])


def _postgres_query(url: str, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    import psycopg2
    import psycopg2.extras

    dsn = url.replace("postgresql+psycopg2://", "postgresql://", 1)
    db = psycopg2.connect(dsn, cursor_factory=psycopg2.extras.RealDictCursor)
    try:
        db.set_session(readonly=True, autocommit=True)
        with db.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), list(params))
            return [dict(row) for row in cursor.fetchall()]
    finally:
        db.close()


@contextlib.contextmanager
def run_airflow(
    home: Path,
    dag_folders: Sequence[Path],
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 180,
    components: Mapping[str, Sequence[str]] = COMPONENTS,
) -> Iterator[AirflowHarness]:
    """Start Airflow in ``home`` (a fresh directory) and stop every process it started on exit.

    Each of ``dag_folders`` is linked into the DAGs folder under its own name. ``extra_env`` goes to every
    Airflow process after the harness's settings, so it may also override them.
    """
    harness = AirflowHarness(home, dag_folders, extra_env or {}, components)
    try:
        harness.start(timeout)
        yield harness
    finally:
        harness.stop()
