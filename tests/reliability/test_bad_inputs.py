"""Bad inputs (issue 9): one table of input -> exact message -> number of requests sent.

The cases live in ``bad_inputs.py``; the docs' bad-input page (docs/bad-inputs.md) is rendered from them. Each case runs
against the emulator (its counters say how many requests reached it) or, for answers the
emulator never gives, against a respx mock of https://comms.twilio.com. Every case runs inside
one respx router that passes the emulator's traffic through and answers anything else with 599
while counting it, so a request that should never have been made is seen wherever it went.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx

from airflow_provider_twilio_push.emulator import CONN_ENV_VAR
from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.exceptions import TwilioPushError, TwilioPushInvalidInputError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.operators.campaign import TwilioPushCampaignOperator
from airflow_provider_twilio_push.operators.twilio_push import (
    TwilioPushOperationStatsOperator,
    TwilioPushSendOperator,
)
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationEventTrigger

from .bad_inputs import (
    CASES,
    DOC_PATH,
    MAX_RETRIES,
    OP,
    UNKNOWN_OP,
    Answer,
    Case,
    document_section,
    render_markdown,
)

pytestmark = pytest.mark.timeout(60)

MOCK_HOST = "comms.twilio.com"


def respond(answer: Answer) -> Any:
    """A respx side effect: a fresh response (or exception) for every request."""

    def side_effect(request: httpx.Request) -> httpx.Response:
        if answer.raises:
            raise getattr(httpx, answer.raises)(answer.raises_message, request=request)
        if answer.repeat_token:
            body = {
                "operations": [{"id": OP, "status": "COMPLETED"}],
                "pagination": {"next": "c2FtZQ", "self": request.url.params.get("pageToken")},
            }
            return httpx.Response(200, json=body)
        if answer.content is not None:
            # A stream, so that the body is decoded by the client (Content-Encoding included).
            return httpx.Response(
                answer.status, headers=answer.headers, stream=httpx.ByteStream(answer.content)
            )
        return httpx.Response(answer.status, headers=answer.headers, json=answer.json)

    return side_effect


def connection_for(case: Case, emulator: EmulatorHandle) -> dict[str, Any]:
    conn: dict[str, Any] = {**json.loads(emulator.conn_json), "extra": {"max_retries": MAX_RETRIES}}
    if case.answer is not None:
        conn["host"] = f"https://{MOCK_HOST}"
    conn.update(case.connection or {})
    return conn


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case: Case, twilio_push_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = twilio_push_emulator
    conn = connection_for(case, emulator)
    monkeypatch.setenv(CONN_ENV_VAR, json.dumps(conn))
    monkeypatch.delenv("AIRFLOW_CONN_TWILIO_PUSH_MISSING", raising=False)
    if case.faults:
        emulator.control.set_faults(**case.faults)
    server = urlsplit(emulator.base_url)
    hook = TwilioPushHook()
    namespace = {
        "hook": hook,
        "OP": OP,
        "UNKNOWN_OP": UNKNOWN_OP,
        "datetime": datetime,
        "TwilioPushHook": TwilioPushHook,
        "TwilioPushOperationStatsOperator": TwilioPushOperationStatsOperator,
        "TwilioPushSendOperator": TwilioPushSendOperator,
        "TwilioPushCampaignOperator": TwilioPushCampaignOperator,
        "TwilioPushOperationEventTrigger": TwilioPushOperationEventTrigger,
    }

    with respx.mock(assert_all_called=False) as router:
        router.route(host=server.hostname, port=server.port).pass_through()
        mocked = router.route(host=MOCK_HOST)
        if case.answer is not None:
            mocked.side_effect = respond(case.answer)
        else:
            mocked.respond(599)
        stray = router.route().respond(599)
        try:
            with pytest.raises(TwilioPushError) as caught:
                eval(case.call, namespace)
        finally:
            hook.close()

    served = emulator.control.request_count()
    error = caught.value
    assert type(error) is case.error, f"{type(error).__name__}: {error}"
    assert str(error) == case.message
    assert served + mocked.call_count + stray.call_count == case.requests
    assert stray.call_count == 0  # nothing went anywhere but the emulator or the mocked API
    if case.answer is None:
        assert mocked.call_count == 0
    else:
        assert served == 0
    assert conn["password"] not in str(error) or not conn["password"]
    assert "hunter2-secret" not in str(error)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_connection_variable_airflow_cannot_read_is_named(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Airflow reports a connection variable it cannot read as no connection at all (before 3.2 also one
    whose extra is not a JSON object, row 21): the error names the variable rather than "not defined"."""
    monkeypatch.setenv(
        CONN_ENV_VAR, '{"conn_type": "twilio_push", "login": "AC1", "password": "hunter2-secret",'
    )
    hook = TwilioPushHook()
    read = hook.aget_operation(OP) if mode == "async" else asyncio.to_thread(hook.get_operation, OP)
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        await read
    assert str(caught.value) == (
        "Airflow could not read the connection 'twilio_push_default' from AIRFLOW_CONN_TWILIO_PUSH_DEFAULT: "
        'expected a URI or a JSON object such as {"conn_type": "twilio_push", "login": "AC...", '
        '"password": "...", "extra": {"timeout": 10}}.'
    )


def test_the_table_covers_the_issue_and_is_big_enough() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 20
    required = {
        "invalid-operation-id", "page-size-0", "page-size-1001", "unknown-status", "end-before-start",
        "naive-datetime", "missing-connection", "no-login", "no-password", "http-non-loopback", "401",
        "403", "404", "429-exhausted", "500-exhausted", "non-json-200", "wrong-shape",
        "unknown-server-status", "negative-max-failed", "max-failure-rate-above-1", "no-recipients",
        "no-provider", "content-without-body", "notification-status",
    }  # fmt: skip
    assert required <= set(ids)
    # What can be checked locally sends nothing: every case without a server answer expects 0.
    assert all(case.requests == 0 for case in CASES if case.answer is None and not case.emulator)


def test_the_document_lists_the_same_cases_and_messages() -> None:
    """The docs' table is render_markdown() of the cases: regenerate it after changing a case."""
    assert document_section(DOC_PATH.read_text()) == render_markdown(), (
        "The bad-input table of docs/bad-inputs.md is out of date: run .venv/bin/python tests/reliability/bad_inputs.py"
    )


def test_the_document_check_would_see_a_changed_message() -> None:
    """The comparison above is live: a case whose message changed renders differently."""
    changed = [*CASES[:-1], Case(**{**CASES[-1].__dict__, "message": CASES[-1].message + "!"})]
    assert render_markdown(changed) != render_markdown()
    assert all(f"`{case.message}`".replace("|", "\\|") in render_markdown() for case in CASES)
