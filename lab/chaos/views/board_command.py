"""`python -m lab board`: the catalog against every board server, and `board merge` of shard results.

Each server is one run of the catalog with its profile, played by the lab's scheduler (one lab per worker
process, the cases adapted by lab.chaos.model.adapt); its results land in OUT/servers/<name>/, and the report
(one JSON per server × case, index.html) in OUT/. The pure parts are lab.chaos.views.board.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from lab.chaos.model import catalog
from lab.chaos.run import report, targets
from lab.chaos.run.report import CaseResult
from lab.chaos.run.scheduler import Job, Result, plan, worker_count
from lab.chaos.views import board
from lab.chaos.views.progress import play_and_print
from lab.compose import echo
from lab.errors import LabError
from lab.images import BOARD_SERVERS
from lab.profiles import Profile, find_profile, load_profiles
from lab.run_config import DEFAULT_REPORTS, RunConfig

DEFAULT_SERVERS = (*BOARD_SERVERS, "server-level", "server-edge")


def default_servers() -> list[str]:
    shipped = load_profiles()
    return [name for name in DEFAULT_SERVERS if name in shipped] + sorted(set(shipped) - set(DEFAULT_SERVERS))


def cmd_board(args: argparse.Namespace) -> int:
    if args.words and args.words[0] == "merge":
        return main_merge([Path(word) for word in args.words[1:]], Path(args.out or "reports/board"))
    if args.words:
        raise LabError(f"unknown board action {args.words[0]!r}: `board` runs, `board merge DIRS... --out DIR` merges")
    servers = _names(args.servers) or default_servers()
    profiles = {name: find_profile(name) for name in servers}
    cases = _names(args.cases) or [scenario.id for scenario in catalog.CATALOG]
    for case in cases:
        if case not in catalog.BY_ID:
            raise LabError(f"no case {case!r}; `python -m lab cases` lists them")
    try:
        shard = board.Shard.parse(args.shard or "1/1")
    except ValueError as error:
        raise LabError(str(error)) from None
    run = RunConfig.from_env(os.environ, seed=args.seed)
    seed = run.seed
    out = Path(args.out or DEFAULT_REPORTS / "board" / time.strftime("%Y%m%d-%H%M%S"))
    mine = board.shard_cells(board.cells(servers, cases), shard)
    echo(f"board: {len(mine)} cells of {len(servers) * len(cases)} (shard {shard.index}/{shard.count}), "
         f"seed {seed}, report in {out}")
    started = time.monotonic()
    results: list[CaseResult] = []
    for server in servers:
        server_cases = [case for name, case in mine if name == server]
        if server_cases:
            results += run_server(profiles[server], server_cases, run, out, workers=args.workers)
    index = board.write_report(results, out)
    print(board.summary_table(results))
    print(f"board: {len(results)} results in {time.monotonic() - started:.0f} s; report {index}")
    return 0


def run_server(profile: Profile, cases: list[str], run: RunConfig, out: Path, *, workers: str,
               execute: Callable[[list[Job], RunConfig, int], list[Result]] = play_and_print) -> list[CaseResult]:
    """The catalog's cases against one server, played by the lab's scheduler: its results, each naming it."""
    targets.build_image(profile)
    folder = out / "servers" / profile.name
    label = profile.trigger or "any"
    # the server's own target: the run's image and trigger settings are the board's, not the server's
    server_run = replace(run, profile=targets.reference(profile), target_image=None, target_port=None,
                         trigger=None, bug=None, reports_dir=folder)
    jobs = plan([catalog.get(case) for case in cases if case in catalog.BY_ID], run.seed, profile=profile,
                bundled=profile.trigger is not None)
    echo(f"board: {profile.name}: {len(cases)} cases")
    execute(jobs, server_run, worker_count(workers, len(jobs)))
    found = {result.id: result for result in report.read_results(folder) if result.id in cases}
    missing = [case for case in cases if case not in found]
    lost = [CaseResult(id=case, variant=label, target="", outcome="error", seed=run.seed, server=profile.name,
                       messages=("no result: the case was not played",))
            for case in missing]
    return [*found.values(), *lost]


def main_merge(directories: list[Path], out: Path) -> int:
    if not directories:
        raise LabError("board merge: name the shard folders to merge (board merge DIR... --out DIR)")
    lists = []
    for directory in directories:
        # A run that was stopped before its report has each server's own results only: they count too.
        found = board.read_cell_results(directory) or server_results(directory)
        if not found:
            raise LabError(f"board merge: no results in {directory}/results/")
        lists.append(found)
        if (directory / "servers").is_dir() and directory.resolve() != out.resolve():
            shutil.copytree(directory / "servers", out / "servers", dirs_exist_ok=True)
    merged = board.merge(lists)
    index = board.write_report(merged, out)
    print(board.summary_table(merged))
    print(f"board merge: {len(merged)} results from {len(directories)} folders; report {index}")
    return 0


def server_results(directory: Path) -> list[CaseResult]:
    """The results each server's suite recorded under directory/servers/<name>/."""
    return [result for folder in sorted((directory / "servers").glob("*")) if folder.is_dir()
            for result in report.read_results(folder)]


def _names(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def add_board_command(command: Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser],
                      ) -> None:
    parser = command("board", cmd_board, "run the catalog against the board's servers and write the HTML report "
                                         "(`board merge DIRS... --out DIR` merges shard results)")
    parser.add_argument("words", nargs="*", metavar="merge DIR", help="`merge` and the shard folders to merge")
    parser.add_argument("--servers", help="comma-separated profile names (default: every board server)")
    parser.add_argument("--cases", help="comma-separated case ids (default: the whole catalog)")
    parser.add_argument("--seed", type=int, help="one seed for every cell (default: a fresh one, printed)")
    parser.add_argument("--shard", metavar="I/N", help="run only the I-th of N shares of the server × case cells")
    parser.add_argument("--out", help="the report folder (default: reports/board/<time>)")
    parser.add_argument("--workers", default="2", help="worker processes, one lab each (default: 2)")
