"""TwilioPushOperationSensor: waits for a push-notification operation to end."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    Context,
    PokeReturnValue,
    conf,
)

from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.waiting import (
    defer_until_terminal,
    operation_from_event,
    read_operation,
    terminal_result,
)


class TwilioPushOperationSensor(BaseSensorOperator):
    """Waits until a push-notification operation is COMPLETED (or CANCELED).

    Pushes the final operation to XCom ``return_value`` as a JSON-safe dict (``id``, ``status``,
    ``stats``, ``createdAt``, ``updatedAt``), in every mode.

    :param operation_id: The operation to wait for (templated), e.g. a send task's XCom.
    :param twilio_push_conn_id: The Airflow connection to the Comms API.
    :param deferrable: Wait in the triggerer instead of a worker slot. Defaults to
        ``[operators] default_deferrable``.
    :param fail_on_canceled: Fail when the operation was CANCELED (default); with False, a
        canceled operation is a success too.

    ``poke_interval``, ``timeout``, ``mode`` and ``soft_fail`` work as on every sensor; a
    deferred sensor carries its deadline to the triggerer, so ``timeout`` holds there too.
    Transient API errors (rate limits, 5xx, network faults, after the hook's retries) are
    logged and waited out; bad credentials or an unknown operation fail at once.
    """

    template_fields: Sequence[str] = ("operation_id",)
    ui_color = "#f22f46"

    def __init__(
        self,
        *,
        operation_id: str,
        twilio_push_conn_id: str = TwilioPushHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        fail_on_canceled: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.operation_id = operation_id
        self.twilio_push_conn_id = twilio_push_conn_id
        self.deferrable = deferrable
        self.fail_on_canceled = fail_on_canceled

    @cached_property
    def hook(self) -> TwilioPushHook:
        return TwilioPushHook(self.twilio_push_conn_id)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        # As in poke mode: rate limits, 5xx and network faults are waited out (in the triggerer).
        operation = read_operation(
            self, self.hook, self.operation_id, then="will wait for it in the triggerer"
        )
        if operation is not None and operation.terminal:
            try:
                return terminal_result(operation, fail_on_canceled=self.fail_on_canceled)
            except AirflowFailException as exc:
                # What the poke loop and resume_execution() do with the same outcome.
                if self.soft_fail or getattr(self, "never_fail", False):
                    raise AirflowSkipException(f"Skipping instead of failing: {exc}") from exc
                raise
        defer_until_terminal(
            self,
            operation_id=self.operation_id,
            twilio_push_conn_id=self.twilio_push_conn_id,
            poll_interval=self.poke_interval,
            timeout=self.timeout,
            created_at=operation.created_at if operation else None,
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        operation = read_operation(self, self.hook, self.operation_id)
        if operation is None or not operation.terminal:
            return False
        return PokeReturnValue(
            is_done=True, xcom_value=terminal_result(operation, fail_on_canceled=self.fail_on_canceled)
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSensorTimeout as exc:
            # Airflow 3.0 raises the defer(timeout=...) backstop's timeout past soft_fail; 3.1+ skips.
            if self.soft_fail or getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping instead of failing: {exc}") from exc
            raise

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Called when the trigger fires; may run more than once for one event."""
        operation = operation_from_event(event, operation_id=self.operation_id)
        return terminal_result(operation, fail_on_canceled=self.fail_on_canceled)
