"""wait_timeout is checked when the DAG is parsed, for both operators that wait."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError
from airflow_provider_twilio_push.operators.twilio_push import (
    TwilioPushOperationStatsOperator,
    TwilioPushSendOperator,
)

OPERATION_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"


def build(kind: str, wait_timeout: object) -> TwilioPushOperationStatsOperator | TwilioPushSendOperator:
    if kind == "stats":
        return TwilioPushOperationStatsOperator(
            task_id="stats", operation_id=OPERATION_ID, wait_timeout=wait_timeout
        )
    return TwilioPushSendOperator(
        task_id="send", to=[{"token": "t"}], content={"title": "t"}, wait_timeout=wait_timeout
    )


@pytest.mark.parametrize("kind", ["stats", "send"])
@pytest.mark.parametrize(("wait_timeout", "seconds"), [(90, 90.0), (2.5, 2.5), (timedelta(minutes=2), 120.0)])
def test_wait_timeout_in_seconds(kind: str, wait_timeout: object, seconds: float) -> None:
    assert build(kind, wait_timeout).wait_timeout == seconds


@pytest.mark.parametrize("kind", ["stats", "send"])
@pytest.mark.parametrize("wait_timeout", [0, -5, float("nan"), float("inf"), "1h", True, timedelta(0)])
def test_invalid_wait_timeout(kind: str, wait_timeout: object) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        build(kind, wait_timeout)
    assert str(caught.value) == (
        f"Invalid wait_timeout={wait_timeout!r}: expected a number of seconds > 0 or a positive timedelta."
    )
