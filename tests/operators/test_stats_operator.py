"""TwilioPushOperationStatsOperator (issue 5): stats to XCom, thresholds, Errors summary, waiting.

Unit tests mock the transport only (respx); the ``emulator`` tests run against the Comms API
emulator. The task instance is a recorder (see conftest), not Airflow's.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import respx
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.exceptions import TwilioPushError, TwilioPushInvalidInputError
from airflow_provider_twilio_push.operators.twilio_push import (
    TwilioPushOperationStatsOperator,
    stats_for_xcom,
    summarize_errors,
)
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

from .conftest import OPERATION_ID, OPS_PATH, RecordingTI

OP_PATH = f"{OPS_PATH}/{OPERATION_ID}"
SEND_PATH = "/v1/PushNotifications"
ERRORS_PATH = f"{OP_PATH}/Errors"
COUNTERS = ("total", "recipients", "unaddressable", "scheduled", "queued", "sent", "failed", "canceled")
XCOM_KEYS = {"operation_id", "status", *COUNTERS, "created_at", "updated_at", "failure_rate", "sent_rate"}

INVALID_TOKEN = "Invalid device token: the push provider rejected the registration token"
UNREGISTERED = "Device token is not registered with the push provider"
TOO_BIG = "Notification payload exceeds the push provider's size limit"


def operation(
    status: str = "COMPLETED", *, total: int = 1000, failed: int = 0, **stats: int
) -> dict[str, Any]:
    """Wire JSON of operation OPERATION_ID; unless given, ``sent`` is whatever is left of ``total``."""
    counters = dict.fromkeys(("unaddressable", "scheduled", "queued", "canceled"), 0)
    counters.update(stats)
    left = total - failed - sum(counters.values())
    counters = {"total": total, "recipients": total, "failed": failed, "sent": left, **counters}
    return {
        "id": OPERATION_ID,
        "status": status,
        "stats": counters,
        "createdAt": "2024-01-15T09:30:00Z",
        "updatedAt": "2024-01-15T09:30:05Z",
    }


def errors(*counts: tuple[int, str, int]) -> dict[str, Any]:
    """An Errors page: ``count`` items of each ``(code, message, count)``."""
    items = [
        {"code": code, "message": message, "pushNotificationId": f"comms_pushnotification_{i}"}
        for code, message, count in counts
        for i in range(count)
    ]
    return {"errors": items, "pagination": {"next": None}}


def stats_operator(**kwargs: Any) -> TwilioPushOperationStatsOperator:
    kwargs.setdefault("task_id", "stats")
    kwargs.setdefault("operation_id", OPERATION_ID)
    return TwilioPushOperationStatsOperator(**kwargs)


def fail_message(run: Callable[[], Any]) -> str:
    with pytest.raises(AirflowFailException) as caught:
        run()
    return str(caught.value)


# ---------------------------------------------------------------------------------------------
# Thresholds


@pytest.mark.parametrize(
    ("failed", "max_failed"),
    [(10, 10), (9, 10), (0, 0), (1000, 1000)],
    ids=["at", "just-below", "zero-at-zero", "all-at-all"],
)
def test_max_failed_at_or_below_passes(
    api_mock: respx.MockRouter, context: dict[str, Any], failed: int, max_failed: int
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=failed))
    errors_route = api_mock.get(ERRORS_PATH).respond(200, json=errors())

    stats = stats_operator(max_failed=max_failed).execute(context)

    assert stats["failed"] == failed
    assert "errors" not in stats
    assert not errors_route.called  # the Errors endpoint is read on a breach only


@pytest.mark.parametrize(
    ("failed", "max_failed", "expected"),
    [
        (11, 10, "11 of 1,000 push notifications failed, above max_failed=10"),
        (1, 0, "1 of 1,000 push notifications failed, above max_failed=0"),
        (1000, 999, "1,000 of 1,000 push notifications failed, above max_failed=999"),
    ],
    ids=["just-above", "one-above-zero", "all-failed"],
)
def test_max_failed_just_above_fails(
    api_mock: respx.MockRouter,
    context: dict[str, Any],
    ti: RecordingTI,
    failed: int,
    max_failed: int,
    expected: str,
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=failed))
    api_mock.get(ERRORS_PATH).respond(200, json=errors((52131, INVALID_TOKEN, failed)))

    message = fail_message(lambda: stats_operator(max_failed=max_failed).execute(context))

    assert message == (
        f"{expected} for operation {OPERATION_ID}. "
        f"Top errors (of {failed:,} read): {failed:,} x 52131: {INVALID_TOKEN}."
    )
    assert ti.xcom()["failed"] == failed


def test_max_failed_large_counts_use_thousands_separators(
    api_mock: respx.MockRouter, context: dict[str, Any]
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(total=2_500_000, failed=12_345))
    api_mock.get(ERRORS_PATH).respond(200, json=errors())

    message = fail_message(lambda: stats_operator(max_failed=10_000).execute(context))

    assert message.startswith(
        "12,345 of 2,500,000 push notifications failed, above max_failed=10,000 for operation"
    )


@pytest.mark.parametrize(
    ("failed", "total", "max_failure_rate"),
    [(20, 1000, 0.02), (19, 1000, 0.02), (7, 100, 0.07), (1, 3, 1 / 3), (0, 10, 0), (10, 10, 1)],
    ids=["at-2%", "just-below-2%", "at-7%", "at-one-third", "zero-at-zero", "all-at-100%"],
)
def test_max_failure_rate_at_or_below_passes(
    api_mock: respx.MockRouter, context: dict[str, Any], failed: int, total: int, max_failure_rate: float
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(total=total, failed=failed))

    stats = stats_operator(max_failure_rate=max_failure_rate).execute(context)

    assert stats["failure_rate"] == failed / total


@pytest.mark.parametrize(
    ("failed", "total", "max_failure_rate", "expected"),
    [
        (21, 1000, 0.02, "21 of 1,000 push notifications failed (2.1%), above max_failure_rate=2.0%"),
        (201, 10_000, 0.02, "201 of 10,000 push notifications failed (2.01%), above max_failure_rate=2.0%"),
        (
            2001,
            100_000,
            0.02,
            "2,001 of 100,000 push notifications failed (2.001%), above max_failure_rate=2.0%",
        ),
        (1, 10, 0, "1 of 10 push notifications failed (10.0%), above max_failure_rate=0.0%"),
        (2, 3, 0.5, "2 of 3 push notifications failed (66.667%), above max_failure_rate=50.0%"),
    ],
    ids=["0.1-point-above", "0.01-point-above", "0.001-point-above", "any-above-zero", "thirds"],
)
def test_max_failure_rate_just_above_fails(
    api_mock: respx.MockRouter,
    context: dict[str, Any],
    failed: int,
    total: int,
    max_failure_rate: float,
    expected: str,
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(total=total, failed=failed))
    api_mock.get(ERRORS_PATH).respond(200, json=errors())

    message = fail_message(lambda: stats_operator(max_failure_rate=max_failure_rate).execute(context))

    assert message.startswith(f"{expected} for operation {OPERATION_ID}. ")


def test_the_failure_message_reads_as_documented(api_mock: respx.MockRouter, context: dict[str, Any]) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=37))
    api_mock.get(ERRORS_PATH).respond(
        200,
        json=errors((52134, UNREGISTERED, 12), (52131, INVALID_TOKEN, 20), (52143, TOO_BIG, 5)),
    )

    message = fail_message(lambda: stats_operator(max_failure_rate=0.02).execute(context))

    assert message == (
        f"37 of 1,000 push notifications failed (3.7%), above max_failure_rate=2.0% for operation "
        f"{OPERATION_ID}. Top errors (of 37 read): 20 x 52131: {INVALID_TOKEN}; "
        f"12 x 52134: {UNREGISTERED}; 5 x 52143: {TOO_BIG}."
    )


def test_both_thresholds_breached_at_once_names_both(
    api_mock: respx.MockRouter, context: dict[str, Any]
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=37))
    api_mock.get(ERRORS_PATH).respond(200, json=errors((52131, INVALID_TOKEN, 37)))

    message = fail_message(lambda: stats_operator(max_failed=10, max_failure_rate=0.02).execute(context))

    assert message == (
        "37 of 1,000 push notifications failed, above max_failed=10; "
        "37 of 1,000 push notifications failed (3.7%), above max_failure_rate=2.0% "
        f"for operation {OPERATION_ID}. Top errors (of 37 read): 37 x 52131: {INVALID_TOKEN}."
    )


@pytest.mark.parametrize(
    ("max_failed", "max_failure_rate", "named", "not_named"),
    [(10, 0.05, "max_failed=10", "max_failure_rate"), (50, 0.02, "max_failure_rate=2.0%", "max_failed")],
    ids=["only-count", "only-rate"],
)
def test_only_the_breached_threshold_is_named(
    api_mock: respx.MockRouter,
    context: dict[str, Any],
    max_failed: int,
    max_failure_rate: float,
    named: str,
    not_named: str,
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=37))
    api_mock.get(ERRORS_PATH).respond(200, json=errors())

    operator = stats_operator(max_failed=max_failed, max_failure_rate=max_failure_rate)
    message = fail_message(lambda: operator.execute(context))

    assert named in message
    assert not_named not in message


def test_no_thresholds_never_fail(api_mock: respx.MockRouter, context: dict[str, Any]) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(total=10, failed=10))

    assert stats_operator().execute(context)["failure_rate"] == 1.0


def test_total_zero_gives_zero_rates_and_passes_any_threshold(
    api_mock: respx.MockRouter, context: dict[str, Any]
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(total=0))

    stats = stats_operator(max_failed=0, max_failure_rate=0).execute(context)

    assert stats["total"] == stats["failed"] == stats["sent"] == 0
    assert stats["failure_rate"] == 0.0
    assert stats["sent_rate"] == 0.0


def test_counters_left_out_by_the_server_count_as_zero(
    api_mock: respx.MockRouter, context: dict[str, Any]
) -> None:
    api_mock.get(OP_PATH).respond(200, json={"id": OPERATION_ID, "status": "COMPLETED"})

    stats = stats_operator(max_failure_rate=0).execute(context)

    assert {key: stats[key] for key in COUNTERS} == dict.fromkeys(COUNTERS, 0)
    assert stats["created_at"] is None
    assert stats["updated_at"] is None
    assert stats["failure_rate"] == stats["sent_rate"] == 0.0


# ---------------------------------------------------------------------------------------------
# XCom


def test_xcom_on_success_holds_every_documented_key(
    api_mock: respx.MockRouter, context: dict[str, Any]
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=37, unaddressable=3, sent=960))

    stats = stats_operator(max_failure_rate=0.05, max_failed=100).execute(context)

    # The return value is the return_value XCom: Airflow pushes it, so it must be JSON-safe.
    assert json.loads(json.dumps(stats)) == stats
    assert stats == {
        "operation_id": OPERATION_ID,
        "status": "COMPLETED",
        "total": 1000,
        "recipients": 1000,
        "unaddressable": 3,
        "scheduled": 0,
        "queued": 0,
        "sent": 960,
        "failed": 37,
        "canceled": 0,
        "created_at": "2024-01-15T09:30:00+00:00",
        "updated_at": "2024-01-15T09:30:05+00:00",
        "failure_rate": 0.037,
        "sent_rate": 0.96,
    }
    assert set(stats) == XCOM_KEYS


def test_xcom_on_breach_is_pushed_before_the_failure_with_an_errors_summary(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=37))
    api_mock.get(ERRORS_PATH).respond(
        200, json=errors((52131, INVALID_TOKEN, 20), (52134, UNREGISTERED, 12), (52143, TOO_BIG, 5))
    )

    fail_message(lambda: stats_operator(max_failure_rate=0.02).execute(context))

    # The task raised: whatever it pushed, it pushed before failing.
    pushed = ti.xcom("return_value")
    assert set(pushed) == XCOM_KEYS | {"errors"}
    assert pushed["failed"] == 37
    assert pushed["failure_rate"] == 0.037
    assert pushed["errors"] == {
        "sampled": 37,
        "top": [
            {"code": 52131, "message": INVALID_TOKEN, "count": 20},
            {"code": 52134, "message": UNREGISTERED, "count": 12},
            {"code": 52143, "message": TOO_BIG, "count": 5},
        ],
    }


def test_errors_summary_keeps_the_five_most_frequent(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    counts = [(50_000 + n, f"error {n}", n) for n in range(1, 8)]  # 7 distinct errors, 1 to 7 times
    api_mock.get(OP_PATH).respond(200, json=operation(failed=28))
    api_mock.get(ERRORS_PATH).respond(200, json=errors(*counts))

    message = fail_message(lambda: stats_operator(max_failed=0).execute(context))

    summary = ti.xcom()["errors"]
    assert summary["sampled"] == 28
    assert [(e["code"], e["count"]) for e in summary["top"]] == [
        (50_007, 7),
        (50_006, 6),
        (50_005, 5),
        (50_004, 4),
        (50_003, 3),
    ]
    assert message.endswith(
        "Top errors (of 28 read): 7 x 50007: error 7; 6 x 50006: error 6; 5 x 50005: error 5; "
        "4 x 50004: error 4; 3 x 50003: error 3."
    )


def test_errors_with_other_field_names_are_still_counted(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=3))
    # The Errors endpoint's shape is undocumented: a bare list, errorCode / errorMessage.
    api_mock.get(ERRORS_PATH).respond(
        200, json=[{"errorCode": "E1", "errorMessage": "m"}, {"errorCode": "E1", "errorMessage": "m"}, {}]
    )

    fail_message(lambda: stats_operator(max_failed=2).execute(context))

    assert ti.xcom()["errors"] == {
        "sampled": 3,
        "top": [{"code": "E1", "message": "m", "count": 2}, {"code": None, "message": None, "count": 1}],
    }


def test_an_empty_errors_list_is_said(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=5))
    api_mock.get(ERRORS_PATH).respond(200, json=errors())

    message = fail_message(lambda: stats_operator(max_failed=4).execute(context))

    assert message == (
        f"5 of 1,000 push notifications failed, above max_failed=4 for operation {OPERATION_ID}. "
        "The Errors endpoint listed no errors."
    )
    assert ti.xcom()["errors"] == {"sampled": 0, "top": []}


def failed_notifications(*recipients: dict[str, str]) -> dict[str, Any]:
    """A page of ``GET /v1/PushNotifications?status=FAILED``: one FAILED notification per recipient."""
    items = [
        {
            "id": f"comms_pushnotification_01h9krwprkeee8fzqspvwy6n{i:02}",
            "from": {
                (recipient.get("provider") or "FCM").lower(): "comms_credential_01h9krwprkeee8fzqspvwy6nq8"
            },
            "to": recipient,
            "status": "FAILED",
            "createdAt": "2024-01-15T09:30:00Z",
            "updatedAt": "2024-01-15T09:30:01Z",
        }
        for i, recipient in enumerate(recipients)
    ]
    return {"pushNotifications": items, "pagination": {"next": None, "self": "s"}}


FAILED_RECIPIENTS = [
    {"token": "fcm-token-0123456789abcdef", "provider": "FCM"},
    {"token": "apn-token-1", "provider": "APN"},
    {"token": "fcm-token-2", "provider": "FCM"},
    {"userId": "comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq8"},
]
FAILED_SUMMARY = {
    "source": "notifications",
    "sampled": 4,
    "by_provider": {"FCM": 3, "APN": 1},
    "recipients": FAILED_RECIPIENTS,
}
FAILED_DETAILS = (
    "Failed notifications (of 4 read): 3 FCM, 1 APN; e.g. FCM token fcm-token-012345..., APN token "
    "apn-token-1, FCM token fcm-token-2."
)


@pytest.mark.parametrize("status", [404, 405])
def test_without_an_errors_endpoint_the_failed_notifications_are_summarized(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI, status: int
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=37))
    errors_route = api_mock.get(ERRORS_PATH).respond(
        status, json={"errors": [{"code": 20404, "message": "Not Found"}]}
    )
    list_route = api_mock.get(SEND_PATH).respond(200, json=failed_notifications(*FAILED_RECIPIENTS))

    message = fail_message(lambda: stats_operator(max_failed=36).execute(context))

    assert message == (
        f"37 of 1,000 push notifications failed, above max_failed=36 for operation {OPERATION_ID}. {FAILED_DETAILS}"
    )
    assert errors_route.call_count == 1
    assert dict(list_route.calls[0].request.url.params) == {
        "pageSize": "1000",
        "operationId": OPERATION_ID,
        "status": "FAILED",
    }
    pushed = ti.xcom()
    assert pushed["errors"] == FAILED_SUMMARY
    assert pushed["failed"] == 37


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            {"status_code": 500, "json": {"errors": [{"code": 20500, "message": "Internal server error."}]}},
            f"Twilio Push API answered 500 Internal Server Error to GET {ERRORS_PATH}: Internal server error. "
            "(Twilio error 20500) (gave up after 5 attempts)",
        ),
        (
            {"status_code": 200, "text": "<html>Bad Gateway</html>"},
            f"Twilio Push API answered 200 to GET {ERRORS_PATH} with a body that is not JSON "
            "(starts with '<html>Bad Gateway</html>').",
        ),
    ],
    ids=["500", "not-json"],
)
def test_a_failing_errors_endpoint_falls_back_to_the_failed_notifications(
    api_mock: respx.MockRouter,
    context: dict[str, Any],
    ti: RecordingTI,
    fast_hook: Callable[[Any], Any],
    answer: dict[str, Any],
    reason: str,
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=37))
    api_mock.get(ERRORS_PATH).respond(**answer)
    api_mock.get(SEND_PATH).respond(200, json=failed_notifications(*FAILED_RECIPIENTS))

    message = fail_message(lambda: fast_hook(stats_operator(max_failure_rate=0.02)).execute(context))

    assert message.endswith(f"for operation {OPERATION_ID}. {FAILED_DETAILS}")
    assert ti.xcom()["errors"] == FAILED_SUMMARY


def test_when_both_sources_fail_the_threshold_failure_is_still_reported(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI, fast_hook: Callable[[Any], Any]
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=37))
    api_mock.get(ERRORS_PATH).respond(404, json={"errors": [{"code": 20404, "message": "Not Found"}]})
    list_route = api_mock.get(SEND_PATH).respond(
        503, json={"errors": [{"code": 20503, "message": "Service unavailable."}]}
    )

    message = fail_message(lambda: fast_hook(stats_operator(max_failed=36)).execute(context))

    reason = (
        f"Twilio Push API answered 404 Not Found to GET {ERRORS_PATH}: Not Found (Twilio error 20404). The "
        "resource does not exist, or is older than Twilio's 7-day retention.; and its FAILED notifications "
        f"could not be listed: Twilio Push API answered 503 Service Unavailable to GET {SEND_PATH}: Service "
        "unavailable. (Twilio error 20503) (gave up after 5 attempts)"
    )
    assert message == (
        f"37 of 1,000 push notifications failed, above max_failed=36 for operation {OPERATION_ID}. "
        f"Error details unavailable: {reason}"
    )
    assert list_route.call_count == 5
    assert ti.xcom()["errors"] == {"unavailable": reason}


def test_no_failed_notifications_listed_is_said(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(failed=5))
    api_mock.get(ERRORS_PATH).respond(405)
    api_mock.get(SEND_PATH).respond(200, json=failed_notifications())

    message = fail_message(lambda: stats_operator(max_failed=4).execute(context))

    assert message.endswith(f"for operation {OPERATION_ID}. Twilio listed no FAILED notifications.")
    assert ti.xcom()["errors"] == {
        "source": "notifications",
        "sampled": 0,
        "by_provider": {},
        "recipients": [],
    }


def test_stats_for_xcom_and_summarize_errors_are_json_safe() -> None:
    from airflow_provider_twilio_push.models import Operation, OperationError

    stats = stats_for_xcom(Operation.model_validate(operation(failed=1)))
    summary = summarize_errors([OperationError(code=1, message="a")] * 3, top=1)

    assert json.loads(json.dumps(stats)) == stats
    assert summary == {"sampled": 3, "top": [{"code": 1, "message": "a", "count": 3}]}


# ---------------------------------------------------------------------------------------------
# Parameters


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_failed": -1}, "Invalid max_failed=-1: expected a whole count >= 0."),
        ({"max_failed": 2.0}, "Invalid max_failed=2.0: expected a whole count >= 0."),
        ({"max_failed": 2.5}, "Invalid max_failed=2.5: expected a whole count >= 0."),
        ({"max_failed": True}, "Invalid max_failed=True: expected a whole count >= 0."),
        ({"max_failed": False}, "Invalid max_failed=False: expected a whole count >= 0."),
        ({"max_failed": "10"}, "Invalid max_failed='10': expected a whole count >= 0."),
        *(
            (
                {"max_failure_rate": value},
                f"Invalid max_failure_rate={value!r}: expected a rate from 0 to 1 (e.g. 0.02 for 2%).",
            )
            for value in (1.01, 2, -0.01, True, False, "0.02", math.nan, math.inf)
        ),
        *(
            ({"poll_interval": value}, f"Invalid poll_interval={value!r}: expected a number of seconds > 0.")
            for value in (0, 0.0, -1, math.nan, math.inf, True, "5", None)
        ),
    ],
)
def test_invalid_parameters_are_refused_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        stats_operator(**kwargs)

    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_failed": 0},
        {"max_failed": 10**9},
        {"max_failure_rate": 0},
        {"max_failure_rate": 0.0},
        {"max_failure_rate": 1},
        {"max_failure_rate": 1.0},
        {"poll_interval": 0.001},
        {"poll_interval": 60},
        {"max_failed": None, "max_failure_rate": None},
    ],
)
def test_edge_parameters_are_accepted(kwargs: dict[str, Any]) -> None:
    operator = stats_operator(**kwargs)

    for name, value in kwargs.items():
        assert getattr(operator, name) == value


def test_operation_id_is_templated() -> None:
    operator = stats_operator(operation_id="{{ ti.xcom_pull(task_ids='send') }}")
    ti = RecordingTI(upstream={"send": OPERATION_ID})

    operator.render_template_fields({"ti": ti})

    assert operator.operation_id == OPERATION_ID


def test_wait_timeout_accepts_a_timedelta() -> None:
    assert stats_operator(wait_timeout=timedelta(minutes=2)).wait_timeout == 120.0


# ---------------------------------------------------------------------------------------------
# Operations that are not over


NOT_FINAL = (
    ": its stats are not final yet. Wait for it first: put a TwilioPushOperationSensor upstream, "
    "or set wait_for_completion=True (or require_terminal=False to accept partial stats)."
)


@pytest.mark.parametrize(
    ("status", "stats", "progress"),
    [
        ("PROCESSING", {"queued": 400, "failed": 5}, "PROCESSING, 60% done: 595 sent, 5 failed, 400 queued"),
        (
            "SCHEDULED",
            {"scheduled": 1000, "sent": 0},
            "SCHEDULED, 0% done: 0 sent, 0 failed, 0 queued, 1,000 scheduled",
        ),
    ],
)
def test_not_terminal_with_require_terminal_fails_and_says_how_to_wait(
    api_mock: respx.MockRouter,
    context: dict[str, Any],
    ti: RecordingTI,
    status: str,
    stats: dict[str, int],
    progress: str,
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation(status, **stats))
    errors_route = api_mock.get(ERRORS_PATH).respond(200, json=errors())

    message = fail_message(lambda: stats_operator(max_failed=0).execute(context))

    assert message == f"{progress} of 1,000 (operation {OPERATION_ID}){NOT_FINAL}"
    assert ti.xcom()["status"] == status  # the partial stats are still pushed, before failing
    assert not errors_route.called


def test_not_terminal_without_require_terminal_returns_partial_stats(
    api_mock: respx.MockRouter, context: dict[str, Any]
) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation("PROCESSING", queued=400, failed=5))

    stats = stats_operator(require_terminal=False, max_failed=5).execute(context)

    assert stats["status"] == "PROCESSING"
    assert (stats["queued"], stats["sent"], stats["failed"]) == (400, 595, 5)
    assert stats["failure_rate"] == 0.005


def test_partial_stats_already_above_a_threshold_fail(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    # Failures only ever add up: a count already above max_failed will stay above it.
    api_mock.get(OP_PATH).respond(200, json=operation("PROCESSING", queued=400, failed=6))
    api_mock.get(ERRORS_PATH).respond(200, json=errors())

    message = fail_message(lambda: stats_operator(require_terminal=False, max_failed=5).execute(context))

    assert message.startswith("6 of 1,000 push notifications failed, above max_failed=5 for operation")
    assert ti.xcom()["status"] == "PROCESSING"


def test_canceled_is_terminal(api_mock: respx.MockRouter, context: dict[str, Any]) -> None:
    api_mock.get(OP_PATH).respond(200, json=operation("CANCELED", canceled=300))

    stats = stats_operator(max_failed=0).execute(context)

    assert (stats["status"], stats["canceled"], stats["sent_rate"]) == ("CANCELED", 300, 0.7)


def test_a_missing_operation_is_an_error_not_a_threshold(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    api_mock.get(OP_PATH).respond(404, json={"code": 20404, "message": "Operation not found"})

    with pytest.raises(TwilioPushError) as caught:
        stats_operator(max_failed=0).execute(context)

    assert str(caught.value) == (
        f"Twilio Push API answered 404 Not Found to GET {OP_PATH}: Operation not found (Twilio error "
        "20404). The resource does not exist, or is older than Twilio's 7-day retention."
    )
    assert ti.pushed == []


def test_an_invalid_operation_id_sends_nothing(api_mock: respx.MockRouter, context: dict[str, Any]) -> None:
    with pytest.raises(TwilioPushInvalidInputError, match=r"^Invalid operation_id 'None': expected an id"):
        stats_operator(operation_id="None").execute(context)

    assert api_mock.calls.call_count == 0


# ---------------------------------------------------------------------------------------------
# wait_for_completion, deferrable


def test_deferrable_wait_defers_to_the_operation_trigger(
    monkeypatch: pytest.MonkeyPatch, api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MY_TWILIO", json.dumps({"conn_type": "twilio_push", "login": "AC1", "password": "p"})
    )
    route = api_mock.get(OP_PATH).respond(200, json=operation("PROCESSING", queued=10))
    operator = stats_operator(
        twilio_push_conn_id="my_twilio",
        max_failure_rate=0.02,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=7,
        wait_timeout=timedelta(hours=2),
    )

    before = time.time()
    with pytest.raises(TaskDeferred) as caught:
        operator.execute(context)
    after = time.time()

    deferred = caught.value
    trigger = deferred.trigger
    assert type(trigger) is TwilioPushOperationTrigger
    assert trigger.operation_id == OPERATION_ID
    assert trigger.twilio_push_conn_id == "my_twilio"
    assert trigger.poll_interval == 7
    assert before + 7200 <= trigger.end_time <= after + 7200  # an absolute (epoch) deadline
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(hours=2, minutes=5)  # the backstop, after the deadline
    assert route.call_count == 1
    assert ti.pushed == []


def test_deferrable_wait_does_not_defer_when_already_over(
    api_mock: respx.MockRouter, context: dict[str, Any]
) -> None:
    route = api_mock.get(OP_PATH).respond(200, json=operation(failed=1))

    stats = stats_operator(wait_for_completion=True, deferrable=True, max_failed=1).execute(context)

    assert stats["status"] == "COMPLETED"
    assert route.call_count == 1


def event(status: str, op: dict[str, Any] | None, message: str = "") -> dict[str, Any]:
    """A trigger event as TwilioPushOperationTrigger emits it (after an XCom-like JSON trip)."""
    return json.loads(json.dumps({"status": status, "message": message, "operation": op}))


# "success" is what versions up to 0.1.0 sent for "completed": such events may still be stored.
@pytest.mark.parametrize("status", ["completed", "success"])
def test_execute_complete_success_reports_the_final_stats(context: dict[str, Any], status: str) -> None:
    final = operation(failed=20)
    operator = stats_operator(max_failure_rate=0.02, wait_for_completion=True, deferrable=True)

    stats = operator.execute_complete(context, event(status, final, "done"))

    assert stats["status"] == "COMPLETED"
    assert stats["failure_rate"] == 0.02
    # At least once delivery: the same event twice gives the same answer.
    assert operator.execute_complete(context, event(status, final, "done")) == stats


def test_execute_complete_success_with_a_breach_fails_with_errors(
    api_mock: respx.MockRouter, context: dict[str, Any], ti: RecordingTI
) -> None:
    api_mock.get(ERRORS_PATH).respond(200, json=errors((52131, INVALID_TOKEN, 21)))
    operator = stats_operator(max_failure_rate=0.02, wait_for_completion=True, deferrable=True)

    message = fail_message(lambda: operator.execute_complete(context, event("success", operation(failed=21))))

    assert message == (
        "21 of 1,000 push notifications failed (2.1%), above max_failure_rate=2.0% for operation "
        f"{OPERATION_ID}. Top errors (of 21 read): 21 x 52131: {INVALID_TOKEN}."
    )
    assert ti.xcom()["errors"]["top"] == [{"code": 52131, "message": INVALID_TOKEN, "count": 21}]


def test_execute_complete_canceled_reports_the_stats(context: dict[str, Any]) -> None:
    canceled = operation("CANCELED", canceled=500, failed=3)
    operator = stats_operator(max_failed=3, wait_for_completion=True, deferrable=True)

    stats = operator.execute_complete(context, event("canceled", canceled, "canceled."))

    assert (stats["status"], stats["canceled"], stats["sent"]) == ("CANCELED", 500, 497)


def test_execute_complete_timeout_raises_a_sensor_timeout_with_the_trigger_message(
    context: dict[str, Any], ti: RecordingTI
) -> None:
    message = (
        f"Timed out waiting for operation {OPERATION_ID} to complete; last seen PROCESSING, 30% done: "
        f"3 sent, 0 failed, 7 queued of 10 (operation {OPERATION_ID})."
    )
    operator = stats_operator(max_failed=0, wait_for_completion=True, deferrable=True)

    with pytest.raises(AirflowSensorTimeout) as caught:
        operator.execute_complete(
            context, event("timeout", operation("PROCESSING", total=10, queued=7), message)
        )

    assert str(caught.value) == message
    assert ti.pushed == []


def test_execute_complete_error_raises_the_trigger_message(context: dict[str, Any]) -> None:
    message = (
        f"Could not watch operation {OPERATION_ID}: Twilio Push API answered 401 Unauthorized to GET "
        f"{OP_PATH}. Check the Account SID or API Key SID (login) and the Auth Token or API Key secret (password) of the connection "
        "'twilio_push_default'."
    )
    operator = stats_operator(max_failed=0, wait_for_completion=True, deferrable=True)

    with pytest.raises(TwilioPushError) as caught:
        operator.execute_complete(context, event("error", None, message))

    assert str(caught.value) == message


@pytest.mark.parametrize(
    "bad_event",
    [None, {}, {"status": "success", "operation": None}, {"status": "what"}, {"status": "error"}],
)
def test_execute_complete_unexpected_event_names_the_operation(
    context: dict[str, Any], bad_event: Any
) -> None:
    operator = stats_operator(max_failed=0, wait_for_completion=True, deferrable=True)

    with pytest.raises(TwilioPushError) as caught:
        operator.execute_complete(context, bad_event)

    assert str(caught.value) == (
        f"Unexpected event from the trigger watching operation {OPERATION_ID}: {bad_event!r}"
    )


async def test_deferral_round_trip_against_the_emulator(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI
) -> None:
    """execute -> TaskDeferred -> the trigger's own run() -> execute_complete, no mocks."""
    control = twilio_push_emulator.control
    op = control.create_operation(total=200, duration=0.5, failure_ratio=0.05)
    operator = stats_operator(
        operation_id=op["id"],
        max_failure_rate=0.04,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.05,
    )

    with pytest.raises(TaskDeferred) as caught:
        operator.execute(context)
    trigger = caught.value.trigger
    events = [e async for e in trigger.run()]
    assert len(events) == 1

    message = fail_message(lambda: getattr(operator, caught.value.method_name)(context, events[0].payload))

    assert message.startswith(
        f"10 of 200 push notifications failed (5.0%), above max_failure_rate=4.0% for operation {op['id']}. "
        "Top errors (of 10 read): "
    )
    pushed = ti.xcom()
    assert (pushed["status"], pushed["sent"], pushed["failed"]) == ("COMPLETED", 190, 10)
    assert sum(e["count"] for e in pushed["errors"]["top"]) == 10


