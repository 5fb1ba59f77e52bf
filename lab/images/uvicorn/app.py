"""The lab's routes as a bare ASGI app: GET /, GET /bytes/N (byte i is i % 251), POST /echo."""

MAX_BYTES = 16 << 20
PATTERN = memoryview((bytes(range(251)) * (MAX_BYTES // 251 + 1))[:MAX_BYTES])


PIECE = 64 * 1024  # a large body goes out in pieces: one bytes copy of it would be the server's memory


async def respond(send, status, body, content_type=b"application/octet-stream"):
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    for start in range(0, max(len(body), 1), PIECE):
        last = start + PIECE >= len(body)
        await send({"type": "http.response.body", "body": bytes(body[start:start + PIECE]), "more_body": not last})


async def read_body(receive):
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_BYTES:
            return None
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    method, path = scope["method"], scope["path"]
    if method == "GET" and path == "/":
        await respond(send, 200, b"hello, epoll\n", b"text/plain")
    elif method == "GET" and path.startswith("/bytes/") and path[7:].isdigit():
        size = int(path[7:])
        if size > MAX_BYTES:
            await respond(send, 413, b"too large\n", b"text/plain")
        else:
            await respond(send, 200, PATTERN[:size])
    elif method == "POST" and path == "/echo":
        # A declared length over the limit is refused before any of the body is read.
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        body = await read_body(receive) if not declared.isdigit() or int(declared) <= MAX_BYTES else None
        if body is None:
            await respond(send, 413, b"too large\n", b"text/plain")
        else:
            await respond(send, 200, body)
    else:
        await respond(send, 404, b"not found\n", b"text/plain")
