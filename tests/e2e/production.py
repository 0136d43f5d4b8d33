"""A production-like Airflow for end-to-end tests: PostgreSQL, the CeleryExecutor with Redis as its
broker, two Celery workers, two triggerers, scheduler, dag-processor and api-server::

    with run_production_airflow(home, [dag_folder], {"AIRFLOW_CONN_X": "..."}) as airflow:
        airflow.kill_component("celery-worker-1")  # the AirflowHarness of tests/e2e/harness.py

PostgreSQL and Redis are each a subprocess on a free loopback port, started for the test and stopped
(their files removed) after it.

Both come from Debian's packages (``postgresql``, ``redis-server``), which ``make install`` installs.
PostgreSQL refuses to run as root: when the tests run as root, the server runs as the unprivileged
``postgres`` user, and its data directory is then a directory of its own under the system's temporary
directory (pytest's temporary directories are private to the user running the tests).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from .harness import AirflowHarness, free_port, tail, wait_until

#: Where Debian installs PostgreSQL's server programs (one folder per major version).
POSTGRES_BIN_DIRS = "/usr/lib/postgresql/*/bin"
REDIS_SERVER = "/usr/bin/redis-server"


class ServiceError(RuntimeError):
    pass


def postgres_bin_dir() -> Path:
    found = sorted(Path("/").glob(POSTGRES_BIN_DIRS.lstrip("/")), key=lambda p: int(p.parent.name))
    if not found or not (found[-1] / "postgres").exists():
        raise ServiceError(
            f"PostgreSQL's server is not installed ({POSTGRES_BIN_DIRS}/postgres): run `make install`"
        )
    return found[-1]


def _stop(proc: subprocess.Popen[bytes], sig: int, grace: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


class Postgres:
    """A PostgreSQL cluster of its own: ``initdb``, then ``postgres`` on a free port, unix socket in the
    data directory's parent, trust authentication on loopback only, a database ``airflow``.

    Durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the cluster is thrown
    away after the test, and the 2-core CI machine spends its time on Airflow instead.
    """

    def __init__(self, log_dir: Path, database: str = "airflow", user: str = "airflow") -> None:
        self.log_path = log_dir / "postgres.log"
        self.database = database
        self.user = user
        self.port = free_port()
        self.bin = postgres_bin_dir()
        self.run_as = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="airflow-e2e-postgres-"))
        self.data = self.root / "data"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={self.database}"

    def _run(self, command: list[str], log: object) -> subprocess.Popen[bytes]:
        user = (
            {}
            if self.run_as is None
            else {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}
        )
        return subprocess.Popen(
            command,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=log,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "TZ": "UTC"},
            **user,  # type: ignore[arg-type]
        )

    def start(self, timeout: float = 120) -> None:
        if self.run_as is not None:
            os.chown(self.root, self.run_as.pw_uid, self.run_as.pw_gid)
        with self.log_path.open("ab") as log:
            initdb = self._run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                    "--no-instructions",
                ],
                log,
            )
            if initdb.wait(timeout) != 0:
                raise ServiceError(f"initdb failed:\n{tail(self.log_path)}")
            self.proc = self._run(
                [
                    str(self.bin / "postgres"),
                    "-D", str(self.data),
                    "-p", str(self.port),
                    "-k", str(self.root),
                    "-c", "listen_addresses=127.0.0.1",
                    "-c", "max_connections=300",
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                ],
                log,
            )  # fmt: skip
        wait_until(self._ready, timeout, "PostgreSQL to accept connections")
        self.execute(f'CREATE DATABASE "{self.database}"', database="postgres")

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise ServiceError(f"postgres exited with {self.proc.returncode}:\n{tail(self.log_path)}")
        import psycopg2

        try:
            psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres").close()
        except psycopg2.OperationalError:
            return False
        return True

    def execute(self, sql: str, database: str | None = None) -> None:
        import psycopg2

        db = psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname=database or self.database
        )
        try:
            db.autocommit = True
            with db.cursor() as cursor:
                cursor.execute(sql)
        finally:
            db.close()

    def stop(self) -> None:
        """A fast shutdown (SIGINT: clients are disconnected), then the cluster's files go."""
        if self.proc is not None:
            _stop(self.proc, signal.SIGINT, grace=30)
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Postgres:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Redis:
    """``redis-server`` on a free loopback port, without persistence: Celery's broker."""

    def __init__(self, log_dir: Path) -> None:
        self.log_path = log_dir / "redis.log"
        self.port = free_port()
        self.dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 60) -> None:
        if not Path(REDIS_SERVER).exists():
            raise ServiceError(f"{REDIS_SERVER} is not installed: run `make install`")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--bind", "127.0.0.1",
                    "--port", str(self.port),
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(self.dir),
                    "--daemonize", "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_until(self._ready, timeout, "Redis to answer PING")

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise ServiceError(f"redis-server exited with {self.proc.returncode}:\n{tail(self.log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, signal.SIGTERM, grace=20)
            self.proc = None

    def __enter__(self) -> Redis:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


TRIGGERERS = ("triggerer-1", "triggerer-2")
CELERY_WORKERS = ("celery-worker-1", "celery-worker-2")
#: Tasks each Celery worker runs at once.
WORKER_CONCURRENCY = 4


def production_components() -> dict[str, list[str]]:
    components = {
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "api-server": ["api-server"],
    }
    for name in CELERY_WORKERS:
        components[name] = [
            "celery", "worker",
            "--celery-hostname", f"{name}@%h",
            "--concurrency", str(WORKER_CONCURRENCY),
            "--skip-serve-logs",
            "--without-mingle",
            "--without-gossip",
        ]  # fmt: skip
    for name in TRIGGERERS:
        components[name] = ["triggerer", "--skip-serve-logs"]
    return components


@contextlib.contextmanager
def run_production_airflow(
    home: Path, dag_folders: Sequence[Path], extra_env: Mapping[str, str] | None = None, timeout: float = 300
) -> Iterator[AirflowHarness]:
    """Start PostgreSQL, Redis and Airflow's components in ``home`` (a fresh directory); stop all of them
    on exit. ``harness.startup_seconds`` is how long all that took."""
    started = time.monotonic()
    services_dir = home / "services"
    services_dir.mkdir(parents=True)
    with Postgres(services_dir) as postgres, Redis(services_dir) as redis:
        env = {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(WORKER_CONCURRENCY * len(CELERY_WORKERS)),
            "AIRFLOW__CELERY__BROKER_URL": redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{postgres.url}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            # A task whose worker died is failed (and retried) this long after its last heartbeat.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            **(extra_env or {}),
        }
        harness = AirflowHarness(home, dag_folders, env, production_components())
        try:
            harness.start(timeout)
            harness.startup_seconds = time.monotonic() - started  # with PostgreSQL's and Redis's
            yield harness
        finally:
            harness.stop()