# ---------------------------------------------------------------------------------------------
# wait_for_completion, not deferrable (against the emulator)


def test_worker_wait_polls_until_terminal(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any]
) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    op = control.create_operation(total=50, duration=10, failure_ratio=0.1)
    assert op["status"] == "PROCESSING"
    operator = stats_operator(
        operation_id=op["id"], max_failed=5, wait_for_completion=True, deferrable=False, poll_interval=0.05
    )

    with twilio_push_emulator.control.advance_after(10, requests=3):
        stats = operator.execute(context)

    assert (stats["status"], stats["sent"], stats["failed"], stats["queued"]) == ("COMPLETED", 45, 5, 0)
    assert stats["failure_rate"] == 0.1
    assert control.request_count("GET /v1/PushNotifications/Operations/{id}") >= 4


def test_worker_wait_for_a_scheduled_operation(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any]
) -> None:
    control = twilio_push_emulator.control
    op = control.create_operation(total=4, schedule_in=0.3, duration=0.1)
    assert op["status"] == "SCHEDULED"

    stats = stats_operator(
        operation_id=op["id"], wait_for_completion=True, deferrable=False, poll_interval=0.05
    ).execute(context)

    assert (stats["status"], stats["sent"], stats["scheduled"]) == ("COMPLETED", 4, 0)


