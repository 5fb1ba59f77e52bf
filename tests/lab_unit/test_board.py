"""The board's pure parts (lab/chaos/views/board.py) and its command without Docker; the report in headless Chromium."""

from __future__ import annotations

import html
import json
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.chaos.run import targets
from lab.chaos.run.report import CaseResult
from lab.chaos.run.scheduler import Job, Result
from lab.chaos.views import board, board_command
from lab.chaos.views.triage import CLASSES, Triage, load_triage
from lab.errors import LabError
from lab.profiles import find_profile
from lab.run_config import RunConfig

SERVERS = ["nginx", "node", "seed-lt", "server-level"]
CASES = ["pipelined", "garbage", "slow_reader", "slowloris", "connect_storm"]


def fake_run(cell: board.Cell, seed: int) -> CaseResult:
    """What a cell's run gives, a pure function of the cell and the seed (as the lab's runs are meant to be)."""
    server, case = cell
    rng = random.Random(f"{seed}-{server}-{case}")
    outcome = rng.choice(["pass", "pass", "fail", "skip"])
    messages = (f"no_timeout: cut off too late [reproduce: python -m lab run {case} --seed {seed}]",) \
        if outcome == "fail" else ()
    return CaseResult(id=case, variant="level" if server == "server-level" else "any", target=server,
                      outcome=outcome, messages=messages, seed=seed, server=server)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 25])
def test_sharded_and_merged_results_equal_a_single_runs(count: int) -> None:
    everything = board.cells(SERVERS, CASES)
    single = board.merge([[fake_run(cell, 4242) for cell in everything]])
    shards = [board.shard_cells(everything, board.Shard(index, count)) for index in range(1, count + 1)]
    assert sorted(cell for shard in shards for cell in shard) == sorted(everything)  # each cell exactly once
    merged = board.merge([[fake_run(cell, 4242) for cell in shard] for shard in reversed(shards)])
    assert merged == single
    assert merged != board.merge([[fake_run(cell, 4243) for cell in everything]])  # the seed matters


def test_results_written_per_cell_read_back_equal(tmp_path: Path) -> None:
    results = [fake_run(cell, 7) for cell in board.cells(SERVERS, CASES)]
    board.write_results(results, tmp_path)
    assert len(list((tmp_path / "results").glob("*.json"))) == len(SERVERS) * len(CASES)
    assert board.read_cell_results(tmp_path) == board.merge([results])


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_a_bad_shard_is_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="expected I/N"):
        board.Shard.parse(text)


def write_fixture_report(directory: Path) -> list[CaseResult]:
    results = [fake_run(cell, 4242) for cell in board.cells(SERVERS, CASES)]
    failing = next(r for r in results if r.outcome == "fail")
    timelines = directory / "servers" / failing.server / "timelines"
    timelines.mkdir(parents=True)
    (timelines / f"{failing.id}--{failing.variant}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (timelines / f"{failing.id}--{failing.variant}.json").write_text("{}")
    board.write_report(results, directory)
    return results


def test_every_cell_links_to_its_evidence(tmp_path: Path) -> None:
    results = write_fixture_report(tmp_path)
    page = (tmp_path / "index.html").read_text()
    for result in results:
        assert f"href='#{board.evidence_id(result)}'" in page
        assert f"id='{board.evidence_id(result)}'" in page
    failing = next(r for r in results if r.outcome == "fail")
    assert f"src='servers/{failing.server}/timelines/{failing.id}--{failing.variant}.png'" in page
    assert f"python -m lab run {failing.id} --seed 4242" in page


def test_each_server_shows_its_version_and_release_date(tmp_path: Path) -> None:
    """Issue 22: under each server's name in the matrix, and on its line of the summary, what version ran and when
    it was released, from its profile; a server without a profile shows none."""
    nginx = find_profile("nginx")
    results = [CaseResult(id="garbage", variant="any", target="nginx", outcome="pass", seed=1, server="nginx"),
               CaseResult(id="garbage", variant="any", target="x", outcome="pass", seed=1, server="no-such-server")]
    page = board.render_html(results, tmp_path)
    assert f"<small class=version title='{html.escape(board.version_line('nginx'))}'>" \
           f"{nginx.software.split(' (')[0]}<br>{nginx.released}</small>" in page
    lines = board.summary_table(results).splitlines()
    assert lines[0].endswith("version") and lines[1].endswith(f"{nginx.software}; released {nginx.released}")
    assert lines[2].split() == ["no-such-server", "1", "0", "0", "0", "1/1", "(100%)"]  # coverage, no version


def test_the_command_runs_each_server_once_with_its_profile_and_its_shard(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def execute(jobs: list[Job], run: RunConfig, workers: int) -> list[Result]:
        calls.append({"profile": run.profile, "jobs": [job.name for job in jobs], "seeds": {job.seed for job in jobs},
                      "workers": workers, "image": run.target_image})
        run.reports_dir.mkdir(parents=True, exist_ok=True)
        (run.reports_dir / "results-gw0.jsonl").write_text("")  # the jobs recorded nothing: errors follow
        return []

    monkeypatch.setattr(targets, "build_image", lambda profile: None)
    board_run = RunConfig(seed=5, target_image="the/board-run:1", reports_dir=tmp_path / "elsewhere")
    results = board_command.run_server(find_profile("nginx"), ["garbage", "pipelined"], board_run, tmp_path,
                                       workers="3", execute=execute)
    assert calls == [{"profile": "nginx", "jobs": ["any-garbage", "any-pipelined"], "seeds": {5}, "workers": 2,
                      "image": None}]
    assert [(r.server, r.id, r.outcome) for r in results] == [("nginx", "garbage", "error"),
                                                               ("nginx", "pipelined", "error")]
    assert (tmp_path / "servers" / "nginx" / "results-gw0.jsonl").exists()


# -- the report in a real browser ---------------------------------------------------------------------------
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[str]:
    """Debian's chromium: installed here only when missing; the test skips with the reason if it cannot be."""
    found = shutil.which("chromium")
    if found is None and shutil.which("apt-get"):
        try:
            subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, timeout=600,
                           check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            pytest.skip(f"chromium is missing and apt-get could not install it: {error}")
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is missing and could not be installed (apt-get install chromium)")
    yield found


def test_the_report_renders_its_matrix_in_headless_chromium(chromium: str, tmp_path: Path) -> None:
    results = write_fixture_report(tmp_path / "report")
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                           (tmp_path / "report" / "index.html").as_uri()],
                          capture_output=True, timeout=120, check=False)
    dom = done.stdout.decode(errors="replace")
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert "<table class=\"matrix\" id=\"matrix\">" in dom  # parsed and serialized by the browser
    assert dom.count("<tr>") == len(CASES) + 1  # a row per case under the header row
    for server in SERVERS:
        assert f"<th class=\"server\">{server}<br>" in dom
    for result in results:
        assert f"href=\"#{board.evidence_id(result)}\"" in dom


