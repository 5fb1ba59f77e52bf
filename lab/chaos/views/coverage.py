"""How much of the catalog a run judged: "ran N of M cases (K skipped)", the skip reasons grouped. Pure.

A case ran when any of its results (one per trigger variant) is not a skip: an error or a failure was
judged, or tried to be. A case that only skipped did not run. Coverage is counted over cases, not
variants, so the bundled server's two modes do not count twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lab import settings
from lab.chaos.model import catalog
from lab.chaos.model.adapt import Skip, adapt
from lab.chaos.model.scenario import Scenario
from lab.chaos.run import targets
from lab.chaos.run.report import CaseResult

DEFAULT_MIN_COVERAGE = 80.0  # percent: below this a scorecard judged too little of the catalog to mean much


@dataclass(frozen=True)
class Coverage:
    ran: tuple[str, ...]  # case ids, in the order first seen
    skipped: dict[str, tuple[str, ...]]  # reason -> the case ids it skipped

    @property
    def total(self) -> int:
        return len(self.ran) + self.skipped_count

    @property
    def skipped_count(self) -> int:
        return sum(len(cases) for cases in self.skipped.values())

    @property
    def percent(self) -> float:
        return 100.0 * len(self.ran) / self.total if self.total else 0.0

    def line(self) -> str:
        return f"ran {len(self.ran)} of {self.total} cases ({self.skipped_count} skipped)"

    def cell(self) -> str:
        """Short, for a table column: "52/56 (93%)"."""
        return f"{len(self.ran)}/{self.total} ({self.percent:.0f}%)"

    def text(self) -> str:
        """The line, then one line per skip reason (most cases first): count, reason, and the cases."""
        lines = [self.line()]
        for reason, cases in sorted(self.skipped.items(), key=lambda item: (-len(item[1]), item[0])):
            lines.append(f"  {len(cases):3} skipped: {reason}: {', '.join(cases)}")
        return "\n".join(lines)

    def below(self, minimum_percent: float) -> str | None:
        """The one-line complaint when coverage is under the minimum, else None."""
        if self.total and self.percent >= minimum_percent:
            return None
        return (f"coverage {self.percent:.0f}% is under the minimum {minimum_percent:g}%: {self.line()}; "
                "declare the routes and deadlines the skipped cases need in the profile (`python -m lab profile "
                "init` drafts one), or lower --min-coverage")


def _grouped(pairs: Iterable[tuple[str, str]], ran: set[str]) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for case, reason in pairs:
        if case not in ran and case not in grouped.get(reason, []):
            grouped.setdefault(reason, []).append(case)
    return {reason: tuple(cases) for reason, cases in grouped.items()}


def of_results(results: Iterable[CaseResult]) -> Coverage:
    """The coverage of a run's results (one or more variants per case)."""
    listed = list(results)
    ran = list(dict.fromkeys(r.id for r in listed if r.outcome != "skip"))
    skipped = ((r.id, (r.messages[0] if r.messages else "no reason recorded")) for r in listed
               if r.outcome == "skip")
    grouped = _grouped(skipped, set(ran))
    # A case skipped in one variant for two reasons counts once, under its first reason.
    seen: set[str] = set()
    for reason, cases in list(grouped.items()):
        kept = tuple(case for case in cases if case not in seen)
        seen.update(kept)
        if kept:
            grouped[reason] = kept
        else:
            del grouped[reason]
    return Coverage(ran=tuple(ran), skipped=grouped)


def of_adapted(adapted: Iterable[Scenario | Skip]) -> Coverage:
    """The coverage a profile will get, from `adapt` over the catalog (before anything runs)."""
    listed = list(adapted)
    ran = tuple(item.id for item in listed if isinstance(item, Scenario))
    return Coverage(ran=ran, skipped=_grouped(((s.case, s.reason) for s in listed if isinstance(s, Skip)),
                                              set(ran)))


def by_server(results: Iterable[CaseResult]) -> dict[str, Coverage]:
    """server (the board's row; "bundled" for none) -> its coverage."""
    rows: dict[str, list[CaseResult]] = {}
    for result in results:
        rows.setdefault(result.server or "bundled", []).append(result)
    return {server: of_results(found) for server, found in rows.items()}


def adhoc_image(target_image: str | None = None, profile: str | None = None) -> str | None:
    """The image a run judges without a profile (--target-image or LAB_TARGET_IMAGE), else None."""
    if profile:
        return None
    return None if not target_image or target_image == settings.SERVER_IMAGE else target_image


def adhoc_note(image: str, port: int | None) -> str:
    """One line for --target-image without a profile: how few cases can run, and how to declare the rest."""
    port = port or targets.DEFAULT_PORT
    found = of_adapted(adapt(scenario, targets.adhoc_profile(image, port)) for scenario in catalog.CATALOG)
    return (f"--target-image {image} without a profile: only GET / is known, so only {len(found.ran)} of "
            f"{found.total} cases can run; draft a profile "
            f"with `python -m lab profile init --image {image} --port {port} --out FILE.toml`, then "
            "`python -m lab check FILE.toml` and pass --profile FILE.toml")
