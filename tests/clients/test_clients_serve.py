"""``python -m clients serve``: the lab's client runs as requests on one process, each in a child of its own."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.chaos_server import RecordingServer, http

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSWER_WAIT_S = 30.0


@pytest.fixture
def serve() -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen([sys.executable, "-m", "clients", "serve"], cwd=REPO_ROOT, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            yield process
        finally:
            process.kill()


def ask(process: subprocess.Popen[str], request: dict[str, Any] | str) -> None:
    assert process.stdin is not None
    process.stdin.write((request if isinstance(request, str) else json.dumps(request)) + "\n")
    process.stdin.flush()


def answer(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()  # the fixture's process is killed at the end, should it hang
    assert line, "serve ended without an answer"
    return dict(json.loads(line))


@pytest.fixture
def silent_target() -> Iterator[str]:
    """A listener that never accepts: connects complete in its backlog, and no answer ever comes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_a_run_is_answered_with_its_code_and_its_json_result(serve: subprocess.Popen[str]) -> None:
    with RecordingServer(http()) as server:
        ask(serve, {"id": 7, "argv": ["run", "well_behaved", "--target", server.target, "--seed", "3", "--json"],
                    "limit_s": ANSWER_WAIT_S})
        got = answer(serve)
    assert got["id"] == 7 and got["code"] == 0, got["stderr"]
    result = json.loads(got["stdout"])
    assert result["behaviour"] == "well_behaved" and result["seed"] == 3
    assert result["summary"]["connections"] == 1


def test_bad_arguments_and_bad_requests_get_an_answer_not_an_end(serve: subprocess.Popen[str]) -> None:
    ask(serve, {"id": 1, "argv": ["run", "no_such_behaviour", "--target", "127.0.0.1:1"], "limit_s": 5})
    got = answer(serve)
    assert (got["id"], got["code"]) == (1, 2) and "unknown behaviour" in got["stderr"]
    ask(serve, "not json")
    got = answer(serve)
    assert got["id"] is None and got["code"] == 2 and "bad request" in got["stderr"]
    ask(serve, {"id": 2, "argv": ["list"], "limit_s": 0})
    assert "limit_s" in answer(serve)["stderr"]
    ask(serve, {"id": 3, "argv": ["list"], "limit_s": 5})  # and serve still serves
    got = answer(serve)
    assert got["id"] == 3 and got["code"] == 0 and "well_behaved" in got["stdout"]


def test_a_run_past_its_limit_is_killed_and_a_short_one_beside_it_is_not_held_up(
        serve: subprocess.Popen[str], silent_target: str) -> None:
    started = time.monotonic()
    ask(serve, {"id": "slow", "argv": ["run", "well_behaved", "--target", silent_target, "--set",
                                       "max_duration_s=60"], "limit_s": 1.0})
    ask(serve, {"id": "quick", "argv": ["list"], "limit_s": 5})
    first, second = answer(serve), answer(serve)
    assert first["id"] == "quick" and first["code"] == 0
    assert second["id"] == "slow" and second["code"] == -9
    assert 1.0 <= time.monotonic() - started < 10


def test_eof_ends_serve_once_its_running_clients_have_ended(serve: subprocess.Popen[str]) -> None:
    with RecordingServer(http()) as server:
        ask(serve, {"id": 1, "argv": ["run", "well_behaved", "--target", server.target, "--json"], "limit_s": 30})
        assert serve.stdin is not None
        serve.stdin.close()
        got = answer(serve)
        assert got["id"] == 1 and got["code"] == 0
        assert serve.wait(timeout=ANSWER_WAIT_S) == 0
