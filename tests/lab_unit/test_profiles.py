"""Target profiles (lab/profiles.py): the shipped ones load, and every bad key or value is one line naming it."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import signal
from pathlib import Path
from typing import Any

import pytest

from lab import images, profiles, settings
from lab.profiles import LAB_PATTERN, ProfileError, load_profile, parse_profile

GOOD_TOML = """\
language = "Go"
software = "a test server 1.0"
notes = "a note"

[target]
build = "lab/images/gohttp"
port = 8080
stop_signal = "SIGTERM"
keep_alive = false

[deadlines]
header_s = 2
idle_s = 5.5

[routes.small]
path = "/"
body = "hello, epoll\\n"

[routes.large]
path = "/bytes/{size}"
sizes = [1024, 65536]
pattern = "i % 251"

[routes.missing]
echo = "it has no echo"

[[exclude]]
case = "slowloris"
reason = "a test reason"
"""

GOOD: dict[str, Any] = {
    "language": "C",
    "software": "a server",
    "target": {"image": "example/server:1", "port": 80, "stop_signal": "SIGQUIT"},
    "deadlines": {"header_s": 2, "idle_s": 5, "write_s": 5},
    "routes": {
        "small": {"path": "/", "status": 200, "body": "hello, epoll\n"},
        "large": {"path": "/bytes/{size}", "sizes": [1024], "pattern": LAB_PATTERN},
        "echo": {"path": "/echo", "max_bytes": 1024},
    },
}


def parse(data: dict[str, Any]) -> profiles.Profile:
    return parse_profile(data, name="test", source=Path("test.toml"))


def changed(path: str, value: object) -> dict[str, Any]:
    """GOOD with the dotted key set to value (or removed when value is DELETE)."""
    data = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    table = data
    for key in parents:
        table = table.setdefault(key, {})
    if value is DELETE:
        del table[last]
    else:
        table[last] = value
    return data


DELETE = object()


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ProfileError) as caught:
        parse(data)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("test.toml: ")
    return message


def test_a_good_profile_file_reads_into_frozen_dataclasses(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD_TOML)
    profile = load_profile(path)
    assert profile.name == "mine"
    assert profile.image == settings.extra_image("gohttp")
    assert profile.build == Path("lab/images/gohttp")
    assert (profile.port, profile.stop_signal, profile.keep_alive) == (8080, signal.SIGTERM, False)
    assert profile.deadlines == profiles.Deadlines(header_s=2.0, idle_s=5.5, write_s=None)
    assert profile.routes.small == profiles.SmallRoute("/", 200, b"hello, epoll\n")
    assert profile.routes.echo is None
    assert profile.routes.missing == {"echo": "it has no echo"}
    assert profile.excluded("slowloris") == "a test reason"
    assert profile.excluded("garbage") is None
    assert profile.notes == "a note"
    with pytest.raises(AttributeError):
        profile.port = 1  # type: ignore[misc]


def test_defaults_status_200_keep_alive_and_no_trigger() -> None:
    profile = parse(changed("routes.small.status", DELETE))
    assert profile.routes.small.status == 200
    assert profile.keep_alive is True
    assert profile.trigger is None
    assert profile.exclusions == ()
    assert profile.image == "example/server:1"
    assert profile.build is None


def test_only_the_bundled_server_takes_a_trigger() -> None:
    bundled = changed("target.image", settings.SERVER_IMAGE)
    bundled["target"]["trigger"] = "edge"
    assert parse(bundled).trigger == "edge"
    other = changed("target.trigger", "edge")
    assert "key target.trigger: only the bundled server" in error_of(other)


def test_a_status_only_small_route_has_no_body() -> None:
    assert parse(changed("routes.small.body", DELETE)).routes.small.body is None


def test_the_lab_pattern_route_gives_each_size_its_path_and_body() -> None:
    large = parse(changed("routes.large.sizes", [1024, 300])).routes.large
    assert large is not None
    assert large.url_path(300) == "/bytes/300"
    body = large.expected_body(300)
    assert body is not None and len(body) == 300
    assert body[250:253] == bytes([250, 0, 1])
    assert large.matches(300, body)
    assert not large.matches(300, body[:-1] + b"\x00")
    with pytest.raises(ValueError, match="not one of the declared sizes"):
        large.url_path(5)


def test_a_sha256_route_is_one_resource_checked_by_digest() -> None:
    body = b"x" * 5000
    data = changed("routes.large", {"path": "/big.bin", "size": 5000, "sha256": hashlib.sha256(body).hexdigest()})
    large = parse(data).routes.large
    assert large is not None
    assert large.url_path(5000) == "/big.bin"
    assert large.expected_body(5000) is None
    assert large.matches(5000, body)
    assert not large.matches(5000, b"y" * 5000)


@pytest.mark.parametrize(("data", "key"), [
    ({**GOOD, "colour": "blue"}, "key colour: unknown key"),
    (changed("target.prot", 80), "key target.prot: unknown key"),
    (changed("deadlines.read_s", 5), "key deadlines.read_s: unknown key"),
    (changed("routes.small.bdy", "x"), "key routes.small.bdy: unknown key"),
    (changed("routes.large.size_bytes", 5), "key routes.large.size_bytes: unknown key"),
    (changed("routes.echo.method", "PUT"), "key routes.echo.method: unknown key"),
    (changed("routes.extra", {"path": "/x"}), "key routes.extra: unknown key"),
    ({**GOOD, "exclude": [{"case": "a", "reason": "b", "why": "c"}]}, "key exclude[0].why: unknown key"),
])
def test_an_unknown_key_is_named(data: dict[str, Any], key: str) -> None:
    assert key in error_of(data)


@pytest.mark.parametrize(("path", "value", "expected"), [
    ("target.port", "8080", "key target.port: expected an integer, got a string"),
    ("target.port", 80.0, "key target.port: expected an integer, got a number"),
    ("target.keep_alive", "yes", "key target.keep_alive: expected true or false, got a string"),
    ("target.image", 5, "key target.image: expected a string, got an integer"),
    ("deadlines.header_s", "2s", "key deadlines.header_s: expected a number, got a string"),
    ("deadlines.idle_s", True, "key deadlines.idle_s: expected a number, got true or false"),
    ("routes.small.body", 1, "key routes.small.body: expected a string, got an integer"),
    ("routes.large.sizes", 1024, "key routes.large.sizes: expected a list, got an integer"),
    ("routes.echo", "/echo", "key routes.echo: expected a table, got a string"),
    ("target", [], "key target: expected a table, got a list"),
    ("exclude", {"case": "a"}, "key exclude: expected a list, got a table"),
    ("exclude", ["slowloris"], "key exclude[0]: expected a table, got a string"),
])
def test_a_wrong_type_is_named(path: str, value: object, expected: str) -> None:
    assert expected in error_of(changed(path, value))


@pytest.mark.parametrize(("path", "value", "expected"), [
    ("target.port", 0, "key target.port: expected a port"),
    ("target.port", 70000, "key target.port: expected a port"),
    ("target.stop_signal", "SIGFOO", "key target.stop_signal: expected a signal name"),
    ("target.trigger", "fast", "key target.trigger: expected level or edge"),
    ("target.trigger", 1, "key target.trigger: expected a string, got an integer"),
    ("deadlines.write_s", 0, "key deadlines.write_s: expected seconds"),
    ("deadlines.write_s", -1.5, "key deadlines.write_s: expected seconds"),
    ("routes.small.path", "bytes", "key routes.small.path: expected a request path"),
    ("routes.large.pattern", "i % 256", "key routes.large.pattern: expected the only pattern"),
    ("routes.large.sizes", [], "key routes.large.sizes: expected a non-empty list of positive integers"),
    ("routes.large.sizes", ["1024"], "key routes.large.sizes: expected a non-empty list of positive integers"),
    ("routes.large.path", "/big.bin", "key routes.large.path: expected a path with {size}"),
    ("routes.echo.max_bytes", 0, "key routes.echo.max_bytes: expected a positive number of bytes"),
    ("exclude", [{"case": "slowloris", "reason": " "}], "key exclude[0].reason: expected a non-empty string"),
    ("released", "Feb 2025", "key released: expected a date as YYYY-MM-DD"),
])
def test_a_bad_value_is_named(path: str, value: object, expected: str) -> None:
    assert expected in error_of(changed(path, value))


@pytest.mark.parametrize(("path", "expected"), [
    ("language", "key language: missing (expected a string)"),
    ("target.port", "key target.port: missing (expected an integer)"),
    ("target.stop_signal", "key target.stop_signal: missing"),
    ("deadlines", "key deadlines: missing (expected a table)"),
    ("routes.small", "key routes.small: missing (expected a table)"),
    ("routes.small.path", "key routes.small.path: missing"),
    ("routes.echo.max_bytes", "key routes.echo.max_bytes: missing"),
])
def test_a_missing_key_is_named(path: str, expected: str) -> None:
    assert expected in error_of(changed(path, DELETE))


def test_the_graceful_stop_is_declared_or_docker_stops_default() -> None:
    assert parse(GOOD).stop_s == 10.0
    assert parse(changed("target.stop_s", 12.5)).stop_s == 12.5
    assert "key target.stop_s: expected seconds" in error_of(changed("target.stop_s", 0))
    assert "key target.stop_s: expected a number, got a string" in error_of(changed("target.stop_s", "10 s"))


def test_image_and_build_are_one_or_the_other() -> None:
    assert "key target.image: give exactly one of image and build" in error_of(changed("target.image", DELETE))
    assert "key target.image: give exactly one of" in error_of(changed("target.build", "lab/images/nginx"))


@pytest.mark.parametrize("build", ["/etc", "../elsewhere", "lab/images/no-such-server"])
def test_a_build_context_is_a_folder_of_this_repository(build: str) -> None:
    data = changed("target.build", build)
    del data["target"]["image"]
    assert "key target.build: expected a folder of this repository" in error_of(data)


def test_a_route_is_declared_or_missing_with_a_reason_never_neither_nor_both() -> None:
    assert "key routes.echo: declare [routes.echo] or give the reason" in error_of(changed("routes.echo", DELETE))
    both = changed("routes.missing", {"large": "no large file"})
    assert "key routes.missing.large: [routes.large] is declared too" in error_of(both)
    unknown = changed("routes.missing", {"small": "none"})
    assert "key routes.missing.small: expected large or echo" in error_of(unknown)


def test_a_large_route_gives_pattern_or_sha256_or_nothing_and_sizes_or_size() -> None:
    anything = parse(changed("routes.large.pattern", DELETE)).routes.large  # any content: fetched by the preflight
    assert anything is not None and anything.needs_preflight and anything.matches(1024, b"\xff" * 1024)
    assert not anything.matches(1024, b"short")
    fetched = dataclasses.replace(anything, references=((1024, hashlib.sha256(b"a" * 1024).hexdigest()),))
    assert not fetched.needs_preflight and fetched.matches(1024, b"a" * 1024) and not fetched.matches(1024, b"b" * 1024)
    both = changed("routes.large.sha256", "0" * 64)
    assert "key routes.large.pattern: give at most one of" in error_of(both)
    both = changed("routes.large.size", 1024)
    assert "key routes.large.sizes: give exactly one of sizes" in error_of(both)
    digest_of_many = changed("routes.large", {"path": "/bytes/{size}", "sizes": [1], "sha256": "0" * 64})
    assert "key routes.large.size: expected one size with sha256" in error_of(digest_of_many)
    not_hex = changed("routes.large", {"path": "/big", "size": 1, "sha256": "Z" * 64})
    assert "key routes.large.sha256: expected 64 lowercase hex digits" in error_of(not_hex)


def test_bad_toml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('language = "C"\n[target\nport = 80\n')
    with pytest.raises(ProfileError, match=r"broken\.toml: not valid TOML: .*line 2") as caught:
        load_profile(path)
    assert "\n" not in str(caught.value)


def test_an_unreadable_profile_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read the profile"):
        load_profile(tmp_path / "absent.toml")


def test_find_profile_by_name_or_path_and_an_unknown_name_lists_the_known() -> None:
    assert profiles.find_profile("nginx").name == "nginx"
    assert profiles.find_profile(str(profiles.PROFILES_DIR / "node.toml")).name == "node"
    with pytest.raises(ProfileError, match=r"no profile 'nginz'; known: .*nginx"):
        profiles.find_profile("nginz")


def test_every_shipped_profile_loads_and_every_board_server_has_one_built_by_the_lab() -> None:
    shipped = profiles.load_profiles()
    for name in images.BOARD_SERVERS:
        profile = shipped[name]
        spec = images.EXTRA_IMAGES[name]
        assert profile.image == spec.tag
        assert profile.build is not None and settings.REPO_ROOT / profile.build == spec.context
        assert (spec.context / "Dockerfile").exists()
    for name in ("server-level", "server-edge"):
        assert shipped[name].image == settings.SERVER_IMAGE
        assert shipped[name].trigger == name.removeprefix("server-")
    assert len({profile.language for profile in shipped.values()}) >= 4


def test_each_image_stops_with_the_signal_its_profile_declares() -> None:
    for profile in profiles.load_profiles().values():
        assert profile.build is not None
        dockerfile = (settings.REPO_ROOT / profile.build / "Dockerfile").read_text()
        assert f"STOPSIGNAL {profile.stop_signal.name}\n" in dockerfile, profile.name


def test_every_third_party_board_server_says_when_its_version_was_released() -> None:
    """Issue 22: the board shows each server's version and its release date (the bundled and seed servers have none)."""
    ours = {"server-level", "server-edge", "seed-lt", "seed-et"}
    for name, profile in profiles.load_profiles().items():
        assert bool(profile.released) == (name not in ours), name
    assert parse(changed("released", "2025-02-05")).released == "2025-02-05"
