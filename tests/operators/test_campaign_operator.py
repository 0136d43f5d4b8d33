"""TwilioPushCampaignOperator (issue 22) against the emulator: chunking, audience files, bad lines,
exactly once across retries and uncertain answers, the one-deferral wait, campaign thresholds."""

from __future__ import annotations

import asyncio
import csv
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    TaskDeferred,
)

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError, TwilioPushRateLimitedError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.ledger import chunk_digest
from airflow_provider_twilio_push.operators.campaign import TwilioPushCampaignOperator
from airflow_provider_twilio_push.triggers.campaign import TwilioPushCampaignTrigger

from .conftest import BASE_URL, OPERATION_ID, OPS_PATH, SEND_PATH, RecordingTI

pytestmark = pytest.mark.timeout(120)

SEND_ROUTE = "POST /v1/PushNotifications"
CONTENT = {"title": "Spring sale", "body": "20% off, today only"}


def audience(size: int, prefix: str = "device") -> list[dict[str, str]]:
    return [{"token": f"{prefix}-{i}", "provider": "FCM" if i % 2 else "APN"} for i in range(size)]


def write_jsonl(path: Path, recipients: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(recipient) + "\n" for recipient in recipients))
    return str(path)


def campaign(**kwargs: Any) -> TwilioPushCampaignOperator:
    kwargs.setdefault("task_id", "send")
    kwargs.setdefault("content", CONTENT)
    kwargs.setdefault("wait_for_completion", False)
    kwargs.setdefault("recheck_delay", 0)
    return TwilioPushCampaignOperator(**kwargs)


def sent_once(emulator: EmulatorHandle, recipients: list[dict[str, str]]) -> bool:
    """Every recipient got exactly one notification, and nobody else got any."""
    counts = emulator.control.recipient_counts()
    return counts == {recipient.get("token") or recipient["userId"]: 1 for recipient in recipients}


def sizes(hook: TwilioPushHook, operation_ids: list[str]) -> list[int]:
    return [hook.get_operation(operation_id).stats.recipients for operation_id in operation_ids]


# ---------------------------------------------------------------------------------------------
# Chunks and audiences


@pytest.mark.parametrize(
    ("size", "chunks"), [(10_000, [10_000]), (10_001, [10_000, 1]), (25_000, [10_000, 10_000, 5_000])]
)
def test_an_audience_is_sent_in_chunks_of_at_most_10000(
    twilio_push_emulator: EmulatorHandle,
    context: dict[str, Any],
    tmp_path: Path,
    size: int,
    chunks: list[int],
) -> None:
    recipients = audience(size)
    path = write_jsonl(tmp_path / "audience.jsonl", recipients)

    result = campaign(audience=path).execute(context)

    assert result["recipients"] == size
    assert result["chunks"] == len(chunks)
    assert sizes(TwilioPushHook(), result["operation_ids"]) == chunks
    assert sent_once(twilio_push_emulator, recipients)
    assert twilio_push_emulator.control.request_count(SEND_ROUTE) == len(chunks)


