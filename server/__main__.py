"""``python -m server``: parse the configuration, bind, and serve (one process or a few workers)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import traceback
from collections.abc import Sequence

from server.config import Config, parse_config
from server.log import EventLog
from server.loop import Server, create_listener
from server.respawn import supervise_respawning

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _banner(config: Config, port: int) -> str:
    return (
        f"epoll-lab server listening on {config.host}:{port} trigger={config.trigger} "
        f"workers={config.workers} bug={config.bug or 'none'} pid={os.getpid()}"
    )


def _serve(config: Config, server_class: type[Server], listener: socket.socket, announce: bool) -> int:
    log = EventLog(config.log_json)
    try:
        server = server_class(config, listener, log)
        server.install_signal_handlers()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked while a supervisor forks
        if announce:  # only once every fd the loop needs is open: tests take their baseline here
            print(_banner(config, listener.getsockname()[1]), flush=True)
        return server.serve()
    finally:
        log.close()


def _supervise(config: Config, server_class: type[Server], first: socket.socket) -> int:
    """Fork ``config.workers`` processes on SO_REUSEPORT listeners; forward SIGTERM/SIGINT to them."""
    port = first.getsockname()[1]
    children: list[int] = []
    # A stop signal arriving mid-fork waits until each process has its handlers.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    for index in range(config.workers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                listener = first if index == 0 else create_listener(config.host, port, config.backlog, True)
                code = _serve(config, server_class, listener, announce=False)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                os._exit(code)
        children.append(pid)
    first.close()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    print(_banner(config, port), flush=True)
    status = 0
    for child in children:
        _, wait_status = os.waitpid(child, 0)
        if os.waitstatus_to_exitcode(wait_status) != 0:
            status = 1
    return status


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    first = create_listener(config.host, config.port, config.backlog, reuse_port=config.workers > 1)
    server_class: type[Server] = Server
    if config.bug is not None:
        from server import bugs  # the zoo: loaded only when a variant is asked for

        server_class = bugs.server_class(config.bug)
        if config.workers == 1 and bugs.BY_NAME[config.bug].supervised:  # worker_respawn's process layout
            return supervise_respawning(first, lambda listener: _serve(config, server_class, listener, False),
                                        lambda: print(_banner(config, first.getsockname()[1]), flush=True))
    if config.workers == 1:
        return _serve(config, server_class, first, announce=True)
    return _supervise(config, server_class, first)


if __name__ == "__main__":
    sys.exit(main())
