"""The control API under /_emulator: scenarios, cancel, clock, faults, defaults, listing delay,
counters, recipient counts, reset.

It needs no authentication (the emulator only listens on loopback) and is not counted.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_twilio_push.emulator.faults import EXCLUSIVE_FAULTS, Faults
from airflow_provider_twilio_push.emulator.operation import Operation
from airflow_provider_twilio_push.emulator.state import Defaults, EmulatorState
from airflow_provider_twilio_push.emulator.wire import ROUTES, ApiError, dumps, error_body

MAX_SECONDS = 366 * 24 * 3600
MAX_TOTAL = 1_000_000_000
SCENARIO_FIELDS = ("total", "duration", "failure_ratio", "unaddressable_ratio", "schedule_in", "age")
DEFAULTS_FIELDS = ("duration", "failure_ratio", "unaddressable_ratio")
FAULT_FIELDS = (
    *EXCLUSIVE_FAULTS,
    "rate_slow",
    "slow_seconds",
    "retry_after",
    "rps_limit",
    "routes",
    "skip",
    "max_faults",
)


def _json(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


async def _body(request: Request, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"The body of {what} must be a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiError(
            400, f"Unknown field(s) {', '.join(unknown)} in {what}: the fields are {', '.join(allowed)}"
        )
    return data


def _number(data: dict[str, Any], key: str, *, minimum: float, maximum: float, integer: bool = False) -> Any:
    """``data[key]`` checked to be a number in range, or None if absent or null."""
    value = data.get(key)
    if value is None:
        return None
    kinds = int if integer else int | float
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or not math.isfinite(value)
        or not minimum <= value <= maximum
    ):
        kind = "an integer" if integer else "a number"
        raise ApiError(400, f"{key} must be {kind} from {minimum:g} to {maximum:g}, got {value!r}")
    return value


def _ratios(failure_ratio: float, unaddressable_ratio: float) -> None:
    if failure_ratio + unaddressable_ratio > 1:
        raise ApiError(400, "failure_ratio + unaddressable_ratio must be at most 1")


def _faults(data: dict[str, Any]) -> Faults:
    rates: dict[str, float] = {
        name: _number(data, name, minimum=0, maximum=1) or 0.0 for name in (*EXCLUSIVE_FAULTS, "rate_slow")
    }
    if sum(rates[name] for name in EXCLUSIVE_FAULTS) > 1 + 1e-9:
        raise ApiError(400, f"The sum of {', '.join(EXCLUSIVE_FAULTS)} must be at most 1")
    routes = data.get("routes")
    if routes is not None:
        if not isinstance(routes, list) or not all(route in ROUTES for route in routes):
            raise ApiError(400, f"routes must be null or a list of some of: {'; '.join(ROUTES)}")
        routes = tuple(routes)
    slow_seconds = _number(data, "slow_seconds", minimum=0, maximum=300)
    retry_after = _number(data, "retry_after", minimum=0, maximum=3600, integer=True)
    return Faults(
        **rates,
        slow_seconds=1.0 if slow_seconds is None else slow_seconds,
        retry_after=1 if retry_after is None else retry_after,
        rps_limit=_number(data, "rps_limit", minimum=0.001, maximum=1e9),
        routes=routes,
        skip=_number(data, "skip", minimum=0, maximum=MAX_TOTAL, integer=True) or 0,
        max_faults=_number(data, "max_faults", minimum=0, maximum=MAX_TOTAL, integer=True),
    )


def control_app(state: EmulatorState) -> Starlette:
    def operation_or_404(request: Request) -> Operation:
        op_id = request.path_params["operation_id"]
        op = state.operations.by_id.get(op_id)
        if op is None:
            raise ApiError(404, f"Operation {op_id} was not found")
        return op

    async def info(request: Request) -> Response:
        return _json(
            {
                "account_sid": state.account_sid,
                "base_url": state.base_url,
                "seed": state.seed,
                "operations": len(state.operations),
                "routes": list(ROUTES),
            }
        )

    async def create_operation(request: Request) -> Response:
        data = await _body(request, SCENARIO_FIELDS, "a scenario")
        failure_ratio = _number(data, "failure_ratio", minimum=0, maximum=1)
        unaddressable_ratio = _number(data, "unaddressable_ratio", minimum=0, maximum=1)
        defaults = state.defaults
        _ratios(
            defaults.failure_ratio if failure_ratio is None else failure_ratio,
            defaults.unaddressable_ratio if unaddressable_ratio is None else unaddressable_ratio,
        )
        op = state.create_scenario(
            total=_number(data, "total", minimum=1, maximum=MAX_TOTAL, integer=True) or 10,
            duration=_number(data, "duration", minimum=0, maximum=MAX_SECONDS),
            failure_ratio=failure_ratio,
            unaddressable_ratio=unaddressable_ratio,
            schedule_in=_number(data, "schedule_in", minimum=0, maximum=MAX_SECONDS) or 0.0,
            age=_number(data, "age", minimum=0, maximum=MAX_SECONDS) or 0.0,
        )
        return _json(op.view(state.clock.now()), 201)

    async def get_operation(request: Request) -> Response:
        op = operation_or_404(request)
        now = state.clock.now()
        return _json(
            {
                "operation": op.view(now),
                "expired": op.expired(now),
                "scenario": op.scenario(),
                "send": op.message,
            }
        )

    async def cancel_operation(request: Request) -> Response:
        op = operation_or_404(request)
        if op.expired(state.clock.now()):
            raise ApiError(404, f"Operation {op.id} is older than 7 days")
        if not state.cancel(op):
            raise ApiError(409, f"Operation {op.id} has COMPLETED and can no longer be canceled")
        return _json(op.view(state.clock.now()))

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            data = await _body(request, ("advance", "freeze"), "a clock change")
            freeze = data.get("freeze")
            if freeze is not None and not isinstance(freeze, bool):
                raise ApiError(400, f"freeze must be true or false, got {freeze!r}")
            advance = _number(data, "advance", minimum=0, maximum=10 * MAX_SECONDS)
            if freeze is True:
                state.clock.freeze()
            elif freeze is False:
                state.clock.unfreeze()
            if advance:
                state.clock.advance(advance)
        return _json(state.clock.to_json())

    async def reset(request: Request) -> Response:
        state.reset()
        return _json({"reset": True, "clock": state.clock.to_json()})

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            state.set_faults(_faults(await _body(request, FAULT_FIELDS, "faults")))
        return _json(state.faults.to_json())

    async def defaults(request: Request) -> Response:
        if request.method == "PUT":
            data = await _body(request, DEFAULTS_FIELDS, "defaults")
            initial = state.initial_defaults
            duration = _number(data, "duration", minimum=0, maximum=MAX_SECONDS)
            failure_ratio = _number(data, "failure_ratio", minimum=0, maximum=1)
            unaddressable_ratio = _number(data, "unaddressable_ratio", minimum=0, maximum=1)
            new = Defaults(
                duration=initial.duration if duration is None else duration,
                failure_ratio=initial.failure_ratio if failure_ratio is None else failure_ratio,
                unaddressable_ratio=(
                    initial.unaddressable_ratio if unaddressable_ratio is None else unaddressable_ratio
                ),
            )
            _ratios(new.failure_ratio, new.unaddressable_ratio)
            state.defaults = new
        return _json(state.defaults.to_json())

    async def counters(request: Request) -> Response:
        return _json(state.counters.to_json())

    async def listing_delay(request: Request) -> Response:
        if request.method == "PUT":
            data = await _body(request, ("seconds",), "a listing delay")
            seconds = _number(data, "seconds", minimum=0, maximum=MAX_SECONDS)
            if seconds is None:
                raise ApiError(400, "seconds is required: the delay in seconds, 0 for none")
            state.listing_delay = float(seconds)
        return _json({"seconds": state.listing_delay})

    async def recipient_counts(request: Request) -> Response:
        raw = request.query_params.get("min_count", "1")
        if not raw.isdigit():
            raise ApiError(400, f"min_count must be an integer >= 0, got {raw!r}")
        return _json({"counts": state.recipient_counts(int(raw))})

    routes = [
        Route("/_emulator/info", info, methods=["GET"]),
        Route("/_emulator/operations", create_operation, methods=["POST"]),
        Route("/_emulator/operations/{operation_id}", get_operation, methods=["GET"]),
        Route("/_emulator/operations/{operation_id}/cancel", cancel_operation, methods=["POST"]),
        Route("/_emulator/clock", clock, methods=["GET", "POST"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/faults", faults, methods=["GET", "PUT"]),
        Route("/_emulator/defaults", defaults, methods=["GET", "PUT"]),
        Route("/_emulator/counters", counters, methods=["GET"]),
        Route("/_emulator/listing-delay", listing_delay, methods=["GET", "PUT"]),
        Route("/_emulator/recipient-counts", recipient_counts, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return Response(
        exc.body, exc.status, dict((k.decode(), v.decode()) for k, v in exc.headers), "application/json"
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "No such control endpoint", 405: "Method not allowed here"}.get(
        exc.status_code, exc.detail
    )
    return Response(
        error_body(exc.status_code, [(None, message)]), exc.status_code, exc.headers, "application/json"
    )