def test_a_list_a_jsonl_file_and_a_csv_file_send_the_same_recipients(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI, tmp_path: Path
) -> None:
    control = twilio_push_emulator.control
    users = [{"userId": f"comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6n{i:02d}"} for i in range(2)]
    recipients = [*audience(5), *users]
    csv_path = tmp_path / "audience.csv"
    with csv_path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["token", "provider", "userId", "variables"])
        for recipient in recipients:
            variables = json.dumps({"name": "Ada"}) if "token" in recipient else ""
            writer.writerow(
                [
                    recipient.get("token", ""),
                    recipient.get("provider", ""),
                    recipient.get("userId", ""),
                    variables,
                ]
            )

    for index, source in enumerate(
        [recipients, write_jsonl(tmp_path / "a.jsonl", recipients), str(csv_path)]
    ):
        ti.run_id = f"manual__{index}"
        control.reset()
        result = campaign(audience=source, chunk_size=3).execute(context)
        assert result["recipients"] == 7
        assert sizes(TwilioPushHook(), result["operation_ids"]) == [3, 3, 1]
        assert sent_once(twilio_push_emulator, recipients)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "a.jsonl",
            '{"token": "a", "provider": "FCM"}\n\n{"token": "b", "provider": "FCM"\n',
            "Invalid audience {path}, line 3: not JSON (Expecting ',' delimiter); expected one recipient "
            'object a line, such as {{"token": "...", "provider": "FCM"}}.',
        ),
        (
            "a.jsonl",
            '{"token": "a", "provider": "FCM"}\n{"token": "b"}\n',
            "Invalid audience {path}, line 2: provider is missing; expected 'FCM' or 'APN' with every token.",
        ),
        (
            "a.ndjson",
            '{"token": "a", "provider": "FCM"}\n["b", "FCM"]\n',
            "Invalid audience {path}, line 2: expected a recipient dict such as {{'token': '...', 'provider': "
            "'FCM'}} or {{'userId': 'comms_pushnotificationuser_...'}}, got list.",
        ),
        (
            "a.csv",
            "token,platform\na,FCM\n",
            "Invalid audience {path}, line 1: the header is 'token,platform'; expected the columns "
            "token,provider or userId, and optionally variables (a JSON object).",
        ),
        (
            "a.csv",
            "token,provider,variables\na,FCM,\nb,FCM,not json\n",
            "Invalid audience {path}, line 3: variables 'not json' is not a JSON object such as "
            '{{"name": "Ada"}}.',
        ),
        (
            "a.csv",
            "token,provider\na,FCM\nb,FCM,extra\n",
            "Invalid audience {path}, line 3: 3 values for the 2 columns token,provider.",
        ),
        (
            # Two objects on a line, one over two lines: each line is read as the one value it must be.
            "a.jsonl",
            '{"token": "a", "provider": "FCM"}, {"token": "b", "provider": "FCM"}\n'
            '{"token": "c", "provider": "FCM"\n"variables": {}}\n',
            "Invalid audience {path}, line 1: not JSON (Extra data); expected one recipient object a line, "
            'such as {{"token": "...", "provider": "FCM"}}.',
        ),
        ("a.jsonl", "\n\n", "Invalid audience {path}: it holds no recipients."),
    ],
)
def test_a_bad_line_fails_before_anything_is_sent_naming_the_file_and_line(
    twilio_push_emulator: EmulatorHandle,
    context: dict[str, Any],
    tmp_path: Path,
    name: str,
    text: str,
    message: str,
) -> None:
    path = tmp_path / name
    # Valid recipients first: the whole file is checked before the first chunk is sent.
    path.write_text(text)

    with pytest.raises(TwilioPushInvalidInputError) as caught:
        campaign(audience=str(path), chunk_size=1).execute(context)

    assert str(caught.value) == message.format(path=path)
    assert twilio_push_emulator.control.request_count() == 0


def test_a_line_that_is_not_utf8_is_named(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"token": "a", "provider": "FCM"}\n\n{"token": "b\xff", "provider": "FCM"}\n')

    with pytest.raises(TwilioPushInvalidInputError) as caught:
        campaign(audience=str(path)).execute(context)

    assert str(caught.value) == f"Invalid audience {path}, line 3: not UTF-8 text (invalid start byte)."
    assert twilio_push_emulator.control.request_count() == 0


def test_a_csv_with_a_byte_order_mark_and_crlf_lines_is_read(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbftoken,provider\r\ndevice-0,APN\r\ndevice-1,FCM\r\n")

    result = campaign(audience=str(path)).execute(context)

    assert result["recipients"] == 2
    assert sent_once(twilio_push_emulator, audience(2))


def test_an_audience_that_is_no_list_or_known_file_is_refused(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], tmp_path: Path
) -> None:
    expected = (
        "expected a list of recipient dicts, or the path or URI of a JSON Lines file (.jsonl, .ndjson: one "
        "recipient object a line) or a CSV file (.csv: columns token,provider or userId, and an optional "
        "variables column of JSON)"
    )
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        campaign(audience="s3://bucket/audience.parquet").execute(context)
    assert str(caught.value) == f"Invalid audience 's3://bucket/audience.parquet': {expected}."

    missing = tmp_path / "missing.jsonl"
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        campaign(audience=str(missing)).execute(context)
    assert str(caught.value).startswith(f"Invalid audience {missing}: it cannot be read: ")
    assert twilio_push_emulator.control.request_count() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"chunk_size": 10_001},
            "Invalid chunk_size=10001: expected a number of recipients from 1 to 10,000 (Twilio's limit a send).",
        ),
        (
            {"chunk_size": 0},
            "Invalid chunk_size=0: expected a number of recipients from 1 to 10,000 (Twilio's limit a send).",
        ),
        (
            {"max_failure_rate": 2},
            "Invalid max_failure_rate=2: expected a rate from 0 to 1 (e.g. 0.02 for 2%).",
        ),
        ({"recheck_delay": -1}, "Invalid recheck_delay=-1: expected a number of seconds from 0 to 3600."),
    ],
)
def test_bad_arguments_are_refused_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        campaign(audience=[], **kwargs)
    assert str(caught.value) == message


