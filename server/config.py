"""Command line, with every ``--foo-bar`` falling back to the environment variable ``SERVER_FOO_BAR``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

MIN_BACKLOG = 1024


class Config(argparse.Namespace):
    host: str
    port: int
    trigger: str
    header_timeout: float
    idle_timeout: float
    write_timeout: float
    max_request_line: int
    max_header_bytes: int
    max_body_bytes: int
    backlog: int
    tcp_nodelay: bool
    tcp_cork: bool
    workers: int
    log_json: str | None
    shutdown_deadline: float
    bug: str | None

    @property
    def edge(self) -> bool:
        return self.trigger == "edge"


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text}")


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {text}")
    return value


def _bug(text: str) -> str:
    """A zoo variant's name. The zoo is imported here, only when a variant is asked for: the clean server
    never loads it."""
    from server.bugs import BUGS

    if text not in BUGS:
        raise argparse.ArgumentTypeError(f"unknown bug {text!r}; choose from {', '.join(sorted(BUGS))}")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m server",
        description="epoll HTTP/1.1 server. Every --foo-bar option falls back to env SERVER_FOO_BAR.",
    )
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=_port, default=8080, help="0 picks a free port (printed on stdout)")
    p.add_argument("--trigger", choices=("level", "edge"), default="level")
    p.add_argument("--header-timeout", type=_positive(float), default=10.0, help="seconds to receive a head")
    p.add_argument("--idle-timeout", type=_positive(float), default=60.0, help="keep-alive idle seconds")
    p.add_argument("--write-timeout", type=_positive(float), default=30.0, help="seconds a write may stall")
    p.add_argument("--max-request-line", type=_positive(int), default=8192)
    p.add_argument("--max-header-bytes", type=_positive(int), default=32768)
    p.add_argument("--max-body-bytes", type=_positive(int), default=8 << 20)
    p.add_argument("--backlog", type=_positive(int), default=4096, help=f"at least {MIN_BACKLOG}")
    p.add_argument("--tcp-nodelay", type=_flag, nargs="?", const=True, default=True, help="default on")
    p.add_argument("--tcp-cork", type=_flag, nargs="?", const=True, default=False,
                   help="cork while writing a batch of pipelined responses")
    p.add_argument("--workers", type=_positive(int), default=1, help="SO_REUSEPORT processes")
    p.add_argument("--log-json", default=None, metavar="PATH|-", help="JSON lines of connection events")
    p.add_argument("--shutdown-deadline", type=_positive(float), default=8.0,
                   help="seconds to finish in-flight responses after SIGTERM")
    p.add_argument("--bug", type=_bug, default=None, help="run a bug-zoo variant (listed in server/bugs.py)")
    return p


def env_name(option: str) -> str:
    return "SERVER_" + option.lstrip("-").replace("-", "_").upper()


def parse_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    parser = build_parser()
    env = os.environ if environ is None else environ
    for action in parser._actions:
        long = [s for s in action.option_strings if s.startswith("--")]
        if not long or action.dest == "help":
            continue
        value = env.get(env_name(long[0]))
        if value is None or value == "":
            continue
        # Environment values go through the same type and choice checks as flags.
        try:
            typed = action.type(value) if callable(action.type) else value
        except (argparse.ArgumentTypeError, ValueError) as err:
            parser.error(f"{env_name(long[0])}={value!r}: {err}")
        if action.choices is not None and typed not in action.choices:
            parser.error(f"{env_name(long[0])}={value!r}: choose from {', '.join(map(str, action.choices))}")
        parser.set_defaults(**{action.dest: typed})
    config = parser.parse_args(argv, namespace=Config())
    config.backlog = max(config.backlog, MIN_BACKLOG)
    return config
