"""Run a DAG each time a push campaign finishes: log its stats, fail when too many sends failed.

No sensor task per campaign: the asset below is watched in the triggerer by
``TwilioPushOperationEventTrigger``, which fires once per operation of the account that ends
COMPLETED or CANCELED; each event's payload is the operation (``id``, ``status``, ``stats``,
``createdAt``, ``updatedAt``) plus its ``failure_rate`` and ``sent_rate``. Delivery is at least
once: key anything you write on the operation's ``id``.

Runs unchanged against Twilio and against the emulator (``twilio-push-emulator``).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationEventTrigger

#: A finished campaign with more failed sends than this share fails its run.
MAX_FAILURE_RATE = 0.05

# [START howto_trigger_twilio_push_operation_events]
finished_push_operations = Asset(
    "twilio_push_finished_operations",
    watchers=[
        AssetWatcher(
            name="twilio_push_operation_watcher",
            trigger=TwilioPushOperationEventTrigger(
                twilio_push_conn_id="twilio_push_default",
                statuses=("COMPLETED", "CANCELED"),
                poll_interval=60,
            ),
        )
    ],
)
# [END howto_trigger_twilio_push_operation_events]

# [START howto_trigger_twilio_push_operation_events_dag]
with DAG(
    dag_id="example_twilio_push_events",
    schedule=[finished_push_operations],
    catchup=False,
    tags=["example", "twilio_push"],
):

    @task
    def check_finished_operations(*, triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Log each finished operation's stats; fail if one's failure rate is above the threshold.

        Operations that finish close together may arrive in one run: every event is checked.
        """
        operations = [event.extra["payload"] for event in triggering_asset_events[finished_push_operations]]
        breaches = []
        for operation in operations:
            stats = operation["stats"]
            print(
                f"Operation {operation['id']} {operation['status']}: {stats['sent']} of {stats['total']} "
                f"sent ({operation['sent_rate']:.1%}), {stats['failed']} failed ({operation['failure_rate']:.1%})"
            )
            if operation["failure_rate"] > MAX_FAILURE_RATE:
                breaches.append(f"{operation['id']} ({operation['failure_rate']:.1%})")
        if breaches:
            raise AirflowFailException(f"Failure rate above {MAX_FAILURE_RATE:.0%}: {', '.join(breaches)}")
        return operations

    check_finished_operations()
# [END howto_trigger_twilio_push_operation_events_dag]
