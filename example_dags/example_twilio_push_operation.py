"""Send a push campaign, wait for Twilio to finish it without holding a worker, check its stats.

send_push -> wait_for_operation (deferrable) -> operation_stats (thresholds) -> report

Runs unchanged against Twilio and against the emulator (``twilio-push-emulator``): only the
``twilio_push_default`` connection differs. Trigger it with ``{"operation_id": "comms_operation_..."}``
to watch an operation sent elsewhere instead of sending.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task, teardown

from airflow_provider_twilio_push.notifications.twilio_push import TwilioPushNotifier
from airflow_provider_twilio_push.operators.twilio_push import (
    TwilioPushOperationStatsOperator,
    TwilioPushSendOperator,
)
from airflow_provider_twilio_push.sensors.twilio_push import TwilioPushOperationSensor

# With the emulator, tokens starting "fail" fail and "unaddressable" have no device: 1 of 40 fails.
DEMO_RECIPIENTS = [{"token": f"device-token-{i:03}", "provider": "FCM"} for i in range(38)] + [
    {"token": "fail-expired-token", "provider": "APN"},
    {"token": "unaddressable-uninstalled", "provider": "FCM"},
]

with DAG(
    dag_id="example_twilio_push_operation",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    # [START howto_notifier_twilio_push_callback]
    # A failed run (e.g. a breached threshold) pushes an alert to the on-call engineer's phone.
    on_failure_callback=TwilioPushNotifier(
        to=[{"token": "on-call-device-token", "provider": "FCM"}],
        content={"title": "{{ dag.dag_id }} failed", "body": "Run {{ run_id }}: {{ reason }}"},
    ),
    # [END howto_notifier_twilio_push_callback]
    # Templates render to Python objects, so `to` below receives a list, not its text.
    render_template_as_native_obj=True,
    # Params the UI's trigger form can show and edit: a JSON editor for the recipients (an array whose
    # items are objects), and an optional operation id (null, not "", which the form would require).
    params={
        "operation_id": Param(
            None,
            type=["null", "string"],
            title="Operation to watch",
            description="Leave empty to send to the recipients below; or watch this operation "
            "(comms_operation_...) instead of sending.",
        ),
        "recipients": Param(
            DEMO_RECIPIENTS,
            type="array",
            items={"type": "object", "required": ["token"]},
            minItems=1,
            title="Recipients",
            description='Who to send to: a JSON list of {"token": ..., "provider": "FCM" or "APN"}.',
        ),
    },
    tags=["example", "twilio"],
) as dag:

    @task.branch
    def send_or_watch(params: dict[str, Any]) -> str:
        return "wait_for_operation" if params["operation_id"] else "send_push"

    # [START howto_operator_twilio_push_send]
    send_push = TwilioPushSendOperator(
        task_id="send_push",
        to="{{ params.recipients }}",
        content={"title": "Your order has shipped", "body": "Track it in the app."},
        # Not {{ ds }}: Airflow 3 runs may have no logical date (e.g. triggered through the REST API
        # with "logical_date": null), and then `ds` is undefined and the task fails to render.
        tags={"campaign": "shipping-{{ dag_run.run_after | ds }}"},
    )
    # [END howto_operator_twilio_push_send]

    # [START howto_sensor_twilio_push_operation_deferrable]
    # Deferrable: between polls the task waits in the triggerer, not in a worker slot. Its
    # timeout travels with the trigger as a deadline.
    wait_for_operation = TwilioPushOperationSensor(
        task_id="wait_for_operation",
        operation_id="{{ params.operation_id or ti.xcom_pull(task_ids='send_push') }}",
        deferrable=True,
        poke_interval=5,
        timeout=30 * 60,
        trigger_rule="none_failed_min_one_success",
    )
    # [END howto_sensor_twilio_push_operation_deferrable]

    # [START howto_operator_twilio_push_operation_stats]
    # Fails when more than 5% failed; the stats reach XCom first, for callbacks and the report.
    operation_stats = TwilioPushOperationStatsOperator(
        task_id="operation_stats",
        operation_id="{{ ti.xcom_pull(task_ids='wait_for_operation')['id'] }}",
        max_failure_rate=0.05,
    )
    # [END howto_operator_twilio_push_operation_stats]

    # A teardown runs whatever happened upstream, and does not decide the run's state: a breached
    # threshold fails the run (at operation_stats) and the report is still written.
    @teardown
    def report(ti: Any = None) -> str:
        stats = ti.xcom_pull(task_ids="operation_stats")
        if not stats:
            return "No stats: the operation could not be read."
        verdict = "FAILED the 5% threshold" if "errors" in stats else "within the 5% threshold"
        summary = (
            f"Operation {stats['operation_id']} {stats['status']}: {stats['sent']} sent, "
            f"{stats['failed']} failed, {stats['unaddressable']} unaddressable of {stats['total']} "
            f"(failure rate {stats['failure_rate']:.1%}) -> {verdict}"
        )
        print(f"SUMMARY {summary}")
        return summary

    send_or_watch() >> [send_push, wait_for_operation]
    send_push >> wait_for_operation >> operation_stats >> report()
