"""The composite Action (action.yml): what actionlint does not check, its steps' shell, run with a stand-in lab.

actionlint checks the Action's metadata and the inputs a workflow passes it (make lint), not the steps inside it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lab.settings import REPO_ROOT

ACTION = (REPO_ROOT / "action.yml").read_text()
FIXTURE_PROFILE = REPO_ROOT / "tests" / "fixtures" / "throwaway-project" / "profile.toml"
# Prints its arguments one per line, and makes the report folder a scorecard would.
STAND_IN = """#!/bin/sh
for word in "$@"; do echo "arg: $word"; done
mkdir -p reports/scorecard-20260101-000000
exit "${STAND_IN_EXIT:-0}"
"""


def run_blocks() -> dict[str, str]:
    """Each step's `run: |` script, by the step's name, as GitHub hands it to bash."""
    blocks = {}
    for step in re.split(r"\n    - ", ACTION.split("\n  steps:\n", 1)[1]):
        name = re.search(r"name: (.+)", step)
        found = re.search(r"\n      run: \|\n((?:        .*\n|\n)+)", step + "\n")
        if name and found:
            blocks[name.group(1)] = textwrap.dedent(found.group(1))
    return blocks


def test_every_input_the_steps_use_is_declared() -> None:
    declared = set(re.findall(r"^  ([a-z-]+):\n    description:", ACTION.split("\noutputs:")[0], re.MULTILINE))
    used = set(re.findall(r"\$\{\{ inputs\.([a-z-]+) \}\}", ACTION))
    assert used and used <= declared, used - declared
    assert {"image", "port", "profile", "cases", "args", "python-version"} <= declared


@pytest.mark.parametrize("name", sorted(run_blocks()))
def test_every_script_is_valid_bash(name: str) -> None:
    done = subprocess.run(["bash", "-n"], input=run_blocks()[name], capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr


def scorecard_step(tmp_path: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], list[str], str]:
    """The scorecard step as GitHub runs it (bash -eo pipefail), with a stand-in `epoll-lab` on PATH."""
    tools = tmp_path / "bin"
    tools.mkdir(exist_ok=True)
    (tools / "epoll-lab").write_text(STAND_IN)
    (tools / "epoll-lab").chmod(0o755)
    (tools / "python").unlink(missing_ok=True)
    (tools / "python").symlink_to(sys.executable)
    workspace, work = tmp_path / "workspace", tmp_path / "work"
    (workspace / "ci").mkdir(parents=True, exist_ok=True)
    (workspace / "ci" / "server.toml").write_text(FIXTURE_PROFILE.read_text())
    work.mkdir(exist_ok=True)
    output = tmp_path / "github-output"
    output.write_text("")
    env = {"PATH": f"{tools}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(output), "GITHUB_WORKSPACE": str(workspace),
           "IMAGE": inputs.get("image", ""), "PORT": inputs.get("port", "8080"),
           "PROFILE": inputs.get("profile", ""), "CASES": inputs.get("cases", ""), "EXTRA_ARGS": inputs.get("args", ""),
           "STAND_IN_EXIT": inputs.get("exit", "0")}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", run_blocks()["scorecard"]],
                          cwd=work, env=env, capture_output=True, text=True, timeout=60, check=False)
    args = [line.removeprefix("arg: ") for line in done.stdout.splitlines() if line.startswith("arg: ")]
    return done, args, output.read_text()


def test_with_a_profile_the_scorecard_gets_the_profile(tmp_path: Path) -> None:
    done, args, output = scorecard_step(tmp_path, image="epoll-lab-throwaway:ci", profile="ci/server.toml",
                                        cases="pipelined,slowloris", args="--seed 7 --workers 2")
    assert done.returncode == 0, done.stderr
    assert args == ["scorecard", "--profile", str(tmp_path / "workspace" / "ci" / "server.toml"),
                    "--cases", "pipelined,slowloris", "--seed", "7", "--workers", "2"]
    assert output == f"report={tmp_path / 'work' / 'reports' / 'scorecard-20260101-000000'}\n"


def test_a_profile_that_names_another_image_stops_the_step(tmp_path: Path) -> None:
    done, args, output = scorecard_step(tmp_path, image="my/server:2", profile="ci/server.toml")
    assert done.returncode != 0 and args == [] and output == ""
    assert "[target] image is 'epoll-lab-throwaway:ci', the image input is 'my/server:2'" in done.stderr


def test_without_a_profile_the_image_and_port_are_the_target(tmp_path: Path) -> None:
    done, args, _ = scorecard_step(tmp_path, image="my/server:2", port="8000")
    assert done.returncode == 0, done.stderr
    assert args == ["scorecard", "--target-image", "my/server:2", "--target-port", "8000"]


def test_a_failing_scorecard_fails_the_step_and_still_names_its_report(tmp_path: Path) -> None:
    done, _, output = scorecard_step(tmp_path, image="my/server:2", exit="1")
    assert done.returncode == 1
    assert output.startswith("report=") and output.strip().endswith("scorecard-20260101-000000")