# ---------------------------------------------------------------------------------------------
# Exactly once


def test_a_retry_after_chunk_k_was_accepted_sends_only_the_rest(
    twilio_push_emulator: EmulatorHandle,
    context: dict[str, Any],
    ti: RecordingTI,
    fast_hook: Callable[[Any], Any],
) -> None:
    control = twilio_push_emulator.control
    recipients = audience(25)
    # Try 1: chunks 0 and 1 are accepted, then every attempt of chunk 2 is refused and the task fails.
    control.set_faults(rate_429=1, retry_after=0, routes=[SEND_ROUTE], skip=2)
    with pytest.raises(TwilioPushRateLimitedError):
        fast_hook(campaign(audience=recipients, chunk_size=5)).execute(context)
    assert len(control.recipient_counts()) == 10

    control.clear_faults()
    ti.try_number = 2
    result = campaign(audience=recipients, chunk_size=5).execute(context)

    assert sent_once(twilio_push_emulator, recipients)
    assert control.request_count(SEND_ROUTE, 202) == 5
    assert sizes(TwilioPushHook(), result["operation_ids"]) == [5] * 5
    # A third try adopts all five.
    ti.try_number = 3
    assert campaign(audience=recipients, chunk_size=5).execute(context) == result
    assert control.request_count(SEND_ROUTE, 202) == 5


@pytest.mark.parametrize(
    ("fault", "accepted"), [("rate_500", True), ("rate_drop", True), ("rate_503", False)]
)
def test_an_uncertain_answer_is_checked_and_the_chunk_sent_once(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], fault: str, accepted: bool
) -> None:
    control = twilio_push_emulator.control
    recipients = audience(15)
    # Chunk 1's send is answered uncertainly: a 500 or dropped connection after Twilio took it, or a
    # 503 before it did.
    control.set_faults(**{fault: 1}, routes=[SEND_ROUTE], skip=1, max_faults=1)

    result = campaign(audience=recipients, chunk_size=5).execute(context)

    assert sent_once(twilio_push_emulator, recipients)
    assert control.request_count(SEND_ROUTE) == (3 if accepted else 4)
    assert sizes(TwilioPushHook(), result["operation_ids"]) == [5, 5, 5]


def test_under_a_listing_delay_the_recheck_waits_it_out(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI
) -> None:
    control = twilio_push_emulator.control
    recipients = audience(10)
    control.set_listing_delay(1.0)
    control.set_faults(rate_500=1, routes=[SEND_ROUTE], skip=1, max_faults=1)

    campaign(audience=recipients, chunk_size=5, recheck_delay=1.5).execute(context)

    assert sent_once(twilio_push_emulator, recipients)
    assert control.request_count(SEND_ROUTE) == 2


def test_a_recheck_sooner_than_the_listing_delay_sends_twice(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any]
) -> None:
    """What the pause is for: Twilio may list an accepted send's notifications only a moment after
    its 202, and a check before then finds nothing."""
    control = twilio_push_emulator.control
    recipients = audience(10)
    control.set_listing_delay(5.0)
    control.set_faults(rate_500=1, routes=[SEND_ROUTE], skip=1, max_faults=1)

    campaign(audience=recipients, chunk_size=5, recheck_delay=0).execute(context)

    assert control.recipient_counts(min_count=2) == {r["token"]: 2 for r in recipients[5:]}


class LookupRecordingHook(TwilioPushHook):
    """Records the chunk tags the ledger looks for (its first request of each lookup)."""

    looked_for: list[str]

    def iter_push_notifications(self, **kwargs: Any) -> Any:
        self.looked_for.append(kwargs["tags"]["airflow-chunk"])
        return super().iter_push_notifications(**kwargs)


