"""`python -m lab check PROFILE`: the target up, each declared route probed directly and through the lab,
and which cases will run or be skipped, and why. A bad profile is one line naming the key (lab.profiles)."""

from __future__ import annotations

import argparse
import http.client
import os
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from lab import settings
from lab.chaos.model import catalog
from lab.chaos.model.adapt import adapt
from lab.chaos.run import targets
from lab.chaos.run.preflight import fetch_references, http_fetch, needs_preflight
from lab.chaos.views import coverage
from lab.compose import echo
from lab.errors import LabError
from lab.instance import Lab
from lab.profiles import Profile, find_profile

# (what, method, path, body sent, judge(status, body) -> the problem or None)
Probe = tuple[str, str, str, bytes, Callable[[int, bytes], str | None]]
ECHO_PROBE = bytes(range(256)) * 4


def route_probes(profile: Profile) -> list[Probe]:
    """One GET per declared route (the largest size of a large route is left out: the smallest says enough)."""
    small = profile.routes.small

    def small_ok(status: int, body: bytes) -> str | None:
        if status != small.status:
            return f"status {status}, the profile says {small.status} (routes.small.status)"
        if small.body is not None and body != small.body:
            return f"body {body[:40]!r}, the profile says {small.body[:40]!r} (routes.small.body)"
        return None

    probes: list[Probe] = [("small", "GET", small.path, b"", small_ok)]
    large = profile.routes.large
    if large is not None:
        size = min(large.sizes)

        def large_ok(status: int, body: bytes) -> str | None:
            if status != 200:
                return f"status {status} (routes.large.path)"
            if len(body) != size:
                return f"{len(body)} bytes, the profile says {size} (routes.large.sizes/size)"
            return None if large.matches(size, body) else "the body differs (routes.large.pattern/sha256)"

        probes.append((f"large ({size} bytes)", "GET", large.url_path(size), b"", large_ok))
    if profile.routes.echo is not None:

        def echo_ok(status: int, body: bytes) -> str | None:
            if status != 200:
                return f"status {status} (routes.echo.path)"
            return None if body == ECHO_PROBE else f"{len(body)} bytes back, not the {len(ECHO_PROBE)} sent"

        probes.append(("echo", "POST", profile.routes.echo.path, ECHO_PROBE, echo_ok))
    return probes


def request(url: str, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def cmd_check(args: argparse.Namespace) -> int:
    started = time.monotonic()
    profile = find_profile(args.profile)
    targets.build_image(profile)
    project = settings.unique_project("epl-check", os.environ.get("LAB_RUN_ID", ""))
    config = settings.LabConfig.from_env(os.environ, project=project, **targets.config_overrides(profile))
    problems: list[str] = []
    with Lab(config, log=echo) as lab:
        endpoints = lab.endpoints()
        for what, method, path, body, judge in route_probes(profile):
            for way, url in (("direct", endpoints.direct_url), ("through the lab", endpoints.proxied_url)):
                try:
                    problem = judge(*request(url, method, path, body))
                except (OSError, http.client.HTTPException) as error:
                    problem = f"{type(error).__name__}: {error}"
                print(f"  {'ok  ' if problem is None else 'FAIL'} {what:22} {method} {path} {way}"
                      + (f": {problem}" if problem else ""))
                if problem:
                    problems.append(f"{method} {path} {way}: {problem}")
        if needs_preflight(profile) and not problems:
            try:
                profile = fetch_references(profile, http_fetch(endpoints.direct_url))
            except LabError as error:
                problems.append(str(error))
            else:
                assert profile.routes.large is not None
                for size, digest in profile.routes.large.references:
                    print(f"  ref  {'large (' + str(size) + ' bytes)':22} GET {profile.routes.large.url_path(size)}: "
                          f"sha256 {digest}, the reference the cases check it against")
    covered = coverage.of_adapted(adapt(scenario, profile) for scenario in catalog.CATALOG)
    print(f"\n{profile.name}: {covered.text()}")
    print(f"runs: {', '.join(covered.ran)}")
    print(f"\nchecked in {time.monotonic() - started:.1f} s")
    if problems:
        raise LabError(f"{profile.source}: {problems[0]}")
    return 0


def add_check_command(command: Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser],
                      ) -> None:
    parser = command("check", cmd_check, "preflight a target profile: bring it up, probe its routes, list the "
                                         "cases that run and the ones skipped (with the reason)")
    parser.add_argument("profile", metavar="PROFILE", help="a name in board/profiles/ or a .toml file")
