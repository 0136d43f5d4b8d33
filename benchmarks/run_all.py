"""Every benchmark of issue 8, one after the other; prints the tables and writes JSON.

    .venv/bin/python benchmarks/run_all.py [--json PATH] [--only fleet listing import] [--quick]

1. import cost (``import_cost.py``): the sensor and operator modules beyond ``airflow.sdk``, next
   to the HTTP provider's sensor module; 10 fresh interpreters each (~1 minute);
2. listing (``listing.py``): ``iter_operations`` / ``aiter_operations`` over 10,000 and 100,000
   operations against raw httpx page loops (~1.5 minutes, most of it creating the operations);
3. trigger fleet (``trigger_fleet.py``): 1,000 and 5,000 ``TwilioPushOperationTrigger`` and
   ``HttpSensorTrigger`` on one event loop, polls every 10 s (~2.5 minutes).

About 5 minutes on the 2-core development machine; ``--quick`` (1,000 triggers, 20,000
operations, 5 interpreters) about 2. The emulator and the measured process are pinned to one
core each; other load on the machine still shows (each table says how noisy its runs were):
compare the figures of one run side by side, and repeat runs (``--rounds`` of the scripts).
``--with-emulator-throughput`` also runs ``emulator_throughput.py``.

Writes ``benchmarks/results/latest.json`` (or ``--json PATH``): the machine, the date, the
command, package versions, every result and the targets of the issue, met or not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common
import import_cost
import listing
import trigger_fleet

# Targets of issue 8.
CPU_RATIO_TARGET = 0.5  # our CPU per request / HttpSensorTrigger's
LAG_P99_TARGET_MS = 100.0  # at 5,000 triggers, 10 s polls
LISTING_RATIO_TARGET = 0.9  # operations/s of iter_operations / a raw httpx loop
LISTING_MEMORY_FLAT = 2.0  # live memory (after GC): a 10x longer walk may not double it
IMPORT_TARGET_MS = 30.0  # beyond airflow.sdk


def _section(title: str) -> None:
    print(f"\n## {title}\n", flush=True)


def _targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    targets = []
    for r in results.get("fleet", []):
        if r["kind"] == "twilio" and "vs_http_all_in" in r:
            for which in ("all_in", "steady"):
                ratio = r[f"vs_http_{which}"]
                targets.append(
                    {
                        "target": f"fleet {r['n']:,}: CPU/request vs HttpSensorTrigger ({which.replace('_', '-')})",
                        "goal": f"<= {CPU_RATIO_TARGET}",
                        "measured": ratio,
                        "met": ratio <= CPU_RATIO_TARGET,
                    }
                )
        if r["kind"] == "twilio" and r["n"] >= 5000:
            p99 = r["loop_lag_ms"]["p99"]
            targets.append(
                {
                    "target": f"fleet {r['n']:,}: loop lag p99 (ms)",
                    "goal": f"< {LAG_P99_TARGET_MS:g}",
                    "measured": p99,
                    "met": p99 is not None and p99 < LAG_P99_TARGET_MS,
                }
            )
    listed = results.get("listing", [])
    for r in listed:
        if "vs_raw" in r:
            targets.append(
                {
                    "target": f"listing {r['operations']:,}: {r['variant']} ops/s vs raw",
                    "goal": f">= {LISTING_RATIO_TARGET}",
                    "measured": r["vs_raw"],
                    "met": r["vs_raw"] >= LISTING_RATIO_TARGET,
                }
            )
    sizes = sorted({r["operations"] for r in listed})
    if len(sizes) >= 2:
        for variant in ("iter_operations", "aiter_operations"):
            small, large = (
                next(r for r in listed if r["variant"] == variant and r["operations"] == size)
                for size in (sizes[0], sizes[-1])
            )
            if small["live_max_mib"]:
                growth = round(large["live_max_mib"] / small["live_max_mib"], 2)
                targets.append(
                    {
                        "target": f"listing {variant}: live memory {sizes[-1]:,} / {sizes[0]:,} operations",
                        "goal": f"flat (<= {LISTING_MEMORY_FLAT:g}x for {sizes[-1] // sizes[0]}x the operations)",
                        "measured": growth,
                        "met": growth <= LISTING_MEMORY_FLAT,
                    }
                )
    for r in results.get("import", []):
        if r["variant"] == "twilio_push":
            targets.append(
                {
                    "target": "import: sensor + operator modules beyond airflow.sdk (ms, median)",
                    "goal": f"<= {IMPORT_TARGET_MS:g}",
                    "measured": r["median_ms"],
                    "met": r["median_ms"] <= IMPORT_TARGET_MS,
                }
            )
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=_common.RESULTS_DIR / "latest.json")
    parser.add_argument("--only", nargs="+", choices=["import", "listing", "fleet"])
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    parser.add_argument("--with-emulator-throughput", action="store_true")
    args = parser.parse_args()
    only = set(args.only or ["import", "listing", "fleet"])
    started = time.time()

    import_args = argparse.Namespace(runs=5 if args.quick else 10, importtime=True)
    listing_args = argparse.Namespace(
        total=20_000 if args.quick else 100_000,
        sizes=[2_000, 20_000] if args.quick else [10_000, 100_000],
        rounds=1,
    )
    fleet_parser = argparse.ArgumentParser()
    trigger_fleet.add_arguments(fleet_parser)
    fleet_args = fleet_parser.parse_args(["--sizes", "1000"] if args.quick else [])

    report: dict[str, Any] = {
        "benchmark": "issue 8: triggerer fleet, listing, import cost",
        "date": _common.now_iso(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": _common.machine(),
        "versions": _common.package_versions(
            ["apache-airflow", "apache-airflow-providers-http", "httpx", "httpcore", "aiohttp", "pydantic"]
        ),
        "results": {},
    }
    results = report["results"]
    if "import" in only:
        _section("Import cost (ms beyond airflow.sdk, fresh interpreters)")
        results["import"] = import_cost.run(import_args)
        print(import_cost.rows(results["import"]), flush=True)
    if "listing" in only:
        _section("Listing (pageSize 1000)")
        results["listing"] = listing.run(listing_args)
        print(listing.rows(results["listing"]), flush=True)
    if "fleet" in only:
        _section("Trigger fleet (one event loop, polls every 10 s)")
        results["fleet"] = trigger_fleet.run(fleet_args)
        print(trigger_fleet.rows(results["fleet"]), flush=True)
    if args.with_emulator_throughput:
        _section("Emulator throughput (benchmarks/emulator_throughput.py)")
        out = _common.RESULTS_DIR / "emulator_throughput.json"
        subprocess.run(
            [sys.executable, str(_common.BENCH_DIR / "emulator_throughput.py"), "--json", str(out)],
            check=True,
            timeout=300,
            env=_common.bench_env(),
        )
        results["emulator_throughput"] = json.loads(out.read_text())

    report["targets"] = _targets(results)
    report["seconds"] = round(time.time() - started)
    _section("Targets")
    print(
        _common.table(
            ["target", "goal", "measured", "met"],
            [[t["target"], t["goal"], t["measured"], "yes" if t["met"] else "NO"] for t in report["targets"]],
        )
    )
    print(f"\n{report['seconds']} s; JSON: {args.json}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
