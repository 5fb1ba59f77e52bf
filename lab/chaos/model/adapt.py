"""A catalog case fitted to a target profile, or skipped with the reason: pure, no Docker.

The catalog speaks the bundled server's contract (GET / and its hello, GET /bytes/N with the i % 251
pattern, POST /echo, deadlines of 2 s, 5 s and 5 s, a 10 s graceful stop). `adapt` rewrites each client
run to the routes a profile declares (the clients' `path`, `echo_path` and `expect_body` attributes),
derives cut-offs, settle times and the stop deadline from its own, and returns a Skip, never a case bound
to fail or to error, when a need is unmet.

Adaptation never changes what a case means: where the only fitting large size is far larger than the case
asks for, its request counts (or a paced reader's pace) are scaled to keep its bytes and its duration, or
the case is skipped with that reason. A deadline the profile does not declare is not a skip: the case runs,
and a connection the server still holds when the client's bounded run ends fails `no_timeout` (only an
`[[exclude]]` with a reason skips it).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass, replace

from lab.chaos.model.scenario import (
    DEADLINE_CEILINGS_S,
    GRACE_S,
    IDLE_TIMEOUT_S,
    ROUND_QUIET_SLACK_S,
    ClientRun,
    Deadline,
    Expect,
    Scenario,
    StopTarget,
    attribute_text,
)
from lab.profiles import LAB_PATTERN, Deadlines, Profile

BUNDLED_HELLO = b"hello, epoll\n"
BUNDLED_LARGE = "/bytes/{size}"
BUNDLED_ECHO = "/echo"
DEFAULT_SETTLE_S = IDLE_TIMEOUT_S + GRACE_S
_BYTES_PATH = re.compile(r"^/bytes/(\d+)$")

# Behaviours that hold their connection mid-request (a slow head or body): a target that closes after each
# response still holds these while a fault waits for them. A slow reader holds it only while the response
# is larger than the kernel takes into its buffers (tcp_wmem's 4 MiB): a smaller one is written whole, the
# socket closed, and it leaves ESTABLISHED (FIN_WAIT) however slowly the client reads (gunicorn, seen).
HOLDING_BEHAVIOURS = frozenset({"slow_body", "slowloris", "connect_and_idle"})
KERNEL_BUFFERED_BYTES = 8 << 20
# Behaviours that always POST a body to the echo route (their `path` attribute, /echo by default).
ECHO_BEHAVIOURS = frozenset({"fragmented", "slow_body"})
# ...and ones that send only part of such a POST, then go away (no answer judged: any route will do).
PARTIAL_POST_BEHAVIOURS = frozenset({"abort_mid_request", "reset_mid_request"})
# Behaviours that read a prefix of a large response, then go away: they move `after_bytes`, whatever its size.
PREFIX_READERS = frozenset({"reset_mid_response", "close_after_partial_response"})
# Behaviours whose keep-alive sequence (`requests`) can be shortened to keep a case's bytes.
COUNTED_BEHAVIOURS = frozenset({"well_behaved", "pipelined"})
MALFORMED_ROUTES = {"query_string": "large", "tiny_chunks": "echo", "body_after_error": "echo",
                    "absolute_form": "small"}
MALFORMED_POSTS = frozenset({"cl_and_te", "negative_cl", "conflicting_cl", "http10_te",
                             "te_not_final_chunked_identity", "te_not_final_identity", "te_not_final_chunked_gzip"})

# Sizes: a case asks for a response size; the profile may offer only larger ones. A case's bytes may grow up to
# BYTES_GROWTH times what it asks (a fitting size at most twice as large keeps the case as it is)...
BYTES_GROWTH = 2
# ...or up to one response of this size: the catalog asks it of every server (bandwidth_16mib, half_close,
# stopped_reader), and it takes 2 s at the lab's slowest rate (bandwidth_16mib's 8 MB/s), inside every case's
# budget. Beyond, a case's counts are scaled down, a paced reader's pace up, or the case is skipped.
ONE_LARGE_RESPONSE = 16 << 20


@dataclass(frozen=True)
class Skip:
    """A case that does not apply to a target, and why (shown on the board and by `lab check`)."""

    case: str
    reason: str


class _Unmet(Exception):
    """A need the profile does not meet; becomes a Skip."""


def adapt(scenario: Scenario, profile: Profile) -> Scenario | Skip:
    """The case as it runs against `profile`'s target, or why it is skipped there."""
    try:
        return _round_quiet(_adapt(scenario, profile), profile)
    except _Unmet as unmet:
        return Skip(scenario.id, str(unmet))


