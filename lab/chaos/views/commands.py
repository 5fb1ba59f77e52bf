"""`python -m lab cases | run | scorecard`: the chaos catalog from the command line."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from clients.history import RunHistory
from lab import engine, settings
from lab.chaos.model import catalog
from lab.chaos.model.adapt import Skip, adapt
from lab.chaos.model.checks import judge, outcome
from lab.chaos.model.faults import FaultUnavailable
from lab.chaos.model.history import CaseHistory
from lab.chaos.model.scenario import Scenario
from lab.chaos.model.zoo import BY_BUG, ZOO
from lab.chaos.run import report, targets
from lab.chaos.run.play import base_lab, target_profile
from lab.chaos.run.scheduler import Job, plan, worker_count
from lab.chaos.run.session import LabSession, Variant
from lab.chaos.views import bundle, coverage, scorecard
from lab.chaos.views.board import write_report
from lab.chaos.views.board_command import add_board_command
from lab.chaos.views.bundle import verdict_mark
from lab.chaos.views.check_command import add_check_command
from lab.chaos.views.judge_command import add_judge_command
from lab.chaos.views.progress import play_and_print
from lab.compose import echo
from lab.errors import LabError
from lab.instance import leftovers
from lab.run_config import RunConfig

HISTORY_DIR = "/tmp/epoll-lab-history"  # inside the clients container
# `lab run`'s exit code by outcome: 1 when a check failed (and for the lab's own errors, lab.cli), 2 for bad
# arguments (argparse), 3 when a verdict's data was missing and the case could not be judged.
RUN_EXIT = {"pass": 0, "fail": 1, "error": 3}
OP_LINES_PER_CONNECTION = 30


def cmd_cases(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([{"id": s.id, "summary": s.summary, "setup": s.describe()} for s in catalog.CATALOG]))
        return 0
    for scenario in catalog.CATALOG:
        print(f"{scenario.id:30} {scenario.summary}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Rerun one case exactly: same seed, same target variant; print history, timeline and verdicts."""
    scenario = _case(args.case)
    if args.bug and args.bug not in BY_BUG:
        raise LabError(f"no bug {args.bug!r}; known: {', '.join(BY_BUG)}")
    if args.project and leftovers(project=args.project):
        raise LabError(f"project {args.project} is already running a lab: `lab run` brings up and removes its own, "
                       "so name a free project (or none)")
    run = RunConfig.from_args(args, os.environ)
    profile = target_profile(run)
    warn_adhoc(run)
    if profile is not None:
        (job,) = plan([scenario], args.seed, profile=profile, bundled=profile.trigger is not None)
        if job.skip is not None:  # known before any lab: adapt() leaves it out for this profile
            print(f"case {scenario.id} skipped on {profile.name}: {job.skip}")
            return 0
        targets.build_image(profile)
    base = base_lab(run, project=args.project or settings.unique_project("epl-run", run.run_id),
                    docker_host=engine.choose(args.engine))
    variant = Variant(args.trigger or base.trigger, args.bug) if base.bundled_target else Variant()
    if profile is not None and profile.trigger is not None:
        variant = Variant(profile.trigger, args.bug)
    session = LabSession(base, log=echo, record_dir=HISTORY_DIR, capture=args.capture, profile=profile,
                         reports_dir=run.reports_dir)
    try:
        if profile is not None:  # adapted once the preflight has fetched what the profile leaves to it
            fitted = adapt(scenario, session.referenced(profile))
            if isinstance(fitted, Skip):
                print(f"case {scenario.id} skipped on {profile.name}: {fitted.reason}")
                return 0
            scenario = fitted
        echo(f"case {scenario.id}: {scenario.describe()}")
        try:
            history = _run_recorded(session, scenario, variant, args.seed, run.reports_dir)
        except FaultUnavailable as unavailable:
            print(f"case {scenario.id} skipped: {unavailable}")
            return 0
        verdicts = judge(scenario, history)
        timeline = report.save_timeline(history, variant.label, verdicts, run.reports_dir)
        if args.json:
            print(json.dumps(history.to_json() | {"verdicts": [v.__dict__ for v in verdicts]}))
        else:
            _print_history(history, variant, run.reports_dir)
            print(f"\nverdicts ({history.target}, seed {history.seed}):")
            for verdict in verdicts:
                print(f"  {verdict_mark(verdict.__dict__)} {verdict.check:17} {verdict.message}")
            print(f"\noutcome: {outcome(verdicts)}" + (" (a verdict's data is missing: the case was not judged)"
                                                      if outcome(verdicts) == "error" else ""))
            print(f"\ntimeline: {timeline}" + (" (and .png)" if outcome(verdicts) != "pass" else ""))
            if history.evidence is not None:
                print(f"capture and trace: {history.evidence.folder}\n  {history.evidence.summary()}")
        if args.bundle:
            histories = sorted((run.reports_dir / "histories").glob(f"{scenario.id}--{variant.label}-*.json"))
            written = bundle.bundle_case(
                Path(args.bundle), history=history, variant=variant.label, verdicts=verdicts, timeline=timeline,
                histories=histories, images=bundle.image_ids(session.lab.config if session.lab else base),
                commands=[f"python -m lab {' '.join(args.argv)}", history.repro])
            print(f"repro bundle: {written} (`python -m lab show {written}` prints it)", file=sys.stderr)
        return RUN_EXIT[outcome(verdicts)]
    finally:
        if args.keep and session.lab is not None:
            echo(f"keeping lab {session.lab.config.project}: `python -m lab down --project "
                 f"{session.lab.config.project}` removes it")
        else:
            session.close()


