"""TwilioPushOperationTrigger against a Comms API mocked at the transport (respx)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
import respx
from airflow.providers.common.compat.module_loading import import_string

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.triggers import watcher as watcher_module
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

from .helpers import OPERATION_ID, OPERATION_PATH, TRIGGER_CLASSPATH, Stopwatch, single_event, twilio_error

pytestmark = pytest.mark.timeout(60)

OpResponse = Callable[..., httpx.Response]
Logs = list[dict[str, Any]]

#: A look is due an interval after the last one began (when its GET was sent); the transport sees a
#: GET when it arrives, which a loaded machine delays by tens of milliseconds (35 ms seen in CI).
SEND_DELAY = 0.08
AUTH_ADVICE = "Check the Account SID or API Key SID (login) and the Auth Token or API Key secret (password) of the connection"


def make_trigger(**overrides: Any) -> TwilioPushOperationTrigger:
    kwargs: dict[str, Any] = {
        "operation_id": OPERATION_ID,
        "twilio_push_conn_id": "twilio_push_default",
        "poll_interval": 0.1,  # the trigger polls at most every 0.1 s (MIN_POLL_INTERVAL)
        "end_time": time.time() + 30,
    }
    kwargs.update(overrides)
    return TwilioPushOperationTrigger(**kwargs)


def warnings_of(logs: Logs) -> list[str]:
    return [entry["event"] for entry in logs if entry["log_level"] == "warning"]


def progress_lines(logs: Logs) -> list[str]:
    return [
        entry["event"]
        for entry in logs
        if entry["log_level"] == "info" and entry["event"].endswith(f" (operation {OPERATION_ID})")
    ]


# -- serialization ---------------------------------------------------------------------------------


def test_serialize_holds_only_the_ids_and_the_timing() -> None:
    trigger = make_trigger(twilio_push_conn_id="my_conn", poll_interval=7.5, end_time=1_900_000_000.25)

    classpath, kwargs = trigger.serialize()

    assert classpath == TRIGGER_CLASSPATH
    assert kwargs == {
        "operation_id": OPERATION_ID,
        "twilio_push_conn_id": "my_conn",
        "poll_interval": 7.5,
        "end_time": 1_900_000_000.25,
    }


async def test_rebuilt_from_its_serialized_form_it_runs_to_the_same_event(
    operation_route: respx.Route, op_response: OpResponse, secret_token: str
) -> None:
    operation_route.side_effect = [
        op_response("PROCESSING"),
        op_response("COMPLETED", sent=3, queued=0),
        op_response("COMPLETED", sent=3, queued=0),
    ]
    original = make_trigger(end_time=time.time() + 30)
    classpath, kwargs = original.serialize()

    rebuilt = import_string(classpath)(**kwargs)

    assert type(rebuilt) is TwilioPushOperationTrigger
    assert rebuilt.serialize() == (classpath, kwargs)
    payload = await single_event(rebuilt)
    assert payload["status"] == "completed"
    assert payload["operation"]["status"] == "COMPLETED"
    # Running loaded the connection: still nothing of it in the kwargs, the repr or the event.
    assert rebuilt.serialize() == (classpath, kwargs)
    for text in (repr(rebuilt), repr(kwargs), repr(payload)):
        assert secret_token not in text
        assert "Authorization" not in text
    assert "twilio_push_conn_id=twilio_push_default" in repr(rebuilt)


def test_serialize_holds_when_the_send_was_accepted_if_known() -> None:
    _, kwargs = make_trigger(sent_at=1_900_000_000.5, created_at="2030-03-17T17:46:40Z").serialize()

    assert kwargs["sent_at"] == 1_900_000_000.5
    assert kwargs["created_at"] == "2030-03-17T17:46:40Z"
    assert "sent_at" not in make_trigger().serialize()[1]  # rows of older versions have none


async def test_a_404_right_after_the_send_is_waited_out(
    operation_route: respx.Route, op_response: OpResponse, logs: Logs
) -> None:
    """Twilio may answer 404 for an operation it accepted a moment ago: the task that sent it
    says when, and the trigger polls on for a while."""
    not_found = twilio_error(404, "Operation not found", 20404)
    operation_route.side_effect = [not_found, not_found, op_response("COMPLETED", sent=3, queued=0)]

    payload = await single_event(make_trigger(sent_at=time.time()))

    assert payload["status"] == "completed"
    assert len(warnings_of(logs)) == 2
    assert warnings_of(logs)[0].startswith(
        f"Polling operation {OPERATION_ID} failed, will try again: Twilio Push API answered 404 Not Found"
    )


@pytest.mark.parametrize("read_first", [False, True])
async def test_a_404_long_after_the_send_or_once_the_operation_was_read_ends_the_trigger(
    operation_route: respx.Route, op_response: OpResponse, read_first: bool
) -> None:
    not_found = twilio_error(404, "Operation not found", 20404)
    operation_route.side_effect = [op_response("PROCESSING"), not_found] if read_first else [not_found]

    payload = await single_event(make_trigger(sent_at=time.time() - (0 if read_first else 3600)))

    assert payload["status"] == "error"
    assert payload["error_type"] == "TwilioPushNotFoundError"
    assert (payload["operation"] is not None) is read_first
    assert operation_route.call_count == 1 + read_first


# -- terminal statuses -----------------------------------------------------------------------------


async def test_completed_operation_gives_one_success_event(
    operation_route: respx.Route, op_response: OpResponse, make_operation: Callable[..., dict[str, Any]]
) -> None:
    operation_route.side_effect = [
        op_response("SCHEDULED", scheduled=3, sent=0, queued=0),
        op_response("PROCESSING", sent=1, queued=2),
        op_response("COMPLETED", sent=2, failed=1, queued=0),
    ]

    payload = await single_event(make_trigger())

    completed = make_operation(status="COMPLETED")
    completed["stats"].update(sent=2, failed=1, queued=0)
    assert payload == {
        "status": "completed",
        "message": f"COMPLETED, 100% done: 2 sent, 1 failed, 0 queued of 3 (operation {OPERATION_ID})",
        "operation": completed,
    }
    assert operation_route.call_count == 3


async def test_canceled_operation_gives_a_canceled_event(
    operation_route: respx.Route, op_response: OpResponse
) -> None:
    operation_route.side_effect = [
        op_response("PROCESSING"),
        op_response("CANCELED", sent=2, queued=0, canceled=1),
    ]

    payload = await single_event(make_trigger())

    assert payload["status"] == "canceled"
    assert payload["message"] == (
        f"CANCELED, 100% done: 2 sent, 0 failed, 1 canceled, 0 queued of 3 (operation {OPERATION_ID})"
    )
    assert payload["operation"]["status"] == "CANCELED"
    assert payload["operation"]["stats"]["canceled"] == 1
    assert operation_route.call_count == 2


async def test_without_end_time_it_waits_until_the_end(
    operation_route: respx.Route, op_response: OpResponse
) -> None:
    operation_route.side_effect = [op_response("PROCESSING")] * 5 + [op_response("COMPLETED")]

    payload = await single_event(make_trigger(end_time=None))

    assert payload["status"] == "completed"
    assert operation_route.call_count == 6


# -- deadline --------------------------------------------------------------------------------------


async def test_deadline_gives_a_timeout_event_with_the_last_operation_seen(
    operation_route: respx.Route, op_response: OpResponse, make_operation: Callable[..., dict[str, Any]]
) -> None:
    operation_route.side_effect = lambda request: op_response("PROCESSING")
    clock = Stopwatch()

    payload = await single_event(make_trigger(poll_interval=0.1, end_time=time.time() + 0.5))

    assert 0.45 <= clock.elapsed < 1.5
    assert payload == {
        "status": "timeout",
        "message": (
            f"Timed out waiting for operation {OPERATION_ID} to complete; last seen "
            f"PROCESSING, 66% done: 2 sent, 0 failed, 1 queued of 3 (operation {OPERATION_ID})."
        ),
        "operation": make_operation(),
    }
    polls = operation_route.call_count
    assert polls >= 3
    await asyncio.sleep(0.2)
    assert operation_route.call_count == polls, "the trigger went on polling after its event"


async def test_deadline_when_the_operation_was_never_read(operation_route: respx.Route, logs: Logs) -> None:
    operation_route.side_effect = lambda request: twilio_error(
        503, "Service Unavailable", 20503, retry_after="0"
    )

    payload = await single_event(make_trigger(poll_interval=0.1, end_time=time.time() + 0.4))

    assert payload == {
        "status": "timeout",
        "message": (
            f"Timed out waiting for operation {OPERATION_ID} to complete; it was never read successfully."
        ),
        "operation": None,
    }
    assert any("503 Service Unavailable" in line for line in warnings_of(logs))


async def test_end_time_in_the_past_times_out_at_once_without_a_request(
    operation_route: respx.Route, op_response: OpResponse
) -> None:
    operation_route.side_effect = lambda request: op_response("PROCESSING")
    clock = Stopwatch()

    # A deadline is an epoch timestamp (it must mean the same on the triggerer's host): this one
    # passed while the trigger sat in the queue.
    payload = await single_event(make_trigger(poll_interval=60, end_time=time.time() - 5))

    assert clock.elapsed < 0.5
    assert payload["status"] == "timeout"
    assert payload["operation"] is None
    assert operation_route.call_count == 0


async def test_deadline_falls_between_polls_one_last_poll_at_the_deadline(
    operation_route: respx.Route, op_response: OpResponse
) -> None:
    polled_at: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        polled_at.append(time.time())
        return op_response("PROCESSING")

    operation_route.side_effect = answer
    end_time = time.time() + 0.3
    clock = Stopwatch()

    # The first poll comes within 0 to 2 s (jitter), the next 2 s later: both past the deadline,
    # so the trigger takes its last look at the deadline and then reports the timeout.
    payload = await single_event(make_trigger(poll_interval=2.0, end_time=end_time))

    assert 0.25 <= clock.elapsed < 1.0
    assert payload["status"] == "timeout"
    assert 1 <= len(polled_at) <= 2
    assert polled_at[-1] >= end_time - 0.01


async def test_an_operation_that_ends_just_before_the_deadline_is_not_a_timeout(
    operation_route: respx.Route, op_response: OpResponse
) -> None:
    end_time = time.time() + 0.5
    operation_route.side_effect = lambda request: op_response(
        "COMPLETED" if time.time() >= end_time - 0.05 else "PROCESSING"
    )

    payload = await single_event(make_trigger(poll_interval=5.0, end_time=end_time))

    assert payload["status"] == "completed"


@pytest.mark.parametrize("stall", ["hanging request", "long Retry-After"])
async def test_deadline_cuts_a_request_or_a_retry_wait_short(
    stall: str, operation_route: respx.Route, op_response: OpResponse, make_operation: Callable[..., Any]
) -> None:
    hanging = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        hanging.set()
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    first = op_response("PROCESSING")
    if stall == "hanging request":
        operation_route.side_effect = [first, hang]
    else:
        operation_route.side_effect = [first, twilio_error(429, "Too Many Requests", 20429, retry_after="30")]
    clock = Stopwatch()

    payload = await single_event(make_trigger(poll_interval=0.1, end_time=time.time() + 0.6))

    assert 0.55 <= clock.elapsed < 1.5
    assert payload["status"] == "timeout"
    assert payload["operation"] == make_operation()
    # respx counts a call once it is answered: the hanging one never is.
    assert operation_route.call_count == (1 if stall == "hanging request" else 2)
    assert hanging.is_set() == (stall == "hanging request")


# -- permanent errors: one request, then an error event ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "twilio_message", "code", "expected"),
    [
        (
            401,
            "Authentication failed",
            20003,
            "Twilio Push API answered 401 Unauthorized to GET {path}: Authentication failed "
            f"(Twilio error 20003). {AUTH_ADVICE} 'twilio_push_default'.",
        ),
        (
            403,
            "Forbidden",
            20403,
            "Twilio Push API answered 403 Forbidden to GET {path}: Forbidden (Twilio error 20403). "
            f"{AUTH_ADVICE} 'twilio_push_default' and that it may use the Comms API.",
        ),
        (
            404,
            "Operation not found",
            20404,
            "Twilio Push API answered 404 Not Found to GET {path}: Operation not found "
            "(Twilio error 20404). The resource does not exist, or is older than Twilio's 7-day retention.",
        ),
        (
            400,
            "Invalid operation id",
            20001,
            "Twilio Push API answered 400 Bad Request to GET {path}: Invalid operation id (Twilio error 20001)",
        ),
    ],
    ids=["401", "403", "404", "400"],
)
async def test_permanent_error_gives_an_error_event_after_one_request(
    status: int,
    twilio_message: str,
    code: int,
    expected: str,
    operation_route: respx.Route,
    secret_token: str,
    logs: Logs,
) -> None:
    operation_route.side_effect = lambda request: twilio_error(status, twilio_message, code)
    clock = Stopwatch()

    payload = await single_event(make_trigger(poll_interval=0.2))

    assert payload["status"] == "error"
    assert payload["message"] == f"Could not watch operation {OPERATION_ID}: " + expected.format(
        path=OPERATION_PATH
    )
    assert payload["operation"] is None
    assert payload["error_type"].startswith("TwilioPush")
    assert operation_route.call_count == 1
    assert clock.elapsed < 0.5  # no second poll, no retry
    assert secret_token not in repr(payload)
    assert warnings_of(logs) == []


async def test_permanent_error_after_a_good_read_keeps_the_last_operation(
    operation_route: respx.Route, op_response: OpResponse, make_operation: Callable[..., Any]
) -> None:
    operation_route.side_effect = [op_response("PROCESSING"), twilio_error(404, "Not found", 20404)]

    payload = await single_event(make_trigger())

    assert payload["status"] == "error"
    assert payload["error_type"] == "TwilioPushNotFoundError"
    assert payload["operation"] == make_operation()
    assert operation_route.call_count == 2


async def test_invalid_operation_id_gives_an_error_event_without_a_request(api: respx.MockRouter) -> None:
    route = api.route()  # any request at all

    payload = await single_event(make_trigger(operation_id="comms_operation_NOT-VALID"))

    assert payload["status"] == "error"
    assert payload["error_type"] == "TwilioPushInvalidInputError"
    assert payload["message"].startswith(
        "Could not watch operation comms_operation_NOT-VALID: Invalid operation_id "
        "'comms_operation_NOT-VALID': expected an id like 'comms_operation_01h9krwprkeee8fzqspvwy6nq8'"
    )
    assert route.call_count == 0


async def test_missing_connection_gives_an_error_event_without_a_request(api: respx.MockRouter) -> None:
    route = api.route()

    payload = await single_event(make_trigger(twilio_push_conn_id="twilio_push_nowhere"))

    assert payload["status"] == "error"
    assert payload["error_type"] == "TwilioPushInvalidInputError"
    assert payload["message"] == (
        f"Could not watch operation {OPERATION_ID}: The connection 'twilio_push_nowhere' is not defined: "
        "create it (type twilio_push) in the UI or set AIRFLOW_CONN_TWILIO_PUSH_NOWHERE."
    )
    assert route.call_count == 0


# -- transient errors: logged, then polling goes on ------------------------------------------------


TRANSIENT_CASES: dict[str, tuple[list[Any], str]] = {
    # fast_conn allows 1 retry: two failed requests exhaust the hook's retries.
    "429 exhausted": (
        [twilio_error(429, "Too Many Requests", 20429, retry_after="0")] * 2,
        "429 Too Many Requests to GET {path}: Too Many Requests (Twilio error 20429) (gave up after 2 attempts)",
    ),
    "500 exhausted": (
        [twilio_error(500, "Internal Server Error", 20500, retry_after="0")] * 2,
        "500 Internal Server Error to GET {path}: Internal Server Error (Twilio error 20500) "
        "(gave up after 2 attempts)",
    ),
    "503 exhausted": (
        [httpx.Response(503, text="upstream unavailable", headers={"Retry-After": "0"})] * 2,
        "503 Service Unavailable to GET {path} (gave up after 2 attempts)",
    ),
    "malformed JSON": (
        [httpx.Response(200, text="<html><body>Bad Gateway</body>")],
        "answered 200 to GET {path} with a body that is not JSON (starts with '<html><body>Bad Gateway</body>')",
    ),
    "not an operation": (
        [httpx.Response(200, json={"unexpected": True})],
        "answered 200 to GET {path} with JSON that is not a valid Operation: id: Field required",
    ),
    "connection error": (
        [httpx.ConnectError("Connection refused")] * 2,
        "No answer from the Twilio Push API at https://comms.twilio.com to GET {path}: ConnectError (Connection refused) "
        "(gave up after 2 attempts)",
    ),
}


@pytest.mark.parametrize("case", list(TRANSIENT_CASES))
async def test_transient_errors_are_logged_and_polling_goes_on(
    case: str, operation_route: respx.Route, op_response: OpResponse, logs: Logs
) -> None:
    failures, expected_warning = TRANSIENT_CASES[case]
    operation_route.side_effect = [op_response("PROCESSING"), *failures, op_response("COMPLETED", queued=0)]

    payload = await single_event(make_trigger())

    assert payload["status"] == "completed"
    assert payload["operation"]["status"] == "COMPLETED"
    assert operation_route.call_count == 2 + len(failures)
    [warning] = warnings_of(logs)
    assert warning.startswith(f"Polling operation {OPERATION_ID} failed, will try again: ")
    assert expected_warning.format(path=OPERATION_PATH) in warning


async def test_a_long_outage_is_waited_out(
    operation_route: respx.Route, op_response: OpResponse, logs: Logs
) -> None:
    outage = [twilio_error(503, "Service Unavailable", 20503, retry_after="0")] * 10
    operation_route.side_effect = [*outage, op_response("COMPLETED", queued=0)]

    payload = await single_event(make_trigger())

    assert payload["status"] == "completed"
    assert len(warnings_of(logs)) == 5  # two requests per poll


# -- polling and logging ---------------------------------------------------------------------------


async def test_progress_is_logged_only_when_it_changes(
    operation_route: respx.Route, op_response: OpResponse, logs: Logs
) -> None:
    operation_route.side_effect = [
        op_response("PROCESSING", sent=0, queued=3),
        op_response("PROCESSING", sent=0, queued=3),
        op_response("PROCESSING", sent=1, queued=2),
        op_response("PROCESSING", sent=1, queued=2),
        op_response("PROCESSING", sent=1, queued=2),
        op_response("COMPLETED", sent=3, queued=0),
    ]

    await single_event(make_trigger())

    assert progress_lines(logs) == [
        f"PROCESSING, 0% done: 0 sent, 0 failed, 3 queued of 3 (operation {OPERATION_ID})",
        f"PROCESSING, 33% done: 1 sent, 0 failed, 2 queued of 3 (operation {OPERATION_ID})",
        f"COMPLETED, 100% done: 3 sent, 0 failed, 0 queued of 3 (operation {OPERATION_ID})",
    ]


async def test_polls_are_poll_interval_apart_and_the_first_comes_within_one_interval(
    operation_route: respx.Route, op_response: OpResponse
) -> None:
    times: list[float] = []

    def record(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        return op_response("COMPLETED" if len(times) == 4 else "PROCESSING")

    operation_route.side_effect = record
    # Airflow's first connection lookup of the process loads its secrets backends (in a worker thread
    # before Airflow 3.3.2): not part of the trigger's schedule.
    await TwilioPushHook().aget_settings()
    start = time.monotonic()

    await single_event(make_trigger(poll_interval=0.15))

    assert len(times) == 4
    assert times[0] - start <= 0.15 + 0.1
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(0.15 - SEND_DELAY <= gap < 0.4 for gap in gaps), gaps


# -- cancellation ----------------------------------------------------------------------------------


def answering(respond: Callable[[], httpx.Response], calls: int) -> tuple[Any, asyncio.Event]:
    """A side effect that answers ``respond()`` and an event set once it answered ``calls`` times."""
    answered = asyncio.Event()
    count = 0

    def side_effect(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        if count >= calls:
            answered.set()
        return respond()

    return side_effect, answered


@pytest.mark.parametrize("when", ["between polls", "during a request"])
async def test_cancellation_propagates_and_the_watcher_closes_its_client(
    when: str,
    operation_route: respx.Route,
    op_response: OpResponse,
    closed_hooks: list[TwilioPushHook],
) -> None:
    hanging = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        hanging.set()
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    if when == "between polls":
        operation_route.side_effect, answered = answering(lambda: op_response("PROCESSING"), 1)
        # The first poll comes within 0.5 s, then the trigger waits 0.5 s: cancel in that wait.
        task = asyncio.create_task(single_event(make_trigger(poll_interval=0.5, end_time=None)))
        async with asyncio.timeout(5):
            await answered.wait()
    else:
        operation_route.side_effect = [op_response("PROCESSING"), hang]
        task = asyncio.create_task(single_event(make_trigger(poll_interval=0.1)))
        async with asyncio.timeout(5):
            await hanging.wait()
    await asyncio.sleep(0.01)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # The trigger was the watcher's last: it unregistered at once, and the watcher closed its client.
    assert watcher_module._watchers == {}
    await asyncio.sleep(0.2)  # the watcher's task closes the client as it ends
    [hook] = closed_hooks
    assert hook._async_client is None
    calls = operation_route.call_count
    await asyncio.sleep(0.3)
    assert operation_route.call_count == calls, "the watcher went on polling"
    # The next trigger of the loop gets a new watcher, with a new client.
    operation_route.side_effect = [op_response("COMPLETED")]
    payload = await single_event(make_trigger())
    assert payload["status"] == "completed"


async def test_cancellation_does_not_emit_an_event(
    operation_route: respx.Route, op_response: OpResponse
) -> None:
    operation_route.side_effect, answered = answering(lambda: op_response("PROCESSING"), 3)
    events: list[Any] = []

    async def consume() -> None:
        async for event in make_trigger(poll_interval=0.1).run():
            events.append(event)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await answered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events == []


async def test_triggers_of_one_operation_share_each_get(
    operation_route: respx.Route, op_response: OpResponse
) -> None:
    polls: list[float] = []

    def record(request: httpx.Request) -> httpx.Response:
        polls.append(time.monotonic())
        return op_response("COMPLETED" if len(polls) == 3 else "PROCESSING")

    operation_route.side_effect = record

    payloads = await asyncio.gather(*(single_event(make_trigger(poll_interval=0.2)) for _ in range(10)))

    # Ten triggers, one operation: each look is one GET, whose answer every trigger acts on.
    assert [payload["status"] for payload in payloads] == ["completed"] * 10
    assert len(polls) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(polls)]
    assert all(0.2 - SEND_DELAY <= gap < 0.5 for gap in gaps), gaps


# -- rows stored by earlier versions ------------------------------------------------------------------


def naive(created_at: str) -> str:
    """``created_at`` as 0.1's operators stored it when the API gave it without an offset:
    ``Operation.created_at.isoformat()`` of a naive datetime (waiting.py at 2e4cb30)."""
    return datetime.fromisoformat(created_at).replace(tzinfo=None).isoformat()


async def test_a_row_with_a_created_at_without_offset_resumes_and_completes(
    twilio_push_emulator: EmulatorHandle, logs: Logs
) -> None:
    control = twilio_push_emulator.control
    operation = control.create_operation(total=10, duration=0.5)
    kwargs = {  # the kwargs as 2e4cb30 serialized them
        "operation_id": operation["id"],
        "twilio_push_conn_id": "twilio_push_default",
        "poll_interval": 0.2,
        "end_time": time.time() + 30,
        "created_at": naive(operation["createdAt"]),
    }

    payload = await single_event(import_string(TRIGGER_CLASSPATH)(**kwargs))

    assert payload["status"] == "completed", payload["message"]
    assert payload["operation"]["id"] == operation["id"]
    assert warnings_of(logs) == []


async def test_a_created_at_that_cannot_be_read_is_ignored_with_a_warning(
    twilio_push_emulator: EmulatorHandle, logs: Logs
) -> None:
    operation = twilio_push_emulator.control.create_operation(total=10, duration=0.2)

    payload = await single_event(
        make_trigger(operation_id=operation["id"], poll_interval=0.2, created_at="yesterday")
    )

    assert payload["status"] == "completed", payload["message"]
    assert warnings_of(logs) == [
        f"Ignoring created_at 'yesterday' of operation {operation['id']}: expected an ISO 8601 date-time "
        "such as '2024-01-15T09:30:00Z'. The operation is watched all the same."
    ]
