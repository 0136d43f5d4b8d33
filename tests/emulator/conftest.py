"""Helpers for the emulator's tests; the emulator itself comes from the project's pytest plugin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .helpers import OPERATIONS, check_invariant


@pytest.fixture
def emulator(twilio_push_emulator: EmulatorHandle) -> EmulatorHandle:
    return twilio_push_emulator


@pytest.fixture
def api(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    """An authenticated client of the emulator's /v1 routes."""
    with httpx.Client(
        base_url=emulator.base_url,
        auth=(emulator.account_sid, emulator.auth_token),
        timeout=10,
        trust_env=False,
    ) as client:
        yield client


@pytest.fixture
def frozen(emulator: EmulatorHandle) -> EmulatorHandle:
    """The emulator with its clock frozen: time moves only with ``control.advance``."""
    emulator.control.freeze()
    return emulator


@pytest.fixture
def get_op(api: httpx.Client) -> Callable[[str], dict[str, Any]]:
    def get(op_id: str) -> dict[str, Any]:
        response = api.get(f"{OPERATIONS}/{op_id}")
        assert response.status_code == 200, response.text
        op: dict[str, Any] = response.json()
        check_invariant(op)
        return op

    return get
