"""Throughput of the emulator's hot path, ``GET /v1/PushNotifications/Operations/{id}``.

The emulator runs pinned to one core (``--server-cpu``); a load generator runs in a separate
process pinned to another (``--client-cpu``) with many concurrent keep-alive connections. The
default generator is a lean asyncio HTTP/1.1 client (one request in flight per connection, no
pipelining); ``--client httpx`` uses ``httpx.AsyncClient`` instead, which is heavier than the
server and so measures the client more than the emulator. All traffic stays on 127.0.0.1.

    .venv/bin/python benchmarks/emulator_throughput.py [--seconds 10] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

from airflow_provider_twilio_push.emulator import EmulatorProcess

ROUTE = "GET /v1/PushNotifications/Operations/{id}"


# -- load generator (runs in its own process) -------------------------------------------------


class _Connection(asyncio.Protocol):
    def __init__(self, requests: list[bytes], stats: dict[str, Any], start: float, end: float) -> None:
        self.requests = requests
        self.stats = stats
        self.start = start
        self.end = end
        self.i = 0
        self.buffer = b""
        self.need: int | None = None
        self.sent_at = 0.0
        self.status = 0
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        self.sent_at = time.perf_counter()
        self.transport.write(self.requests[self.i % len(self.requests)])
        self.i += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            self.status = int(head[9:12])
            at = head.index(b"content-length:") + len(b"content-length:")
            self.need = end + 4 + int(head[at : head.index(b"\r\n", at) if b"\r\n" in head[at:] else None])
        if len(self.buffer) < self.need:
            return
        self.buffer = self.buffer[self.need :]
        self.need = None
        now = time.perf_counter()
        if self.start <= now <= self.end:
            self.stats["statuses"][self.status] = self.stats["statuses"].get(self.status, 0) + 1
            self.stats["latencies"].append(now - self.sent_at)
        if now < self.end:
            self._send()
        else:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.perf_counter() < self.end:
            self.stats["errors"] += 1
        if not self.done.done():
            self.done.set_result(None)


async def _raw_load(config: dict[str, Any], stats: dict[str, Any], start: float, end: float) -> None:
    host, port = config["host"], config["port"]
    requests = [
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {config['authorization']}\r\n"
            "Accept: application/json\r\n\r\n"
        ).encode()
        for path in config["paths"]
    ]
    loop = asyncio.get_running_loop()
    connections = []
    for i in range(config["connections"]):
        rotated = requests[i % len(requests) :] + requests[: i % len(requests)]
        _, protocol = await loop.create_connection(
            lambda r=rotated: _Connection(r, stats, start, end), host, port
        )
        connections.append(protocol)
    await asyncio.gather(*(c.done for c in connections))


async def _httpx_load(config: dict[str, Any], stats: dict[str, Any], start: float, end: float) -> None:
    import httpx

    base = f"http://{config['host']}:{config['port']}"
    headers = {"Authorization": config["authorization"]}
    clients = [
        httpx.AsyncClient(
            base_url=base, headers=headers, trust_env=False, limits=httpx.Limits(max_connections=16)
        )
        for _ in range(max(1, config["connections"] // 16))
    ]

    async def run(i: int) -> None:
        client = clients[i % len(clients)]
        paths = config["paths"]
        n = i
        while (now := time.perf_counter()) < end:
            response = await client.get(paths[n % len(paths)])
            n += 1
            done = time.perf_counter()
            if start <= done <= end:
                stats["statuses"][response.status_code] = stats["statuses"].get(response.status_code, 0) + 1
                stats["latencies"].append(done - now)

    try:
        await asyncio.gather(*(run(i) for i in range(config["connections"])))
    finally:
        for client in clients:
            await client.aclose()


def worker(config: dict[str, Any]) -> dict[str, Any]:
    if config["cpu"] is not None:
        os.sched_setaffinity(0, {config["cpu"]})
    stats: dict[str, Any] = {"statuses": {}, "latencies": [], "errors": 0}
    start = time.perf_counter() + config["warmup"]
    end = start + config["seconds"]
    load = _httpx_load if config["client"] == "httpx" else _raw_load

    async def bounded() -> None:
        await asyncio.wait_for(load(config, stats, start, end), config["warmup"] + config["seconds"] + 10)

    loop_factory = None
    if importlib.util.find_spec("uvloop"):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(bounded())
    latencies = sorted(stats["latencies"])
    count = sum(stats["statuses"].values())
    return {
        "requests": count,
        "requests_per_second": count / config["seconds"],
        "statuses": {str(k): v for k, v in sorted(stats["statuses"].items())},
        "connection_errors": stats["errors"],
        "latency_ms": {
            "p50": 1000 * statistics.median(latencies) if latencies else None,
            "p99": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
            "max": 1000 * latencies[-1] if latencies else None,
        },
    }


# -- driver -----------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--operations", type=int, default=100, help="distinct operations to read")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    cpus = os.sched_getaffinity(0)
    pin = {args.server_cpu, args.client_cpu} <= cpus and args.server_cpu != args.client_cpu
    with EmulatorProcess(cpu_affinity={args.server_cpu} if pin else None) as emulator:
        control = emulator.control
        # Long-running operations: every read computes status and stats afresh (no cached bytes).
        paths = [
            f"/v1/PushNotifications/Operations/{control.create_operation(total=10_000, duration=86_400, failure_ratio=0.05)['id']}"
            for _ in range(args.operations)
        ]
        credentials = f"{emulator.account_sid}:{emulator.auth_token}".encode()
        config = {
            "host": "127.0.0.1",
            "port": emulator.port,
            "authorization": "Basic " + base64.b64encode(credentials).decode(),
            "paths": paths,
            "connections": args.connections,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "client": args.client,
            "cpu": args.client_cpu if pin else None,
        }
        cpu_before = _cpu_seconds(emulator.pid)
        wall_before = time.monotonic()
        result = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(config)],
            capture_output=True,
            text=True,
            check=True,
            timeout=args.seconds + args.warmup + 60,
        )
        cpu_used = _cpu_seconds(emulator.pid) - cpu_before
        server_cpu = cpu_used / (time.monotonic() - wall_before)
        client = json.loads(result.stdout)
        served = control.request_count(ROUTE, 200)

    results = {
        "benchmark": "emulator GET operation throughput",
        "client": args.client,
        "connections": args.connections,
        "operations": args.operations,
        "seconds": args.seconds,
        "pinned": {"server_cpu": args.server_cpu, "client_cpu": args.client_cpu} if pin else None,
        "server_cpu_utilisation": round(server_cpu, 3),
        "server_http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "server_loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "served_200_total": served,
        # Robust to other load on the machine: what one fully used core would serve.
        "served_per_server_cpu_second": round(served / cpu_used) if cpu_used else None,
        **client,
    }
    latency = client["latency_ms"]
    print(
        f"GET operation: {client['requests_per_second']:,.0f} requests/s "
        f"({client['requests']:,} in {args.seconds:g} s, {args.connections} keep-alive connections, "
        f"{args.client} client)\n"
        f"latency p50 {latency['p50']:.2f} ms, p99 {latency['p99']:.2f} ms; statuses {client['statuses']}; "
        f"connection errors {client['connection_errors']}\n"
        f"server on {'cpu ' + str(args.server_cpu) if pin else 'any cpu'}, "
        f"{results['server_http']} + {results['server_loop']}, "
        f"cpu utilisation {server_cpu:.0%}; the server counted {served:,} 200s (warm-up included), "
        f"{results['served_per_server_cpu_second'] or 0:,} per second of its cpu time"
    )
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
