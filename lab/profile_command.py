"""`python -m lab profile init --image IMAGE --port N`: bring the server up in a lab, discover its contract
(lab.discover) and write a draft profile that says which values were measured and which were guessed."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from lab import discover, engine, settings
from lab.compose import echo
from lab.errors import LabError
from lab.instance import Lab
from lab.profiles import LAB_PATTERN, SIZE_PLACEHOLDER

MAX_BODY_IN_PROFILE = 1024  # a longer small body is checked by its status only


def toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, except DEL, which TOML wants escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _text_body(body: bytes) -> str | None:
    if len(body) > MAX_BODY_IN_PROFILE:
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


def draft_toml(found: discover.Discovered, *, when: str = "", stop_signal: str | None = None) -> str:
    """The draft profile (the format lab.profiles parses), every value with a comment saying how it was found."""
    lines = [f"# Drafted by `python -m lab profile init --image {found.image} --port {found.port}`{when}.",
             "# 'measured': seen on the running server; 'guessed': not measured, check it. Then run",
             "# `python -m lab check FILE.toml` and declare what is missing to run more cases.",
             'language = "unknown"  # guessed: fill in',
             f"software = {toml_string(found.image)}  # guessed: name the software and its version", "",
             "[target]", f"image = {toml_string(found.image)}", f"port = {found.port}  # given",
             (f'stop_signal = "{stop_signal}"  # the image\'s STOPSIGNAL' if stop_signal else
              'stop_signal = "SIGTERM"  # guessed: the image sets no STOPSIGNAL; Docker sends SIGTERM'),
             "# stop_s = 10  # not measured: how long the server drains on its stop signal"]
    if found.keep_alive.value is False:
        lines.append(f"keep_alive = false  # {found.keep_alive.how}")
    lines += ["", "[deadlines]  # a deadline left out is one the server did not show within the bound"]
    for key, finding in found.deadlines.items():
        if isinstance(finding.value, float) and not isinstance(finding.value, bool):
            lines.append(f"{key} = {finding.value:g}  # {finding.how}")
        else:
            lines.append(f"# {key}: {finding.how}")
    small = found.small
    lines += ["", "[routes.small]", f"path = {toml_string(found.small_path)}",
              f"status = {small.status}  # measured"]
    body = _text_body(small.body)
    if body is not None:
        lines.append(f"body = {toml_string(body)}  # measured")
    else:
        lines.append(f"# body: not declared ({len(small.body)} bytes, not short text): the status alone is checked")
    missing: list[str] = []
    if found.large is not None:
        path, size, digest = found.large
        lines += ["", f"[routes.large]  # {found.large_how}"]
        if digest is None:
            sizes = ", ".join(str(n) for n in discover.LAB_LARGE_SIZES)
            lines += [f'path = "/bytes/{SIZE_PLACEHOLDER}"', f"sizes = [{sizes}]  # guessed",
                      f'pattern = "{LAB_PATTERN}"  # measured at 1024 bytes']
        else:
            lines += [f"path = {toml_string(path)}", f"size = {size}  # measured", f'sha256 = "{digest}"  # measured']
    else:
        missing.append(f"large = {toml_string(found.large_how)}")
    if found.echo is not None:
        path, max_bytes = found.echo
        lines += ["", "[routes.echo]", f"path = {toml_string(path)}", f"max_bytes = {max_bytes}  # {found.echo_how}"]
    else:
        missing.append(f"echo = {toml_string(found.echo_how)}")
    if missing:
        lines += ["", "[routes.missing]", *missing]
    return "\n".join(lines) + "\n"


def summary(found: discover.Discovered) -> list[str]:
    """What was found, one line each, for the terminal."""
    lines = [f"GET {found.small_path}: {found.small.status}, {len(found.small.body)} bytes",
             f"large route: {found.large_how}", f"echo route: {found.echo_how}"]
    lines += [f"{key}: {finding.value if finding.value is not None else 'none'} ({finding.how})"
              for key, finding in found.deadlines.items()]
    return lines


def image_stop_signal(image: str) -> str | None:
    """The image's STOPSIGNAL when it names one the profile format knows (SIGQUIT, not 3)."""
    configured = (engine.client().images.get(image).attrs.get("Config") or {}).get("StopSignal") or ""
    return configured if configured in signal.Signals.__members__ else None


def cmd_profile(args: argparse.Namespace) -> int:
    if args.action != "init":
        raise LabError(f"unknown profile action {args.action!r}: `profile init --image IMAGE --port N` drafts one")
    if not 0 < args.port < 65536:
        raise LabError(f"--port {args.port}: a port, 1 to 65535")
    started = time.monotonic()
    engine.client()  # a clear error first if there is no engine
    if engine.image_id(args.image) is None:
        raise LabError(f"no image {args.image} on the Docker engine: build or pull it first")
    project = settings.unique_project("epl-init", os.environ.get("LAB_RUN_ID", ""))
    config = settings.LabConfig.from_env(os.environ, project=project, target_image=args.image, target_port=args.port)
    lab = Lab(config, log=echo)
    try:
        lab.up()
    except LabError as error:
        lab.down()
        raise LabError(f"{args.image} on port {args.port}: {error!s}") from None
    except BaseException:
        lab.down()
        raise
    try:
        parts = urlsplit(lab.endpoints().direct_url)
        echo(f"measuring {args.image}: the header, idle and write deadlines at once (at most "
             f"{max(discover.HEADER_LIMIT_S, discover.IDLE_LIMIT_S, discover.WRITE_LIMIT_S):g} s)")
        found = discover.discover(args.image, parts.hostname or "127.0.0.1", parts.port or 80, target_port=args.port,
                                  small_path=args.small, large_path=args.large, echo_path=args.echo)
    finally:
        lab.down()
    for line in summary(found):
        echo(line)
    text = draft_toml(found, when=f" on {time.strftime('%Y-%m-%d')}", stop_signal=image_stop_signal(args.image))
    if args.out:
        Path(args.out).write_text(text)
        echo(f"draft profile {args.out} written in {time.monotonic() - started:.0f} s; "
             f"check it with `python -m lab check {args.out}`")
    else:
        sys.stdout.write(text)
    return 0


def add_profile_command(command: Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser],
                        ) -> None:
    parser = command("profile", cmd_profile, "draft a target profile: bring the image up, find its routes and "
                                             "measure its deadlines (`profile init --image IMAGE --port N`)")
    parser.add_argument("action", choices=("init",))
    parser.add_argument("--image", required=True, help="the server's image")
    parser.add_argument("--port", type=int, required=True, help="the port it listens on inside its container")
    parser.add_argument("--out", metavar="FILE.toml", help="write the draft here (default: print it)")
    parser.add_argument("--small", default="/", metavar="PATH", help="its small GET route (default: /)")
    parser.add_argument("--large", metavar="PATH", help="a large GET route to declare (fetched once, hashed)")
    parser.add_argument("--echo", metavar="PATH", help="its echo POST route (default: /echo is tried)")