def test_a_retry_waits_for_a_lagging_listing_once_and_looks_for_every_chunk(
    twilio_push_emulator: EmulatorHandle,
    context: dict[str, Any],
    ti: RecordingTI,
    fast_hook: Callable[[Any], Any],
) -> None:
    """Try 1's chunks 0 and 1 are accepted but listed only 3 s later; it fails on chunk 2 and the
    retry starts at once. The retry looks chunk 0 up again after its recheck_delay and adopts it;
    chunks 2 to 4 are each looked for once (the wait is over) and sent."""
    control = twilio_push_emulator.control
    recipients = audience(25)
    control.set_listing_delay(3.0)
    control.set_faults(rate_429=1, retry_after=0, routes=[SEND_ROUTE], skip=2)
    with pytest.raises(TwilioPushRateLimitedError):
        fast_hook(campaign(audience=recipients, chunk_size=5)).execute(context)
    control.clear_faults()

    ti.try_number = 2
    retry = campaign(audience=recipients, chunk_size=5, recheck_delay=6.0)
    retry.hook = hook = LookupRecordingHook()
    hook.looked_for = []
    result = retry.execute(context)

    control.set_listing_delay(0)
    assert sent_once(twilio_push_emulator, recipients)
    assert control.request_count(SEND_ROUTE, 202) == 5
    tags = [chunk_digest(ti.dag_id, ti.run_id, ti.task_id, -1, index) for index in range(5)]
    # Chunk 0: at once, then after the wait; chunk 1: found at once; chunks 2 to 4: the wait is
    # over, one look each.
    assert hook.looked_for == [tags[0], tags[0], tags[1], tags[2], tags[3], tags[4]]
    assert sizes(TwilioPushHook(), result["operation_ids"]) == [5] * 5


def test_a_chunk_whose_fate_cannot_be_told_fails_the_task_naming_its_tag(
    twilio_push_emulator: EmulatorHandle,
    context: dict[str, Any],
    ti: RecordingTI,
    fast_hook: Callable[[Any], Any],
) -> None:
    control = twilio_push_emulator.control
    control.set_faults(rate_500=1, skip=1)  # chunk 0 is sent; then the send of chunk 1 and every lookup fail

    with pytest.raises(AirflowFailException) as caught:
        fast_hook(campaign(audience=audience(10), chunk_size=5)).execute(context)

    tag = chunk_digest(ti.dag_id, ti.run_id, ti.task_id, -1, 1)
    assert str(caught.value).startswith(
        f"Could not tell whether Twilio accepted the chunk tagged airflow-chunk:{tag}: "
    )
    assert len(control.recipient_counts()) == 10


def test_three_uncertain_answers_twilio_did_not_accept_fail_the_try_for_a_retry(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI
) -> None:
    control = twilio_push_emulator.control
    control.set_faults(rate_503=1, routes=[SEND_ROUTE])

    with pytest.raises(AirflowException) as caught:
        campaign(audience=audience(3)).execute(context)

    tag = chunk_digest(ti.dag_id, ti.run_id, ti.task_id, -1, 0)
    assert not isinstance(caught.value, AirflowFailException)
    assert str(caught.value) == (
        f"Twilio answered 3 sends of chunk 0 (tag airflow-chunk:{tag}) uncertainly and lists none of them "
        "as accepted. A retry of the task asks Twilio again before sending any chunk."
    )
    assert control.request_count(SEND_ROUTE) == 3


# ---------------------------------------------------------------------------------------------
# Waiting, thresholds


def run_trigger(trigger: TwilioPushCampaignTrigger) -> dict[str, Any]:
    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return asyncio.run(first_event())


