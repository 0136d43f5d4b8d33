"""DAG for tests/e2e/test_campaign_kill.py: a campaign of 10 chunks of 5, retried once, whose task
process the test kills (SIGKILL) after a few chunks were accepted."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_twilio_push.operators.campaign import TwilioPushCampaignOperator

with DAG(
    dag_id="e2e_twilio_push_campaign_kill",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"prefix": Param("campaign-kill", type="string")},
    tags=["e2e"],
):
    TwilioPushCampaignOperator(
        task_id="send",
        audience=[{"token": f"{{{{ params.prefix }}}}-{i}", "provider": "FCM"} for i in range(50)],
        content={"body": "Exactly once"},
        chunk_size=5,
        wait_for_completion=False,
        recheck_delay=1,
        retries=1,
        retry_delay=timedelta(seconds=2),
    )
