"""A push campaign to an audience of any size, sent exactly once, waited for in one deferral.

write_audience -> send_campaign (TwilioPushCampaignOperator, deferrable, max_failure_rate) -> report

``write_audience`` stands in for the task that exports the audience from your warehouse: it writes
a JSON Lines file (one recipient a line) and passes on only its URI. The campaign operator reads
the file a chunk at a time, sends chunks of at most 10,000 recipients (one Twilio operation each),
and waits for all of them in the triggerer. Its XCom is small whatever the audience: the operation
ids, the counts and the summed stats, which ``report`` reads.

The default folder is local (``file:///tmp/...``), fine with the emulator (``twilio-push-emulator``)
and a single machine; on a deployment whose workers do not share a disk, use an object store such
as ``s3://my-bucket/campaigns`` (any scheme Airflow's ObjectStoragePath reads). Trigger it from the
UI with the form's defaults.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import ObjectStoragePath
from airflow.sdk import DAG, Param, task

from airflow_provider_twilio_push.operators.campaign import TwilioPushCampaignOperator

with DAG(
    dag_id="example_twilio_push_campaign",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "audience_size": Param(
            25_000,
            type="integer",
            minimum=1,
            maximum=1_000_000,
            title="Audience size",
            description="How many demo recipients to write (1 in 200 fails with the emulator).",
        ),
        "audience_folder": Param(
            "file:///tmp/twilio_push_campaign",
            type="string",
            title="Audience folder",
            description="Where the audience file is written: a local path, file://, s3://, gs://...",
        ),
    },
    tags=["example", "twilio"],
) as dag:

    @task
    def write_audience(params: dict[str, Any], run_id: str) -> str:
        """Write the audience as JSON Lines; return only its URI (never the audience) to XCom."""
        folder = ObjectStoragePath(params["audience_folder"])
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', run_id)}.jsonl"
        with path.open("w", encoding="utf-8") as file:
            for i in range(params["audience_size"]):
                # With the emulator, a token starting "fail" fails.
                token = f"fail-device-{i}" if i % 200 == 199 else f"device-token-{i}"
                file.write(json.dumps({"token": token, "provider": "FCM" if i % 3 else "APN"}) + "\n")
        return str(path)

    # [START howto_operator_twilio_push_campaign]
    send_campaign = TwilioPushCampaignOperator(
        task_id="send_campaign",
        audience="{{ ti.xcom_pull(task_ids='write_audience') }}",
        content={"title": "Spring sale", "body": "20% off everything, today only."},
        tags={"campaign": "spring-sale"},
        deferrable=True,
        poll_interval=10,
        wait_timeout=pendulum.duration(hours=6),
        max_failure_rate=0.02,
    )
    # [END howto_operator_twilio_push_campaign]

    @task
    def report(campaign: dict[str, Any]) -> str:
        stats = campaign["stats"]
        line = (
            f"Campaign: {campaign['recipients']:,} recipients in {campaign['chunks']} operations; "
            f"{stats['sent']:,} sent, {stats['failed']:,} failed ({campaign['failure_rate']:.1%})."
        )
        print(line)
        return line

    write_audience() >> send_campaign
    report(send_campaign.output)
