"""DAG for the killed-worker test: a campaign of several chunks, retried once if its worker dies."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag

from airflow_provider_twilio_push.operators.campaign import TwilioPushCampaignOperator

AUDIENCE = [{"token": f"killed-worker-{n:03d}", "provider": "FCM"} for n in range(100)]
CHUNK_SIZE = 20
CONN_ID = "twilio_push_campaign"


@dag(dag_id="e2e_deployment_campaign", schedule=None, catchup=False, tags=["e2e"])
def e2e_deployment_campaign() -> None:
    TwilioPushCampaignOperator(
        task_id="campaign",
        audience=AUDIENCE,
        content={"body": "exactly once"},
        chunk_size=CHUNK_SIZE,
        wait_for_completion=False,
        twilio_push_conn_id=CONN_ID,
        recheck_delay=2,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )


e2e_deployment_campaign()
