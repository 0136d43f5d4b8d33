"""The command line: ready lines, loopback only, clean exit on SIGINT/SIGTERM; EmulatorProcess."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from airflow_provider_twilio_push.emulator import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, EmulatorProcess

from .helpers import OPERATIONS

MODULE = [sys.executable, "-m", "airflow_provider_twilio_push.emulator"]
READY_RE = re.compile(r"Twilio Push emulator listening on (http://127\.0\.0\.1:(\d+))")
CONN_RE = re.compile(r"export AIRFLOW_CONN_TWILIO_PUSH_DEFAULT='(.*)'")


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen([*MODULE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = [proc.stdout.readline().rstrip("\n"), proc.stdout.readline().rstrip("\n")]
    return proc, lines


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ready_lines_then_a_clean_exit_on_signal(sig: int) -> None:
    proc, lines = _start("--port", "0")
    try:
        ready = READY_RE.fullmatch(lines[0])
        assert ready, lines
        base_url, port = ready.group(1), int(ready.group(2))
        assert port > 0
        conn_line = CONN_RE.fullmatch(lines[1])
        assert conn_line, lines
        assert json.loads(conn_line.group(1)) == {
            "conn_type": "twilio_push",
            "host": base_url,
            "login": DEFAULT_ACCOUNT_SID,
            "password": DEFAULT_AUTH_TOKEN,
        }
        # It accepts connections as soon as it has said so.
        response = httpx.get(
            f"{base_url}{OPERATIONS}", auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN), trust_env=False
        )
        assert response.status_code == 200
        # The second line, pasted into a shell, sets the connection for what that shell starts.
        shell = subprocess.run(
            ["bash", "-c", f"{lines[1]}\nprintenv AIRFLOW_CONN_TWILIO_PUSH_DEFAULT"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert shell.stdout == conn_line.group(1) + "\n"
    finally:
        status = _stop(proc, sig)
    assert status == 0
    assert proc.stdout is not None
    assert proc.stdout.read() == ""  # nothing but the two lines on stdout


def test_fixed_port_and_credentials() -> None:
    port = _free_port()
    proc, lines = _start("--port", str(port), "--account-sid", "ACcustom", "--auth-token", "custom-token")
    try:
        assert lines[0] == f"Twilio Push emulator listening on http://127.0.0.1:{port}"
        conn = json.loads(CONN_RE.fullmatch(lines[1]).group(1))  # type: ignore[union-attr]
        assert (conn["login"], conn["password"]) == ("ACcustom", "custom-token")
        url = f"http://127.0.0.1:{port}{OPERATIONS}"
        assert httpx.get(url, auth=("ACcustom", "custom-token"), trust_env=False).status_code == 200
        assert (
            httpx.get(url, auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN), trust_env=False).status_code == 401
        )
    finally:
        assert _stop(proc) == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com", "::"])
def test_non_loopback_hosts_are_refused(host: str) -> None:
    result = subprocess.run([*MODULE, "--host", host], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "is not a loopback address" in result.stderr
    assert result.stdout == ""


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "twilio-push-emulator"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "--port" in result.stdout
    assert "--seed" in result.stdout


def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run([*MODULE, "--port", str(port)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_emulator_process_stops_its_server_even_when_the_block_fails() -> None:
    emulator = EmulatorProcess()

    def failing_test() -> None:
        with emulator:
            assert emulator.control.info()["base_url"] == emulator.base_url
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_test()
    pid = emulator.pid
    assert emulator.returncode == 0
    assert not _alive(pid)


def test_the_server_stops_when_its_parent_dies(tmp_path: Path) -> None:
    # A parent that starts an emulator and dies without cleaning up (as a killed test run would).
    script = textwrap.dedent(
        """
        import os, sys
        from airflow_provider_twilio_push.emulator import EmulatorProcess
        emulator = EmulatorProcess().start()
        print(emulator.pid, flush=True)
        os._exit(0)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(result.stdout.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("the orphaned emulator kept running")


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_process_that_cannot_start_says_why() -> None:
    with pytest.raises(RuntimeError, match="exited with status 2"):
        EmulatorProcess(host="10.1.2.3").start()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "must be a number of seconds >= 0, got -1"),
        ("soon", "must be a number of seconds >= 0, got soon"),
    ],
)
def test_a_bad_listing_delay_is_refused(value: str, message: str) -> None:
    result = subprocess.run([*MODULE, "--listing-delay", value], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"argument --listing-delay: {message}" in result.stderr
    assert result.stdout == ""


def test_the_listing_delay_flag_sets_the_delay() -> None:
    proc, lines = _start("--port", "0", "--listing-delay", "1.5")
    try:
        match = READY_RE.fullmatch(lines[0])
        assert match, lines
        response = httpx.get(f"{match.group(1)}/_emulator/listing-delay", trust_env=False)
        assert response.json() == {"seconds": 1.5}
    finally:
        assert _stop(proc) == 0
