"""Target profiles: what a server under test offers the lab, read from a small TOML file (board/profiles/).

A profile names the image (or the build context the lab builds it from), the port, the stop signal, the
deadlines the server is configured with, and the routes it offers: a small GET, a large GET, an echo POST.
A route a server does not offer is listed under `[routes.missing]` with the reason. docs/board.md shows
a whole profile. Any unknown key or wrong type is a ProfileError naming the key, in one line.
"""

from __future__ import annotations

import hashlib
import re
import signal
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from lab import settings
from lab.errors import LabError

PROFILES_DIR = settings.REPO_ROOT / "board" / "profiles"
LAB_PATTERN = "i % 251"  # byte i of a large response is i % 251 (the bundled server's /bytes/N)
SIZE_PLACEHOLDER = "{size}"
OPTIONAL_ROUTES = ("large", "echo")
# `docker stop`'s own default, and what the lab judged every target by before profiles declared it.
DEFAULT_STOP_S = 10.0
TRIGGERS = ("level", "edge")

T = TypeVar("T")


class ProfileError(LabError):
    """A profile that cannot be used: one line naming the file and the key."""


@dataclass(frozen=True)
class Deadlines:
    """Seconds the server allows; None: the server has no such deadline (or none is configured)."""

    header_s: float | None  # the whole request head must arrive within this
    idle_s: float | None  # a keep-alive connection may wait this long for its next request
    write_s: float | None  # a response the client stops reading is given up after this


@dataclass(frozen=True)
class SmallRoute:
    path: str
    status: int
    body: bytes | None  # None: only the status is checked


