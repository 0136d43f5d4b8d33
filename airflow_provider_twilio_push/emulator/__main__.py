"""``twilio-push-emulator`` / ``python -m airflow_provider_twilio_push.emulator``."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence

from airflow_provider_twilio_push.emulator import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_SEED,
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ratio(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twilio-push-emulator",
        description="A local emulator of the Twilio Comms Push Notifications API (loopback only).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="a loopback address (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default: %(default)s)"
    )
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="makes ids and faults reproducible")
    parser.add_argument(
        "--duration", type=_seconds, default=2.0, help="seconds a send takes to process (default: 2)"
    )
    parser.add_argument(
        "--listing-delay",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="seconds after a send's 202 before its notifications show up in GET /v1/PushNotifications "
        "listings (default: 0)",
    )
    parser.add_argument("--failure-ratio", type=_ratio, default=0.0, help="default for sends")
    parser.add_argument("--unaddressable-ratio", type=_ratio, default=0.0, help="default for sends")
    parser.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(
            f"--host {args.host} is not a loopback address: the emulator only listens on "
            "127.0.0.1, another 127.x.y.z, ::1 or localhost"
        )
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be from 0 to 65535, got {args.port}")
    if args.failure_ratio + args.unaddressable_ratio > 1:
        parser.error("--failure-ratio + --unaddressable-ratio must be at most 1")

    from airflow_provider_twilio_push.emulator.server import serve
    from airflow_provider_twilio_push.emulator.state import Defaults

    return serve(
        host="127.0.0.1" if args.host == "localhost" else args.host,
        port=args.port,
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        seed=args.seed,
        defaults=Defaults(args.duration, args.failure_ratio, args.unaddressable_ratio),
        listing_delay=args.listing_delay,
        log_level=args.log_level,
        exit_with_parent=args.exit_with_parent,
    )


if __name__ == "__main__":
    sys.exit(main())
