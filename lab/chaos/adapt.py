"""A catalog case fitted to a target profile, or skipped with the reason: pure, no Docker.

The catalog speaks the bundled server's contract (GET / and its hello, GET /bytes/N with the i % 251
pattern, POST /echo, deadlines of 2 s, 5 s and 5 s). `adapt` rewrites each client run to the routes a
profile declares (the clients' `path` and `expect_body` attributes), derives cut-offs and settle times
from its deadlines, and returns a Skip, never a case bound to fail or to error, when a need is unmet.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, replace

from lab.chaos.scenario import (
    GRACE_S,
    IDLE_TIMEOUT_S,
    ROUND_QUIET_SLACK_S,
    ClientRun,
    Deadline,
    Expect,
    Scenario,
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
# Behaviours whose requests go to a fixed route the clients build themselves (no `path` attribute).
ECHO_BEHAVIOURS = frozenset({"fragmented", "slow_body"})
LARGE_FIXED_PATH = frozenset({"reset_mid_response", "close_after_partial_response"})
MALFORMED_ROUTES = {"query_string": "large", "tiny_chunks": "echo", "body_after_error": "echo",
                    "absolute_form": "hello"}


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
    for deadline in sorted(scenario.needs_deadlines):
        _deadline_s(profile.deadlines, deadline)
    if profile.trigger is not None and profile.trigger not in scenario.triggers:
        raise _Unmet(f"runs in the {', '.join(scenario.triggers)} mode only; the profile's is {profile.trigger}")
    clients = tuple(_client(run, profile) for run in scenario.clients)
    if scenario.fault is not None and getattr(scenario.fault, "when_established", None) and not profile.keep_alive:
        idle_after = [run.behaviour for run in clients if not _holds(run)]
        if idle_after:
            raise _Unmet(f"the fault waits for held connections, and the target closes after each response "
                         f"(keep_alive = false), so {idle_after[0]} connections need not be held")
    small = profile.routes.small
    return replace(scenario, clients=clients,
                   limits=replace(scenario.limits, settle_s=_settle_s(scenario.limits.settle_s, profile.deadlines)),
                   canary_path=small.path, canary_body=small.body)


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


def _client(run: ClientRun, profile: Profile) -> ClientRun:
    attributes = dict(run.attributes)
    behaviour = run.behaviour
    if not profile.keep_alive:
        per_connection = run.responses_per_connection()
        if per_connection is not None and per_connection > 1:
            raise _Unmet(f"needs keep-alive ({per_connection} responses on one connection); the target closes "
                         "after each response (keep_alive = false)")
        if behaviour == "flood" and attributes.get("idle") is False:
            raise _Unmet("holds kept-alive connections; the target closes after each response (keep_alive = false)")
    if behaviour in ECHO_BEHAVIOURS:
        _echo(profile, int(str(run.resolved_attributes()["body_bytes"])))
    elif behaviour in LARGE_FIXED_PATH:
        size = int(str(attributes["response_bytes"]))
        chosen = _large_size(profile, size)
        if _large_attributes(profile, chosen):
            raise _Unmet(f"{behaviour} asks GET /bytes/N with the i % 251 pattern; the profile's large route "
                         f"differs")
        attributes["response_bytes"] = chosen
    elif behaviour == "slow_reader":
        chosen = _large_size(profile, int(str(attributes["response_bytes"])))
        attributes |= {"response_bytes": chosen, **_large_attributes(profile, chosen)}
    elif behaviour == "malformed":
        _malformed(profile, str(attributes.get("variant", "")), attributes)
    elif behaviour in ("flood", "connect_storm") and (attributes.get("request") or attributes.get("idle") is False):
        attributes |= _small_attributes(profile)
    elif "path" in attributes or behaviour in ("well_behaved", "pipelined", "half_close"):
        attributes |= _path_attributes(profile, str(attributes.get("path", "/")), run)
    expect = _expect(run.expect, profile)
    if expect.cut_off_s is not None and run.max_duration_s() < expect.cut_off_s + GRACE_S:
        attributes["max_duration_s"] = expect.cut_off_s + GRACE_S  # the client outlasts the cut-off it watches
    adapted = replace(run, attributes=tuple(sorted(attributes.items())), expect=expect)
    adapted.resolved_attributes()  # a rewrite the clients would refuse is a lab bug: raise it here
    return adapted


def _path_attributes(profile: Profile, path: str, run: ClientRun) -> dict[str, object]:
    if path == "/":
        return _small_attributes(profile)
    if path == BUNDLED_ECHO:
        _echo(profile, int(str(run.resolved_attributes()["body_bytes"])))
        return {}
    found = _BYTES_PATH.match(path)
    if found:
        chosen = _large_size(profile, int(found.group(1)))
        return {"path": _large_path(profile, chosen), **_large_attributes(profile, chosen)}
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
    if large.sha256 is not None:
        return {"path": path, "expect_body": f"{size}:{large.sha256}"}
    return {"path": path, "expect_body": _pattern_digest(size)}


def _echo(profile: Profile, body_bytes: int) -> None:
    echo = profile.routes.echo
    if echo is None:
        raise _Unmet(f"needs an echo POST: {profile.routes.missing.get('echo', 'none declared')}")
    if echo.path != BUNDLED_ECHO:
        raise _Unmet(f"the clients post to {BUNDLED_ECHO}; the profile's echo route is {echo.path}")
    if body_bytes > echo.max_bytes:
        raise _Unmet(f"needs an echo of {body_bytes} bytes; the profile echoes up to {echo.max_bytes}")


def _malformed(profile: Profile, variant: str, attributes: dict[str, object]) -> None:
    route = MALFORMED_ROUTES.get(variant)
    if route == "large":
        chosen = _large_size(profile, int(str(attributes.get("size_bytes", 0))))
        if _large_attributes(profile, chosen):
            raise _Unmet(f"the {variant} probe asks GET /bytes/N?query with the i % 251 pattern")
        attributes["size_bytes"] = chosen
    elif route == "echo":
        _echo(profile, int(str(attributes.get("size_bytes", 0))) if variant == "tiny_chunks" else 0)
    elif route == "hello" and (profile.routes.small.path, profile.routes.small.body) != ("/", BUNDLED_HELLO):
        raise _Unmet(f"the {variant} probe expects GET / to answer {BUNDLED_HELLO!r}")


def _expect(expect: Expect, profile: Profile) -> Expect:
    if expect.deadline is None:
        return expect
    seconds = _deadline_s(profile.deadlines, expect.deadline)
    return replace(expect, cut_off_s=seconds + GRACE_S)


def _deadline_s(deadlines: Deadlines, deadline: Deadline) -> float:
    seconds: float | None = getattr(deadlines, f"{deadline}_s")
    if seconds is None:
        article = "an" if deadline == "idle" else "a"
        raise _Unmet(f"needs {article} {deadline} deadline; the profile declares none ([deadlines] {deadline}_s)")
    return seconds


def _settle_s(settle_s: float, deadlines: Deadlines) -> float:
    """A case that waits out the server's deadlines waits out this server's (never less than the lab's)."""
    if settle_s != DEFAULT_SETTLE_S:
        return settle_s  # a case's own bound (PROMPT: cleaned up on the close itself)
    declared = [s for s in (deadlines.header_s, deadlines.idle_s, deadlines.write_s) if s is not None]
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
