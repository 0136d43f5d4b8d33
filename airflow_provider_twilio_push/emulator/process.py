"""Run the emulator in a subprocess for the length of a ``with`` block."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from airflow_provider_twilio_push.emulator import (
    CONN_ENV_VAR,
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_HOST,
    DEFAULT_SEED,
)
from airflow_provider_twilio_push.emulator.control import EmulatorControl

_READY_RE = re.compile(r"^Twilio Push emulator listening on (http://\S+)$")
_CONN_RE = re.compile(rf"^export {CONN_ENV_VAR}='(.*)'$")


class EmulatorStartError(RuntimeError):
    """The emulator exited or stayed silent instead of printing its ready lines."""


class EmulatorProcess:
    """``sys.executable -m airflow_provider_twilio_push.emulator`` as a context manager.

    Entering starts it and waits for its ready lines (``base_url``, ``conn_json``); leaving stops
    it by its pid (SIGTERM, then SIGKILL after ``stop_timeout``). The emulator also stops by
    itself if this process dies.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = DEFAULT_HOST,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        seed: int = DEFAULT_SEED,
        listing_delay: float = 0.0,
        args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        cpu_affinity: Iterable[int] | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.command = [
            sys.executable,
            "-m",
            "airflow_provider_twilio_push.emulator",
            "--host",
            host,
            "--port",
            str(port),
            "--account-sid",
            account_sid,
            "--auth-token",
            auth_token,
            "--seed",
            str(seed),
            "--listing-delay",
            str(listing_delay),
            "--exit-with-parent",
            *args,
        ]
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.cpu_affinity = None if cpu_affinity is None else set(cpu_affinity)
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._base_url: str | None = None
        self._conn_json: str | None = None
        self._control: EmulatorControl | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> EmulatorProcess:
        if self._proc is not None:
            raise RuntimeError("the emulator process was already started")
        self._dir = Path(tempfile.mkdtemp(prefix="twilio-push-emulator-"))
        affinity = self.cpu_affinity

        def pin() -> None:
            if affinity is not None:
                os.sched_setaffinity(0, affinity)

        with (self._dir / "stdout").open("wb") as stdout, (self._dir / "stderr").open("wb") as stderr:
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                preexec_fn=pin if affinity is not None else None,
            )
        atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        assert self._dir is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            lines = (self._dir / "stdout").read_bytes().decode(errors="replace").split("\n")
            if len(lines) >= 3:  # two complete lines
                ready, conn = _READY_RE.match(lines[0]), _CONN_RE.match(lines[1])
                if not ready or not conn:
                    raise EmulatorStartError(f"unexpected ready lines from the emulator: {lines[:2]!r}")
                self._base_url = ready.group(1)
                self._conn_json = conn.group(1)
                json.loads(self._conn_json)
                return
            if self._proc.poll() is not None:
                raise EmulatorStartError(
                    f"the emulator exited with status {self._proc.returncode} before it was ready:\n"
                    + self.logs()[-4000:]
                )
            if time.monotonic() > deadline:
                raise EmulatorStartError(
                    f"the emulator did not report ready within {self.startup_timeout} s:\n"
                    + self.logs()[-4000:]
                )
            time.sleep(0.02)

    def stop(self) -> int | None:
        """Stop the emulator (SIGTERM, SIGKILL after ``stop_timeout``); its exit status."""
        atexit.unregister(self.stop)
        if self._control is not None:
            self._control.close()
            self._control = None
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return None if proc is None else proc.returncode

    def cleanup(self) -> None:
        """Stop, and remove the directory of the emulator's output."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # -- what tests use --------------------------------------------------------------------

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the emulator process is not started")
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._base_url is None:
            raise RuntimeError("the emulator process is not started")
        return self._base_url

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    @property
    def conn_json(self) -> str:
        """The value of ``AIRFLOW_CONN_TWILIO_PUSH_DEFAULT`` that points at this emulator."""
        if self._conn_json is None:
            raise RuntimeError("the emulator process is not started")
        return self._conn_json

    @property
    def conn_env(self) -> dict[str, str]:
        return {CONN_ENV_VAR: self.conn_json}

    @property
    def control(self) -> EmulatorControl:
        if self._control is None:
            self._control = EmulatorControl(self.base_url)
        return self._control

    def logs(self) -> str:
        """What the emulator wrote to stderr so far."""
        if self._dir is None or not (self._dir / "stderr").exists():
            return ""
        return (self._dir / "stderr").read_text(errors="replace")
