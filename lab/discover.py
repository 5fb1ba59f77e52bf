"""Discover a server's contract from outside: its small route, an echo and a large route if cheap to find,
and its header, idle and write deadlines measured with one bounded slow client each. No Docker here: every
function takes the host and port it talks to (`python -m lab profile init` brings the server up in a lab).

Probing is cheap and safe: the server runs in a throwaway lab, a probe is one GET or one POST of at most
1 MiB, and the one large GET is bounded in bytes and time. What a probe does not find is left out of the
draft, with the reason, for the user to declare.
"""

from __future__ import annotations

import hashlib
import http.client
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# How long each slow client waits before it concludes "no deadline": a bit over the lab's documented ceilings
# (a 30 s head, a 60 s idle or stalled write), so that a server at the ceiling is still measured.
HEADER_LIMIT_S = 35.0
IDLE_LIMIT_S = 65.0
WRITE_LIMIT_S = 65.0
PROBE_TIMEOUT_S = 10.0
LARGE_LIMIT_BYTES = 64 << 20  # the one large GET reads no more than this
# A response must outsize what the kernels buffer between the two ends (the server's send buffer, tcp_wmem's
# 4 MiB at most, plus the client's receive buffer, kept small below) before a client that stops reading stalls
# the server's writes at all.
MIN_STALLING_BYTES = 8 << 20
CLIENT_RCVBUF = 64 * 1024
LAB_LARGE_PROBE = "/bytes/1024"  # the lab's own large-route convention, tried when the user names none
LAB_LARGE_SIZES = (1024, 65536, 1048576, 4194304, 16777216)
ECHO_CANDIDATES = ("/echo",)
ECHO_PROBE = bytes(range(256)) * 4
ECHO_MAX_PROBE = 1 << 20


@dataclass(frozen=True)
class Finding:
    """One value of the draft and how it was found: measured, or why it is a guess or absent."""

    value: float | bool | None  # seconds, or yes/no (keep-alive); None: none seen, or not measured
    how: str


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    keep_alive: bool


def fetch(host: str, port: int, method: str, path: str, body: bytes = b"", *, timeout: float = PROBE_TIMEOUT_S,
          limit: int = LARGE_LIMIT_BYTES) -> Response:
    """One request on a fresh connection; raises OSError or http.client.HTTPException."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path, body=body or None, headers={"Connection": "close"})
        response = connection.getresponse()
        data = response.read(limit)
        return Response(response.status, data, not response.will_close)
    finally:
        connection.close()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the peer closes (EOF, a reset, or an answer such as a 408 and then EOF) within `seconds`."""
    ready, _, _ = select.select([sock], [], [], max(0.0, seconds))
    if not ready:
        return False
    try:
        while sock.recv(65536):
            pass  # an error response: read on to its close
    except (TimeoutError, BlockingIOError):
        return False
    except OSError:
        pass  # reset
    return True


def measure_header(host: str, port: int, *, limit_s: float = HEADER_LIMIT_S, interval_s: float = 1.0) -> Finding:
    """A request head sent one byte a second (a header line that never ends) until the server closes."""
    with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S) as sock:
        sock.settimeout(1.0)
        started = time.monotonic()
        head = b"GET / HTTP/1.1\r\nHost: lab\r\nX-Slow: " + b"a" * int(limit_s / interval_s + 1)
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break  # reset before this byte: closed
            left = limit_s - (time.monotonic() - started)
            if left <= 0:
                break
            if _closed_within(sock, min(interval_s, left)):
                break
        else:
            left = 0
        elapsed = time.monotonic() - started
        if left <= 0:
            return Finding(None, f"measured: no header deadline; a head sent one byte a second was still read "
                                 f"after {limit_s:g} s")
    return Finding(round(elapsed, 1), f"measured: a head sent one byte a second was cut off after {elapsed:.1f} s")


def measure_idle(host: str, port: int, path: str = "/", *, limit_s: float = IDLE_LIMIT_S) -> Finding:
    """One keep-alive request answered whole, then nothing: how long until the server closes."""
    connection = http.client.HTTPConnection(host, port, timeout=PROBE_TIMEOUT_S)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.will_close or connection.sock is None:
            return Finding(None, "measured: the server closes after each response (no keep-alive)")
        started = time.monotonic()
        if not _closed_within(connection.sock, limit_s):
            return Finding(None, f"measured: no idle deadline; a kept-alive connection was still open after "
                                 f"{limit_s:g} s")
        elapsed = time.monotonic() - started
        return Finding(round(elapsed, 1), f"measured: a kept-alive connection was closed after {elapsed:.1f} s idle")
    finally:
        connection.close()


