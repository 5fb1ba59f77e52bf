"""The bug zoo: which cases should catch each broken variant of the bundled server, and with which checks.

Each variant runs only the cases that reach its mistake (a focused subset keeps CI short), in the
trigger mode where the mistake shows, on a fresh target process per case.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ZooEntry:
    bug: str
    trigger: str
    cases: tuple[str, ...]
    catches: frozenset[str]  # the checks expected to flag it (at least one must)
    symptom: str


ZOO: tuple[ZooEntry, ...] = (
    ZooEntry("no_eof_check", "level", ("connect_and_close",), frozenset({"cpu_spin", "close_wait", "fd_leak"}),
             "recv() == b'' never closes: the level-triggered fd stays readable, the loop spins, CLOSE_WAIT piles up"),
    ZooEntry("leak_on_disconnect", "level", ("connect_and_close",), frozenset({"fd_leak", "close_wait"}),
             "sockets unregistered but never closed: fds and CLOSE_WAIT sockets grow until EMFILE"),
    ZooEntry("unguarded_io", "level", ("reset_mid_response", "reset_mid_request"), frozenset({"crash"}),
             "one client's RST raises ConnectionResetError out of the loop: the server dies"),
    ZooEntry("ignore_send_count", "level", ("slow_reader", "post_body"), frozenset({"stall", "wrong_response"}),
             "partial sends are dropped: large responses arrive truncated and the client waits forever"),
    ZooEntry("unbounded_headers", "level", ("header_flood", "huge_headers"),
             frozenset({"memory_growth", "wrong_response"}),
             "no header limit: a client grows the server's memory at will, and oversized heads are accepted"),
    ZooEntry("no_timeouts", "level", ("slowloris", "connect_and_idle"), frozenset({"no_timeout"}),
             "slowloris and idle connections are held forever: a few hundred exhaust the server"),
    ZooEntry("edge_single_recv", "edge", ("fast_sender", "post_body"), frozenset({"stall"}),
             "one recv() per edge leaves bytes unread with no new edge coming: requests hang"),
    ZooEntry("emfile_ignored", "level", ("fd_exhaustion",), frozenset({"cpu_spin"}),
             "EMFILE on accept is swallowed: the listening socket stays readable and the loop spins at 100%"),
    # -- the second zoo (issue 10); sources are cited in server/bugs.py ------------------------------------
    ZooEntry("pipeline_drop", "level", ("pipelined", "fast_sender"), frozenset({"stall", "wrong_response"}),
             "the read buffer is emptied after each request: 1 of 20 pipelined requests is answered"),
    ZooEntry("epollout_idle", "level", ("fd_exhaustion", "idle_connections_2000"), frozenset({"cpu_spin"}),
             "EPOLLOUT registered with nothing to send: every held connection wakes the loop, which spins"),
    ZooEntry("accept_once", "edge", ("connect_storm",), frozenset({"stall", "slow_canary"}),
             "one accept per edge: a burst leaves connections in the backlog until another one arrives"),
    ZooEntry("hup_closes_now", "level", ("half_close",), frozenset({"stall", "wrong_response"}),
             "a request followed by SHUT_WR is closed unanswered (or reset): the half-closed client loses it"),
    ZooEntry("idle_from_accept", "level", ("keepalive_pauses",), frozenset({"stall"}),
             "the keep-alive deadline counts from accept: a busy connection is cut off after 5 s"),
    ZooEntry("no_idle_timeout", "level", ("blackholed_idle_client",), frozenset({"stale_connection"}),
             "no idle deadline: a kept-alive peer that vanishes (no FIN, no RST) holds its connection forever; "
             "only a packet fault shows it, since every other client leaves by itself"),
    ZooEntry("no_backpressure", "level", ("pipelined_large_responses",), frozenset({"memory_growth"}),
             "responses are queued however much output waits: 2,000 pipelined 64 KiB GETs hold 125 MiB"),
    ZooEntry("no_linger", "edge", ("body_after_error",), frozenset({"stall", "wrong_response"}),
             "the 413 is followed by close() with the body still arriving: an RST instead of the 413"),
    ZooEntry("chunk_list", "level", ("tiny_chunks",), frozenset({"memory_growth"}),
             "a chunked body kept as a list of 2-byte objects: a 2 MB body costs ~36 MiB"),
    ZooEntry("no_host_check", "level", ("rfc_host_missing", "rfc_host_duplicate_differing"),
             frozenset({"wrong_response"}),
             "requests without Host, with two, or with an invalid one are served with 200"),
    ZooEntry("head_error_body", "edge", ("rfc_head_error",), frozenset({"wrong_response"}),
             "the 400 to a HEAD request carries a body: bytes where no response may be"),
    # -- the third zoo (issue 21): loop-level mistakes that only the whole-case checks see ----------------------
    ZooEntry("floored_timeout", "level", ("slowloris", "connect_and_idle"), frozenset({"cpu_spin"}),
             "the epoll timeout floored to whole seconds: the loop spins through the last second before each "
             "deadline of the held connections, idle between"),
    ZooEntry("poll_1ms", "level", ("connect_and_idle",), frozenset({"cpu_spin"}),
             "the loop polls every 1 ms: ~1000 wakeups/s and a few % of a core with nothing to do"),
    # Cases of 7 s and more: one 0.5 s stall could be a loaded machine's hiccup, three in 7.5 s are not.
    ZooEntry("periodic_stall", "level", ("keepalive_pauses", "busy_connection"), frozenset({"slow_canary"}),
             "the loop blocks 0.5 s every 2 s: closed-loop canary samples stay short, open-loop ones wait"),
    ZooEntry("fin_waits_for_idle_timer", "level", ("well_behaved", "pipelined"), frozenset({"close_wait", "fd_leak"}),
             "a FIN between requests waits for the 5 s idle timer: CLOSE_WAIT outlives the prompt (1 s) bound"),
    ZooEntry("stale_timer", "level", ("busy_connection",), frozenset({"stall"}),
             "a closed connection's deadline stays armed and timers name connections by fd: it fires on the next "
             "connection with that fd, which is cut off mid-sequence"),
    ZooEntry("leak_per_connection", "level", ("connection_rounds",), frozenset({"memory_growth"}),
             "1 KiB kept for every connection ever accepted: memory grows round after round of the same storm"),
    ZooEntry("worker_respawn", "level", ("reset_mid_response", "reset_mid_request"), frozenset({"crash"}),
             "a client's RST kills the worker and its supervisor forks a new one: the container stays up, the "
             "listening process's pid and start time change"),
    ZooEntry("transient_peak", "level", ("header_flood",), frozenset({"memory_growth"}),
             "the head is buffered whole before parsing: a 64 MiB header peaks at 64 MiB or more, freed within "
             "a fraction of a second (only the peak, VmHWM, shows it)"),
    # -- issue 23: a mistake in the keep-alive fast path, which every variant shares with the clean server ----
    ZooEntry("quick_stale_deadline", "level", ("keepalive_pauses",), frozenset({"stall"}),
             "the fast path answers without moving the idle deadline: the 4th of 5 requests 1.5 s apart (all but "
             "the first on the fast path) comes after the first's 5 s deadline, and the connection is cut off"),
)

BY_BUG = {entry.bug: entry for entry in ZOO}


def clean_pairs() -> list[tuple[str, str]]:
    """(case, trigger) pairs the clean server must pass: every pair some variant is judged on."""
    return sorted({(case, entry.trigger) for entry in ZOO for case in entry.cases})
