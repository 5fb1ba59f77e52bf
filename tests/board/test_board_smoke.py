"""A two-server, three-case board, end to end: the command, the labs, one JSON per cell and the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from lab.settings import REPO_ROOT

SERVERS = ("server-level", "nginx")
CASES = ("pipelined", "garbage", "slow_reader")
BUDGET_S = 120  # well under a minute of cases; image builds are cached by then (make test prepares them)


def test_a_small_board_writes_a_result_per_cell_and_the_report(tmp_path: Path) -> None:
    out = tmp_path / "board"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "lab", "board", "--servers", ",".join(SERVERS),
                           "--cases", ",".join(CASES), "--seed", "4242", "--workers", "1", "--out", str(out)],
                          cwd=REPO_ROOT, env=env, capture_output=True, timeout=BUDGET_S + 60, check=False)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    cells = [json.loads(path.read_text()) for path in sorted((out / "results").glob("*.json"))]
    assert sorted((cell["server"], cell["id"]) for cell in cells) == sorted(
        (server, case) for server in SERVERS for case in CASES)
    by_cell = {(cell["server"], cell["id"]): cell for cell in cells}
    assert all(cell["outcome"] != "error" for cell in cells), by_cell
    assert all(by_cell[("server-level", case)]["outcome"] == "pass" for case in CASES), by_cell
    assert "id=matrix" in (out / "index.html").read_text()
    assert elapsed < BUDGET_S, f"the small board took {elapsed:.0f} s"
