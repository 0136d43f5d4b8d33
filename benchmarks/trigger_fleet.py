"""A triggerer's fleet: N deferred sensors' triggers watching operations on one event loop.

The emulator runs pinned to CPU 0; each fleet runs in a worker process pinned to CPU 1, on the
default asyncio loop (``airflow triggerer`` runs ``asyncio.run``), each trigger's ``run()``
consumed by its own task after ``greenback.ensure_portal()``, created with a yield between
triggers (as ``TriggerRunner.create_triggers`` and ``run_trigger`` do), with Airflow's logging
as importing Airflow sets it up (trigger logs are rendered, then dropped: the worker's stdout is
/dev/null).

``twilio``: ``TwilioPushOperationTrigger`` on N operations that complete at staggered times,
uniformly over ``--complete-within`` seconds after the fleet starts (created on a frozen
emulator clock, released at the start), with the ``createdAt`` the sensor's pre-check passes on;
the run ends when every trigger has fired. The account also holds ``--unwatched`` times N
PROCESSING operations nobody watches and ``--completed`` COMPLETED ones: the watched and unwatched
ones were created over the last ``--created-within`` seconds, the COMPLETED ones over the last
``--completed-within``, as a busy account's would. ``twilio-get``: the same, with the triggerer's
watcher reading each operation with its own GET every interval (a planner of GETs only: how
every trigger polled before issue 15). ``http``:
the HTTP provider's ``HttpSensorTrigger`` with the same poke interval, polling ids the emulator
answers 404 for (that trigger polls again after a 404), for ``--http-window`` seconds.

Measured in the worker: its CPU time (``time.process_time``) less an idle baseline (the same
loop and lag probe without triggers, measured just before), divided by the requests the emulator
counted; "all-in" covers the whole run (creating the triggers, every hook's connection lookup,
first polls, events), "steady" the part after the first poll interval; peak RSS (VmHWM, reset
at the start) and its growth per trigger; event-loop lag (a probe task sleeping 10-50 ms at
random measures how late it wakes; "idle" is the same probe before the fleet starts, the noise
floor of the machine); GC pauses. Detection latency: from an operation's completion (emulated
clock, known from its scenario) to its trigger's event; with polls every P seconds it is about
uniform over [0, P].

    .venv/bin/python benchmarks/trigger_fleet.py [--sizes 1000 5000] [--kinds twilio http]

``BENCH_PY_SPY=DIR`` samples each worker with py-spy (collapsed stacks, DIR/KIND-N.txt);
``BENCH_PATCH=FILE`` runs FILE in the worker first (try a client design without editing the
provider).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from _common import (
    Worker,
    create_operations,
    emulator,
    fmt,
    pinning,
    script_main,
    summary,
    table,
)

HTTP_CONN_ID = "bench_http"
# Ids the emulator answers 404 for: valid in form, in a range its own ids never reach.
MISSING_ID = "comms_operation_7zzzzzzzzzzzzzzzzzz{:07d}"
TRIGGERS = {
    "twilio": "TwilioPushOperationTrigger",
    "twilio-get": "TwilioPushOperationTrigger, GET per poll",
    "http": "HttpSensorTrigger",
}


# -- worker -----------------------------------------------------------------------------------


def run_worker(config: dict[str, Any], channel: Any) -> dict[str, Any] | None:
    import asyncio
    import gc

    import _common

    if os.environ.get("BENCH_PATCH"):
        import runpy

        runpy.run_path(os.environ["BENCH_PATCH"])
    # Both modes draw the same first looks (each trigger's random point in its first interval).
    random.seed(config["n"])
    if config["kind"] in ("twilio", "twilio-get"):
        from airflow_provider_twilio_push.triggers import watcher
        from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

        if config["kind"] == "twilio-get":
            from airflow_provider_twilio_push.core.watching import (
                RequestPlan,
                WatchedOperation,
                plan_requests,
            )

            def gets_only(
                operations: Iterable[WatchedOperation], *, pages_per_sweep: int | None, sweep: bool = True
            ) -> RequestPlan:
                return plan_requests(operations, pages_per_sweep=pages_per_sweep, sweep=False)

            watcher.OperationWatcher.planner = staticmethod(gets_only)

        def make(i: int, go: dict[str, Any]) -> Any:
            return TwilioPushOperationTrigger(
                operation_id=go["operation_ids"][i],
                poll_interval=config["poll_interval"],
                end_time=time.time() + config["deadline"],
                created_at=go["created_at"][i],
            )
    else:
        from airflow.providers.http.triggers.http import HttpSensorTrigger

        def make(i: int, go: dict[str, Any]) -> Any:
            return HttpSensorTrigger(
                endpoint=f"/v1/PushNotifications/Operations/{MISSING_ID.format(i)}",
                http_conn_id=HTTP_CONN_ID,
                method="GET",
                poke_interval=config["poll_interval"],
            )

    try:
        import greenback
    except ImportError:  # Airflow before 3.2 has no portal
        greenback = None
    use_portal = config["greenback"] and greenback is not None

    lags: list[tuple[float, float]] = []  # (when, lag)
    gc_pauses: list[tuple[float, int, float]] = []  # (when, generation, seconds)
    gc_started = [0.0]
    events: list[tuple[int, float, str]] = []
    failures: list[str] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_pauses.append((gc_started[0], info["generation"], time.perf_counter() - gc_started[0]))

    async def probe(stop: asyncio.Event) -> None:
        rng = random.Random(1)
        while not stop.is_set():
            wanted = rng.uniform(0.010, 0.050)
            start = time.perf_counter()
            await asyncio.sleep(wanted)
            lags.append((start, time.perf_counter() - start - wanted))

    async def run_trigger(i: int, trigger: Any) -> None:
        if use_portal:
            await greenback.ensure_portal()
        try:
            async for event in trigger.run():
                payload = event.payload
                status = payload.get("status", "?") if isinstance(payload, dict) else str(payload)
                events.append((i, time.time(), status))
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")

    async def main() -> dict[str, Any]:
        # Idle baseline: the loop and the probe alone.
        stop = asyncio.Event()
        probe_task = asyncio.create_task(probe(stop))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(config["idle_seconds"])
        idle_rate = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        stop.set()
        await probe_task
        idle_lag = summary([lag for _, lag in lags], 1000)
        lags.clear()

        go = await asyncio.get_running_loop().run_in_executor(None, channel.wait_for_go)
        gc.collect()
        _common.reset_peak_rss()
        rss0 = _common.rss_mib()
        stop = asyncio.Event()
        probe_task = asyncio.create_task(probe(stop))
        gc.callbacks.append(on_gc)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        started_at = time.time()
        tasks: list[asyncio.Task[None]] = []
        steady: dict[str, float] = {}
        finished = threading.Lock()

        def result(cpu1: float, wall1: float) -> dict[str, Any]:
            def gc_generation(g: int) -> dict[str, float]:
                pauses = [seconds for _, gen, seconds in list(gc_pauses) if gen == g]
                return {
                    "count": len(pauses),
                    "max_ms": round(1000 * max(pauses, default=0), 1),
                    "total_ms": round(1000 * sum(pauses), 1),
                }

            measured = list(lags)
            return {
                "started_at": started_at,
                "cpu_seconds": cpu1 - cpu0,
                "wall_seconds": wall1 - wall0,
                "steady_cpu_seconds": cpu1 - steady["cpu"] if steady else None,
                "steady_wall_seconds": wall1 - steady["wall"] if steady else None,
                "idle_cpu_rate": idle_rate,
                "idle_lag_ms": idle_lag,
                "rss_start_mib": rss0,
                "rss_peak_mib": _common.peak_rss_mib(),
                "lag_ms": summary([lag for _, lag in measured], 1000),
                "worst_lags": sorted(
                    ((round(at - wall0, 2), round(1000 * lag, 1)) for at, lag in measured),
                    key=lambda x: -x[1],
                )[:10],
                "gc": {f"gen{g}": gc_generation(g) for g in (0, 1, 2)},
                "long_gc_pauses": [
                    (round(at - wall0, 2), gen, round(1000 * seconds, 1))
                    for at, gen, seconds in list(gc_pauses)
                    if seconds > 0.05
                ],
                "events": list(events),
                "unfinished": config["n"] - len(tasks) + sum(1 for task in list(tasks) if not task.done()),
                "failures": failures[:20],
                "failure_count": len(failures),
            }

        def watchdog() -> None:
            """Snapshots on the wall clock, whatever state the event loop is in."""
            time.sleep(max(0.0, wall0 + config["steady_from"] - time.perf_counter()))
            steady["cpu"], steady["wall"] = time.process_time(), time.perf_counter()
            channel.say("STEADY")  # the driver reads the emulator's counters now
            window = config["window"] if config["window"] is not None else config["hard_timeout"]
            time.sleep(max(0.0, wall0 + window - time.perf_counter()))
            if finished.acquire(blocking=False):  # the fleet is still running: the window ends now
                channel.emit(result(time.process_time(), time.perf_counter()))

        threading.Thread(target=watchdog, daemon=True).start()
        for i in range(config["n"]):
            tasks.append(asyncio.create_task(run_trigger(i, make(i, go))))
            await asyncio.sleep(0)
        await asyncio.wait(tasks)  # the watchdog ends a fleet that does not finish in time
        # The driver waits for the steady-state checkpoint in any case.
        await asyncio.sleep(max(0.0, wall0 + config["steady_from"] + 0.05 - time.perf_counter()))
        cpu1, wall1 = time.process_time(), time.perf_counter()
        if not finished.acquire(blocking=False):
            await asyncio.sleep(3600)  # the watchdog is emitting the result
        stop.set()
        await probe_task
        return result(cpu1, wall1)

    with asyncio.Runner() as runner:
        return runner.run(main())


# -- driver -----------------------------------------------------------------------------------


def _py_spy(pid: int, name: str) -> Any:
    """With BENCH_PY_SPY=DIR, py-spy samples the worker (collapsed stacks in DIR/NAME.txt)."""
    import shutil
    import subprocess

    where = os.environ.get("BENCH_PY_SPY")
    if not where:
        return None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    Path(where).mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [py_spy, "record", "-p", str(pid), "-r", "500", "-f", "raw", "-o", f"{where}/{name}.txt"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_scenario(em: Any, kind: str, n: int, args: argparse.Namespace, client_cpus: Any) -> dict[str, Any]:
    control = em.control
    control.reset()
    poll = args.poll_interval
    lo, hi = args.complete_within
    config: dict[str, Any] = {
        "kind": kind,
        "n": n,
        "poll_interval": poll,
        "greenback": not args.no_greenback,
        "idle_seconds": 1.0,
        "deadline": 3600,
        "steady_from": poll + 1.0,
        "window": args.http_window if kind == "http" else args.twilio_window,
        "hard_timeout": hi + 2 * poll + 30,
    }
    if kind != "http":
        env = em.conn_env
    else:
        conn = {
            "conn_type": "http",
            "host": "127.0.0.1",
            "port": em.port,
            "schema": "http",
            "login": em.account_sid,
            "password": em.auth_token,
        }
        env = {f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}": json.dumps(conn)}
    # The worker imports Airflow while the emulator creates the operations.
    worker = Worker(Path(__file__), config, cpus=client_cpus, env=env, wait_ready=False)
    spy = None
    try:
        go: dict[str, Any] = {}
        durations: list[float] = []
        if kind != "http":
            rng = random.Random(n)
            durations = [rng.uniform(lo, hi) for _ in range(n)]
            ages = [round(rng.uniform(0, args.created_within)) for _ in range(n)]
            control.freeze()  # the emulated clock stands still while the account is filled
            # A send of age A completing D seconds after the fleet starts processes for A + D.
            created = create_operations(
                em.base_url,
                [
                    {"total": 1000, "duration": round(age + d, 3), "failure_ratio": 0.01, "age": age}
                    for d, age in zip(durations, ages, strict=True)
                ],
            )
            go["operation_ids"] = [op["id"] for op in created]
            go["created_at"] = [op["createdAt"] for op in created]
            others = [
                {"total": 1000, "duration": 86_400, "age": round(rng.uniform(0, args.created_within))}
                for _ in range(args.unwatched * n)
            ]
            for _ in range(args.completed):
                age = round(rng.uniform(60, args.completed_within))
                others.append({"total": 100, "duration": rng.uniform(1, 50), "age": age})
            create_operations(em.base_url, others)
        worker.wait_ready()
        spy = _py_spy(worker.proc.pid, f"{kind}-{n}")
        # Unfreezing starts the operations' clocks; the emulated clock then runs ``offset`` behind
        # the wall clock.
        clock = control.unfreeze() if kind != "http" else control.clock()
        worker.go(go)
        worker.expect("STEADY", config["steady_from"] + 60)
        at_steady = control.counters()["total"]
        result = worker.result(timeout=(config["window"] or config["hard_timeout"]) + 120)
    finally:
        worker.stop()
    if spy is not None:
        spy.wait(60)
    counters = control.counters()
    requests = counters["total"]
    expected = "404" if kind == "http" else "200"
    bad_statuses = {code: count for code, count in counters["by_status"].items() if code != expected}

    cpu = result["cpu_seconds"] - result["idle_cpu_rate"] * result["wall_seconds"]
    steady_cpu = result["steady_cpu_seconds"] - result["idle_cpu_rate"] * result["steady_wall_seconds"]
    steady_requests = requests - at_steady
    latencies = []
    statuses: dict[str, int] = {}
    for i, at, status in result["events"]:
        statuses[status] = statuses.get(status, 0) + 1
        if kind != "http":
            completed_at = clock["epoch"] + durations[i] - clock["offset"]
            latencies.append(at - completed_at)
    # Watched operation-intervals: each trigger, from the start to its event, in poll intervals.
    ends = {i: at for i, at, _ in result["events"]}
    last = result["started_at"] + result["wall_seconds"]
    op_intervals = sum(ends.get(i, last) - result["started_at"] for i in range(n)) / poll
    # The same from the steady-state checkpoint on: every trigger has started and looked up its
    # connection, what remains is the cost of watching.
    steady_at = last - result["steady_wall_seconds"]
    steady_op_intervals = sum(max(0.0, ends.get(i, last) - steady_at) for i in range(n)) / poll
    errors = result["failure_count"] + sum(bad_statuses.values())
    if kind != "http":
        errors += sum(count for status, count in statuses.items() if status != "completed")
        if config["window"] is None:
            errors += result["unfinished"]  # every operation completes: a trigger still waiting failed
    return {
        "kind": kind,
        "trigger": TRIGGERS[kind],
        "n": n,
        "poll_interval_s": poll,
        "complete_within_s": [lo, hi] if kind != "http" else None,
        "wall_s": round(result["wall_seconds"], 1),
        "requests": requests,
        "requests_per_trigger": round(requests / n, 2),
        "op_intervals": round(op_intervals, 1),
        "intervals_per_trigger": round(op_intervals / n, 2),
        "requests_per_op_interval": round(requests / op_intervals, 4),
        "cpu_us_per_op_interval": round(1e6 * cpu / op_intervals, 1),
        "steady_requests_per_op_interval": round(steady_requests / steady_op_intervals, 4)
        if steady_op_intervals
        else None,
        "steady_cpu_us_per_op_interval": round(1e6 * steady_cpu / steady_op_intervals, 1)
        if steady_op_intervals
        else None,
        "list_requests": counters["routes"].get("GET /v1/PushNotifications/Operations", {}).get("200", 0),
        "requests_per_s": round(requests / result["wall_seconds"], 1),
        "client_cpu_s": round(cpu, 3),
        "cpu_ms_per_request": round(1000 * cpu / requests, 4) if requests else None,
        "steady_requests": steady_requests,
        "steady_cpu_ms_per_request": round(1000 * steady_cpu / steady_requests, 4)
        if steady_requests
        else None,
        "idle_cpu_rate": round(result["idle_cpu_rate"], 4),
        "rss_start_mib": round(result["rss_start_mib"], 1),
        "rss_peak_mib": round(result["rss_peak_mib"], 1),
        "rss_kib_per_trigger": round(1024 * (result["rss_peak_mib"] - result["rss_start_mib"]) / n, 1),
        "loop_lag_ms": result["lag_ms"],
        "idle_loop_lag_ms": result["idle_lag_ms"],
        "worst_lags": result["worst_lags"],
        "gc": result["gc"],
        "long_gc_pauses": result["long_gc_pauses"],
        "detection_latency_s": summary(latencies, 1, 3) if kind != "http" else None,
        "events": statuses,
        "statuses": counters["by_status"],
        "errors": errors,
        "failures": result["failures"],
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    emulator_cpus, client_cpus = pinning()
    results = []
    with emulator(emulator_cpus) as em:
        for round_ in range(args.rounds):
            for n in args.sizes:
                for kind in args.kinds:
                    result = run_scenario(em, kind, n, args, client_cpus)
                    result["round"] = round_
                    print(
                        f"  fleet: {result['trigger']} x {n:,}: {fmt(result['cpu_ms_per_request'], 3)} ms "
                        f"CPU/request all-in, {fmt(result['steady_cpu_ms_per_request'], 3)} steady, "
                        f"{result['requests']:,} requests, lag p99 {fmt(result['loop_lag_ms']['p99'])} ms, "
                        f"errors {result['errors']}",
                        file=sys.stderr,
                        flush=True,
                    )
                    results.append(result)
    for r in results:
        same = [h for h in results if h["n"] == r["n"] and h["round"] == r["round"]]
        get = next((h for h in same if h["kind"] == "twilio-get"), None)
        http = next((h for h in same if h["kind"] == "http"), None)
        if r["kind"] == "twilio" and get is not None:
            r["vs_get_requests"] = round(r["requests_per_op_interval"] / get["requests_per_op_interval"], 4)
            r["vs_get_cpu"] = round(r["cpu_us_per_op_interval"] / get["cpu_us_per_op_interval"], 3)
            if r["steady_cpu_us_per_op_interval"] and get["steady_cpu_us_per_op_interval"]:
                r["vs_get_cpu_steady"] = round(
                    r["steady_cpu_us_per_op_interval"] / get["steady_cpu_us_per_op_interval"], 3
                )
        if r["kind"] != "http" and http is not None:
            r["vs_http_all_in"] = round(r["cpu_ms_per_request"] / http["cpu_ms_per_request"], 2)
            r["vs_http_steady"] = round(r["steady_cpu_ms_per_request"] / http["steady_cpu_ms_per_request"], 2)
    return results


def rows(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        detection = r["detection_latency_s"] or {}
        lines.append(
            [
                "coalesced"
                if r["kind"] == "twilio"
                else "GET per poll"
                if r["kind"] == "twilio-get"
                else "http",
                r["n"],
                fmt(r["intervals_per_trigger"]),
                r["requests"],
                r["list_requests"],
                r["requests_per_op_interval"],
                f"{fmt(r['cpu_us_per_op_interval'])} / {fmt(r['steady_cpu_us_per_op_interval'])}",
                "-"
                if "vs_get_cpu" not in r
                else f"{r['vs_get_requests']:.4f} / {r['vs_get_cpu']:.2f} / {fmt(r.get('vs_get_cpu_steady'))}",
                "-" if not detection.get("n") else f"{detection['p50']:.1f} / {detection['p99']:.1f}",
                f"{fmt(r['loop_lag_ms']['p99'])} / {fmt(r['loop_lag_ms']['max'])}",
                fmt(r["idle_loop_lag_ms"]["p99"]),
                r["rss_peak_mib"],
                r["errors"],
            ]
        )
    return table(
        [
            "mode",
            "watched",
            "intervals each (mean)",
            "requests",
            "of them list pages",
            "requests / op-interval",
            "CPU us / op-interval all-in / steady",
            "vs GET per poll: requests / CPU all-in / steady",
            "detection s p50 / p99",
            "loop lag ms p99 / max",
            "idle lag p99",
            "peak RSS MiB",
            "errors",
        ],
        lines,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 1000, 5000])
    parser.add_argument("--kinds", nargs="+", choices=list(TRIGGERS), default=["twilio", "twilio-get"])
    parser.add_argument(
        "--unwatched", type=int, default=2, help="PROCESSING operations nobody watches, per watched one"
    )
    parser.add_argument("--completed", type=int, default=10_000, help="COMPLETED operations in the account")
    parser.add_argument(
        "--created-within",
        type=float,
        default=600.0,
        help="the watched and unwatched operations were created over this many seconds before the start",
    )
    parser.add_argument(
        "--completed-within",
        type=float,
        default=7200.0,
        help="the COMPLETED operations were created over this many seconds before the start",
    )
    parser.add_argument("--poll-interval", type=float, default=10.0)
    parser.add_argument(
        "--complete-within",
        type=float,
        nargs=2,
        default=[5.0, 25.0],
        metavar=("MIN", "MAX"),
        help="operations complete uniformly between MIN and MAX seconds after the fleet starts",
    )
    parser.add_argument(
        "--http-window", type=float, default=20.0, help="seconds the HttpSensorTrigger fleet runs"
    )
    parser.add_argument(
        "--twilio-window",
        type=float,
        help="stop the TwilioPushOperationTrigger fleet after this many seconds (default: when done)",
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-greenback", action="store_true", help="no greenback portal per trigger")


def main() -> int:
    return script_main(__doc__, add_arguments, run, rows, run_worker)


if __name__ == "__main__":
    sys.exit(main())
