"""TwilioPushNotifier: a push notification from an Airflow callback or a deadline alert."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.notifier import BaseNotifier
from airflow.providers.common.compat.sdk import Context

from airflow_provider_twilio_push.core.request import send_request
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook

# What a templated argument stands for when the notifier is built: valid, so that only the
# arguments that are not templates are checked then (the rendered ones are checked when it sends).
_RENDERED_LATER: dict[str, Any] = {
    "to": [{"token": "rendered-later", "provider": "FCM"}],
    "content": {"body": "rendered-later"},
    "tags": None,
}


def _is_template(value: object) -> bool:
    """Whether rendering can change ``value``: Jinja in a string, or in the values it holds
    (Airflow renders the items of lists, tuples and sets and the values of dicts, not the keys)."""
    if isinstance(value, str):
        return any(marker in value for marker in ("{{", "{%", "{#"))
    if isinstance(value, Mapping):
        return any(_is_template(item) for item in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_is_template(item) for item in value)
    return False


class TwilioPushNotifier(BaseNotifier):
    """Sends a push notification from a callback: ``on_failure_callback``, ``on_success_callback``,
    a DAG's callbacks, or a deadline alert (``DeadlineAlert(..., callback=AsyncCallback(
    TwilioPushNotifier, kwargs={...}))``, run in the triggerer).

    .. code-block:: python

        on_failure_callback = TwilioPushNotifier(
            to=[{"token": "on-call-device-token", "provider": "FCM"}],
            content={"title": "{{ dag.dag_id }} failed", "body": "{{ ti.task_id }} on {{ run_id }}"},
        )

    The arguments are those of :meth:`TwilioPushHook.send_push_notifications` and are checked the
    same way when the notifier is built, except those holding a template: ``to``, ``content`` and
    ``tags`` are templated, rendered with the callback's context and checked before sending. The
    send is retried only when Twilio surely did not process it (429, failure to connect). A
    notifier that cannot send logs the reason in one line and raises.

    :param to: Recipients, e.g. ``[{"token": "...", "provider": "FCM"}]`` (templated).
    :param content: The notification: a ``body`` and an optional ``title`` (templated).
    :param from_: The sender: an App name (``"my_app"``) or credential ids ``{"fcm": ..., "apn": ...}``.
    :param priority: ``HIGH`` (Twilio's default) or ``LOW``.
    :param tags: Up to 10 key/values of ``a-z A-Z 0-9 . _ ~ -`` (templated).
    :param twilio_push_conn_id: The Airflow connection to the Comms API.
    :param context: The context to render with when the notifier is awaited (deadline alerts).
    """

    template_fields: Sequence[str] = ("to", "content", "tags")

    def __init__(
        self,
        to: Any,
        content: Any,
        *,
        from_: str | Mapping[str, Any] | None = None,
        priority: str | None = None,
        tags: Any = None,
        twilio_push_conn_id: str = TwilioPushHook.default_conn_name,
        context: Context | None = None,
    ) -> None:
        if context is None:
            super().__init__()  # Airflow 3.0's BaseNotifier takes no context
        else:
            super().__init__(context=context)
        self.to = to
        self.content = content
        self.from_ = from_
        self.priority = priority
        self.tags = tags
        self.twilio_push_conn_id = twilio_push_conn_id
        send_request(
            **{
                name: _RENDERED_LATER[name] if name in _RENDERED_LATER and _is_template(value) else value
                for name, value in self._send_arguments().items()
            }
        )

    def _send_arguments(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "content": self.content,
            "from_": self.from_,
            "priority": self.priority,
            "tags": self.tags,
        }

    def notify(self, context: Context) -> None:
        """Send now; ``BaseNotifier.__call__`` (how Airflow calls it) logs a failure and re-raises."""
        with TwilioPushHook(self.twilio_push_conn_id) as hook:
            operation_id = hook.send_push_notifications(**self._send_arguments())
        self.log.info("Twilio accepted the push notification: operation %s.", operation_id)

    async def async_notify(self, context: Context) -> None:
        """Send without blocking the event loop (what ``await notifier`` runs, in the triggerer)."""
        try:
            async with TwilioPushHook(self.twilio_push_conn_id) as hook:
                operation_id = await hook.asend_push_notifications(**self._send_arguments())
        except Exception as exc:
            # BaseNotifier.__await__ logs only what fails before this coroutine starts.
            self.log.error("Failed to send notification (async): %s", exc)
            raise
        self.log.info("Twilio accepted the push notification: operation %s.", operation_id)


send_twilio_push_notification = TwilioPushNotifier
