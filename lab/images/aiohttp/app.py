"""The lab's routes on aiohttp.web: GET /, GET /bytes/N (byte i is i % 251), POST /echo.

aiohttp's server has one deadline setting, keepalive_timeout (5 s), which also ends a connection whose
request head is still incomplete after it. Nothing bounds the body or a response the client stops reading.
"""

from aiohttp import web

MAX_BYTES = 16 << 20
PATTERN = memoryview((bytes(range(251)) * (MAX_BYTES // 251 + 1))[:MAX_BYTES])
PIECE = 64 * 1024  # a large body goes out in pieces, each write awaiting the transport's flow control


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=b"hello, epoll\n", content_type="text/plain")


async def pattern_bytes(request: web.Request) -> web.StreamResponse:
    size = int(request.match_info["size"])
    if size > MAX_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BYTES, actual_size=size)
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = size
    await response.prepare(request)
    for start in range(0, size, PIECE):
        await response.write(PATTERN[start:min(start + PIECE, size)])
    await response.write_eof()
    return response


async def echo(request: web.Request) -> web.Response:
    # A declared length over the limit is refused before any of the body is read.
    if request.content_length is not None and request.content_length > MAX_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BYTES, actual_size=request.content_length)
    return web.Response(body=await request.read(), content_type="application/octet-stream")


def make_app() -> web.Application:
    app = web.Application(client_max_size=MAX_BYTES)
    app.add_routes([web.get("/", hello), web.get(r"/bytes/{size:\d{1,9}}", pattern_bytes), web.post("/echo", echo)])
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="0.0.0.0", port=8080, backlog=4096, access_log=None, keepalive_timeout=5,
                shutdown_timeout=10, print=None)
