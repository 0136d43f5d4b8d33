"""Import cost: what a fresh interpreter pays to import the operator modules beyond ``airflow.sdk``.

Every DAG file that uses the provider pays this on every parse. Each run is a fresh interpreter
that imports ``airflow.sdk`` (timed too), then the modules under test, and reports the second
import's wall and CPU time; runs alternate between the variants (side by side), ``--runs`` each,
and the medians are reported. ``-X importtime`` of one more run lists the heaviest modules each
variant adds.

Variants: ``twilio_push`` (our sensor and operator modules), ``http`` (the HTTP provider's
``HttpSensor`` module, what users would import instead).

    .venv/bin/python benchmarks/import_cost.py [--runs 10] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import bench_env, table

VARIANTS = {
    "twilio_push": [
        "airflow_provider_twilio_push.sensors.twilio_push",
        "airflow_provider_twilio_push.operators.twilio_push",
    ],
    "http": ["airflow.providers.http.sensors.http"],
}

_PROBE = """
import importlib, json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import airflow.sdk
t1, c1 = time.perf_counter(), time.process_time()
for name in sys.argv[1:]:
    importlib.import_module(name)
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"sdk_wall": t1 - t0, "sdk_cpu": c1 - c0, "wall": t2 - t1, "cpu": c2 - c1}))
"""


def _run(modules: list[str]) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules],
        capture_output=True,
        text=True,
        env=bench_env(),
        timeout=120,
        check=True,
    )
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def _heaviest(modules: list[str], top: int = 6) -> list[tuple[str, float]]:
    """The modules of this variant's own import (beyond airflow.sdk) with the most self time."""
    code = "import airflow.sdk, sys; sys.stderr.write('--mark--\\n'); " + "; ".join(
        f"import {name}" for name in modules
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=bench_env(),
        timeout=120,
        check=True,
    )
    lines = result.stderr.split("--mark--", 1)[-1].splitlines()
    found = []
    for line in lines:
        if not line.startswith("import time:"):
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        found.append((name.strip(), int(self_us) / 1000))
    return sorted(found, key=lambda item: -item[1])[:top]


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    _run(VARIANTS["twilio_push"] + VARIANTS["http"])  # compile and cache bytecode first
    for _ in range(args.runs):
        for name, modules in VARIANTS.items():
            samples[name].append(_run(modules))
    results = []
    for name, runs in samples.items():
        results.append(
            {
                "variant": name,
                "modules": VARIANTS[name],
                "runs": len(runs),
                "median_ms": round(1000 * statistics.median(r["wall"] for r in runs), 1),
                "median_cpu_ms": round(1000 * statistics.median(r["cpu"] for r in runs), 1),
                "min_ms": round(1000 * min(r["wall"] for r in runs), 1),
                "max_ms": round(1000 * max(r["wall"] for r in runs), 1),
                "airflow_sdk_median_ms": round(1000 * statistics.median(r["sdk_wall"] for r in runs)),
                "heaviest_self_ms": _heaviest(VARIANTS[name]) if args.importtime else None,
            }
        )
    return results


def rows(results: list[dict[str, Any]]) -> str:
    return table(
        ["modules", "median ms beyond airflow.sdk", "CPU ms", "min-max ms", "runs", "airflow.sdk itself ms"],
        [
            [
                " + ".join(m.rsplit(".", 2)[-2] + "." + m.rsplit(".", 1)[-1] for m in r["modules"]),
                r["median_ms"],
                r["median_cpu_ms"],
                f"{r['min_ms']}-{r['max_ms']}",
                r["runs"],
                r["airflow_sdk_median_ms"],
            ]
            for r in results
        ],
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=10, help="fresh interpreters per variant (default 10)")
    parser.add_argument("--no-importtime", dest="importtime", action="store_false")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(args)
    print(rows(results))
    for r in results:
        if r["heaviest_self_ms"]:
            print(
                f"{r['variant']}: heaviest (self ms): "
                + ", ".join(f"{n} {ms:.1f}" for n, ms in r["heaviest_self_ms"])
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