def _adapt(scenario: Scenario, profile: Profile) -> Scenario:
    excluded = profile.excluded(scenario.id)
    if excluded is not None:
        raise _Unmet(f"excluded by the profile: {excluded}")
    if "stats" in scenario.requires and profile.trigger is None:
        raise _Unmet("needs the bundled server's /__lab/stats")
    if "deadlines" in scenario.requires and profile.trigger is None:
        raise _Unmet("needs a deadline the lab sets on the bundled server only (its idle timeout, accept queue)")
    undeclared = sorted(d for d in scenario.needs_deadlines if _declared_s(profile.deadlines, d) is None)
    if profile.trigger is not None and profile.trigger not in scenario.triggers:
        raise _Unmet(f"runs in the {', '.join(scenario.triggers)} mode only; the profile's is {profile.trigger}")
    fitted = [_client(run, profile) for run in scenario.clients]
    clients = tuple(run for run, _ in fitted)
    held_cpu = scenario.held_cpu
    pace = max((factor for _, factor in fitted), default=1.0)
    if held_cpu is not None and pace != 1.0:  # a paced reader scaled up moves that much more data a second
        held_cpu = replace(held_cpu, mib_per_s=held_cpu.mib_per_s * pace)
    if scenario.fault is not None and getattr(scenario.fault, "when_established", None) and not profile.keep_alive:
        idle_after = [run.behaviour for run in clients if not _holds(run)]
        if idle_after:
            raise _Unmet(f"the fault waits for held connections, and the target closes after each response "
                         f"(keep_alive = false), so {idle_after[0]} connections need not be held")
    fault = scenario.fault
    if isinstance(fault, StopTarget):
        fault = replace(fault, deadline_s=profile.stop_s)
    summary = scenario.summary
    if undeclared:  # run anyway: the target holds such connections for good, and the settle checks show it
        summary += f" (the profile declares no {' or '.join(undeclared)} deadline: judged as having none)"
    small = profile.routes.small
    return replace(scenario, summary=summary, clients=clients, fault=fault, held_cpu=held_cpu,
                   limits=replace(scenario.limits, settle_s=_settle_s(scenario.limits.settle_s, profile.deadlines)),
                   canary_path=small.path, canary_body=small.body, replaces_workers=profile.replaces_workers)


def _round_quiet(scenario: Scenario, profile: Profile) -> Scenario:
    """A case played in rounds reads the target once its declared connection deadlines have come due after a
    round: a server may keep a closed connection until then (a timer entry dropped when due), which is no leak.
    The bundled server (a profile with a trigger) runs with the case's own deadlines, which its quiet time fits."""
    deadlines = profile.deadlines
    declared = [seconds for seconds in (deadlines.header_s, deadlines.idle_s) if seconds is not None]
    if scenario.rounds < 2 or not declared or profile.trigger is not None:
        return scenario
    return replace(scenario, round_quiet_s=max(scenario.round_quiet_s, max(declared) + ROUND_QUIET_SLACK_S))


def _holds(run: ClientRun) -> bool:
    """The client keeps its connection ESTABLISHED on a target that closes after each response."""
    if run.behaviour == "slow_reader":
        return int(str(run.resolved_attributes()["response_bytes"])) > KERNEL_BUFFERED_BYTES
    return run.behaviour in HOLDING_BEHAVIOURS


