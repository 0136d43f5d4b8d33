"""A daily report of the previous day's push operations, waiting for stragglers without deferring.

summarize_operations (lists them with the hook) -> wait_for_unfinished (sensor,
reschedule mode, one mapped task per unfinished operation) -> final_stats (stats operator,
polling from the worker).

Non-deferrable modes suit workers without a triggerer: ``mode="reschedule"`` frees the worker
slot between pokes; ``mode="poke"`` (the default) keeps it, fine for waits of a few minutes.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.operators.twilio_push import TwilioPushOperationStatsOperator
from airflow_provider_twilio_push.sensors.twilio_push import TwilioPushOperationSensor

# Airflow writes what this logger logs to the task log.
log = logging.getLogger("airflow.task")
#: The counters summed over the day's operations, in the order the summary names them.
COUNTERS = ("total", "sent", "failed", "unaddressable", "queued", "scheduled", "canceled")

with DAG(
    dag_id="example_twilio_push_daily_report",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "twilio"],
) as dag:

    @task
    def summarize_operations(data_interval_end: Any = None, dag_run: Any = None) -> list[str]:
        """Log yesterday's totals (UTC); return the ids of operations still SCHEDULED or PROCESSING."""
        # A manual run without a logical date has no data interval: take the day before it ran.
        moment = data_interval_end or dag_run.run_after
        day = pendulum.instance(moment).in_tz("UTC").start_of("day").subtract(days=1)
        statuses: Counter[str] = Counter()
        notifications: Counter[str] = Counter()
        unfinished = []
        # [START howto_hook_twilio_push_iter_operations]
        with TwilioPushHook() as hook:
            # Pages are fetched lazily, 1,000 operations at a time: memory stays flat.
            for operation in hook.iter_operations(start_date=day, end_date=day.add(days=1)):
                statuses[operation.status.value] += 1
                notifications.update(operation.stats.model_dump())
                if not operation.terminal:
                    unfinished.append(operation.id)
        # [END howto_hook_twilio_push_iter_operations]
        by_status = ", ".join(f"{count:,} {status}" for status, count in statuses.most_common()) or "none"
        log.info(
            "%s operations created on %s (UTC): %s", f"{statuses.total():,}", f"{day:%Y-%m-%d}", by_status
        )
        log.info("Notifications: %s", ", ".join(f"{notifications[key]:,} {key}" for key in COUNTERS))
        log.info("Waiting for the %s still SCHEDULED or PROCESSING", f"{len(unfinished):,}")
        return unfinished

    unfinished = summarize_operations()

    # [START howto_sensor_twilio_push_operation_reschedule]
    wait_for_unfinished = TwilioPushOperationSensor.partial(
        task_id="wait_for_unfinished",
        deferrable=False,
        mode="reschedule",
        poke_interval=60,
        timeout=6 * 3600,
        # A straggler canceled by someone is reported, not a reason to fail the report.
        fail_on_canceled=False,
        # Mapped task instances are listed by operation id in the UI instead of 0, 1, 2...
        map_index_template="{{ task.operation_id }}",
    ).expand(operation_id=unfinished)
    # [END howto_sensor_twilio_push_operation_reschedule]

    # [START howto_operator_twilio_push_operation_stats_polling]
    final_stats = TwilioPushOperationStatsOperator.partial(
        task_id="final_stats", max_failure_rate=0.1, map_index_template="{{ task.operation_id }}"
    ).expand(operation_id=unfinished)
    # [END howto_operator_twilio_push_operation_stats_polling]

    wait_for_unfinished >> final_stats
