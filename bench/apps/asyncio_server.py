"""A minimal stdlib asyncio Protocol server: one response per `\\r\\n\\r\\n`, parsing nothing else.

It is the floor of what a Python event loop costs per request: `python -m bench.apps.asyncio_server PORT`.
"""

from __future__ import annotations

import asyncio
import sys

BODY = b"hello, epoll\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
HEAD_END = b"\r\n\r\n"


class Hello(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffered = self.pending + data if self.pending else data
        heads = buffered.count(HEAD_END)
        if heads and self.transport is not None:
            self.transport.write(RESPONSE * heads)
            buffered = buffered[buffered.rindex(HEAD_END) + len(HEAD_END) :]
        self.pending = buffered


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Hello, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> int:
    asyncio.run(serve(int(sys.argv[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
