#!/usr/bin/env python3
"""Does the server hold a connection that never sends a byte, while it closes idle kept-alive ones?

Standard library only; needs nothing but the server running. Usage:

    python3 idle-connection-held.py HOST:PORT [--path /] [--wait 12]

It opens two connections at once: one sends nothing at all; the other sends one complete GET, reads the answer
and then idles, as a kept-alive client does. A server with a keep-alive deadline closes the second after that
deadline. If it never closes the first, a client (or thousands of them) that connects and stays silent holds a
connection, a descriptor and its memory for ever: the idle deadline is armed only after a response, never at
connect.

Exit 1 and "affected: ..." when the silent connection is still open after --wait seconds while the kept-alive
one was closed; exit 0 and "not affected: ..." when the silent one is closed within --wait; exit 2 when it
cannot tell (the server closes neither: it has no idle deadline at all).
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time


def closed_after(connection: socket.socket, wait_s: float) -> float | None:
    """Seconds until the server closes (FIN or RST), reading and dropping what it sends; None: still open."""
    started = time.monotonic()
    connection.settimeout(0.5)
    while time.monotonic() - started < wait_s:
        try:
            if not connection.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="HOST:PORT")
    parser.add_argument("--path", default="/", help="a route that answers GET")
    parser.add_argument("--wait", type=float, default=12.0, help="seconds to wait for the server to close")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    results: dict[str, float | None] = {}
    try:
        silent = socket.create_connection((host, int(port)), timeout=5)
        kept = socket.create_connection((host, int(port)), timeout=5)
    except (OSError, ValueError) as error:
        print(f"cannot tell: {error}")
        return 2
    with silent, kept:
        kept.sendall(f"GET {args.path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())

        def watch(name: str, connection: socket.socket) -> None:
            results[name] = closed_after(connection, args.wait)

        watchers = [threading.Thread(target=watch, args=(name, connection))
                    for name, connection in (("silent", silent), ("kept", kept))]
        for watcher in watchers:
            watcher.start()
        for watcher in watchers:
            watcher.join(timeout=args.wait + 5)

    def said(name: str) -> str:
        seconds = results.get(name)
        return f"closed after {seconds:.1f} s" if seconds is not None else f"still open after {args.wait:g} s"

    text = f"a connection that sent nothing: {said('silent')}; a kept-alive one after its response: {said('kept')}"
    if results.get("silent") is not None:
        print(f"not affected: {text}")
        return 0
    if results.get("kept") is not None:
        print(f"affected: {text} (the idle deadline is armed after a response, never at connect)")
        return 1
    print(f"cannot tell: {text} (the server has no idle deadline at all)")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
