"""`python -m lab compare BEFORE AFTER`: two runs' results (reports/runs/<run>/) case by case: which verdicts
changed. For a refactoring that must not change a verdict, and for a server before and after a fix."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab.chaos.run.report import CaseResult, read_results
from lab.errors import LabError

Key = tuple[str, str, str, str]  # server, case, variant (trigger and bug), seed


@dataclass(frozen=True)
class Comparison:
    same: int
    changed: list[tuple[Key, str, str]]  # key, before, after ("pass", "fail: crash, fd_leak", ...)
    only_before: list[Key]
    only_after: list[Key]

    @property
    def identical(self) -> bool:
        return not (self.changed or self.only_before or self.only_after)


def verdict_of(result: CaseResult) -> str:
    """What a case's verdict is, to compare: its outcome and, when it failed, which checks failed."""
    return f"{result.outcome}: {', '.join(sorted(result.failed_checks))}" if result.failed_checks else result.outcome


def key_of(result: CaseResult, *, seed: bool = True) -> Key:
    return result.server, result.id, result.variant, str(result.seed) if seed else "any"


def compare(before: list[CaseResult], after: list[CaseResult], *, same_seed: bool = True) -> Comparison:
    """Pure: results matched by (server, case, variant, seed), or without the seed (two board runs with different
    seeds: is each cell stable?); a case run twice in one run keeps its last."""
    old = {key_of(result, seed=same_seed): verdict_of(result) for result in before}
    new = {key_of(result, seed=same_seed): verdict_of(result) for result in after}
    changed = [(key, old[key], new[key]) for key in sorted(old.keys() & new.keys()) if old[key] != new[key]]
    return Comparison(same=sum(1 for key in old.keys() & new.keys() if old[key] == new[key]), changed=changed,
                      only_before=sorted(old.keys() - new.keys()), only_after=sorted(new.keys() - old.keys()))


def describe(comparison: Comparison, before: Path, after: Path) -> list[str]:
    def name(key: Key) -> str:
        server, case, variant, seed = key
        return f"{server + ' ' if server else ''}{case} [{variant}]" + (f" seed {seed}" if seed != "any" else "")

    lines = [f"before {before}, after {after}: {comparison.same} cases with the same verdict, "
             f"{len(comparison.changed)} changed, {len(comparison.only_before)} only before, "
             f"{len(comparison.only_after)} only after"]
    lines += [f"  changed  {name(key)}: {old} → {new}" for key, old, new in comparison.changed]
    lines += [f"  gone     {name(key)}" for key in comparison.only_before]
    lines += [f"  new      {name(key)}" for key in comparison.only_after]
    return lines


def _results(folder: Path) -> list[CaseResult]:
    if not folder.is_dir():
        raise LabError(f"no such results folder: {folder}")
    # A run's folder holds its results-*.jsonl; a board's, one folder per server (servers/<name>/).
    found = [result for directory in sorted({path.parent for path in folder.rglob("results-*.jsonl")})
             for result in read_results(directory)]
    if not found:
        raise LabError(f"{folder} holds no results (results-*.jsonl)")
    return found


def cmd_compare(args: argparse.Namespace) -> int:
    comparison = compare(_results(args.before), _results(args.after), same_seed=not args.any_seed)
    print("\n".join(describe(comparison, args.before, args.after)))
    return 0 if comparison.identical else 1


def add_compare_command(command: Callable[[str, Callable[[argparse.Namespace], int], str],
                                          argparse.ArgumentParser]) -> None:
    compare_cmd = command("compare", cmd_compare, "compare two runs' verdicts case by case (exit 1 if any differ)")
    compare_cmd.add_argument("before", type=Path, help="a results folder (reports/runs/<run>)")
    compare_cmd.add_argument("after", type=Path, help="another one")
    compare_cmd.add_argument("--any-seed", action="store_true",
                             help="match cases whatever their seeds (two runs with different seeds: stable verdicts?)")
