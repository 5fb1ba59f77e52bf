"""`python -m lab board`: the catalog against every board server, and `board merge` of shard results.

Each server is one run of the chaos suite (tests/chaos) with its profile (one lab per xdist worker,
the cases adapted by lab.chaos.adapt); its results land in OUT/servers/<name>/, and the report
(one JSON per server × case, index.html) in OUT/. The pure parts are lab.chaos.board.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lab import settings
from lab.chaos import board, catalog, report, targets
from lab.chaos.report import CaseResult
from lab.chaos.session import session_seed
from lab.compose import echo
from lab.errors import LabError
from lab.images import BOARD_SERVERS
from lab.profiles import Profile, find_profile, load_profiles

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
    seed = args.seed if args.seed is not None else session_seed()
    out = Path(args.out or report.DEFAULT_REPORTS / "board" / time.strftime("%Y%m%d-%H%M%S"))
    mine = board.shard_cells(board.cells(servers, cases), shard)
    echo(f"board: {len(mine)} cells of {len(servers) * len(cases)} (shard {shard.index}/{shard.count}), "
         f"seed {seed}, report in {out}")
    started = time.monotonic()
    results: list[CaseResult] = []
    for server in servers:
        server_cases = [case for name, case in mine if name == server]
        if server_cases:
            results += run_server(profiles[server], server_cases, seed, out, workers=args.workers)
    index = board.write_report(results, out)
    print(board.summary_table(results))
    print(f"board: {len(results)} results in {time.monotonic() - started:.0f} s; report {index}")
    return 0


def run_server(profile: Profile, cases: list[str], seed: int, out: Path, *, workers: str,
               run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run) -> list[CaseResult]:
    """The chaos suite's cases against one server: its results, each naming the server."""
    targets.build_image(profile)
    folder = out / "servers" / profile.name
    label = profile.trigger or "any"
    selected = [f"tests/chaos/test_catalog.py::test_case[{label}-{case}]" for case in cases]
    env = {key: value for key, value in os.environ.items()
           if key not in ("LAB_TARGET_IMAGE", "LAB_TARGET_PORT", "LAB_TRIGGER", "LAB_BUG")}
    env |= {"LAB_REPORTS_DIR": str(folder), "LAB_PROFILE": targets.reference(profile), "LAB_SEED": str(seed)}
    count = str(min(int(workers), len(cases))) if workers.isdigit() else workers
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", count,
               *selected]
    echo(f"board: {profile.name}: {len(cases)} cases")
    done = run(command, cwd=settings.REPO_ROOT, env=env, stdout=sys.stderr, check=False)
    if done.returncode not in (0, 1):
        echo(f"board: {profile.name}: the suite ended with pytest exit {done.returncode}; its results so far count")
    found = {result.id: result for result in report.read_results(folder) if result.id in cases}
    missing = [case for case in cases if case not in found]
    lost = [CaseResult(id=case, variant=label, target="", outcome="error", seed=seed, server=profile.name,
                       messages=(f"no result: the suite ended with pytest exit {done.returncode}",))
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
    parser.add_argument("--workers", default="2", help="pytest-xdist workers, one lab each (default: 2)")
