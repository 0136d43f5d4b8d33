"""An operation's progress as one line for the task log."""

from __future__ import annotations

from airflow_provider_twilio_push.models import Operation


def describe_progress(operation: Operation) -> str:
    """One line for the task log, the user's progress bar: the status and how much is done first, then
    counts that add up to the total (unaddressable, canceled and scheduled when not 0), e.g.
    ``PROCESSING, 81% done: 812 sent, 3 failed, 2 unaddressable, 183 queued of 1,000 (operation ...)``.
    """
    stats = operation.stats
    waiting = stats.queued + stats.scheduled
    if stats.total:
        # Floored, so that 100% means nothing is left to send.
        percent = 100 * max(stats.total - waiting, 0) // stats.total
    else:
        percent = 100 if operation.terminal else 0
    counts = [(stats.sent, "sent"), (stats.failed, "failed")]
    counts += [
        (n, name) for n, name in ((stats.unaddressable, "unaddressable"), (stats.canceled, "canceled")) if n
    ]
    counts.append((stats.queued, "queued"))
    counts += [(stats.scheduled, "scheduled")] if stats.scheduled else []
    return (
        f"{operation.status.value}, {percent}% done: {', '.join(f'{n:,} {name}' for n, name in counts)} "
        f"of {stats.total:,} (operation {operation.id})"
    )