@dataclass(frozen=True)
class LargeRoute:
    """A large GET: `path` holds {size} for one resource per size, else it is one resource of one size.

    Its content is the lab's pattern, a declared sha256, or anything: then the preflight (lab.chaos.run.preflight)
    fetches each size once and keeps its sha256 as the reference the cases check against (`references`).
    """

    path: str
    sizes: tuple[int, ...]
    pattern: str | None  # LAB_PATTERN, or None (content declared by sha256, or by the preflight's reference)
    sha256: str | None
    references: tuple[tuple[int, str], ...] = ()  # (size, sha256) fetched by the preflight

    def url_path(self, size: int) -> str:
        if size not in self.sizes:
            raise ValueError(f"{size} is not one of the declared sizes {self.sizes}")
        return self.path.replace(SIZE_PLACEHOLDER, str(size))

    def expected_body(self, size: int) -> bytes | None:
        """The body byte for byte when the pattern says it; None when only its sha256 is known."""
        if self.pattern is None:
            return None
        return (bytes(range(251)) * (size // 251 + 1))[:size]

    def digest(self, size: int) -> str | None:
        """The sha256 of the size's body when declared or fetched (None: the pattern, or not yet fetched)."""
        if self.sha256 is not None:
            return self.sha256
        return dict(self.references).get(size)

    @property
    def needs_preflight(self) -> bool:
        """Neither the pattern nor a digest declares the content, and the preflight has not fetched it yet."""
        return self.pattern is None and any(self.digest(size) is None for size in self.sizes)

    def matches(self, size: int, body: bytes) -> bool:
        digest = self.digest(size)
        if digest is not None:
            return len(body) == size and hashlib.sha256(body).hexdigest() == digest
        if self.pattern is None:
            return len(body) == size  # any content: the preflight keeps what this answer is
        return body == self.expected_body(size)


@dataclass(frozen=True)
class EchoRoute:
    path: str
    max_bytes: int  # the largest body the server echoes


@dataclass(frozen=True)
class Routes:
    small: SmallRoute
    large: LargeRoute | None
    echo: EchoRoute | None
    missing: dict[str, str]  # route ("large", "echo") -> why the server does not offer it


@dataclass(frozen=True)
class Exclusion:
    case: str
    reason: str


@dataclass(frozen=True)
class Profile:
    name: str  # the file's stem
    source: Path
    language: str
    software: str  # what runs and its version, e.g. "nginx 1.22.1 (Debian bookworm nginx-light)"
    released: str  # that version's upstream release date (YYYY-MM-DD); "" where none applies (the bundled server)
    image: str
    build: Path | None  # the build context (relative to the repository), when the lab builds the image
    port: int
    stop_signal: signal.Signals
    stop_s: float  # how long the server may drain after its stop signal before it exits 0 ([target] stop_s)
    keep_alive: bool  # False: the server closes after each response (HTTP/1.0, gunicorn sync workers)
    # Why this server retires and starts worker processes by design ([target] replaces_workers, e.g. httpd's MPM
    # scaling its children to the load): `crash` then takes a replaced process for that, not for a respawn.
    replaces_workers: str
    trigger: str | None  # the bundled server's epoll mode (LAB_TRIGGER); None for other servers
    deadlines: Deadlines
    routes: Routes
    exclusions: tuple[Exclusion, ...]
    notes: str

    def excluded(self, case: str) -> str | None:
        """Why the case does not apply to this target, or None."""
        return next((item.reason for item in self.exclusions if item.case == case), None)


def load_profile(path: Path) -> Profile:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ProfileError(f"{path}: cannot read the profile: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"{path}: not valid TOML: {error}") from None
    return parse_profile(data, name=path.stem, source=path)


def load_profiles(directory: Path = PROFILES_DIR) -> dict[str, Profile]:
    return {path.stem: load_profile(path) for path in sorted(directory.glob("*.toml"))}


def find_profile(name_or_path: str) -> Profile:
    """A profile by file path, or by name from board/profiles/."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return load_profile(path)
    candidate = PROFILES_DIR / f"{name_or_path}.toml"
    if not candidate.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise ProfileError(f"no profile {name_or_path!r}; known: {known}")
    return load_profile(candidate)


def parse_profile(data: dict[str, object], *, name: str, source: Path) -> Profile:
    top = _Table(data, "", source)
    target = top.table("target")
    image, build = target.optional("image", str), target.optional("build", str)
    if (image is None) == (build is None):
        raise target.error("image", "give exactly one of image and build")
    if build is not None:
        build = target.check("build", build, _is_relative_dir, "a folder of this repository, relative to its root")
        image = settings.extra_image(Path(build).name)
    assert image is not None
    port = target.check("port", target.required("port", int), lambda p: 0 < p < 65536, "a port, 1 to 65535")
    stop_signal = target.check("stop_signal", target.required("stop_signal", str),
                               lambda s: s in signal.Signals.__members__, "a signal name such as SIGTERM")
    trigger = target.optional("trigger", str)
    if trigger is not None:
        target.check("trigger", trigger, lambda t: t in TRIGGERS, "level or edge")
        if image != settings.SERVER_IMAGE:
            raise target.error("trigger", f"only the bundled server ({settings.SERVER_IMAGE}) has an epoll mode")
    keep_alive = target.optional("keep_alive", bool)
    stop_s = target.seconds("stop_s")
    replaces_workers = target.optional("replaces_workers", str) or ""
    target.done()

    deadlines_table = top.table("deadlines")
    deadlines = Deadlines(*(deadlines_table.seconds(key) for key in ("header_s", "idle_s", "write_s")))
    deadlines_table.done()

    routes = _routes(top.table("routes"))
    exclusions = tuple(_exclusion(table) for table in top.tables("exclude"))
    profile = Profile(
        name=name, source=source, language=top.required("language", str), software=top.required("software", str),
        released=_released(top),
        image=image, build=Path(build) if build is not None else None, port=port,
        stop_signal=signal.Signals[stop_signal], stop_s=DEFAULT_STOP_S if stop_s is None else stop_s,
        keep_alive=True if keep_alive is None else keep_alive, replaces_workers=replaces_workers,
        trigger=trigger, deadlines=deadlines, routes=routes, exclusions=exclusions,
        notes=top.optional("notes", str) or "",
    )
    top.done()
    return profile


def _released(top: _Table) -> str:
    released = top.optional("released", str) or ""
    if released and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", released):
        raise top.error("released", f"expected a date as YYYY-MM-DD, got {released!r}")
    return released


def server_version(name_or_path: str) -> tuple[str, str]:
    """(software, release date) of a server for the board; empty strings if it has no profile."""
    try:
        profile = find_profile(name_or_path)
    except ProfileError:
        return "", ""
    return profile.software, profile.released


def _routes(table: _Table) -> Routes:
    small_table = table.table("small")
    small = SmallRoute(path=small_table.path("path"), status=small_table.optional("status", int) or 200,
                       body=_encoded(small_table.optional("body", str)))
    small_table.done()
    missing_table = table.optional_table("missing")
    missing: dict[str, str] = {}
    if missing_table is not None:
        for key in missing_table.names():
            missing_table.check(key, key, lambda k: k in OPTIONAL_ROUTES, "large or echo (a route that can be missing)")
            missing[key] = missing_table.text(key)
        missing_table.done()
    large_table, echo_table = table.optional_table("large"), table.optional_table("echo")
    large = _large(large_table) if large_table is not None else None
    echo = None
    if echo_table is not None:
        echo = EchoRoute(path=echo_table.path("path"),
                         max_bytes=echo_table.check("max_bytes", echo_table.required("max_bytes", int),
                                                    lambda n: n > 0, "a positive number of bytes"))
        echo_table.done()
    for route, declared in (("large", large), ("echo", echo)):
        if declared is None and route not in missing:
            raise table.error(route, f"declare [routes.{route}] or give the reason it is missing in [routes.missing]")
        if declared is not None and route in missing:
            raise table.error(f"missing.{route}", f"[routes.{route}] is declared too: keep one")
    table.done()
    return Routes(small=small, large=large, echo=echo, missing=missing)


def _large(table: _Table) -> LargeRoute:
    path = table.path("path")
    pattern, sha256 = table.optional("pattern", str), table.optional("sha256", str)
    if pattern is not None and sha256 is not None:  # neither: any content, fetched once by the preflight
        raise table.error("pattern", f'give at most one of pattern = "{LAB_PATTERN}" and sha256')
    if pattern is not None:
        table.check("pattern", pattern, lambda p: p == LAB_PATTERN, f'the only pattern the lab knows: "{LAB_PATTERN}"')
    sizes = table.optional("sizes", list)
    size = table.optional("size", int)
    if (sizes is None) == (size is None):
        raise table.error("sizes", "give exactly one of sizes (with {size} in the path) and size")
    if sizes is not None:
        table.check("sizes", sizes, lambda s: bool(s) and all(type(n) is int and n > 0 for n in s),
                    "a non-empty list of positive integers")
        table.check("path", path, lambda p: SIZE_PLACEHOLDER in p, "a path with {size} when sizes are given")
    if size is not None:
        table.check("size", size, lambda n: n > 0, "a positive number of bytes")
        table.check("path", path, lambda p: SIZE_PLACEHOLDER not in p, "a path without {size} when one size is given")
    if sha256 is not None:
        table.check("sha256", sha256, lambda h: len(h) == 64 and all(c in "0123456789abcdef" for c in h),
                    "64 lowercase hex digits")
        table.check("size", size, lambda n: n is not None, "one size with sha256 (a digest is of one body)")
    table.done()
    declared = tuple(sizes) if sizes is not None else (size,) if size is not None else ()
    return LargeRoute(path=path, sizes=declared, pattern=pattern, sha256=sha256)


def _exclusion(table: _Table) -> Exclusion:
    exclusion = Exclusion(case=table.text("case"), reason=table.text("reason"))
    table.done()
    return exclusion


def _encoded(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


def _is_relative_dir(value: str) -> bool:
    path = Path(value)
    return not path.is_absolute() and ".." not in path.parts and (settings.REPO_ROOT / path).is_dir()


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
               dict: "a table"}


class _Table:
    """One TOML table, read key by key; done() rejects what was not read (an unknown key)."""

    def __init__(self, data: dict[str, object], prefix: str, source: Path) -> None:
        self._data, self._prefix, self._source = data, prefix, source
        self._read: set[str] = set()

    def error(self, key: str, message: str) -> ProfileError:
        return ProfileError(f"{self._source}: key {self._prefix}{key!s}: {message}")

    def names(self) -> Iterator[str]:
        return iter(list(self._data))

    def optional(self, key: str, kind: type[T]) -> T | None:
        self._read.add(key)
        if key not in self._data:
            return None
        value = self._data[key]
        # bool is an int in Python, and TOML's 2 is not a float: accept an integer where seconds are asked.
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            raise self.error(key, f"expected {_TYPE_NAMES[kind]}, got {_toml_type(value)}")
        return value

    def required(self, key: str, kind: type[T]) -> T:
        value = self.optional(key, kind)
        if value is None:
            raise self.error(key, f"missing (expected {_TYPE_NAMES[kind]})")
        return value

    def check(self, key: str, value: T, ok: Callable[[T], bool], expected: str) -> T:
        if not ok(value):
            raise self.error(key, f"expected {expected}, got {value!r}")
        return value

    def text(self, key: str) -> str:
        return self.check(key, self.required(key, str), lambda s: bool(s.strip()), "a non-empty string")

    def path(self, key: str) -> str:
        return self.check(key, self.required(key, str), lambda p: p.startswith("/") and " " not in p,
                          "a request path starting with /")

    def seconds(self, key: str) -> float | None:
        value = self.optional(key, float)
        if value is not None:
            self.check(key, value, lambda s: 0 < s <= 3600, "seconds, more than 0 and at most 3600")
        return value

    def table(self, key: str) -> _Table:
        found = self.optional_table(key)
        if found is None:
            raise self.error(key, "missing (expected a table)")
        return found

    def optional_table(self, key: str) -> _Table | None:
        value = self.optional(key, dict)
        return None if value is None else _Table(value, f"{self._prefix}{key}.", self._source)

    def tables(self, key: str) -> list[_Table]:
        """An array of tables ([[key]]); absent is empty."""
        items = self.optional(key, list) or []
        tables = []
        for index, item in enumerate(items):
            if type(item) is not dict:
                raise self.error(f"{key}[{index}]", f"expected a table, got {_toml_type(item)}")
            tables.append(_Table(item, f"{self._prefix}{key}[{index}].", self._source))
        return tables

    def done(self) -> None:
        unknown = [key for key in self._data if key not in self._read]
        if unknown:
            known = ", ".join(sorted(self._read)) or "none"
            raise self.error(unknown[0], f"unknown key (known here: {known})")


def _toml_type(value: object) -> str:
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return name
    return type(value).__name__
