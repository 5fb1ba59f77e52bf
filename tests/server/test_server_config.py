"""Every --foo-bar flag falls back to SERVER_FOO_BAR; flags win; bad values fail like bad flags."""

from __future__ import annotations

import pytest

from server.config import MIN_BACKLOG, build_parser, env_name, parse_config

# One valid, non-default value per option, as it would be written in the environment.
SAMPLES = {
    "--host": ("127.0.0.2", "127.0.0.2"),
    "--port": ("9090", 9090),
    "--trigger": ("edge", "edge"),
    "--header-timeout": ("2", 2.0),
    "--idle-timeout": ("5", 5.0),
    "--write-timeout": ("5", 5.0),
    "--max-request-line": ("1000", 1000),
    "--max-header-bytes": ("2000", 2000),
    "--max-body-bytes": ("3000", 3000),
    "--backlog": ("2048", 2048),
    "--tcp-nodelay": ("0", False),
    "--tcp-cork": ("yes", True),
    "--workers": ("3", 3),
    "--log-json": ("-", "-"),
    "--shutdown-deadline": ("1.5", 1.5),
    "--bug": ("no_timeouts", "no_timeouts"),
}


def test_every_option_has_a_sample() -> None:
    options = {s for a in build_parser()._actions for s in a.option_strings if s.startswith("--") and s != "--help"}
    assert options == set(SAMPLES)


@pytest.mark.parametrize("option", sorted(SAMPLES))
def test_environment_fallback(option: str) -> None:
    text, value = SAMPLES[option]
    dest = option[2:].replace("-", "_")
    assert getattr(parse_config([], {env_name(option): text}), dest) == value
    assert getattr(parse_config([], {}), dest) != value  # the sample is not the default


def test_flags_win_over_the_environment() -> None:
    env = {"SERVER_TRIGGER": "edge", "SERVER_TCP_NODELAY": "0"}
    config = parse_config(["--trigger", "level", "--tcp-nodelay"], env)
    assert (config.trigger, config.tcp_nodelay) == ("level", True)


def test_empty_environment_values_are_ignored() -> None:
    assert parse_config([], {"SERVER_BUG": "", "SERVER_PORT": ""}).bug is None


@pytest.mark.parametrize(
    "env", [{"SERVER_TRIGGER": "sideways"}, {"SERVER_PORT": "70000"}, {"SERVER_WORKERS": "0"},
            {"SERVER_BUG": "nope"}, {"SERVER_TCP_CORK": "maybe"}, {"SERVER_HEADER_TIMEOUT": "-1"}],
)
def test_bad_environment_values_exit_2(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_config([], env)
    assert info.value.code == 2
    assert next(iter(env)) in capsys.readouterr().err


def test_backlog_is_at_least_1024() -> None:
    assert parse_config(["--backlog", "16"], {}).backlog == MIN_BACKLOG
    assert parse_config([], {}).backlog >= MIN_BACKLOG