def _run_recorded(session: LabSession, scenario: Scenario, variant: Variant, seed: int,
                  reports_dir: Path) -> CaseHistory:
    """Run the case, then copy each client's operation history out of the clients container."""
    history = session.run(scenario, variant, seed)
    assert session.lab is not None
    for index in range(len(scenario.clients)):
        done = session.lab.exec("clients", ["cat", f"{HISTORY_DIR}/{scenario.id}-{index}.json"], timeout=30)
        if done.returncode == 0:
            saved = reports_dir / "histories" / f"{scenario.id}--{variant.label}-{index}.json"
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_bytes(done.stdout)
            history.event(history.events[-1][0] if history.events else 0.0,
                          f"client {index} history saved: replay it with `python -m clients replay {saved}`")
    return history


def _print_history(history: CaseHistory, variant: Variant, reports_dir: Path) -> None:
    for index, client in enumerate(history.clients):
        print(f"\nclient {index}: {client.run.describe()} [{client.run.route}] exit {client.exit_code}")
        print(f"  docker exec clients {' '.join(client.command)}")
        if client.result:
            print(f"  {client.counts_text()}")
            print(f"  summary: {json.dumps(dict(client.result.summary))}")
    for path in sorted((reports_dir / "histories").glob(f"{history.case_id}--{variant.label}-*.json")):
        _print_ops(path)
    print("\nprobe timeline (t, fds, ESTABLISHED, CLOSE_WAIT, cpu ticks, RSS MiB):")
    by_time = {sample.t: sample for sample in  # the settled reading is one of the samples
               [history.baseline, *history.samples, *([history.settled] if history.settled else [])]}
    samples = [by_time[t] for t in sorted(by_time)]
    t0 = samples[0].t
    for sample in samples:
        print(f"  {sample.t - t0:6.2f}s fds={sample.fds:<5} est={sample.sockets('ESTABLISHED'):<5} "
              f"close_wait={sample.sockets('CLOSE_WAIT'):<4} cpu={sample.cpu_seconds:<7.3f}s "
              f"rss={sample.rss_bytes / (1 << 20):.1f}")
    for error in history.probe_errors:  # a gap they left makes the case an error (checks.probe_stream)
        print(f"  probe error: {error}")


def _print_ops(path: Path) -> None:
    try:
        recorded = RunHistory.load(path)
    except (ValueError, KeyError, TypeError) as error:
        print(f"\nhistory {path.name}: unreadable ({error})")
        return
    print(f"\nhistory {path.name} ({recorded.behaviour}, seed {recorded.seed}):")
    for connection in recorded.connections[:5]:
        ops = connection.ops
        print(f"  connection {connection.index}: {len(ops)} operations")
        for op in ops[:OP_LINES_PER_CONNECTION]:
            details = {key: _short(key, value) for key, value in op.to_json().items() if key not in ("t", "op")}
            print(f"    {op.t:8.4f}s {op.kind:9} " + " ".join(f"{k}={v}" for k, v in details.items()))
        if len(ops) > OP_LINES_PER_CONNECTION:
            print(f"    ... {len(ops) - OP_LINES_PER_CONNECTION} more in {path}")


def _short(key: str, value: object) -> str:
    """Recorded payloads are base64: show the bytes themselves, cut short."""
    text = repr(base64.b64decode(str(value))) if key == "data" else repr(value)
    return text if len(text) <= 70 else text[:67] + "..."


def cmd_scorecard(args: argparse.Namespace) -> int:
    directory = Path(args.results) if args.results else None
    if not 0 <= args.min_coverage <= 100:
        raise LabError(f"--min-coverage {args.min_coverage:g}: a percentage, 0 to 100")
    run = RunConfig.from_args(args, os.environ, trigger=None)  # --trigger picks variants (with --cases)
    warn_adhoc(run)
    if directory is None:
        directory = run.reports_dir / f"scorecard-{time.strftime('%Y%m%d-%H%M%S')}"
        _run_suite(args, run.with_reports(directory))
    results = report.read_results(directory)
    if not results:
        raise LabError(f"no case results in {directory}: did the suite run?")
    # The HTML report beside the results: the matrix and each case's evidence (what the GitHub Action uploads).
    index = write_report(results, directory)
    if args.zoo:
        print(json.dumps(scorecard.zoo_json(results), indent=1) if args.json else scorecard.zoo_table(results))
        return 0
    print(json.dumps(scorecard.scorecard_json(results), indent=1) if args.json
          else scorecard.scorecard_table(results))
    if not args.json:
        print(f"report: {index}")
    too_little = coverage.of_results(results).below(args.min_coverage)
    if too_little is not None:
        raise LabError(too_little)
    return 0


