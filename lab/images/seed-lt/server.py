"""The seed blog post's level-triggered epoll server, reimplemented faithfully: its bugs are kept on purpose.

The post (../shared/seed/, in Chinese, after "How To Use Linux epoll with Python") shows one server: a
listener and its connections registered level-triggered, one `recv(1024)` per EPOLLIN, a request taken as
complete once a blank line appears anywhere in what was read, then EPOLLOUT, one `send` per event, and
`shutdown(SHUT_RDWR)` once the fixed response is out; the socket is closed when EPOLLHUP follows.

Kept as the post has them (docs/board.md lists what each does to a client):
- no deadline of any kind: a client that never finishes its head holds its connection forever;
- EOF is never looked for: `recv` returning b"" on a half-closed connection is appended and the level-
  triggered EPOLLIN fires again at once, so the loop spins at full CPU and the socket stays in CLOSE_WAIT;
- no error handling: ECONNRESET from `recv` or EPIPE from `send` ends the whole server, as does a request
  that is not UTF-8 (the request is decoded to be printed);
- the same 13-byte HTTP/1.0 response to every request, whatever its method, path or body, and the body of a
  POST is never read;
- `listen(1)`: a backlog of one;
- the per-connection request and response buffers are never removed (only the socket is), so they grow
  with every connection ever served.
"""

import select
import socket

BLANK_LINES = (b"\n\n", b"\n\r\n")
RESPONSE = (b"HTTP/1.0 200 OK\r\nDate: Mon, 1 Jan 1996 01:01:01 GMT\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!")


def serve(port: int = 8080) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(1)
    listener.setblocking(False)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    sockets: dict[int, socket.socket] = {}
    received: dict[int, bytes] = {}
    unsent: dict[int, bytes] = {}
    try:
        while True:
            for fd, mask in poller.poll(1):
                if fd == listener.fileno():
                    client, _ = listener.accept()
                    client.setblocking(False)
                    poller.register(client.fileno(), select.EPOLLIN)
                    sockets[client.fileno()] = client
                    received[client.fileno()] = b""
                    unsent[client.fileno()] = RESPONSE
                elif mask & select.EPOLLIN:
                    received[fd] += sockets[fd].recv(1024)
                    if any(blank in received[fd] for blank in BLANK_LINES):
                        poller.modify(fd, select.EPOLLOUT)
                        print("-" * 40 + "\n" + received[fd].decode()[:-2])
                elif mask & select.EPOLLOUT:
                    sent = sockets[fd].send(unsent[fd])
                    unsent[fd] = unsent[fd][sent:]
                    if not unsent[fd]:
                        poller.modify(fd, 0)
                        sockets[fd].shutdown(socket.SHUT_RDWR)
                elif mask & select.EPOLLHUP:
                    poller.unregister(fd)
                    sockets.pop(fd).close()
    finally:
        poller.unregister(listener.fileno())
        poller.close()
        listener.close()


if __name__ == "__main__":
    serve()