def test_merge_reads_the_servers_own_results_of_a_stopped_run(tmp_path: Path) -> None:
    stopped = tmp_path / "stopped"
    for server in ("nginx", "node"):
        folder = stopped / "servers" / server
        folder.mkdir(parents=True)
        lines = [json.dumps(fake_run((server, case), 3).to_json()) for case in CASES]
        (folder / "results-gw0.jsonl").write_text("\n".join(lines) + "\n")
    assert board_command.main_merge([stopped], tmp_path / "merged") == 0
    merged = board.read_cell_results(tmp_path / "merged")
    assert merged == board.merge([[fake_run((s, c), 3) for s in ("nginx", "node") for c in CASES]])
    assert (tmp_path / "merged" / "index.html").exists()


def test_a_failing_cell_says_its_triage_class_and_a_skipped_one_its_reason(tmp_path: Path) -> None:
    """Issue 22: a reader tells a finding from a red square, and sees why a cell was skipped."""
    failing = CaseResult(id="fd_exhaustion", variant="any", target="x", outcome="fail", seed=1, server="tornado",
                         failed_checks=("cpu_spin",), messages=("cpu_spin: 30% of a core [reproduce: python -m lab "
                                                                "run fd_exhaustion --seed 1 --profile tornado]",))
    skipped = CaseResult(id="post_body", variant="any", target="x", outcome="skip", seed=1, server="tornado",
                         messages=("needs an echo POST: none declared",))
    other = CaseResult(id="garbage", variant="any", target="x", outcome="fail", seed=1, server="tornado",
                       failed_checks=("wrong_response",), messages=("wrong_response: 200",))
    triage = {("tornado", "fd_exhaustion"): Triage("defect", "EMFILE spins", "findings/tornado-emfile.md")}
    page = board.render_html([failing, skipped, other], tmp_path, triage=triage, docs="../docs/")
    assert ("<small class='triage defect' title='EMFILE spins'><a href='../docs/findings/tornado-emfile.md'>defect"
            "</a></small>") in page
    assert "title='needs an echo POST: none declared'>skip</a>" in page
    assert "<small class=untriaged>untriaged</small>" in page  # a failing cell nobody classed says so
    text = board.failing_cells([failing, skipped, other], triage)
    assert "## tornado · fd_exhaustion · any: fail (cpu_spin) — defect: EMFILE spins" in text
    assert "- reproduce: `python -m lab run fd_exhaustion --seed 1 --profile tornado`" in text
    assert "## tornado · garbage · any: fail (wrong_response) — untriaged" in text and "post_body" not in text


def test_the_triage_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "triage.toml"
    path.write_text('[[cell]]\nserver = "a"\ncase = "b"\nclass = "defect"\nnote = "x"\n')
    assert load_triage(path) == {("a", "b"): Triage("defect", "x")}
    path.write_text('[[cell]]\nserver = "a"\ncase = "b"\nclass = "bug"\nnote = "x"\n')
    with pytest.raises(LabError, match="class 'bug' is not one of"):
        load_triage(path)
    path.write_text('[[cell]]\nserver = "a"\ncase = "b"\nclass = "defect"\n')
    with pytest.raises(LabError, match="cell 1: missing 'note'"):
        load_triage(path)
    assert load_triage(tmp_path / "none.toml") == {}
    assert all(entry.kind in CLASSES for entry in load_triage().values())  # the repository's own file reads
