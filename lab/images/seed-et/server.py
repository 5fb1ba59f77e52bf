"""The seed blog post's server made edge-triggered, reimplemented faithfully: its bugs are kept on purpose.

The post (../shared/seed/, in Chinese, after "How To Use Linux epoll with Python") explains edge-triggered
mode in words only ("the caller must handle all the data of the event") and shows level-triggered code.
This is that code as its reader turns it edge-triggered: EPOLLET added wherever a connection is registered
or modified, and everything else unchanged, so each EPOLLIN edge still gets exactly one `recv(1024)` and
each EPOLLOUT edge one `send`. (The English article's own edge-triggered example loops until EAGAIN;
this one follows the post.) The listener stays level-triggered, one `accept` per event, as in the post.

Its bugs (docs/board.md lists what each does to a client):
- one `recv(1024)` per edge: a request head longer than 1024 bytes that arrives at once leaves the rest in
  the kernel, no new edge comes, and the connection waits forever;
- no deadline of any kind, so nothing ends such a connection, nor a client that never finishes its head;
- EOF is never looked for: b"" is appended once, no further edge comes, and a half-closed connection stays
  in CLOSE_WAIT for good (edge-triggered, so no CPU spin, unlike the level-triggered server);
- no error handling: ECONNRESET from `recv` or EPIPE from `send` ends the whole server, as does a request
  that is not UTF-8 (the request is decoded to be printed);
- the same 13-byte HTTP/1.0 response to every request, and the body of a POST is never read;
- `listen(1)`, and request and response buffers that are never removed.
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
                    poller.register(client.fileno(), select.EPOLLIN | select.EPOLLET)
                    sockets[client.fileno()] = client
                    received[client.fileno()] = b""
                    unsent[client.fileno()] = RESPONSE
                elif mask & select.EPOLLIN:
                    received[fd] += sockets[fd].recv(1024)
                    if any(blank in received[fd] for blank in BLANK_LINES):
                        poller.modify(fd, select.EPOLLOUT | select.EPOLLET)
                        print("-" * 40 + "\n" + received[fd].decode()[:-2])
                elif mask & select.EPOLLOUT:
                    sent = sockets[fd].send(unsent[fd])
                    unsent[fd] = unsent[fd][sent:]
                    if not unsent[fd]:
                        poller.modify(fd, select.EPOLLET)
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