def _client(run: ClientRun, profile: Profile) -> tuple[ClientRun, float]:
    """The run as it goes to the profile's target, and how much faster a paced reader of it reads (1: as asked)."""
    attributes = dict(run.attributes)
    behaviour = run.behaviour
    pace = 1.0
    if not profile.keep_alive:
        per_connection = run.responses_per_connection()
        if per_connection is not None and per_connection > 1:
            raise _Unmet(f"needs keep-alive ({per_connection} responses on one connection); the target closes "
                         "after each response (keep_alive = false)")
        if behaviour == "flood" and attributes.get("idle") is False:
            raise _Unmet("holds kept-alive connections; the target closes after each response (keep_alive = false)")
    if behaviour in ECHO_BEHAVIOURS:
        attributes |= _echo_path(profile, _echo(profile, int(str(run.resolved_attributes()["body_bytes"]))))
    elif behaviour in PARTIAL_POST_BEHAVIOURS:
        if profile.routes.echo is not None:
            attributes |= _echo_path(profile, profile.routes.echo.path)
    elif behaviour in PREFIX_READERS:
        chosen = _large_size(profile, int(str(attributes["response_bytes"])))
        attributes["response_bytes"] = chosen
        if _large_path(profile, chosen) != f"/bytes/{chosen}":
            attributes["path"] = _large_path(profile, chosen)
    elif behaviour == "slow_reader":
        pace = _slow_reader(profile, run, attributes)
    elif behaviour == "malformed":
        _malformed(profile, str(attributes.get("variant", "")), attributes)
    elif behaviour in ("flood", "connect_storm") and (attributes.get("request") or attributes.get("idle") is False):
        attributes |= _small_attributes(profile)
    elif "path" in attributes or behaviour in ("well_behaved", "pipelined", "half_close"):
        attributes |= _path_attributes(profile, str(attributes.get("path", "/")), run, attributes)
    expect = _expect(run.expect, profile)
    if (expect.cut_off_s is not None and not expect.undeclared
            and run.max_duration_s() < expect.cut_off_s + GRACE_S):
        attributes["max_duration_s"] = expect.cut_off_s + GRACE_S  # the client outlasts the cut-off it watches
    adapted = replace(run, attributes=tuple(sorted(attributes.items())), expect=expect)
    adapted.resolved_attributes()  # a rewrite the clients would refuse is a lab bug: raise it here
    return adapted, pace


def _slow_reader(profile: Profile, run: ClientRun, attributes: dict[str, object]) -> float:
    """Fit a slow reader to the declared sizes; returns how much faster it now reads (1: its own pace)."""
    resolved = run.resolved_attributes()
    asked = int(str(resolved["response_bytes"]))
    chosen = _large_size(profile, asked)
    attributes |= {"response_bytes": chosen, **_large_attributes(profile, chosen)}
    if resolved["mode"] != "slow" or chosen <= BYTES_GROWTH * asked:
        return 1.0  # a stopped reader reads stop_after_bytes whatever the size
    _within_bytes(run.behaviour, asked, chosen, count=1, wanted=asked)
    # Its duration is the response over its pace (read_bytes every read_interval_ms, through rcvbuf_bytes):
    # read the larger response as many times faster, through a window as many times wider, and it keeps both
    # its duration and the number of reads the server must wait for.
    factor = chosen / asked
    read_bytes, rcvbuf_bytes = int(str(resolved["read_bytes"])), int(str(resolved["rcvbuf_bytes"]))
    scaled_read, scaled_rcvbuf = math.ceil(read_bytes * factor), math.ceil(rcvbuf_bytes * factor)
    if scaled_read > READ_BYTES_MAX or scaled_rcvbuf > RCVBUF_BYTES_MAX:
        raise _Unmet(f"reads {asked} bytes at its own pace; the profile's only fitting size is {chosen} bytes "
                     f"({factor:.0f}x), which no slow reader reads within the case's time")
    attributes |= {"read_bytes": scaled_read, "rcvbuf_bytes": scaled_rcvbuf}
    return factor


