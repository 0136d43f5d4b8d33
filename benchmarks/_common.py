"""Helpers shared by the benchmark scripts: workers in pinned subprocesses, /proc readings, stats.

A benchmark is a driver (this process: starts the emulator, prepares data, reads its counters)
and workers (subprocesses pinned to another CPU, each measuring one thing). A worker starts,
imports what it needs, says ``READY``, waits for a ``go`` line on stdin, measures, and answers
one JSON line. Its stdout is /dev/null (the trigger logs Airflow renders still cost what they
cost, then vanish); the protocol runs on a copy of the original stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO, TypeVar

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
EMULATOR_CPU = 0
CLIENT_CPU = 1


# -- environment ------------------------------------------------------------------------------


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of worker processes.

    Some machines set ``PYTHONDONTWRITEBYTECODE``: every interpreter then compiles Airflow from
    source (6-20 s per start here). Workers keep their bytecode under ``benchmarks/results``
    instead, as any real installation does in site-packages.
    """
    env = dict(os.environ)
    if env.pop("PYTHONDONTWRITEBYTECODE", None) is not None or "PYTHONPYCACHEPREFIX" not in env:
        env.setdefault("PYTHONPYCACHEPREFIX", str(RESULTS_DIR / "pycache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH", "")]))
    env.setdefault("AIRFLOW_HOME", str(RESULTS_DIR / "airflow_home"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.update(extra or {})
    return env


def pinning() -> tuple[set[int] | None, set[int] | None]:
    """(emulator CPUs, client CPUs): one core each when this process may use both."""
    cpus = os.sched_getaffinity(0)
    if {EMULATOR_CPU, CLIENT_CPU} <= cpus:
        return {EMULATOR_CPU}, {CLIENT_CPU}
    return None, None


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = proc_status_kib("MemTotal", Path("/proc/meminfo"))
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem / 2**20, 1) if mem else None,
        "python": sys.version.split()[0],
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def package_versions(names: Sequence[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        with suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


# -- /proc ------------------------------------------------------------------------------------


def proc_status_kib(key: str, path: Path = Path("/proc/self/status")) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_mib() -> float:
    return proc_status_kib("VmRSS") / 1024


def peak_rss_mib() -> float:
    return proc_status_kib("VmHWM") / 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if the kernel refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> dict[str, float | None]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x * scale, digits)

    return {
        "p50": r(percentile(values, 50)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values) if values else None),
        "n": len(values),
    }


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# -- workers ----------------------------------------------------------------------------------


class WorkerError(RuntimeError):
    pass


class Worker:
    """A benchmark subprocess: ``python SCRIPT --worker CONFIG``, pinned, READY/go/result.

    Stopped by its pid only (SIGTERM, then SIGKILL) if it overstays.
    """

    def __init__(
        self,
        script: Path,
        config: dict[str, Any],
        *,
        cpus: set[int] | None,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
    ) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="twilio-push-bench-"))
        config_path = self._dir / "config.json"
        config_path.write_text(json.dumps(config))
        self._stderr = (self._dir / "stderr").open("wb")

        def pin() -> None:
            if cpus is not None:
                os.sched_setaffinity(0, cpus)

        self.proc = subprocess.Popen(
            [sys.executable, str(script), "--worker", str(config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=bench_env(env),
            preexec_fn=pin,
            text=True,
        )
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Wait for the worker's READY (it has imported and prepared what it needs)."""
        try:
            line = self._readline(timeout)
        except BaseException:
            self.stop()
            raise
        if line.strip() != "READY":
            self.stop()
            raise WorkerError(f"worker said {line!r} instead of READY:\n{self.stderr()[-3000:]}")

    def _readline(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise WorkerError(f"no answer from the worker within {timeout:.0f} s:\n{self.stderr()[-3000:]}")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise WorkerError(
                f"the worker exited ({self.proc.returncode}) without answering:\n{self.stderr()[-3000:]}"
            )
        return line

    def expect(self, line: str, timeout: float) -> None:
        """Wait for ``line`` from the worker (e.g. a checkpoint it announces)."""
        said = self._readline(timeout).strip()
        if said != line:
            self.stop()
            raise WorkerError(f"worker said {said[:200]!r} instead of {line}:\n{self.stderr()[-3000:]}")

    def go(self, message: dict[str, Any] | None = None) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message or {}) + "\n")
        self.proc.stdin.flush()

    def result(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._readline(timeout)
            result: dict[str, Any] = json.loads(line)
            self.proc.wait(30)
            return result
        finally:
            self.stop()

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return (self._dir / "stderr").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._stderr.closed:
            self._stderr.close()


class WorkerChannel:
    """The worker's side of the protocol with the driver (a copy of its original stdout)."""

    def __init__(self, proto: TextIO) -> None:
        self._proto = proto

    def wait_for_go(self) -> dict[str, Any]:
        """Say READY (imports done, ready to measure) and block until the driver's go line."""
        self.say("READY")
        message: dict[str, Any] = json.loads(sys.stdin.readline() or "{}")
        return message

    def say(self, line: str) -> None:
        self._proto.write(line + "\n")
        self._proto.flush()

    def emit(self, result: dict[str, Any]) -> None:
        """Send the result and end the process at once (callable from any thread, once)."""
        self.say(json.dumps(result))
        os._exit(0)


def worker_main(run: Callable[[dict[str, Any], WorkerChannel], dict[str, Any] | None]) -> int:
    """The worker side: ``run(config, channel)`` returns its result or emits it itself.

    A worker whose event loop is overwhelmed can still answer on time: a thread may call
    ``channel.emit``.
    """
    config = json.loads(Path(sys.argv[sys.argv.index("--worker") + 1]).read_text())
    channel = WorkerChannel(os.fdopen(os.dup(1), "w", buffering=1))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the process
    result = run(config, channel)
    if result is not None:
        channel.emit(result)
    return 0


# -- the emulator -----------------------------------------------------------------------------


@contextmanager
def emulator(cpus: set[int] | None) -> Iterator[Any]:
    from airflow_provider_twilio_push.emulator import EmulatorProcess

    os.environ.update(bench_env())  # the emulator's own interpreter keeps its bytecode too
    with EmulatorProcess(cpu_affinity=cpus, startup_timeout=120) as process:
        yield process


async def _bulk_post(
    host: str, port: int, path: str, bodies: Sequence[bytes], connections: int, depth: int
) -> list[tuple[int, bytes]]:
    """POST every body over keep-alive connections, ``depth`` requests pipelined on each.

    Returns (status, body) in the order of ``bodies``. A lean client: httpx would take longer
    than the emulator to make 100,000 operations.
    """
    answers: list[tuple[int, bytes]] = [(0, b"")] * len(bodies)
    todo = list(range(len(bodies) - 1, -1, -1))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while todo:
                batch = [todo.pop() for _ in range(min(depth, len(todo)))]
                writer.write(
                    b"".join(
                        b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s"
                        % (path.encode(), host.encode(), port, len(bodies[i]), bodies[i])
                        for i in batch
                    )
                )
                for i in batch:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line[:15].lower() == b"content-length:":
                            length = int(line[15:])
                    answers[i] = (int(head[9:12]), await reader.readexactly(length))
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(connection() for _ in range(connections))), 900)
    return answers


def create_operations(base_url: str, scenarios: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create one emulator operation per scenario (control API); their Operation JSON, in order."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    bodies = [json.dumps(s, separators=(",", ":")).encode() for s in scenarios]
    answers = asyncio.run(_bulk_post(host, int(port), "/_emulator/operations", bodies, 4, 32))
    bad = [status for status, _ in answers if status != 201]
    if bad:
        raise RuntimeError(f"the emulator refused {len(bad)} operations (statuses {sorted(set(bad))})")
    return [json.loads(body) for _, body in answers]


# -- output -----------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (it reads fine in a terminal too)."""
    cells = [[str(h) for h in headers]] + [[fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


Results = TypeVar("Results")


def script_main(
    doc: str | None,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], Results],
    rows: Callable[[Results], str],
    run_worker: Callable[[dict[str, Any], WorkerChannel], dict[str, Any] | None] | None = None,
) -> int:
    """The command line of a benchmark script: a worker when spawned as one, else run and print."""
    if run_worker is not None and "--worker" in sys.argv:
        return worker_main(run_worker)
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(args)
    print(rows(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0
