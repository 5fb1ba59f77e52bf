"""The lab's routes as a bare WSGI app: GET /, GET /bytes/N (byte i is i % 251), POST /echo."""

MAX_BYTES = 16 << 20
PIECE = 64 * 1024
PATTERN = memoryview((bytes(range(251)) * (MAX_BYTES // 251 + 1))[:MAX_BYTES])


def app(environ, start_response):
    method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
    status, body, content_type = "404 Not Found", b"not found\n", "text/plain"
    if method == "GET" and path == "/":
        status, body = "200 OK", b"hello, epoll\n"
    elif method == "GET" and path.startswith("/bytes/") and path[7:].isdigit():
        size = int(path[7:])
        if size > MAX_BYTES:
            status, body = "413 Content Too Large", b"too large\n"
        else:
            status, body, content_type = "200 OK", PATTERN[:size], "application/octet-stream"
    elif method == "POST" and path == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BYTES:
            status, body = "413 Content Too Large", b"too large\n"
        else:
            status, body, content_type = "200 OK", environ["wsgi.input"].read(length), "application/octet-stream"
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    # A large body goes out in pieces: one bytes copy of it would be the server's memory.
    return (bytes(body[start:start + PIECE]) for start in range(0, len(body), PIECE))
