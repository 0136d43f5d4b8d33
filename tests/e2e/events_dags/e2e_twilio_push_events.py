"""The event-driven DAG of tests/e2e/test_events.py: one run per finished operation of its own emulator
(connection ``twilio_push_events``, created by the test), swept every 2 seconds; each run returns
the payloads of the asset events that triggered it."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationEventTrigger

finished = Asset(
    "e2e_twilio_push_finished_operations",
    watchers=[
        AssetWatcher(
            name="e2e_twilio_push_operation_watcher",
            trigger=TwilioPushOperationEventTrigger(
                twilio_push_conn_id="twilio_push_events", poll_interval=2
            ),
        )
    ],
)

with DAG(dag_id="e2e_twilio_push_events", schedule=[finished], catchup=False, tags=["e2e"]):

    @task
    def finished_operations(*, triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        operations: list[dict[str, Any]] = [
            event.extra["payload"] for event in triggering_asset_events[finished]
        ]
        return operations

    finished_operations()
