"""DAG for the killed-worker test: one send, retried once if its worker dies."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag

from airflow_provider_twilio_push.operators.twilio_push import TwilioPushSendOperator

RECIPIENTS = [{"token": f"killed-worker-{n:03d}", "provider": "FCM"} for n in range(50)]
CONN_ID = "twilio_push_send"


@dag(dag_id="e2e_deployment_send", schedule=None, catchup=False, tags=["e2e"])
def e2e_deployment_send() -> None:
    TwilioPushSendOperator(
        task_id="send",
        to=RECIPIENTS,
        content={"body": "exactly once"},
        twilio_push_conn_id=CONN_ID,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )


e2e_deployment_send()
