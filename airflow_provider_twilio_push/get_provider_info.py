"""Provider metadata for Airflow's providers manager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_twilio_push import __version__

_INTEGRATION = "Twilio Push Notifications"

#: The connection form: which standard fields show, and what they are called.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": ["schema"],
    "relabeling": {
        "host": "Base URL",
        "login": "Account SID or API Key SID",
        "password": "Auth Token or API Key secret",
    },
    "placeholders": {
        "host": "https://comms.twilio.com (leave empty for the default)",
        "login": "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx or SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "password": "Auth Token or API Key secret",
        # Airflow 3.3's Test button posts an empty Port as 0 and then refuses the saved connection
        # ("Bad Request": its port differs from the stored one). A port filled in passes.
        "port": "443 for Twilio, 8089 for the emulator: the UI's Test needs it",
    },
}

_CONN_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Timeout of each HTTP request. Default 10.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of a request after 429, 5xx or a network fault. Default 4.",
        "schema": {"type": ["integer", "null"], "minimum": 0},
    },
    "max_requests_per_second": {
        "label": "Max requests per second",
        "description": "Pace every request of this connection in one process (a triggerer) under this "
        "rate. Empty: no pacing; a 429 still pauses them all for its Retry-After.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-twilio-push",
        "name": "Twilio Push Notifications",
        "description": "Wait for Twilio Comms push-notification operations, read their delivery stats, "
        "and send push notifications.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://www.twilio.com/docs/comms",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["airflow_provider_twilio_push.hooks.twilio_push"],
            }
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_twilio_push.triggers.twilio_push",
                    "airflow_provider_twilio_push.triggers.campaign",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["airflow_provider_twilio_push.sensors.twilio_push"],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_twilio_push.operators.twilio_push",
                    "airflow_provider_twilio_push.operators.campaign",
                ],
            }
        ],
        "notifications": ["airflow_provider_twilio_push.notifications.twilio_push.TwilioPushNotifier"],
        "connection-types": [
            {
                "connection-type": "twilio_push",
                "hook-class-name": "airflow_provider_twilio_push.hooks.twilio_push.TwilioPushHook",
                "hook-name": "Twilio Push (Comms API)",
                "conn-fields": _CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": UI_FIELD_BEHAVIOUR["hidden_fields"],
                    "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
                    "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
                },
            }
        ],
    }
