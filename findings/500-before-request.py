#!/usr/bin/env python3
"""Does the server answer 500 to a request that never arrived? (a slow head cut off by a worker timeout)

Standard library only; needs nothing but the server running. Usage:

    python3 500-before-request.py HOST:PORT [--wait 20]

It sends the first lines of a request head and never finishes it. A server may cut such a client off: with a
408 (Request Timeout), a 400, or by closing. A 5xx says the server failed at a request it never received:
monitoring counts a client's slowness as the application's error, and a proxy in front may retry it. gunicorn's
sync worker is killed by its master's `timeout` while it waits for the head, and the worker's
`except BaseException` answers the SystemExit with a 500.

Exit 1 and "affected: ..." on a 5xx; exit 0 and "not affected: ..." on a 4xx or a close without an answer;
exit 2 when the connection is still open after --wait seconds (no head deadline at all).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="HOST:PORT")
    parser.add_argument("--wait", type=float, default=20.0, help="seconds to wait for the server to answer or close")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    answer = b""
    started = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=0.5) as connection:
            connection.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n".encode())  # the head never ends
            while time.monotonic() - started < args.wait:
                try:
                    data = connection.recv(65536)
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    break
                if not data:
                    break
                answer += data
            else:
                print(f"cannot tell: the unfinished head was neither answered nor cut off in {args.wait:g} s")
                return 2
    except (OSError, ValueError) as error:
        print(f"cannot tell: {error}")
        return 2
    elapsed = time.monotonic() - started
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1") if answer else ""
    if status_line.startswith("HTTP/") and status_line[9:10] == "5":
        print(f"affected: '{status_line}' after {elapsed:.1f} s to a request head that never ended")
        return 1
    what = f"'{status_line}'" if status_line else "a close without an answer"
    print(f"not affected: {what} after {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