def test_one_deferral_waits_for_every_chunk_and_sums_their_stats(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI
) -> None:
    control = twilio_push_emulator.control
    control.set_defaults(duration=1.0, failure_ratio=0.1)
    operator = campaign(
        audience=audience(30),
        chunk_size=10,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.5,
        wait_timeout=timedelta(minutes=10),
    )

    started = time.time()
    with pytest.raises(TaskDeferred) as caught:
        operator.execute(context)

    deferred = caught.value
    trigger = deferred.trigger
    assert isinstance(trigger, TwilioPushCampaignTrigger)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_twilio_push.triggers.campaign.TwilioPushCampaignTrigger"
    operation_ids = kwargs["operation_ids"]
    assert len(operation_ids) == 3
    assert len(kwargs["created_at"]) == 3
    # When Twilio accepted each chunk: a 404 just after is waited out (TwilioPushOperationTrigger's grace).
    assert len(kwargs["sent_at"]) == 3
    assert all(started <= sent_at <= time.time() for sent_at in kwargs["sent_at"])
    assert deferred.kwargs == {"operation_ids": operation_ids, "recipients": 30}
    assert json.loads(json.dumps(kwargs)) == kwargs

    event = run_trigger(TwilioPushCampaignTrigger(**kwargs))  # as the triggerer rebuilds it
    assert event["status"] == "completed"
    assert event["statuses"] == ["COMPLETED"] * 3
    assert event["failed"] == [1, 1, 1]
    assert event["operation_ids"] == operation_ids
    assert event["stats"] == {
        "total": 30, "recipients": 30, "unaddressable": 0, "scheduled": 0, "queued": 0, "sent": 27, "failed": 3,
        "canceled": 0,
    }  # fmt: skip

    # A resumed task is a new operator object: everything comes from the deferral and the event
    # (`airflow dags test` resumes with the event alone).
    resumed = campaign(audience="unused.jsonl", wait_for_completion=True)
    result = resumed.execute_complete(context, json.loads(json.dumps(event)), **deferred.kwargs)
    assert resumed.execute_complete(context, json.loads(json.dumps(event))) == result
    assert result == {
        "operation_ids": operation_ids,
        "recipients": 30,
        "chunks": 3,
        "stats": event["stats"],
        "failure_rate": 0.1,
        "sent_rate": 0.9,
        "statuses": {"COMPLETED": 3},
    }
    # The triggerer's watcher read the three operations together, not with a GET each per look.
    assert control.request_count("GET /v1/PushNotifications/Operations/{id}") <= 3


def test_the_worker_wait_breaches_a_threshold_naming_the_worst_chunks(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any], ti: RecordingTI
) -> None:
    control = twilio_push_emulator.control
    control.set_defaults(duration=0.5)
    recipients = audience(20)
    recipients[12]["token"] = "fail-52134-a"
    recipients[13]["token"] = "fail-52134-b"
    recipients[4]["token"] = "fail-52134-c"
    operator = campaign(
        audience=recipients,
        chunk_size=10,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.2,
        max_failure_rate=0.1,
        max_failed=1,
    )

    with pytest.raises(AirflowFailException) as caught:
        operator.execute(context)

    result = ti.xcom()
    first, second = result["operation_ids"]
    assert str(caught.value) == (
        "3 of 20 push notifications failed, above max_failed=1; 3 of 20 push notifications failed (15.0%), "
        f"above max_failure_rate=10.0% for the campaign's 2 operations. Most failed: chunk 1 {second} "
        f"(2 failed), chunk 0 {first} (1 failed)."
    )
    assert (result["stats"]["failed"], result["failure_rate"], result["statuses"]) == (
        3,
        0.15,
        {"COMPLETED": 2},
    )
    assert len(json.dumps(result)) < 1000


def test_a_wait_that_times_out_says_what_is_not_over(
    twilio_push_emulator: EmulatorHandle, context: dict[str, Any]
) -> None:
    twilio_push_emulator.control.freeze()
    operator = campaign(
        audience=audience(4),
        chunk_size=2,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.2,
        wait_timeout=0.6,
    )

    with pytest.raises(AirflowException) as caught:
        operator.execute(context)

    assert str(caught.value) == (
        "Timed out waiting for the campaign's 2 operations: 2 not over (2 PROCESSING)."
    )


def test_the_worker_wait_waits_out_a_404_right_after_a_chunk_was_sent(
    api_mock: respx.MockRouter, context: dict[str, Any], make_operation: Callable[..., dict[str, Any]]
) -> None:
    """Twilio may answer 404 for an operation it accepted a moment ago."""
    api_mock.post(SEND_PATH).respond(
        202, json={"operationId": OPERATION_ID, "operationLocation": f"{BASE_URL}{OPS_PATH}/{OPERATION_ID}"}
    )
    api_mock.get(OPS_PATH).respond(200, json={"operations": [], "pagination": {"next": None}})
    not_found = httpx.Response(404, json={"code": 20404, "message": "Operation not found"})
    completed = httpx.Response(200, json=make_operation(status="COMPLETED"))
    read = api_mock.get(f"{OPS_PATH}/{OPERATION_ID}")
    read.side_effect = [not_found, not_found, completed, completed, completed]
    operator = campaign(audience=audience(3), wait_for_completion=True, deferrable=False, poll_interval=0.1)

    result = operator.execute(context)

    assert result["operation_ids"] == [OPERATION_ID]
    assert result["statuses"] == {"COMPLETED": 1}
    assert read.call_count >= 3