# First pass: stalls on their own connections at once; then a second pass, every 0.5 s (1 s above 20 s)
# between the longest whole and the shortest cut, when that bracket ends by FINE_UNTIL_S (the second pass
# costs as long again). Two passes hold at most ten large responses at once on the server, not thirty.
COARSE_RUNGS = (2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
FINE_UNTIL_S = 30.0


def fine_rungs(whole_at: float, cut_at: float) -> list[float]:
    """The stalls strictly between a whole one and a cut one: every 0.5 s up to 20 s, every second above."""
    step = 0.5 if cut_at <= 20 else 1.0
    return [whole_at + step * i for i in range(1, round((cut_at - whole_at) / step))]


def _stalled_response_complete(host: str, port: int, path: str, stall_s: float, cut: threading.Event,
                               ) -> bool | None:
    """GET path, read its head, stop reading for stall_s, then read the rest: True when it arrived whole,
    False when cut short, None when not tried (a shorter stall was already cut: `cut` is set)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)  # before connecting: a small window
    sock.settimeout(PROBE_TIMEOUT_S)
    try:
        sock.connect((host, port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return False
            data += chunk
        head, _, got = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        if length is None:
            raise ValueError(f"GET {path}: no Content-Length; the write deadline is measured on a sized response")
        if cut.wait(stall_s):
            return None
        received = len(got)
        sock.settimeout(30.0)  # the rest arrives at loopback speed
        while received < length:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
        return received >= length
    except (ConnectionResetError, BrokenPipeError):
        return False
    finally:
        sock.close()


def _ladder(host: str, port: int, path: str, rungs: list[float], limit_s: float,
            errors: list[Exception]) -> dict[float, bool | None]:
    """Each stall on its own connection, all at once: stall -> arrived whole (None: not tried or failed)."""
    cut = threading.Event()
    outcomes: dict[float, bool | None] = {}

    def rung(stall_s: float) -> None:
        try:
            outcomes[stall_s] = _stalled_response_complete(host, port, path, stall_s, cut)
        except (OSError, ValueError) as error:
            errors.append(error)
            outcomes[stall_s] = None
        if outcomes[stall_s] is False:
            cut.set()  # every longer stall would be cut too: they stop waiting

    threads = [threading.Thread(target=rung, args=(stall,), daemon=True) for stall in rungs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(limit_s + 60)
    return outcomes


def _bracket(outcomes: dict[float, bool | None]) -> tuple[float, float | None]:
    """(the longest stall that arrived whole below the shortest cut one, that cut one or None)."""
    cut_at = min((stall for stall, whole in outcomes.items() if whole is False), default=None)
    whole_at = max((stall for stall, whole in outcomes.items() if whole and (cut_at is None or stall < cut_at)),
                   default=0.0)
    return whole_at, cut_at


def measure_write(host: str, port: int, path: str, size: int, *, limit_s: float = WRITE_LIMIT_S,
                  coarse: tuple[float, ...] = COARSE_RUNGS) -> Finding:
    """A large response left unread: how long a stall the server tolerates before giving the response up.

    A client that stops reading cannot see the server give up until it reads again (the server's kernel still
    holds what it had queued), so each stall length runs on its own connection and then reads the rest: the
    deadline lies between the longest stall whose response arrived whole and the shortest one cut short.
    """
    if size < MIN_STALLING_BYTES:
        return Finding(None, f"not measured: the large route's {size} bytes fit in the kernels' buffers (a "
                             f"stalled write needs more than {MIN_STALLING_BYTES >> 20} MiB)")
    rungs = sorted({*(rung for rung in coarse if rung < limit_s), limit_s})
    errors: list[Exception] = []
    outcomes = _ladder(host, port, path, rungs, limit_s, errors)
    whole_at, cut_at = _bracket(outcomes)
    if cut_at is not None and cut_at <= FINE_UNTIL_S:
        outcomes |= _ladder(host, port, path, fine_rungs(whole_at, cut_at), limit_s, errors)
        whole_at, cut_at = _bracket(outcomes)
    if errors and not any(outcome is not None for outcome in outcomes.values()):
        return Finding(None, f"not measured: {type(errors[0]).__name__}: {errors[0]}")
    if cut_at is None:
        return Finding(None, f"measured: no write deadline; a response left unread for {max(rungs):g} s still "
                             "arrived whole")
    estimate = round((whole_at + cut_at) / 2, 1)
    return Finding(estimate, f"measured: a response left unread for {whole_at:g} s arrived whole, for "
                             f"{cut_at:g} s it was cut short")


def in_parallel(tasks: dict[str, Callable[[], Finding]]) -> dict[str, Finding]:
    """Run the slow measurements at once (the longest bounds the time), each failure a finding of its own."""
    found: dict[str, Finding] = {}

    def run(name: str, task: Callable[[], Finding]) -> None:
        try:
            found[name] = task()
        except (OSError, http.client.HTTPException, ValueError) as error:
            found[name] = Finding(None, f"not measured: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in tasks.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


@dataclass(frozen=True)
class Discovered:
    image: str
    port: int
    small_path: str
    small: Response
    large: tuple[str, int, str | None] | None  # (path, size, sha256; None: the lab's i % 251 pattern)
    large_how: str
    echo: tuple[str, int] | None  # (path, max_bytes measured)
    echo_how: str
    deadlines: dict[str, Finding]  # header_s, idle_s, write_s
    keep_alive: Finding


def find_large(host: str, port: int, path: str | None) -> tuple[tuple[str, int, str | None] | None, str]:
    """The user's large path fetched once (its size and sha256), else the lab's /bytes/{size} tried at 1 KiB."""
    if path is not None:
        got = fetch(host, port, "GET", path, timeout=60.0)
        if got.status != 200 or not got.body:
            return None, f"GET {path} answered {got.status} with {len(got.body)} bytes"
        return (path, len(got.body), hashlib.sha256(got.body).hexdigest()), f"measured: GET {path} fetched once"
    got = fetch(host, port, "GET", LAB_LARGE_PROBE)
    if got.status == 200 and got.body == (bytes(range(251)) * 5)[:1024]:
        return (LAB_LARGE_PROBE, 1024, None), (f"measured: GET {LAB_LARGE_PROBE} answered the lab's i % 251 pattern; "
                                               "the sizes are guessed")
    return None, f"not found: GET {LAB_LARGE_PROBE} answered {got.status} (name one with --large PATH)"


def find_echo(host: str, port: int, path: str | None) -> tuple[tuple[str, int] | None, str]:
    for candidate in ([path] if path is not None else list(ECHO_CANDIDATES)):
        got = fetch(host, port, "POST", candidate, ECHO_PROBE)
        if got.status == 200 and got.body == ECHO_PROBE:
            big = bytes(range(256)) * (ECHO_MAX_PROBE // 256)
            large = fetch(host, port, "POST", candidate, big, timeout=30.0)
            size = ECHO_MAX_PROBE if large.status == 200 and large.body == big else len(ECHO_PROBE)
            return (candidate, size), (f"measured: POST {candidate} echoed {size} bytes (larger bodies not tried: "
                                       "raise max_bytes to the server's limit)")
    tried = path or ", ".join(ECHO_CANDIDATES)
    return None, f"not found: POST {tried} did not echo a 1 KiB body (name one with --echo PATH)"


def discover(image: str, host: str, port: int, *, target_port: int, small_path: str = "/",
             large_path: str | None = None, echo_path: str | None = None,
             limits: tuple[float, float, float] = (HEADER_LIMIT_S, IDLE_LIMIT_S, WRITE_LIMIT_S),
             write_coarse: tuple[float, ...] = COARSE_RUNGS) -> Discovered:
    """Everything `profile init` writes, found against a server listening at host:port."""
    small = fetch(host, port, "GET", small_path)
    large, large_how = find_large(host, port, large_path)
    echo, echo_how = find_echo(host, port, echo_path)
    header_limit, idle_limit, write_limit = limits
    tasks: dict[str, Callable[[], Finding]] = {
        "header_s": lambda: measure_header(host, port, limit_s=header_limit),
        "idle_s": lambda: measure_idle(host, port, small_path, limit_s=idle_limit)}
    if large is not None:
        path, size, digest = large
        if digest is None:  # the lab's convention: its largest size stalls a writer
            path, size = f"/bytes/{LAB_LARGE_SIZES[-1]}", LAB_LARGE_SIZES[-1]
        stalled_path, stalled_size = path, size
        tasks["write_s"] = lambda: measure_write(host, port, stalled_path, stalled_size, limit_s=write_limit,
                                                 coarse=write_coarse)
    found = in_parallel(tasks)
    deadlines = {"header_s": found["header_s"], "idle_s": found["idle_s"],
                 "write_s": found.get("write_s", Finding(None, "not measured: no large route known"))}
    idle = found["idle_s"]
    closes = "no keep-alive" in idle.how
    keep_alive = Finding(not closes, idle.how if closes else "measured: the connection stayed open after a response")
    return Discovered(image=image, port=target_port, small_path=small_path, small=small, large=large,
                      large_how=large_how, echo=echo, echo_how=echo_how, deadlines=deadlines, keep_alive=keep_alive)
