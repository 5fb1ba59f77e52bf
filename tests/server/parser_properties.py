"""The parser's fuzzing properties, without atheris: used by the fuzzer and by the normal tests.

For any bytes followed by end of input:

- fed whole and fed byte by byte, the parser gives the same events (adjacent ``Data`` merged) and
  ends the same way (the same ``ProtocolError`` status, or none);
- nothing but ``ProtocolError`` escapes ``next_event``.
"""

from __future__ import annotations

from server.http.parser import ConnectionClosed, Data, Event, Limits, ProtocolError, RequestParser

# Small limits so that the limit paths are reached by short inputs too.
LIMITS = Limits(max_request_line=64, max_header_bytes=128, max_body_bytes=256)

SEEDS = (
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"HEAD /x?y HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: [::1]:80\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
    b"GET http://a:1/p?q HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\nGET / HTTP/1.1\nHost: t\n\n",
)

Outcome = tuple[list[Event], int | None]


def run(chunks: list[bytes]) -> Outcome:
    """The events for ``chunks`` then end of input, adjacent Data merged, and the error status if any."""
    parser = RequestParser(LIMITS)
    events: list[Event] = []
    try:
        for chunk in [*chunks, b""]:
            parser.receive_data(chunk)
            while (event := parser.next_event()) is not None:
                if isinstance(event, Data) and events and isinstance(events[-1], Data):
                    events[-1] = Data(events[-1].data + event.data)
                else:
                    events.append(event)
                if isinstance(event, ConnectionClosed):
                    return events, None
    except ProtocolError as err:  # anything else escapes: a failure
        return events, err.status
    return events, None


def check(data: bytes) -> None:
    whole = run([data])
    split = run([data[i : i + 1] for i in range(len(data))])
    if whole != split:
        raise AssertionError(f"whole {whole!r} != byte by byte {split!r} for {data!r}")
