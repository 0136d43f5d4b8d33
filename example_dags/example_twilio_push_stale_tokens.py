"""After a push campaign, collect the recipients whose notification FAILED and clean up stale tokens.

load_audience -> send_campaign (waits for the operation, deferrable) -> collect_failed_recipients
-> forget_stale_tokens

Twilio's list of an operation's notifications (``GET /v1/PushNotifications?operationId=...&status=FAILED``,
read with ``TwilioPushHook.iter_push_notifications``) names each failed recipient: its device
token and provider, or its user id. It does not say why one failed; the codes are on the
operation's Errors endpoint, which Twilio mentions without documenting it
(``TwilioPushHook.get_operation_errors``). Runs unchanged against Twilio and the emulator.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.operators.twilio_push import TwilioPushSendOperator

with DAG(
    dag_id="example_twilio_push_stale_tokens",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "twilio"],
) as dag:

    @task
    def load_audience() -> list[dict[str, str]]:
        """The campaign's recipients, e.g. from your app's device table."""
        # With the emulator, a token starting "fail" fails: 3 of these 12 do.
        return [{"token": f"device-token-{i:02}", "provider": "FCM"} for i in range(9)] + [
            {"token": "fail-52134-uninstalled-a", "provider": "APN"},
            {"token": "fail-52134-uninstalled-b", "provider": "FCM"},
            {"token": "fail-52131-garbled", "provider": "FCM"},
        ]

    # [START howto_operator_twilio_push_send_and_wait]
    send_campaign = TwilioPushSendOperator(
        task_id="send_campaign",
        to=load_audience(),
        content={"title": "Spring sale", "body": "Everything is 20% off this weekend."},
        tags={"campaign": "spring-sale"},
        # Returns the final operation once Twilio has processed every notification.
        wait_for_completion=True,
        deferrable=True,
        poll_interval=5,
    )
    # [END howto_operator_twilio_push_send_and_wait]

    @task
    def collect_failed_recipients(operation: dict[str, Any]) -> list[dict[str, str]]:
        """The device tokens (and providers) whose notification of this operation FAILED."""
        failed = []
        # [START howto_hook_twilio_push_iter_push_notifications]
        with TwilioPushHook() as hook:
            for notification in hook.iter_push_notifications(operation_id=operation["id"], status="FAILED"):
                if notification.to.token:  # a user recipient's devices are Twilio's to manage
                    failed.append(
                        {"token": notification.to.token, "provider": notification.to.provider or ""}
                    )
        # [END howto_hook_twilio_push_iter_push_notifications]
        by_provider = Counter(recipient["provider"] for recipient in failed)
        print(f"{len(failed)} of {operation['stats']['total']} failed, by provider: {dict(by_provider)}")
        return failed

    @task
    def forget_stale_tokens(failed: list[dict[str, str]]) -> int:
        """Remove the failed tokens from your app's device table, so the next campaign skips them."""
        for recipient in failed:
            # e.g. DELETE FROM devices WHERE token = %(token)s AND provider = %(provider)s
            print(f"forgetting {recipient['provider']} token {recipient['token'][:12]}...")
        return len(failed)

    forget_stale_tokens(collect_failed_recipients(send_campaign.output))
