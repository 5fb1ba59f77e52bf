"""The lab's routes on aiohttp.web: GET /, GET /bytes/N (byte i is i % 251), POST /echo.

aiohttp's server has one deadline setting, keepalive_timeout (5 s), which also ends a connection whose
request head is still incomplete after it. Nothing bounds the body or a response the client stops reading.
"""

from aiohttp import web

MAX_BYTES = 16 << 20
PATTERN = (bytes(range(251)) * (MAX_BYTES // 251 + 1))[:MAX_BYTES]


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=b"hello, epoll\n", content_type="text/plain")


async def pattern_bytes(request: web.Request) -> web.Response:
    size = int(request.match_info["size"])
    if size > MAX_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BYTES, actual_size=size)
    return web.Response(body=PATTERN[:size], content_type="application/octet-stream")


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), content_type="application/octet-stream")


def make_app() -> web.Application:
    app = web.Application(client_max_size=MAX_BYTES)
    app.add_routes([web.get("/", hello), web.get(r"/bytes/{size:\d{1,9}}", pattern_bytes), web.post("/echo", echo)])
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="0.0.0.0", port=8080, backlog=4096, access_log=None, keepalive_timeout=5,
                shutdown_timeout=10, print=None)
