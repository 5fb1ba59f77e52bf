"""``python -m server``: parse the configuration, bind, and serve (one process or a few workers)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from server.config import Config, parse_config
from server.log import EventLog
from server.loop import Server, create_listener


def _serve(config: Config, listener_port: int, listener: object | None = None) -> int:
    sock = listener if listener is not None else create_listener(
        config.host, listener_port, config.backlog, reuse_port=config.workers > 1
    )
    log = EventLog(config.log_json)
    server = Server(config, sock, log)  # type: ignore[arg-type]
    server.install_signal_handlers()
    try:
        return server.serve()
    finally:
        log.close()


def _supervise(config: Config, port: int, first: object) -> int:
    """Fork ``config.workers`` processes on SO_REUSEPORT listeners; forward SIGTERM/SIGINT to them."""
    children: list[int] = []
    for index in range(config.workers):
        pid = os.fork()
        if pid == 0:
            try:
                code = _serve(config, port, first if index == 0 else None)
            except BaseException:
                code = 1
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
            os._exit(code)
        children.append(pid)
    first.close()  # type: ignore[attr-defined]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        _, wait_status = os.waitpid(child, 0)
        if os.waitstatus_to_exitcode(wait_status) != 0:
            status = 1
    return status


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    first = create_listener(config.host, config.port, config.backlog, reuse_port=config.workers > 1)
    port = first.getsockname()[1]
    print(
        f"epoll-lab server listening on {config.host}:{port} trigger={config.trigger} "
        f"workers={config.workers} bug={config.bug or 'none'} pid={os.getpid()}",
        flush=True,
    )
    if config.workers == 1:
        return _serve(config, port, first)
    return _supervise(config, port, first)


if __name__ == "__main__":
    sys.exit(main())