def test_worker_wait_times_out_with_the_last_progress(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI
) -> None:
    control = twilio_push_emulator.control
    control.freeze()  # the operation makes no progress
    op = control.create_operation(total=10, duration=60)
    operator = stats_operator(
        operation_id=op["id"],
        max_failed=0,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
        wait_timeout=0.3,
    )

    with pytest.raises(AirflowSensorTimeout) as caught:
        operator.execute(context)

    assert str(caught.value) == (
        f"Timed out after 0 s waiting for operation {op['id']}; last seen PROCESSING, 0% done: 0 sent, "
        f"0 failed, 10 queued of 10 (operation {op['id']})."
    )
    assert ti.pushed == []


def test_without_wait_a_processing_operation_is_read_once(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any]
) -> None:
    control = twilio_push_emulator.control
    op = control.create_operation(total=10, duration=60)

    message = fail_message(lambda: stats_operator(operation_id=op["id"]).execute(context))

    assert message.endswith(NOT_FINAL)
    assert control.request_count("GET /v1/PushNotifications/Operations/{id}") == 1


def test_worker_wait_rides_out_transient_errors(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any]
) -> None:
    control = twilio_push_emulator.control
    op = control.create_operation(total=20, duration=0.4, failure_ratio=0.25)
    control.set_faults(rate_503=0.5, routes=["GET /v1/PushNotifications/Operations/{id}"])
    operator = stats_operator(
        operation_id=op["id"],
        max_failure_rate=0.3,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
    )
    operator.hook.retry_backoff = 0.001

    stats = operator.execute(context)

    assert (stats["status"], stats["failed"]) == ("COMPLETED", 5)
    assert control.request_count("GET /v1/PushNotifications/Operations/{id}", 503) > 0


