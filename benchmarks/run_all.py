"""`make bench`: every benchmark in turn, each printing its table; JSON in benchmarks/results/."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BENCHMARKS = ["import_cost", "emulator_throughput", "listing", "trigger_fleet"]


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    failed = []
    for name in BENCHMARKS:
        started = time.monotonic()
        print(f"\n=== {name} ===", flush=True)
        command = [sys.executable, str(HERE / f"{name}.py"), "--json", str(RESULTS / f"{name}.json")]
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(name)
        print(f"=== {name}: {time.monotonic() - started:.0f} s", flush=True)
    print(f"\nJSON results in {RESULTS}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
