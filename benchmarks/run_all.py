"""Every benchmark (issues 8 and 15), one after the other; prints the tables and writes JSON.

    .venv/bin/python benchmarks/run_all.py [--json PATH] [--only fleet listing import] [--quick]

1. import cost (``import_cost.py``): the sensor and operator modules beyond ``airflow.sdk``, next
   to the HTTP provider's sensor module; 10 fresh interpreters each (~1 minute);
2. listing (``listing.py``): ``iter_operations`` / ``aiter_operations`` over 10,000 and 100,000
   operations against raw httpx page loops (~1.5 minutes, most of it creating the operations);
3. trigger fleet (``trigger_fleet.py``): 1, 10, 100, 1,000 and 5,000 ``TwilioPushOperationTrigger``
   on one event loop, polls every 10 s, in an account that also holds twice as many unwatched
   PROCESSING and 10,000 COMPLETED operations: the triggerer's watcher (coalesced sweeps) side by
   side with a GET per trigger and interval (~10 minutes); then 5,000 again with operations
   that complete 5-125 s after the start instead of 5-25 s, so that each is watched 7 intervals
   on average rather than 2 (~3 minutes): each trigger's start and end (its connection lookup,
   progress lines, event) cost the same in both modes, and weigh less the longer it watches.

About 11 minutes on the 2-core development machine; ``--quick`` (fleets of 1, 100 and 1,000,
20,000 operations, 5 interpreters) about 5. The emulator and the measured process are pinned to one
core each; other load on the machine still shows (each table says how noisy its runs were):
compare the figures of one run side by side, and repeat runs (``--rounds`` of the scripts).
``--with-emulator-throughput`` also runs ``emulator_throughput.py``.

4. campaign (``campaign.py``): ``TwilioPushCampaignOperator`` sending 1,000,000 recipients from a
   JSON Lines file (100 sends), its retry adopting them, and the raw httpx floor (~3 minutes;
   ``--quick``: 100,000).

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
import campaign
import import_cost
import listing
import trigger_fleet

# Targets of issues 8 and 15.
REQUESTS_TARGET = 0.01  # requests per watched operation-interval, at 5,000 watched
CPU_VS_GET_TARGET = 0.1  # client CPU per watched operation-interval vs GET per poll, at 5,000
DETECTION_SLACK_S = 2.0  # detection p99 <= poll interval + this
LAG_P99_TARGET_MS = 50.0  # loop lag p99, every fleet
LISTING_RATIO_TARGET = 0.9  # operations/s of iter_operations / a raw httpx loop
LISTING_MEMORY_FLAT = 2.0  # live memory (after GC): a 10x longer walk may not double it
IMPORT_TARGET_MS = 30.0  # beyond airflow.sdk
# Targets of issue 22, sending 1,000,000 recipients.
CAMPAIGN_RSS_TARGET_MIB = 200.0
CAMPAIGN_XCOM_TARGET_BYTES = 20_000
CAMPAIGN_CPU_TARGET_US = 5.0  # client CPU per recipient (the emulator runs in its own process)


def _section(title: str) -> None:
    print(f"\n## {title}\n", flush=True)


def _targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    targets = []
    for r in [*results.get("fleet", []), *results.get("fleet_long", [])]:
        if r["kind"] != "twilio":
            continue
        n = r["n"]
        if n >= 5000:
            watched = f"fleet {n:,} watching {r['intervals_per_trigger']:.1f} intervals each"
            targets.append(
                {
                    "target": f"{watched}: requests per watched operation-interval",
                    "goal": f"<= {REQUESTS_TARGET}",
                    "measured": r["requests_per_op_interval"],
                    "met": r["requests_per_op_interval"] <= REQUESTS_TARGET,
                }
            )
            for which, key in (("all-in", "vs_get_cpu"), ("steady", "vs_get_cpu_steady")):
                if r.get(key) is not None:
                    targets.append(
                        {
                            "target": f"{watched}: client CPU per op-interval vs GET per poll ({which})",
                            "goal": f"<= {CPU_VS_GET_TARGET}",
                            "measured": r[key],
                            "met": r[key] <= CPU_VS_GET_TARGET,
                        }
                    )
        if n == 1 and "vs_get_requests" in r:
            targets.append(
                {
                    "target": "fleet 1: requests vs GET per poll",
                    "goal": "<= 1",
                    "measured": r["vs_get_requests"],
                    "met": r["vs_get_requests"] <= 1,
                }
            )
        p99 = (r["detection_latency_s"] or {}).get("p99")
        goal = r["poll_interval_s"] + DETECTION_SLACK_S
        targets.append(
            {
                "target": f"fleet {n:,}: detection p99 (s)",
                "goal": f"<= {goal:g}",
                "measured": p99,
                "met": p99 is not None and p99 <= goal,
            }
        )
        lag = r["loop_lag_ms"]["p99"]
        targets.append(
            {
                "target": f"fleet {n:,}: loop lag p99 (ms)",
                "goal": f"< {LAG_P99_TARGET_MS:g}",
                "measured": lag,
                "met": lag is not None and lag < LAG_P99_TARGET_MS,
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
    for r in results.get("campaign", []):
        if r["variant"] != "campaign":
            continue
        n = f"campaign {r['recipients']:,}"
        targets += [
            {
                "target": f"{n}: peak RSS of the task process (MiB)",
                "goal": f"< {CAMPAIGN_RSS_TARGET_MIB:g}",
                "measured": r["peak_rss_mib"],
                "met": r["peak_rss_mib"] < CAMPAIGN_RSS_TARGET_MIB,
            },
            {
                "target": f"{n}: XCom (bytes)",
                "goal": f"< {CAMPAIGN_XCOM_TARGET_BYTES:,}",
                "measured": r["xcom_bytes"],
                "met": r["xcom_bytes"] < CAMPAIGN_XCOM_TARGET_BYTES,
            },
            {
                "target": f"{n}: client CPU per recipient (us)",
                "goal": f"< {CAMPAIGN_CPU_TARGET_US:g}",
                "measured": r["cpu_us_per_recipient"],
                "met": r["cpu_us_per_recipient"] < CAMPAIGN_CPU_TARGET_US,
            },
        ]
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
    parser.add_argument("--only", nargs="+", choices=["import", "listing", "fleet", "campaign"])
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    parser.add_argument("--with-emulator-throughput", action="store_true")
    args = parser.parse_args()
    only = set(args.only or ["import", "listing", "fleet", "campaign"])
    started = time.time()

    import_args = argparse.Namespace(runs=5 if args.quick else 10, importtime=True)
    listing_args = argparse.Namespace(
        total=20_000 if args.quick else 100_000,
        sizes=[2_000, 20_000] if args.quick else [10_000, 100_000],
        rounds=1,
    )
    fleet_parser = argparse.ArgumentParser()
    trigger_fleet.add_arguments(fleet_parser)
    fleet_args = fleet_parser.parse_args(["--sizes", "1", "100", "1000"] if args.quick else [])

    report: dict[str, Any] = {
        "benchmark": "issues 8, 15 and 22: triggerer fleet, listing, import cost, campaign",
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
        _section("Trigger fleet (one event loop, polls every 10 s; the watcher vs a GET per poll)")
        results["fleet"] = trigger_fleet.run(fleet_args)
        print(trigger_fleet.rows(results["fleet"]), flush=True)
        if not args.quick:
            _section("Trigger fleet of 5,000 whose operations complete 5-125 s after the start")
            long_args = fleet_parser.parse_args(["--sizes", "5000", "--complete-within", "5", "125"])
            results["fleet_long"] = trigger_fleet.run(long_args)
            print(trigger_fleet.rows(results["fleet_long"]), flush=True)
    if "campaign" in only:
        _section("Campaign (TwilioPushCampaignOperator, a JSON Lines audience, chunks of 10,000)")
        campaign_args = argparse.Namespace(recipients=100_000 if args.quick else 1_000_000)
        results["campaign"] = campaign.run(campaign_args)
        print(campaign.rows(results["campaign"]), flush=True)
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
