"""A triggerer's fleet: N deferred sensors' triggers polling the emulator on one event loop.

The emulator runs pinned to CPU 0; the fleet runs in a worker process pinned to CPU 1, on the
default asyncio loop (as ``airflow triggerer`` runs ``asyncio.run``), each trigger's ``run()``
consumed by its own task after ``greenback.ensure_portal()`` (as ``TriggerRunner.run_trigger``
does), with Airflow's logging as importing Airflow sets it up (trigger logs are rendered, then
dropped: the worker's stdout is /dev/null).

``twilio``: ``TwilioPushOperationTrigger`` on N operations created with a frozen emulator clock
that complete at staggered times (uniformly spread over ``--complete-within``) after the fleet
starts; the run ends when every trigger has fired. ``http``: the HTTP provider's
``HttpSensorTrigger`` with the same poke interval, polling ids the emulator answers 404 for (that
trigger polls again on a 404) for ``--http-window`` seconds.

Measured in the worker: its CPU time (``time.process_time``) over the run less an idle baseline
(the same loop and lag probe, no trigger, measured just before), divided by the requests the
emulator counted; peak RSS (VmHWM, reset at start) and its growth per trigger; event-loop lag (a
probe task sleeping 10-50 ms at random measures how late it wakes). Detection latency is the
time from an operation's completion (emulator clock, known from its scenario) to its trigger's
event.

    .venv/bin/python benchmarks/trigger_fleet.py [--sizes 1000 5000] [--kinds twilio http]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    Worker,
    create_operations,
    emulator,
    fmt,
    pinning,
    summary,
    table,
    worker_main,
)

ROUTE = "GET /v1/PushNotifications/Operations/{id}"
HTTP_CONN_ID = "bench_http"
# Ids the emulator answers 404 for: valid in form, in a range its own ids never reach.
MISSING_ID = "comms_operation_7zzzzzzzzzzzzzzzzzz{:07d}"


# -- worker -----------------------------------------------------------------------------------


def run_worker(config: dict[str, Any], wait_for_go: Any) -> dict[str, Any]:
    import asyncio
    import gc

    import _common

    if os.environ.get("BENCH_PATCH"):  # try a client design without editing the provider
        import runpy

        runpy.run_path(os.environ["BENCH_PATCH"])
    if config["kind"] == "twilio":
        from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

        def make(i: int) -> Any:
            return TwilioPushOperationTrigger(
                operation_id=config["operation_ids"][i],
                poll_interval=config["poll_interval"],
                end_time=time.time() + config["deadline"],
            )
    else:
        from airflow.providers.http.triggers.http import HttpSensorTrigger

        def make(i: int) -> Any:
            return HttpSensorTrigger(
                endpoint=f"/v1/PushNotifications/Operations/{MISSING_ID.format(i)}",
                http_conn_id=HTTP_CONN_ID,
                method="GET",
                poke_interval=config["poll_interval"],
            )

    try:
        import greenback
    except ImportError:  # Airflow < 3.2 has no portal
        greenback = None
    use_portal = config["greenback"] and greenback is not None

    lags: list[float] = []
    lag_times: list[tuple[float, float]] = []
    gc_pauses: list[tuple[int, float]] = []
    gc_start = [0.0]
    gc_when: list[tuple[float, int, float]] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_start[0] = time.perf_counter()
        else:
            gc_pauses.append((info["generation"], time.perf_counter() - gc_start[0]))
            gc_when.append((gc_start[0], info["generation"], time.perf_counter() - gc_start[0]))

    events: list[tuple[int, float, str]] = []
    failures: list[str] = []

    async def probe(stop: asyncio.Event) -> None:
        rng = random.Random(1)
        while not stop.is_set():
            wanted = rng.uniform(0.010, 0.050)
            start = time.perf_counter()
            await asyncio.sleep(wanted)
            lags.append(time.perf_counter() - start - wanted)
            lag_times.append((start, lags[-1]))

    async def run_trigger(i: int, trigger: Any) -> None:
        if use_portal:
            await greenback.ensure_portal()
        try:
            async for event in trigger.run():
                payload = event.payload
                status = payload.get("status", "?") if isinstance(payload, dict) else str(payload)
                events.append((i, time.time(), status))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")

    async def idle_baseline(seconds: float) -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(probe(stop))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        rate = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        stop.set()
        await task
        lags.clear()
        lag_times.clear()
        return rate

    async def main() -> dict[str, Any]:
        idle_rate = await idle_baseline(config["idle_seconds"])
        go = await asyncio.get_running_loop().run_in_executor(None, wait_for_go)
        gc.collect()
        _common.reset_peak_rss()
        rss0 = _common.rss_mib()
        stop = asyncio.Event()
        probe_task = asyncio.create_task(probe(stop))
        gc.callbacks.append(on_gc)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        steady: dict[str, float] = {}

        async def snapshot() -> None:
            await asyncio.sleep(max(0.0, wall0 + config["steady_from"] - time.perf_counter()))
            steady["cpu"], steady["wall"] = time.process_time(), time.perf_counter()

        snapshot_task = asyncio.create_task(snapshot())
        tasks = []
        for i in range(config["n"]):
            tasks.append(asyncio.create_task(run_trigger(i, make(i))))
            await asyncio.sleep(0)  # as TriggerRunner.create_triggers yields between triggers
        if config.get("window") is None:
            _, pending = await asyncio.wait(tasks, timeout=config["hard_timeout"])
        else:
            _, pending = await asyncio.wait(tasks, timeout=config["window"])
        cpu1, wall1 = time.process_time(), time.perf_counter()
        gc.callbacks.remove(on_gc)
        rss_peak = _common.peak_rss_mib()
        rss_end = _common.rss_mib()
        stop.set()
        snapshot_task.cancel()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, probe_task, snapshot_task, return_exceptions=True)
        wall = wall1 - wall0
        return {
            "go": go,
            "cpu_seconds": cpu1 - cpu0,
            "steady_cpu_seconds": cpu1 - steady["cpu"] if steady else None,
            "steady_wall_seconds": wall1 - steady["wall"] if steady else None,
            "idle_cpu_rate": idle_rate,
            "wall_seconds": wall,
            "rss_start_mib": rss0,
            "rss_peak_mib": rss_peak,
            "rss_end_mib": rss_end,
            "lag_ms": summary(lags, 1000),
            "worst_lags": sorted(
                ((round(t - wall0, 2), round(1000 * lag, 1)) for t, lag in lag_times), key=lambda x: -x[1]
            )[:15],
            "big_gc": [(round(t - wall0, 2), g, round(1000 * d, 1)) for t, g, d in gc_when if d > 0.03],
            "gc_pauses": {
                f"gen{g}": {
                    "count": sum(1 for gen, _ in gc_pauses if gen == g),
                    "max_ms": round(1000 * max((d for gen, d in gc_pauses if gen == g), default=0), 1),
                    "total_ms": round(1000 * sum(d for gen, d in gc_pauses if gen == g), 1),
                }
                for g in (0, 1, 2)
            },
            "events": events,
            "unfinished": len(pending),
            "failures": failures[:20],
            "failure_count": len(failures),
        }

    with asyncio.Runner() as runner:
        return runner.run(main())


# -- driver -----------------------------------------------------------------------------------


def _py_spy(pid: int, name: str) -> Any:
    """With BENCH_PY_SPY=DIR, py-spy samples the worker's CPU (collapsed stacks in DIR/NAME.txt)."""
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
    rng = random.Random(n)
    config: dict[str, Any] = {
        "kind": kind,
        "n": n,
        "poll_interval": args.poll_interval,
        "greenback": not args.no_greenback,
        "idle_seconds": 1.0,
        "deadline": 3600,
        "steady_from": args.poll_interval + 1.0,
    }
    env = {}
    durations: list[float] = []
    if kind == "twilio":
        lo, hi = args.complete_within
        durations = [rng.uniform(lo, hi) for _ in range(n)]
        control.freeze()  # every operation created at the same emulated instant
        created = create_operations(
            em.base_url, [{"total": 1000, "duration": round(d, 3), "failure_ratio": 0.01} for d in durations]
        )
        config["operation_ids"] = [op["id"] for op in created]
        config["hard_timeout"] = hi + 2 * args.poll_interval + 30
        config["window"] = args.twilio_window
        env = em.conn_env
    else:
        config["window"] = args.http_window
        env = {
            f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}": json.dumps(
                {
                    "conn_type": "http",
                    "host": "127.0.0.1",
                    "port": em.port,
                    "schema": "http",
                    "login": em.account_sid,
                    "password": em.auth_token,
                }
            )
        }
    worker = Worker(Path(__file__), config, cpus=client_cpus, env=env)
    spy = _py_spy(worker.proc.pid, f"{kind}-{n}")
    started = control.unfreeze() if kind == "twilio" else control.clock()
    worker.go({"emulator_epoch": started["epoch"]})
    time.sleep(config["steady_from"])
    at_steady = control.counters()["total"]
    result = worker.result(timeout=(config.get("window") or config.get("hard_timeout", 0)) + 120)
    if spy is not None:
        spy.wait(60)
    counters = control.counters()
    by_status = counters["by_status"]
    requests = counters["total"]
    expected = "200" if kind == "twilio" else "404"
    bad_statuses = {code: count for code, count in by_status.items() if code != expected}

    cpu = result["cpu_seconds"] - result["idle_cpu_rate"] * result["wall_seconds"]
    steady_cpu = steady_requests = None
    if result["steady_cpu_seconds"] is not None:
        steady_cpu = result["steady_cpu_seconds"] - result["idle_cpu_rate"] * result["steady_wall_seconds"]
        steady_requests = requests - at_steady
    latencies = []
    statuses: dict[str, int] = {}
    for i, at, status in result["events"]:
        statuses[status] = statuses.get(status, 0) + 1
        if kind == "twilio":
            # Completed at unfreeze epoch + duration on the emulated clock, which then runs
            # ``offset`` behind the wall clock.
            completed_wall = started["epoch"] + durations[i] - started["offset"]
            latencies.append(at - completed_wall)
    errors = result["failure_count"] + sum(bad_statuses.values())
    if kind == "twilio":
        errors += sum(v for k, v in statuses.items() if k != "success") + result["unfinished"]
    return {
        "kind": kind,
        "trigger": "TwilioPushOperationTrigger" if kind == "twilio" else "HttpSensorTrigger",
        "n": n,
        "poll_interval_s": args.poll_interval,
        "requests": requests,
        "requests_per_trigger": round(requests / n, 2),
        "wall_s": round(result["wall_seconds"], 1),
        "requests_per_s": round(requests / result["wall_seconds"], 1),
        "client_cpu_s": round(cpu, 3),
        "client_cpu_ms_per_request": round(1000 * cpu / requests, 4) if requests else None,
        "idle_cpu_rate": round(result["idle_cpu_rate"], 4),
        "steady_requests": steady_requests,
        "steady_cpu_ms_per_request": round(1000 * steady_cpu / steady_requests, 4)
        if steady_cpu is not None and steady_requests
        else None,
        "rss_start_mib": round(result["rss_start_mib"], 1),
        "rss_peak_mib": round(result["rss_peak_mib"], 1),
        "rss_kib_per_trigger": round(1024 * (result["rss_peak_mib"] - result["rss_start_mib"]) / n, 2),
        "loop_lag_ms": result["lag_ms"],
        "worst_lags": result["worst_lags"],
        "gc_pauses": result["gc_pauses"],
        "big_gc": result["big_gc"],
        "detection_latency_s": summary(latencies, 1, 3) if kind == "twilio" else None,
        "events": statuses,
        "statuses": by_status,
        "errors": errors,
        "failures": result["failures"],
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    emulator_cpus, client_cpus = pinning()
    results = []
    with emulator(emulator_cpus) as em:
        for _ in range(args.rounds):
            for n in args.sizes:
                for kind in args.kinds:
                    result = run_scenario(em, kind, n, args, client_cpus)
                    print(
                        f"  fleet {result['trigger']} x {n}: {fmt(result['client_cpu_ms_per_request'], 3)} ms "
                        f"CPU/request over {result['requests']:,} requests "
                        f"(steady {fmt(result['steady_cpu_ms_per_request'], 3)}), lag p99 "
                        f"{fmt(result['loop_lag_ms']['p99'])} ms, errors {result['errors']}",
                        file=sys.stderr,
                        flush=True,
                    )
                    results.append(result)
    return results


def rows(results: list[dict[str, Any]]) -> str:
    by_n: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in results:
        by_n.setdefault((r["n"], r["kind"]), []).append(r)
    lines = []
    for r in results:
        http = [h for h in results if h["kind"] == "http" and h["n"] == r["n"]]
        ratio = None
        if r["kind"] == "twilio" and http and r["client_cpu_ms_per_request"]:
            ratio = r["client_cpu_ms_per_request"] / http[0]["client_cpu_ms_per_request"]
        det = r["detection_latency_s"] or {}
        lines.append(
            [
                r["trigger"],
                r["n"],
                r["requests"],
                r["requests_per_trigger"],
                round(r["client_cpu_ms_per_request"], 3),
                None if ratio is None else round(ratio, 2),
                r["rss_peak_mib"],
                r["rss_kib_per_trigger"],
                r["loop_lag_ms"]["p50"],
                r["loop_lag_ms"]["p99"],
                r["loop_lag_ms"]["max"],
                det.get("p50"),
                det.get("p99"),
                r["errors"],
            ]
        )
    return table(
        [
            "trigger",
            "N",
            "requests",
            "req/trigger",
            "CPU ms/request",
            "vs http",
            "peak RSS MiB",
            "KiB/trigger",
            "lag p50 ms",
            "lag p99 ms",
            "lag max ms",
            "detect p50 s",
            "detect p99 s",
            "errors",
        ],
        lines,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--kinds", nargs="+", choices=["twilio", "http"], default=["twilio", "http"])
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
        help="stop the TwilioPushOperationTrigger fleet after this many seconds",
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-greenback", action="store_true", help="no greenback portal per trigger")


def main() -> int:
    if "--worker" in sys.argv:
        return worker_main(run_worker)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(args)
    print(rows(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