def test_a_breach_found_after_a_worker_wait_reads_the_emulator_errors(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI
) -> None:
    control = twilio_push_emulator.control
    op = control.create_operation(total=1000, duration=0.3, failure_ratio=0.037)
    operator = stats_operator(
        operation_id=op["id"],
        max_failure_rate=0.02,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
    )

    message = fail_message(lambda: operator.execute(context))

    assert message.startswith(
        f"37 of 1,000 push notifications failed (3.7%), above max_failure_rate=2.0% for operation {op['id']}. "
        "Top errors (of 37 read): "
    )
    summary = ti.xcom()["errors"]
    assert summary["sampled"] == 37
    assert sum(e["count"] for e in summary["top"]) == 37
    assert {e["code"] for e in summary["top"]} <= {52131, 52134, 52143, 52146, 52182}


def test_an_emulator_without_a_working_errors_endpoint_gets_the_failed_recipients(
    twilio_push_emulator: EmulatorHandle,
    context: dict[str, Any],
    ti: RecordingTI,
    fast_hook: Callable[[Any], Any],
) -> None:
    control = twilio_push_emulator.control
    control.set_defaults(duration=0)
    to = [{"token": f"device-{i}", "provider": "FCM"} for i in range(7)] + [
        {"token": "fail-52134-gone-a", "provider": "APN"},
        {"token": "fail-52134-gone-b", "provider": "FCM"},
        {"token": "fail-52143-too-big", "provider": "APN"},
    ]
    operation_id = fast_hook(stats_operator()).hook.send_push_notifications(to, {"body": "Hi"})
    control.set_faults(rate_500=1, routes=["GET /v1/PushNotifications/Operations/{id}/Errors"])

    message = fail_message(
        lambda: fast_hook(stats_operator(operation_id=operation_id, max_failed=2)).execute(context)
    )

    assert message == (
        f"3 of 10 push notifications failed, above max_failed=2 for operation {operation_id}. Failed "
        "notifications (of 3 read): 2 APN, 1 FCM; e.g. APN token fail-52134-gone-..., FCM token "
        "fail-52134-gone-..., APN token fail-52143-too-b...."
    )
    assert ti.xcom()["errors"] == {
        "source": "notifications",
        "sampled": 3,
        "by_provider": {"APN": 2, "FCM": 1},
        "recipients": to[7:],
    }
