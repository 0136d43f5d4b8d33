"""A local emulator of the Twilio Comms Push Notifications API, for tests and demos.

It is an independent implementation of the wire format (it does not import the provider's
models), so that it catches client bugs. This module only holds constants and lazy exports:
the pytest plugin imports it in every test run of the project.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Account SID the emulator accepts unless told otherwise (AC + 32 characters).
DEFAULT_ACCOUNT_SID = "ACemulator000000000000000000000000"
#: Auth token the emulator accepts unless told otherwise; not a secret.
DEFAULT_AUTH_TOKEN = "emulator-auth-token-not-a-secret"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8089
DEFAULT_SEED = 0
DEFAULT_CONN_ID = "twilio_push_default"
CONN_ENV_VAR = "AIRFLOW_CONN_TWILIO_PUSH_DEFAULT"

if TYPE_CHECKING:
    from airflow_provider_twilio_push.emulator.app import create_app
    from airflow_provider_twilio_push.emulator.control import EmulatorControl, EmulatorControlError
    from airflow_provider_twilio_push.emulator.process import EmulatorProcess
    from airflow_provider_twilio_push.emulator.state import EmulatorState

_LAZY = {
    "create_app": "app",
    "EmulatorControl": "control",
    "EmulatorControlError": "control",
    "EmulatorProcess": "process",
    "EmulatorState": "state",
}

__all__ = [
    "CONN_ENV_VAR",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_CONN_ID",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_SEED",
    "EmulatorControl",
    "EmulatorControlError",
    "EmulatorProcess",
    "EmulatorState",
    "create_app",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
