"""`lab compare`: two runs' results matched case by case; a changed verdict, a gone or a new case is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.chaos.run.report import CaseResult
from lab.chaos.views.compare_command import compare, describe
from lab.cli import main


def result(case: str, outcome: str = "pass", failed: tuple[str, ...] = (), seed: int = 7,
           variant: str = "level") -> CaseResult:
    return CaseResult(id=case, variant=variant, target="bundled", outcome=outcome, failed_checks=failed, seed=seed)


def test_same_verdicts_are_identical_whatever_the_messages_or_order() -> None:
    before = [result("a"), result("b", "fail", ("fd_leak", "crash"))]
    after = [CaseResult(**{**result("b", "fail", ("crash", "fd_leak")).__dict__, "messages": ("other words",)}),
             result("a")]
    comparison = compare(before, after)
    assert comparison.identical and comparison.same == 2


def test_a_changed_check_a_gone_and_a_new_case_are_named() -> None:
    before = [result("a"), result("b", "fail", ("fd_leak",)), result("c")]
    after = [result("a", "fail", ("crash",)), result("b", "fail", ("fd_leak", "crash")), result("d")]
    comparison = compare(before, after)
    assert not comparison.identical and comparison.same == 0
    text = "\n".join(describe(comparison, Path("x"), Path("y")))
    assert "changed  a [level] seed 7: pass → fail: crash" in text
    assert "changed  b [level] seed 7: fail: fd_leak → fail: crash, fd_leak" in text
    assert "gone     c [level] seed 7" in text and "new      d [level] seed 7" in text
    # Another seed or another mode is another case, not the same one judged differently.
    assert not compare([result("a", seed=1)], [result("a", seed=2)]).changed
    assert compare([result("a", variant="edge")], [result("a")]).only_before
    # Two board runs with different seeds: the same cell, judged again.
    across = compare([result("a", seed=1)], [result("a", "fail", ("crash",), seed=2)], same_seed=False)
    assert "  changed  a [level]: pass → fail: crash" in describe(across, Path("x"), Path("y"))


def write(folder: Path, results: list[CaseResult]) -> Path:
    folder.mkdir()
    (folder / "results-gw0.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in results))
    return folder


def test_the_command_exits_1_on_a_difference_and_says_so_in_one_line_on_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    same = write(tmp_path / "one", [result("a")])
    assert main(["compare", str(same), str(write(tmp_path / "two", [result("a")]))]) == 0
    assert main(["compare", str(same), str(write(tmp_path / "three", [result("a", "error")]))]) == 1
    assert "pass → error" in capsys.readouterr().out
    board = tmp_path / "board"
    (board / "servers").mkdir(parents=True)
    write(board / "servers" / "nginx", [result("a")])
    assert main(["compare", str(same), str(board)]) == 0  # a board's results, one folder per server
    assert main(["compare", str(same), str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("epoll-lab: error: no such results folder") and len(err.splitlines()) == 1