READ_BYTES_MAX = 1 << 20  # the slow_reader attributes' own maxima (clients/behaviours/slow.py)
RCVBUF_BYTES_MAX = 1 << 26


def _within_bytes(what: str, asked: int, chosen: int, *, count: int, wanted: int) -> None:
    """Skip a run whose `count` responses of `chosen` bytes move past what the case allows for its `wanted`."""
    moved = chosen * count
    if moved > max(BYTES_GROWTH * wanted, ONE_LARGE_RESPONSE):
        raise _Unmet(f"{what} asks {asked} bytes a response; the profile's only fitting size is {chosen} bytes "
                     f"({chosen / asked:.0f}x): {count} of them would move {moved} bytes where the case moves "
                     f"{wanted}, a different case")


def _echo_path(profile: Profile, path: str) -> dict[str, object]:
    return {} if path == BUNDLED_ECHO else {"path": path}


def _path_attributes(profile: Profile, path: str, run: ClientRun, attributes: dict[str, object],
                     ) -> dict[str, object]:
    if path == "/":
        return _small_attributes(profile)
    if path == BUNDLED_ECHO:
        echo = _echo(profile, int(str(run.resolved_attributes()["body_bytes"])))
        return {} if echo == BUNDLED_ECHO else {"path": echo, "echo_path": echo}
    found = _BYTES_PATH.match(path)
    if found:
        asked = int(found.group(1))
        chosen = _large_size(profile, asked)
        rewritten: dict[str, object] = {"path": _large_path(profile, chosen), **_large_attributes(profile, chosen)}
        if chosen <= BYTES_GROWTH * asked:
            return rewritten
        asked_requests = int(str(run.resolved_attributes().get("requests", 1)))
        requests = asked_requests
        if run.behaviour in COUNTED_BEHAVIOURS and requests > 1:
            # Fewer requests of the larger size keep the case's bytes (2,000 × 64 KiB: 8 × 16 MiB).
            requests = max(1, round(requests * asked / chosen))
            rewritten["requests"] = requests
        _within_bytes(run.behaviour, asked, chosen, count=requests, wanted=asked * asked_requests)
        return rewritten
    raise _Unmet(f"asks {path}, a route of the bundled server only")


def _small_attributes(profile: Profile) -> dict[str, object]:
    small = profile.routes.small
    if small.path == "/" and small.body == BUNDLED_HELLO:
        return {}  # the clients' own default: keep the case as it is
    if small.status != 200:
        raise _Unmet(f"needs a small GET answered 200; the profile's answers {small.status}")
    return {"path": small.path, "expect_body": _digest(small.body) if small.body is not None else "status"}


def _large_size(profile: Profile, size: int) -> int:
    """The declared size the case uses for its `size`: the smallest at least as large."""
    large = profile.routes.large
    if large is None:
        raise _Unmet(f"needs a large GET: {profile.routes.missing.get('large', 'none declared')}")
    fitting = [declared for declared in large.sizes if declared >= size]
    if not fitting:
        raise _Unmet(f"needs a large GET of at least {size} bytes; the profile's largest is {max(large.sizes)}")
    return min(fitting)


def _large_path(profile: Profile, size: int) -> str:
    assert profile.routes.large is not None
    return profile.routes.large.url_path(size)


