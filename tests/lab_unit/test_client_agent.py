"""The host's end of `clients serve`: answers matched to requests, an agent that ended started again, and a
missing answer an error, never a hang. The agent runs here, as `docker exec -i … serve` runs it in the lab."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from pathlib import Path

import pytest

from lab.client_agent import ClientAgent
from lab.errors import LabError

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE = ["env", f"PYTHONPATH={REPO_ROOT}", sys.executable, "-m", "clients", "serve"]


def test_concurrent_runs_each_get_their_own_answer() -> None:
    agent = ClientAgent(SERVE)
    results: dict[int, tuple[int, bytes]] = {}

    def run(index: int) -> None:
        argv = ["list"] if index % 2 else ["run", f"no_such_{index}", "--target", "127.0.0.1:1"]
        done = agent.run(argv, limit_s=10, timeout=30)
        results[index] = (done.returncode, done.stdout + done.stderr)

    try:
        threads = [threading.Thread(target=run, args=(index,)) for index in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        agent.close()
    assert sorted(results) == list(range(6))
    for index, (code, output) in results.items():
        if index % 2:
            assert code == 0 and b"well_behaved" in output
        else:
            assert code == 2 and f"no_such_{index}".encode() in output


def test_an_agent_that_ended_is_said_so_and_started_again_for_the_next_run() -> None:
    agent = ClientAgent(SERVE)
    with socket.socket() as silent:  # connects complete in its backlog; no answer ever comes
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        try:
            assert agent.run(["list"], limit_s=10, timeout=30).returncode == 0
            process = agent._process
            assert process is not None
            # The clients container was killed (a fault): its agent goes with it, mid-run.
            killer = threading.Timer(0.5, lambda: os.kill(process.pid, signal.SIGKILL))
            killer.start()
            with pytest.raises(LabError, match="the clients agent ended"):
                agent.run(["run", "well_behaved", "--target", f"127.0.0.1:{silent.getsockname()[1]}", "--set",
                           "max_duration_s=30"], limit_s=30, timeout=30)
            killer.join()
            assert agent.run(["list"], limit_s=10, timeout=30).returncode == 0
            assert agent._process is not process
        finally:
            agent.close()


def test_no_answer_in_time_is_an_error_not_a_hang() -> None:
    agent = ClientAgent(["sh", "-c", "cat > /dev/null"])  # reads every request, answers none
    try:
        with pytest.raises(LabError, match=r"no answer within 0\.5 s"):
            agent.run(["list"], limit_s=10, timeout=0.5)
    finally:
        agent.close()