def warn_adhoc(run: RunConfig) -> None:
    """--target-image without a profile: say in one line how little can run, and how to declare more."""
    image = coverage.adhoc_image(run.target_image, run.profile)
    if image is not None:
        echo(coverage.adhoc_note(image, run.target_port))


def _run_suite(args: argparse.Namespace, run: RunConfig) -> None:
    """The scorecard's jobs (the catalog, some --cases, or the zoo and its controls), played by the lab's
    scheduler; their results land in run.reports_dir."""
    jobs = scorecard_jobs(args, run)
    workers = worker_count(args.workers, len(jobs))
    echo(f"running {len(jobs)} jobs in {workers} workers, seed {run.seed} (results in {run.reports_dir})")
    play_and_print(jobs, run, workers)


def scorecard_jobs(args: argparse.Namespace, run: RunConfig) -> list[Job]:
    """--cases (and --trigger): a short scorecard of a few cases; --zoo: the zoo's variants and their controls
    (the bundled server only); else the whole catalog."""
    if args.cases and args.zoo:
        raise LabError("--cases picks catalog cases; the zoo runs its own")
    scenarios = [_case(case_id) for case_id in args.cases.split(",") if case_id] if args.cases else catalog.CATALOG
    bundled = base_lab(run).bundled_target
    jobs = plan(scenarios, run.seed, profile=target_profile(run), bundled=bundled,
                trigger=args.trigger if args.cases else None, zoo=ZOO if args.zoo and bundled else ())
    return [job for job in jobs if job.zoo] if args.zoo else jobs


def cmd_show(args: argparse.Namespace) -> int:
    """Print a repro bundle again (`make repro` writes them)."""
    print(bundle.describe(bundle.read_manifest(Path(args.bundle))))
    return 0


def _case(case_id: str) -> Scenario:
    try:
        return catalog.get(case_id)
    except KeyError as error:
        raise LabError(str(error.args[0])) from None


def add_commands(command: Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser],
                 add_target_options: Callable[[argparse.ArgumentParser], None]) -> None:
    cases = command("cases", cmd_cases, "list the chaos catalog's cases")
    cases.add_argument("--json", action="store_true")
    run = command("run", cmd_run, "run one chaos case exactly as it failed (same seed) and print its history")
    run.add_argument("case", help="case id (`python -m lab cases`)")
    run.add_argument("--seed", type=int, required=True)
    add_target_options(run)
    run.add_argument("--json", action="store_true")
    run.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    run.add_argument("--bundle", metavar="FILE.tar.gz",
                     help="end by writing one archive with the verdicts, timeline, histories, capture and image ids")
    run.add_argument("--capture", action="store_true",
                     help="record a packet capture (tcpdump) and a syscall trace (strace) of the target")
    run.set_defaults(project=None)  # its own lab, never the one `make lab-up` started
    add_judge_command(command)
    show = command("show", cmd_show, "print a repro bundle written by `make repro` (or `lab run --bundle`)")
    show.add_argument("bundle", help="the .tar.gz")
    card = command("scorecard", cmd_scorecard, "run the catalog (or the zoo) and print case × target outcomes")
    card.add_argument("--profile", metavar="NAME|PATH", help="a target profile (board/profiles/ or a .toml file)")
    card.add_argument("--target-image")
    card.add_argument("--target-port", type=int)
    card.add_argument("--zoo", action="store_true", help="the bug zoo: variants × cases and the detection score")
    card.add_argument("--json", action="store_true")
    card.add_argument("--seed", type=int)
    card.add_argument("--capture", action="store_true", help="capture and trace every case; keep failing cases' only")
    card.add_argument("--workers", default="auto", help="worker processes, one lab each (default: auto, one per "
                                                        "core)")
    card.add_argument("--results", help="only print the results already in this folder")
    card.add_argument("--cases", help="only these catalog cases (comma-separated ids)")
    card.add_argument("--trigger", choices=settings.TRIGGERS, help="with --cases: only this trigger mode")
    card.add_argument("--min-coverage", type=float, default=coverage.DEFAULT_MIN_COVERAGE, metavar="PERCENT",
                      help="exit non-zero when fewer than this share of the cases ran (default: "
                           f"{coverage.DEFAULT_MIN_COVERAGE:g}); ignored with --zoo")
    add_board_command(command)
    add_check_command(command)
