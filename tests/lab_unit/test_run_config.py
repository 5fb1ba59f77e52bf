"""One run's configuration, built once at an edge (the CLI, the pytest plugin) and passed down; the environment
is read at the edges only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.chaos.run.play import base_lab
from lab.cli import build_parser
from lab.profiles import find_profile
from lab.run_config import DEFAULT_REPORTS, SEED_BYTES, RunConfig
from lab.settings import REPO_ROOT, SERVER_IMAGE

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


def test_defaults_without_environment_or_arguments() -> None:
    run = RunConfig.from_env({})
    assert 0 <= run.seed < 1 << (8 * SEED_BYTES)
    assert (run.profile, run.target_image, run.target_port, run.trigger, run.bug) == (None,) * 5
    assert (run.capture, run.reports_dir, run.docker_hosts, run.run_id) == (False, DEFAULT_REPORTS, "", "")
    assert base_lab(run).bundled_target


def test_the_environment_at_the_edge_fills_what_is_not_given() -> None:
    env = {"LAB_SEED": "12", "LAB_TARGET_IMAGE": "someone/server:1", "LAB_TARGET_PORT": "81", "LAB_TRIGGER": "edge",
           "LAB_BUG": "no_timeouts", "LAB_CAPTURE": "1", "LAB_REPORTS_DIR": "/tmp/r", "LAB_DOCKER_HOSTS": "local,b",
           "LAB_RUN_ID": "ci7"}
    run = RunConfig.from_env(env)
    assert run == RunConfig(seed=12, target_image="someone/server:1", target_port=81, trigger="edge",
                            bug="no_timeouts", capture=True, reports_dir=Path("/tmp/r"), docker_hosts="local,b",
                            run_id="ci7")
    given = RunConfig.from_env(env, seed=3, target_port=90, reports_dir=Path("/x"))
    assert (given.seed, given.target_port, given.reports_dir, given.target_image) == (3, 90, Path("/x"),
                                                                                      "someone/server:1")
    with pytest.raises(TypeError, match="no colour"):
        RunConfig.from_env({}, colour="red")


def test_a_profile_names_its_own_target() -> None:
    run = RunConfig.from_env({"LAB_PROFILE": "nginx", "LAB_TARGET_IMAGE": "x/y:1", "LAB_TARGET_PORT": "1"})
    assert (run.profile, run.target_image, run.target_port) == ("nginx", None, None)
    lab = base_lab(run, project="p")
    assert (lab.target_image, lab.target_port, lab.project, lab.bundled_target) == (
        find_profile("nginx").image, find_profile("nginx").port, "p", False)
    edge = base_lab(RunConfig.from_env({"LAB_PROFILE": "server-edge"}))
    assert (edge.bundled_target, edge.trigger) == (True, "edge")
    assert base_lab(RunConfig.from_env({"LAB_TARGET_IMAGE": SERVER_IMAGE})).bundled_target


def test_from_the_command_line() -> None:
    args = build_parser().parse_args(["run", "slowloris", "--seed", "5", "--trigger", "edge", "--capture",
                                      "--target-image", "a/b:1", "--target-port", "9000"])
    run = RunConfig.from_args(args, {"LAB_SEED": "99", "LAB_REPORTS_DIR": "/tmp/q"})
    assert (run.seed, run.trigger, run.capture, run.target_image, run.target_port, run.reports_dir) == (
        5, "edge", True, "a/b:1", 9000, Path("/tmp/q"))
    card = build_parser().parse_args(["scorecard", "--cases", "slowloris"])
    assert RunConfig.from_args(card, {"LAB_SEED": "99"}).seed == 99  # no --seed: the environment's


# Where LAB_* may be read: the CLI and the chaos commands' argument handling, the pytest plugin, and settings.py
# for the compose file's image names. Everything else gets a RunConfig.
EDGES = {"lab/cli.py", "lab/chaos/views/commands.py", "lab/chaos/views/board_command.py",
         "lab/chaos/views/check_command.py", "lab/profile_command.py", "lab/chaos/views/pytest_plugin.py",
         "lab/settings.py"}
ENV_READ = re.compile(r"os\.environ|getenv")


def test_no_module_below_the_edges_reads_a_lab_variable() -> None:
    reads = [f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
             for path in sorted((REPO_ROOT / "lab").rglob("*.py")) if str(path.relative_to(REPO_ROOT)) not in EDGES
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if ENV_READ.search(line) and ("LAB_" in line or "HOSTS_ENV" in line)]
    assert reads == []


def test_no_production_module_names_the_test_tree() -> None:
    named = [f"{path.relative_to(REPO_ROOT)}:{number}" for top in ("lab", "server", "clients")
             for path in sorted((REPO_ROOT / top).rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1) if "tests/" in line]
    assert named == []


def test_the_plugin_hands_its_seed_and_folder_to_xdist_workers_and_writes_no_environment(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    for key in ("LAB_SEED", "LAB_REPORTS_DIR"):
        monkeypatch.delenv(key, raising=False)
    seen = pytester.path / "seen"
    seen.mkdir()
    pytester.makepyfile(test_workers=f"""
        import os
        import pytest
        from lab.chaos.views.pytest_plugin import run_config

        @pytest.mark.parametrize("n", range(4))
        def test_one(n):
            assert not [key for key in os.environ if key.startswith("LAB_")]
            run = run_config()
            (__import__("pathlib").Path({str(seen)!r}) / f"{{os.getpid()}}-{{n}}").write_text(
                f"{{run.seed}} {{run.reports_dir}}")
    """)
    result = pytester.runpytest_subprocess("-p", "lab.chaos.views.pytest_plugin", "-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=4)
    written = {path.read_text() for path in seen.iterdir()}
    pids = {path.name.split("-")[0] for path in seen.iterdir()}
    assert len(written) == 1 and len(pids) == 2  # two workers, one seed and one folder
    (seed, folder) = written.pop().split(" ")
    assert f"epoll-lab: seed {seed}, " in result.stdout.str() and f"reports in {folder}" in result.stdout.str()
    assert Path(folder).parent == DEFAULT_REPORTS / "runs"
