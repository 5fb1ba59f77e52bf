"""`python -m lab judge SAVED`: a saved case (a repro bundle, or a timeline JSON from reports/timelines/) judged
again with today's checks, without containers, and what changed since it was judged."""

from __future__ import annotations

import argparse
import json
import shlex
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.chaos.model import catalog
from lab.chaos.model.adapt import Skip, adapt
from lab.chaos.model.checks import Verdict, judge, outcome
from lab.chaos.model.history import CaseHistory
from lab.chaos.model.scenario import Scenario
from lab.errors import LabError
from lab.profiles import ProfileError, find_profile

TIMELINE = "timeline.json"  # a bundle's saved history (lab.chaos.views.bundle)


def load_saved(path: Path) -> dict[str, Any]:
    """The saved history with its verdicts: a bundle's timeline.json, or a timeline JSON itself."""
    try:
        if path.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(path, "r:gz") as tar:
                member = tar.extractfile(TIMELINE)
                if member is None:
                    raise KeyError(TIMELINE)
                data = json.loads(member.read())
        else:
            data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabError(f"no such file: {path}") from None
    except KeyError:
        raise LabError(f"{path} is a bundle without {TIMELINE}: nothing to judge") from None
    except (tarfile.TarError, OSError, EOFError, ValueError) as error:
        raise LabError(f"{path} is neither a repro bundle nor a timeline JSON: {error}") from None
    if not isinstance(data, dict) or "case" not in data or "baseline" not in data:
        raise LabError(f"{path} holds no case history (a timeline JSON from reports/timelines/ or a bundle)")
    return data


def saved_scenario(data: dict[str, Any]) -> tuple[Scenario, str]:
    """Today's version of the case as it ran: from the catalog, fitted to the profile its repro command names."""
    try:
        scenario = catalog.get(str(data["case"]))
    except KeyError as error:
        raise LabError(str(error.args[0])) from None
    words = shlex.split(str(data.get("repro", "")))
    if "--profile" not in words[:-1]:
        return scenario, ""
    name = words[words.index("--profile") + 1]
    try:
        fitted = adapt(scenario, find_profile(name))
    except ProfileError as error:
        raise LabError(str(error)) from None
    if isinstance(fitted, Skip):  # e.g. a large route whose reference needs the target: judge the case as written
        return scenario, f"profile {name}: {fitted.reason}; judged as the catalog writes the case"
    return fitted, f"profile {name}"


def rejudge(data: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Verdict], str]:
    """The verdicts saved with the history, today's verdicts on the same history, and how the case was found."""
    scenario, note = saved_scenario(data)
    try:
        history = CaseHistory.from_json(data, scenario)
    except (KeyError, TypeError, ValueError) as error:
        raise LabError(f"the saved history cannot be read back: {type(error).__name__}: {error}") from None
    return list(data.get("verdicts", [])), judge(scenario, history), note


def _mark(verdict: dict[str, Any] | Verdict) -> str:
    fields = verdict if isinstance(verdict, dict) else verdict.__dict__
    if fields.get("missing", False):
        return "error"
    if not fields.get("applicable", True):
        return "n/a"
    return "ok" if fields.get("ok", True) else "FAIL"


def changes(saved: list[dict[str, Any]], today: list[Verdict]) -> list[str]:
    """One line per check whose mark differs: "cpu_spin: ok → FAIL (...)"; checks new since then included."""
    before = {verdict["check"]: _mark(verdict) for verdict in saved}
    lines = []
    for verdict in today:
        was, now = before.get(verdict.check, "(not judged then)"), _mark(verdict)
        if was != now:
            lines.append(f"{verdict.check}: {was} → {now}" + (f" ({verdict.message})" if verdict.message else ""))
    return lines


def cmd_judge(args: argparse.Namespace) -> int:
    data = load_saved(Path(args.saved))
    saved, today, note = rejudge(data)
    print(f"case {data['case']} (seed {data['seed']}) on {data['target']}" + (f"; {note}" if note else ""))
    for verdict in today:
        print(f"  {_mark(verdict):5} {verdict.check:17} {verdict.message}".rstrip())
    changed = changes(saved, today)
    print("\nchanged since it was judged:" if changed else "\nthe same verdicts as when it was judged")
    for line in changed:
        print(f"  {line}")
    return {"pass": 0, "fail": 1, "error": 2}[outcome(today)]


def add_judge_command(command: Callable[[str, Callable[[argparse.Namespace], int], str],
                                        argparse.ArgumentParser]) -> None:
    judged = command("judge", cmd_judge, "judge a saved case again with today's checks (no containers) and say "
                                         "what changed: a repro bundle or a timeline JSON")
    judged.add_argument("saved", help="a .tar.gz from `make repro`, or reports/timelines/CASE--VARIANT.json")
