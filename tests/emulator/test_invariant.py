"""The stats invariant and monotonicity: on the model for any parameters, and over HTTP under load."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.emulator.state import Operation

from .helpers import OPERATIONS, check_invariant

RANK = {"SCHEDULED": 0, "PROCESSING": 1, "COMPLETED": 2, "CANCELED": 2}


def check_progress(before: dict[str, Any], after: dict[str, Any]) -> None:
    """``after`` was read at the same time as ``before`` or later."""
    a, b = before["stats"], after["stats"]
    assert b["unaddressable"] == a["unaddressable"]
    for key in ("sent", "failed", "canceled"):
        assert b[key] >= a[key], (key, before, after)
    assert b["scheduled"] <= a["scheduled"]
    if before["status"] != "SCHEDULED":
        assert b["queued"] <= a["queued"]
    assert RANK[after["status"]] >= RANK[before["status"]]
    if RANK[before["status"]] == 2:
        assert after == before  # terminal
    assert after["updatedAt"] >= before["updatedAt"]


@st.composite
def operations(draw: st.DrawFn) -> Operation:
    total = draw(st.integers(1, 5000))
    unaddressable = draw(st.integers(0, total))
    failures = draw(st.integers(0, total - unaddressable))
    start_in = draw(st.sampled_from([0.0, 0.5, 3.0, 1000.0]))
    duration = draw(st.sampled_from([0.0, 0.001, 1.0, 2.0, 7.5, 86400.0]))
    op = Operation(
        id="comms_operation_01hm679ne04926xaz2sh56s3e0",
        seq=0,
        seed=0,
        accepted_at=1_700_000_000.25,
        total=total,
        unaddressable=unaddressable,
        failures=failures,
        start_at=1_700_000_000.25 + start_in,
        duration=duration,
    )
    if draw(st.booleans()):
        op.canceled_at = op.accepted_at + draw(st.floats(0, 2 * (start_in + duration) + 1))
    return op


@settings(max_examples=300, deadline=None, database=None)
@given(op=operations(), offsets=st.lists(st.floats(0, 200_000), min_size=1, max_size=20))
def test_every_read_satisfies_the_invariant_and_only_moves_forward(
    op: Operation, offsets: list[float]
) -> None:
    times = [op.accepted_at + offset for offset in sorted(offsets)]
    views = [op.view(t) for t in times]
    for t, view in zip(times, views, strict=True):
        check_invariant(view)
        assert op.render(t) == json.dumps(view, separators=(",", ":")).encode()  # the fast path agrees
    for before, after in itertools.pairwise(views):
        check_progress(before, after)
    final = op.view(op.accepted_at + 1e9)
    assert final["status"] == (
        "CANCELED" if op.canceled_at is not None and final["status"] != "COMPLETED" else "COMPLETED"
    )
    if final["status"] == "COMPLETED":
        assert final["stats"]["failed"] == op.failures
        assert final["stats"]["sent"] == op.total - op.unaddressable - op.failures


@settings(max_examples=300, deadline=None, database=None)
@given(n=st.integers(1, 3000), data=st.data())
def test_failures_are_spread_evenly_and_counted_exactly(n: int, data: st.DataObject) -> None:
    failures = data.draw(st.integers(0, n))
    op = Operation("comms_operation_01hm679ne04926xaz2sh56s3e0", 0, 0, 0.0, n, 0, failures, 0.0, 10.0)
    positions = [op.failure_position(j) for j in range(failures)]
    assert positions == sorted(set(positions))
    assert all(0 <= p < n for p in positions)
    for processed in data.draw(st.lists(st.integers(0, n), max_size=10)):
        assert op.failed_among(processed) == sum(p < processed for p in positions)
    times = [op.failure_time(j) for j in range(failures)]
    assert all(op.errors_so_far(t) >= j + 1 for j, t in enumerate(times))


async def test_concurrent_reads_while_the_clock_advances(emulator: EmulatorHandle) -> None:
    control = emulator.control
    rng = random.Random(7)
    op_ids = [
        control.create_operation(
            total=rng.choice([1, 7, 100, 1000]),
            duration=rng.choice([0.3, 1.0, 2.0]),
            failure_ratio=rng.choice([0.0, 0.1, 0.5]),
            unaddressable_ratio=rng.choice([0.0, 0.2]),
            schedule_in=rng.choice([0.0, 0.0, 0.5]),
        )["id"]
        for _ in range(20)
    ]
    clock_done = asyncio.Event()
    reads = 0

    async def reader(client: httpx.AsyncClient, seed: int) -> None:
        nonlocal reads
        local = random.Random(seed)
        last: dict[str, dict[str, Any]] = {}
        while not clock_done.is_set():
            if local.random() < 0.2:
                response = await client.get(OPERATIONS, params={"pageSize": 1000})
                assert response.status_code == 200
                ops = response.json()["operations"]
            else:
                response = await client.get(f"{OPERATIONS}/{local.choice(op_ids)}")
                assert response.status_code == 200
                ops = [response.json()]
            for op in ops:
                check_invariant(op)
                if op["id"] in last:
                    check_progress(last[op["id"]], op)
                last[op["id"]] = op
            reads += 1

    async def clock_and_cancels(client: httpx.AsyncClient) -> None:
        to_cancel = list(op_ids[::5])
        for _ in range(25):
            await client.post("/_emulator/clock", json={"advance": 0.1})
            if to_cancel:
                await client.post(f"/_emulator/operations/{to_cancel.pop()}/cancel")
            await asyncio.sleep(0.02)
        clock_done.set()

    auth = (emulator.account_sid, emulator.auth_token)
    async with httpx.AsyncClient(base_url=emulator.base_url, auth=auth, trust_env=False) as client:
        await asyncio.gather(clock_and_cancels(client), *(reader(client, i) for i in range(6)))

    assert reads >= 25
    final = [(await _get(emulator, op_id))["status"] for op_id in op_ids]
    assert set(final) <= {"COMPLETED", "CANCELED", "PROCESSING"}


async def _get(emulator: EmulatorHandle, op_id: str) -> dict[str, Any]:
    auth = (emulator.account_sid, emulator.auth_token)
    async with httpx.AsyncClient(base_url=emulator.base_url, auth=auth, trust_env=False) as client:
        op: dict[str, Any] = (await client.get(f"{OPERATIONS}/{op_id}")).json()
        return op