def _large_attributes(profile: Profile, size: int) -> dict[str, object]:
    large = profile.routes.large
    assert large is not None
    path = large.url_path(size)
    if large.pattern == LAB_PATTERN and path == f"/bytes/{size}":
        return {}  # the clients know this route's body themselves
    digest = large.digest(size)
    if digest is not None:  # declared, or fetched by the preflight
        return {"path": path, "expect_body": f"{size}:{digest}"}
    if large.pattern is None:
        raise _Unmet(f"the large route's content ({path}) is not known: the preflight that fetches it once "
                     "(lab check, the session's start) did not run")
    return {"path": path, "expect_body": _pattern_digest(size)}


def _echo(profile: Profile, body_bytes: int) -> str:
    """The echo route's path, when it takes a body of `body_bytes`."""
    echo = profile.routes.echo
    if echo is None:
        raise _Unmet(f"needs an echo POST: {profile.routes.missing.get('echo', 'none declared')}")
    if body_bytes > echo.max_bytes:
        raise _Unmet(f"needs an echo of {body_bytes} bytes; the profile echoes up to {echo.max_bytes}")
    return echo.path


def _malformed(profile: Profile, variant: str, attributes: dict[str, object]) -> None:
    route = MALFORMED_ROUTES.get(variant)
    if route == "large":
        asked = int(str(attributes.get("size_bytes", 0)))
        chosen = _large_size(profile, asked)
        if chosen > BYTES_GROWTH * asked:
            _within_bytes(f"the {variant} probe", asked, chosen, count=1, wanted=asked)
        attributes["size_bytes"] = chosen
        rewritten = _large_attributes(profile, chosen)
        if rewritten:
            attributes |= {"path": rewritten["path"], "expect_body": rewritten["expect_body"]}
    elif route == "echo":
        attributes |= _echo_path(profile, _echo(profile, int(str(attributes.get("size_bytes", 0)))
                                                if variant == "tiny_chunks" else 0))
    elif route == "small":
        small = _small_attributes(profile)
        if small:
            attributes |= {"path": small["path"], "expect_body": small["expect_body"]}
    elif variant in MALFORMED_POSTS and profile.routes.echo is not None:
        attributes |= _echo_path(profile, profile.routes.echo.path)  # rejected for its framing, on the real route


def _expect(expect: Expect, profile: Profile) -> Expect:
    if expect.deadline is None:
        return expect
    ceiling = DEADLINE_CEILINGS_S[expect.deadline]
    seconds = _declared_s(profile.deadlines, expect.deadline)
    if seconds is None:  # judged at the ceiling, within the client's own bounded run
        return replace(expect, cut_off_s=ceiling + GRACE_S, undeclared=True)
    return replace(expect, cut_off_s=min(seconds, ceiling) + GRACE_S)


def _declared_s(deadlines: Deadlines, deadline: Deadline) -> float | None:
    seconds: float | None = getattr(deadlines, f"{deadline}_s")
    return seconds


def _settle_s(settle_s: float, deadlines: Deadlines) -> float:
    """A case that waits out the server's deadlines waits out this server's (never less than the lab's)."""
    if settle_s != DEFAULT_SETTLE_S:
        return settle_s  # a case's own bound (PROMPT: cleaned up on the close itself)
    declared = [min(seconds, DEADLINE_CEILINGS_S[name]) for name in DEADLINE_CEILINGS_S
                if (seconds := _declared_s(deadlines, name)) is not None]
    return max([IDLE_TIMEOUT_S, *declared]) + GRACE_S


def _digest(body: bytes) -> str:
    return f"{len(body)}:{hashlib.sha256(body).hexdigest()}"


@functools.lru_cache(maxsize=16)
def _pattern_digest(size: int) -> str:
    return _digest((bytes(range(251)) * (size // 251 + 1))[:size])


def adapt_all(scenarios: tuple[Scenario, ...], profile: Profile) -> list[Scenario | Skip]:
    return [adapt(scenario, profile) for scenario in scenarios]


def client_text(run: ClientRun) -> str:
    """How the adapted run's attributes read on the clients' command line (for `lab check`)."""
    return " ".join(f"{key}={attribute_text(value)}" for key, value in run.attributes)
