"""An operation's progress as one line for the task log."""

from __future__ import annotations

from airflow_provider_twilio_push.models import Operation


def describe_progress(operation: Operation) -> str:
    """One line for the task log: the user's progress bar."""
    stats = operation.stats
    return (
        f"Operation {operation.id} is {operation.status.value}: {stats.sent:,} sent, "
        f"{stats.failed:,} failed, {stats.queued:,} queued of {stats.total:,}"
    )
