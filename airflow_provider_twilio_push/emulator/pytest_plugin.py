"""pytest fixtures that run the Comms API emulator.

- ``twilio_push_emulator_server`` (session): one emulator process for the whole run.
- ``twilio_push_emulator`` (function): resets that emulator, points the default Airflow
  connection (``AIRFLOW_CONN_TWILIO_PUSH_DEFAULT``) at it and yields an :class:`EmulatorHandle`.

Loaded in every pytest run of the project, so it imports nothing heavy until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from airflow_provider_twilio_push.emulator import CONN_ENV_VAR, DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow_provider_twilio_push.emulator.control import EmulatorControl
    from airflow_provider_twilio_push.emulator.process import EmulatorProcess


@dataclass(frozen=True)
class EmulatorHandle:
    """What a test gets from ``twilio_push_emulator``."""

    base_url: str
    control: EmulatorControl
    conn_id: str
    conn_json: str
    account_sid: str
    auth_token: str
    process: EmulatorProcess


@pytest.fixture(scope="session")
def twilio_push_emulator_server() -> Iterator[EmulatorProcess]:
    """One emulator process for the session, stopped at its end."""
    from airflow_provider_twilio_push.emulator.process import EmulatorProcess

    with EmulatorProcess() as process:
        yield process


@pytest.fixture
def twilio_push_emulator(
    twilio_push_emulator_server: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> EmulatorHandle:
    """A freshly reset emulator that the ``twilio_push_default`` connection points at."""
    server = twilio_push_emulator_server
    server.control.reset()
    monkeypatch.setenv(CONN_ENV_VAR, server.conn_json)
    return EmulatorHandle(
        base_url=server.base_url,
        control=server.control,
        conn_id=DEFAULT_CONN_ID,
        conn_json=server.conn_json,
        account_sid=server.account_sid,
        auth_token=server.auth_token,
        process=server,
    )
