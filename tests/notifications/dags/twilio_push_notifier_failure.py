"""Run by ``airflow dags test`` in tests/notifications/test_notifier_dags_test.py, against the emulator.

One task fails; its failure callback sends one push, rendered with the task's context.

Not a DAG-level ``on_failure_callback``: under ``airflow dags test`` (Airflow 3.1 to 3.3) those
get a serialized DAG in their context and every notifier fails to render its templates
(apache/airflow#64649); on a real deployment they work (tests/e2e/test_example_dags.py).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_twilio_push.notifications.twilio_push import TwilioPushNotifier

with DAG(
    dag_id="twilio_push_notifier_failure",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,  # `to` below renders to the list itself
    params={"on_call": [{"token": "on-call-phone", "provider": "FCM"}]},
):
    # [START howto_notifier_twilio_push_task_callback]
    @task(
        on_failure_callback=TwilioPushNotifier(
            to="{{ params.on_call }}",
            content={
                "title": "{{ dag.dag_id }} failed",
                # Before Airflow 3.3, `airflow dags test` leaves the exception out of the callback's context.
                "body": "{{ ti.task_id }} on {{ run_id }}{% if exception is defined %}: {{ exception }}{% endif %}",
            },
            tags={"task": "{{ ti.task_id }}"},
        )
    )
    def load() -> None:
        raise RuntimeError("the warehouse is down")

    # [END howto_notifier_twilio_push_task_callback]

    load()
