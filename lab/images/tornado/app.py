"""The lab's routes on Tornado: GET /, GET /bytes/N (byte i is i % 251), POST /echo.

Tornado's HTTPServer deadlines: idle_connection_timeout bounds both a keep-alive wait and the wait for a
request head (HTTP1ConnectionParameters.header_timeout), so the head gets the idle deadline, 5 s, not 2 s;
body_timeout bounds the body. It has no deadline on a response the client stops reading.
"""

import asyncio
import signal

import tornado.httpserver
import tornado.web

MAX_BYTES = 16 << 20
PATTERN = (bytes(range(251)) * (MAX_BYTES // 251 + 1))[:MAX_BYTES]
PIECE = 64 * 1024  # a large body goes out in pieces, each flush awaiting the stream (Tornado's docs)


class Hello(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.finish(b"hello, epoll\n")


class PatternBytes(tornado.web.RequestHandler):
    async def get(self, size: str) -> None:
        length = int(size)
        if length > MAX_BYTES:
            raise tornado.web.HTTPError(413)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", length)  # else the flushed pieces go out chunked
        for start in range(0, length, PIECE):
            self.write(PATTERN[start:min(start + PIECE, length)])
            await self.flush()
        self.finish()


class Echo(tornado.web.RequestHandler):
    def post(self) -> None:
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(self.request.body)


async def main() -> None:
    app = tornado.web.Application([(r"/", Hello), (r"/bytes/(\d{1,9})", PatternBytes), (r"/echo", Echo)])
    server = tornado.httpserver.HTTPServer(app, idle_connection_timeout=5, body_timeout=5,
                                          max_body_size=MAX_BYTES, xheaders=False)
    server.listen(8080, backlog=4096)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.stop()
    await server.close_all_connections()


if __name__ == "__main__":
    asyncio.run(main())
