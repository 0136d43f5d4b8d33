"""A real triggerer watching 48 deferred sensors' operations: a few list sweeps per interval.

The sensors use their own emulator (connection ``twilio_push_fleet``), so that its counters hold
only their requests: the 48 pre-checks the sensors make before deferring, then whatever the
triggerer makes. A GET per trigger and interval would be 24 requests a second.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_twilio_push.emulator import EmulatorProcess

from .dags.e2e_watcher_fleet import SENSORS
from .harness import AirflowHarness, wait_until

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_watcher_fleet"
POKE_INTERVAL = 2.0
GET_OPERATION = "GET /v1/PushNotifications/Operations/{id}"
LIST_OPERATIONS = "GET /v1/PushNotifications/Operations"
# The operations complete in waves, 12 at a time: 48 sensors resuming at once overran Airflow 3.0 on
# SQLite ("database is locked" in its dag-processor and api-server).
WAVES = 4
WAVE_GAP = 8


def test_deferred_sensors_share_the_triggerers_sweeps(
    airflow_harness: AirflowHarness, fleet_emulator_server: EmulatorProcess
) -> None:
    harness = airflow_harness
    control = fleet_emulator_server.control
    control.reset()
    control.freeze()  # the operations stay PROCESSING until the test advances the clock
    operations = [
        control.create_operation(total=10, duration=600 + WAVE_GAP * (i % WAVES)) for i in range(SENSORS)
    ]
    harness.wait_for_dag(DAG_ID)
    run_id = harness.trigger_dag(DAG_ID, conf={"operation_ids": [op["id"] for op in operations]})

    def all_deferred() -> bool:
        states = [ti["state"] for ti in harness.task_instances(DAG_ID, run_id)]
        return len(states) == SENSORS and all(state == "deferred" for state in states)

    wait_until(all_deferred, 600, f"the {SENSORS} sensors to defer", interval=2)
    # The triggerer watches all of them now: count what it asks for over a few intervals.
    before: dict[str, Any] = control.counters()["routes"]
    watched_for = 5 * POKE_INTERVAL
    time.sleep(watched_for)
    after: dict[str, Any] = control.counters()["routes"]
    for wave in range(WAVES):
        control.advance(600 if wave == 0 else WAVE_GAP)  # a quarter of the operations completes
        time.sleep(WAVE_GAP)
    assert harness.wait_for_run(DAG_ID, run_id, timeout=600) == "success"

    def count(routes: dict[str, Any], route: str) -> int:
        return sum(routes.get(route, {}).values())

    sweeps = count(after, LIST_OPERATIONS) - count(before, LIST_OPERATIONS)
    gets = count(after, GET_OPERATION) - count(before, GET_OPERATION)
    print(f"\n{SENSORS} deferred sensors over {watched_for:.0f} s: {sweeps} list requests, {gets} GETs")
    # One sweep (one page) per interval, give or take one; no GET: the sensors passed createdAt on.
    assert gets == 0
    assert 1 <= sweeps <= watched_for / POKE_INTERVAL + 2
    statuses = {harness.xcom(DAG_ID, run_id, f"wait_{i:02d}")["status"] for i in (0, SENSORS - 1)}
    assert statuses == {"COMPLETED"}
