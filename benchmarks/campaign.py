"""Campaign: 1,000,000 recipients from a JSON Lines file, sent by ``TwilioPushCampaignOperator``.

The emulator runs pinned to CPU 0; each variant runs in a fresh worker pinned to CPU 1, so that
its peak RSS is the task process's own:

- ``raw httpx``: the floor: read the file a line at a time (``json.loads``), POST every 10,000
  recipients with plain httpx, nothing checked;
- ``campaign``: the operator's ``execute`` as a task runs it (first try): the file checked in one
  streaming pass, then sent in chunks of 10,000 with their chunk tags, then waited for in the
  worker (``deferrable=False``, every second) until the emulator completes every operation;
- ``campaign retry``: the same task instance's second try after every chunk was accepted: each
  chunk is looked up and adopted, nothing is sent.

Measured: requests (the emulator's counters), wall time, client CPU per recipient (the worker's
user + system time, the emulator's cost excluded: it runs in its own process on the other core),
peak RSS of the worker (VmHWM) and the size of the XCom (``return_value`` as JSON).

    .venv/bin/python benchmarks/campaign.py [--recipients 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Worker, emulator, pinning, script_main, table

CHUNK = 10_000
VARIANTS = ("raw httpx", "campaign", "campaign retry")
SEND_ROUTE = "POST /v1/PushNotifications"


# -- worker -----------------------------------------------------------------------------------


class _TI:
    """What the operator reads of its task instance, and its XCom."""

    def __init__(self, try_number: int) -> None:
        self.dag_id, self.run_id, self.task_id = "bench_campaign", "manual__bench", "send"
        self.map_index, self.try_number = -1, try_number

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def run_worker(config: dict[str, Any], channel: Any) -> dict[str, Any]:
    import logging

    import _common
    import httpx

    from airflow_provider_twilio_push.operators.campaign import TwilioPushCampaignOperator

    logging.disable(logging.INFO)  # a log line per chunk is not what is measured
    variant, path = config["variant"], config["path"]
    baseline = _common.rss_mib()
    channel.wait_for_go()
    _common.reset_peak_rss()
    wall, cpu = time.perf_counter(), time.process_time()
    xcom_bytes = None
    if variant == "raw httpx":
        auth = (config["account_sid"], config["auth_token"])
        client = httpx.Client(base_url=config["base_url"], auth=auth, trust_env=False, timeout=60)
        with client, open(path, encoding="utf-8") as file:
            chunk: list[Any] = []
            for line in file:
                chunk.append(json.loads(line))
                if len(chunk) == CHUNK:
                    client.post("/v1/PushNotifications", json={"to": chunk, "content": {"body": "Hi"}})
                    chunk = []
            if chunk:
                client.post("/v1/PushNotifications", json={"to": chunk, "content": {"body": "Hi"}})
    else:
        ti = _TI(try_number=2 if variant == "campaign retry" else 1)
        operator = TwilioPushCampaignOperator(
            task_id="send",
            audience=path,
            content={"title": "Spring sale", "body": "20% off, today only"},
            deferrable=False,
            poll_interval=1.0,
            recheck_delay=0,
        )
        result = operator.execute({"ti": ti})  # type: ignore[arg-type]
        xcom_bytes = len(json.dumps(result))
    return {
        "variant": variant,
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "peak_rss_mib": round(_common.peak_rss_mib(), 1),
        "baseline_rss_mib": round(baseline, 1),
        "xcom_bytes": xcom_bytes,
    }


# -- driver -----------------------------------------------------------------------------------


def write_audience(path: Path, recipients: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        for i in range(recipients):
            provider = "FCM" if i % 3 else "APN"
            file.write(f'{{"token": "device-token-{i:08d}-9f1c2e7a0b", "provider": "{provider}"}}\n')


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    emulator_cpus, client_cpus = pinning()
    results = []
    with tempfile.TemporaryDirectory(prefix="twilio-push-campaign-") as folder:
        path = Path(folder) / "audience.jsonl"
        write_audience(path, args.recipients)
        with emulator(emulator_cpus) as process:
            control = process.control
            control.set_defaults(duration=1.0)
            config = {
                "path": str(path),
                "base_url": process.base_url,
                "account_sid": process.account_sid,
                "auth_token": process.auth_token,
            }
            env = {"AIRFLOW_CONN_TWILIO_PUSH_DEFAULT": process.conn_json}
            for variant in VARIANTS:
                if variant != "campaign retry":
                    control.reset()
                    control.set_defaults(duration=1.0)
                before = control.counters()["routes"]
                worker = Worker(Path(__file__), {**config, "variant": variant}, cpus=client_cpus, env=env)
                worker.go()
                result = worker.result(timeout=1800)
                after = control.counters()["routes"]
                requests = {
                    route: sum(by_status.values()) - sum(before.get(route, {}).values())
                    for route, by_status in after.items()
                }
                result["requests"] = {route: n for route, n in sorted(requests.items()) if n}
                result["sends"] = requests.get(SEND_ROUTE, 0)
                result["recipients"] = args.recipients
                result["cpu_us_per_recipient"] = round(result["cpu_s"] / args.recipients * 1e6, 2)
                if variant == "campaign":
                    counts = control.recipient_counts()
                    result["sent_once"] = len(counts) == args.recipients and set(counts.values()) == {1}
                results.append(result)
    raw = next((r for r in results if r["variant"] == "raw httpx"), None)
    for result in results:
        if raw and result is not raw:
            result["cpu_us_beyond_raw"] = round(
                result["cpu_us_per_recipient"] - raw["cpu_us_per_recipient"], 2
            )
    return results


def rows(results: list[dict[str, Any]]) -> str:
    return table(
        [
            "variant",
            "sends",
            "requests",
            "wall (s)",
            "client CPU (us/recipient)",
            "beyond raw (us)",
            "peak RSS (MiB)",
            "XCom (bytes)",
        ],
        [
            [
                r["variant"],
                r["sends"],
                sum(r["requests"].values()),
                r["wall_s"],
                r["cpu_us_per_recipient"],
                r.get("cpu_us_beyond_raw"),
                r["peak_rss_mib"],
                r["xcom_bytes"],
            ]
            for r in results
        ],
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipients", type=int, default=1_000_000)


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    raise SystemExit(script_main(__doc__, add_arguments, run, rows, run_worker))
