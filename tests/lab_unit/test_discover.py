"""`lab profile init`'s measuring (lab/discover.py) against local careful servers with known deadlines, and its
draft profile read back by lab.profiles. Each test is bounded to a few seconds."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import pytest

from lab import discover
from lab.cli import main
from lab.profile_command import draft_toml, toml_string
from lab.profiles import LAB_PATTERN, parse_profile
from tests.lab_unit import careful

HEADER_S, IDLE_S, WRITE_S = 1.0, 2.0, 2.0
MEASURE_SLACK_S = 0.6  # the deadline checks' own granularity plus a loaded machine's scheduling


def test_the_deadlines_are_measured_within_their_bounds() -> None:
    with careful.running(header_s=HEADER_S, idle_s=IDLE_S, write_s=WRITE_S) as (_, port):
        started = time.monotonic()
        found = discover.discover("img", "127.0.0.1", port, target_port=8080, small_path="/health",
                                  large_path="/blob/16777216", echo_path="/mirror", limits=(5, 6, 5),
                                  write_coarse=(1.0, 3.0))  # then 1.5, 2 and 2.5 s: two short passes
        took = time.monotonic() - started
    measured = {key: finding.value for key, finding in found.deadlines.items()}
    for key, configured in (("header_s", HEADER_S), ("idle_s", IDLE_S), ("write_s", WRITE_S)):
        value = measured[key]
        assert isinstance(value, float) and abs(value - configured) <= MEASURE_SLACK_S, (key, found.deadlines[key])
        assert found.deadlines[key].how.startswith("measured:")
    assert took < 10, "the three slow clients run at once"
    assert (found.small.status, found.small.body) == (200, b"ok\n")
    assert found.large is not None and found.large[:2] == ("/blob/16777216", 16 << 20)
    assert found.echo == ("/mirror", discover.ECHO_MAX_PROBE)
    assert found.keep_alive.value is True


def test_no_deadline_within_the_bound_is_said_so() -> None:
    with careful.running(header_s=60, idle_s=60, write_s=60) as (_, port):
        header = discover.measure_header("127.0.0.1", port, limit_s=1.5)
        idle = discover.measure_idle("127.0.0.1", port, "/health", limit_s=1.0)
        write = discover.measure_write("127.0.0.1", port, "/blob/16777216", 16 << 20, limit_s=1.0)
    for finding, what in ((header, "header"), (idle, "idle"), (write, "write")):
        assert finding.value is None and finding.how.startswith(f"measured: no {what} deadline"), finding


def test_a_large_route_the_kernels_can_buffer_is_not_used_for_the_write_deadline() -> None:
    finding = discover.measure_write("127.0.0.1", 1, "/small", 1 << 20)
    assert finding.value is None and "fit in the kernels' buffers" in finding.how


def test_the_second_pass_is_every_half_second_between_the_first_ones_bracket_and_coarser_above_20_s() -> None:
    assert discover.fine_rungs(4.0, 6.0) == [4.5, 5.0, 5.5]
    assert discover.fine_rungs(0.0, 2.0) == [0.5, 1.0, 1.5]
    assert discover.fine_rungs(20.0, 30.0) == [float(s) for s in range(21, 30)]
    assert discover.fine_rungs(4.0, 4.5) == []
    assert len(discover.COARSE_RUNGS) <= 10 and max(discover.COARSE_RUNGS) < discover.WRITE_LIMIT_S


def discovered(**changes: object) -> discover.Discovered:
    base: dict[str, object] = {
        "image": "someone/server:1", "port": 8081, "small_path": "/health",
        "small": discover.Response(200, b'ok "quoted"\\ \x7f\n', True), "large": ("/blob/9", 9, "ab" * 32),
        "large_how": "measured: GET /blob/9 fetched once", "echo": ("/mirror", 1024), "echo_how": "measured: echoed",
        "deadlines": {"header_s": discover.Finding(3.1, "measured: cut off after 3.1 s"),
                      "idle_s": discover.Finding(None, "measured: no idle deadline; open after 65 s"),
                      "write_s": discover.Finding(4.0, "measured: between 3.5 and 4.5 s")},
        "keep_alive": discover.Finding(True, "measured: open after a response")}
    return discover.Discovered(**(base | changes))  # type: ignore[arg-type]


def read_back(text: str) -> object:
    return parse_profile(tomllib.loads(text), name="draft", source=Path("draft.toml"))


def test_the_draft_round_trips_through_the_profile_parser() -> None:
    text = draft_toml(discovered())
    profile = read_back(text)
    assert profile.image == "someone/server:1" and profile.port == 8081 and profile.keep_alive  # type: ignore[attr-defined]
    assert profile.deadlines.header_s == 3.1 and profile.deadlines.idle_s is None  # type: ignore[attr-defined]
    assert profile.deadlines.write_s == 4.0  # type: ignore[attr-defined]
    assert profile.routes.small.body == b'ok "quoted"\\ \x7f\n'  # type: ignore[attr-defined]
    assert profile.routes.large.sha256 == "ab" * 32 and profile.routes.large.sizes == (9,)  # type: ignore[attr-defined]
    assert profile.routes.echo.path == "/mirror"  # type: ignore[attr-defined]
    assert "# idle_s: measured: no idle deadline" in text and "guessed" in text
    assert profile.stop_signal.name == "SIGTERM"  # type: ignore[attr-defined]
    assert read_back(draft_toml(discovered(), stop_signal="SIGQUIT")).stop_signal.name == "SIGQUIT"  # type: ignore[attr-defined]


def test_a_draft_with_the_lab_pattern_no_echo_no_keep_alive_and_a_binary_body_round_trips() -> None:
    text = draft_toml(discovered(small=discover.Response(200, b"\xff\xfe", False), large=("/bytes/1024", 1024, None),
                                 echo=None, echo_how="not found: POST /echo did not echo",
                                 keep_alive=discover.Finding(False, "measured: closes after each response")))
    profile = read_back(text)
    assert profile.routes.small.body is None and not profile.keep_alive  # type: ignore[attr-defined]
    assert profile.routes.large.pattern == LAB_PATTERN  # type: ignore[attr-defined]
    assert profile.routes.missing == {"echo": "not found: POST /echo did not echo"}  # type: ignore[attr-defined]


def test_toml_strings_escape_what_toml_requires() -> None:
    text = 'a"b\\c\n\t\x00\x7fé\U0001f600'
    assert tomllib.loads(f"x = {toml_string(text)}")["x"] == text


def test_no_such_image_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """With an engine: the image is looked up first; without one, the engine's absence is the one line."""
    assert main(["profile", "init", "--image", "epoll-lab/no-such-image:none", "--port", "8080"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("epoll-lab: error:")
    assert main(["profile", "init", "--image", "x", "--port", "70000"]) == 1
    assert "a port, 1 to 65535" in capsys.readouterr().err
