"""`make demo`: run the example DAG against the emulator and print what happened.

Starts the Comms API emulator, runs ``example_twilio_push_operation`` with ``airflow dags test``
in a throwaway AIRFLOW_HOME (sqlite), prints a short summary, and stops everything it started.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airflow_provider_twilio_push.emulator import CONN_ENV_VAR, EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "example_twilio_push_operation"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="twilio-push-demo-") as home, EmulatorProcess() as emulator:
        print(f"Emulator running at {emulator.base_url}")
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            CONN_ENV_VAR: emulator.conn_json,
        }
        log_path = Path(home) / "dags-test.log"
        with log_path.open("w") as log:
            subprocess.run(
                [AIRFLOW, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True
            )
            print(f"Running `airflow dags test {DAG_ID}` (sqlite, a temporary AIRFLOW_HOME)...")
            result = subprocess.run(
                [AIRFLOW, "dags", "test", DAG_ID], env=env, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        output = log_path.read_text()
        summary = re.search(r"^SUMMARY (.*)$", output, re.MULTILINE)
        state = re.search(r"DagRun Finished: .*?state=(\w+)", output)
        requests = emulator.control.request_count()
        if result.returncode != 0 or not summary or not state:
            print(output[-5000:])
            print(f"The demo failed (airflow exited {result.returncode}); the log is above.")
            return 1
        print()
        print(f"  {summary.group(1)}")
        print(f"  DAG run state: {state.group(1)}; the emulator served {requests} API requests")
        deferred = "state=deferred" in output or "new_state=deferred" in output
        print(
            f"  The sensor {'deferred (dags test runs its trigger in process)' if deferred else 'did not defer'}."
        )
        print()
        print(f"Done in {time.monotonic() - started:.0f} s; the emulator and Airflow are stopped.")
        return 0 if state.group(1) == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
