"""Run the emulator with uvicorn on a loopback socket; print the ready lines once it accepts."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
from types import FrameType

import uvicorn

from airflow_provider_twilio_push.emulator import CONN_ENV_VAR
from airflow_provider_twilio_push.emulator.app import create_app
from airflow_provider_twilio_push.emulator.state import Defaults, EmulatorState

READY_PREFIX = "Twilio Push emulator listening on "


def ready_lines(base_url: str, account_sid: str, auth_token: str) -> list[str]:
    conn = {"conn_type": "twilio_push", "host": base_url, "login": account_sid, "password": auth_token}
    # The second line pastes into a shell as it is.
    return [f"{READY_PREFIX}{base_url}", f"export {CONN_ENV_VAR}='{json.dumps(conn)}'"]


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, lines: list[str], parent_pid: int | None) -> None:
        super().__init__(config)
        self._lines = lines
        self._parent_pid = parent_pid

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            sys.stdout.write("".join(line + "\n" for line in self._lines))
            sys.stdout.flush()

    async def on_tick(self, counter: int) -> bool:
        if self._parent_pid is not None and counter % 10 == 0 and os.getppid() != self._parent_pid:
            logging.getLogger(__name__).warning("The parent process is gone: stopping")
            self.should_exit = True
        should_exit: bool = await super().on_tick(counter)
        return should_exit


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(
    *,
    host: str,
    port: int,
    account_sid: str,
    auth_token: str,
    seed: int,
    defaults: Defaults,
    log_level: str,
    listing_delay: float = 0.0,
    exit_with_parent: bool = False,
) -> int:
    """Serve until SIGINT or SIGTERM; the exit status (0 after a clean stop)."""
    logging.basicConfig(
        level=log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        sock = _bind(host, port)
    except OSError as exc:
        print(f"twilio-push-emulator: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    bound_port = sock.getsockname()[1]
    base_url = f"http://[{host}]:{bound_port}" if ":" in host else f"http://{host}:{bound_port}"
    state = EmulatorState(
        account_sid=account_sid,
        auth_token=auth_token,
        seed=seed,
        defaults=defaults,
        base_url=base_url,
        listing_delay=listing_delay,
    )
    config = uvicorn.Config(
        create_app(state),
        interface="asgi3",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level=log_level.lower(),
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=3,
    )
    server = _Server(
        config, ready_lines(base_url, account_sid, auth_token), os.getppid() if exit_with_parent else None
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # uvicorn re-raises the signal that stopped it once it is done; with these handlers in place
    # that only sets the flag again, so SIGINT and SIGTERM both end in exit status 0.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    server.run(sockets=[sock])
    return 0
