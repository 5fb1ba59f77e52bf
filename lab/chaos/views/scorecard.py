"""Case results to tables: the scorecard (case × variant) and the zoo's detection report. Pure functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lab.chaos.model import catalog
from lab.chaos.model.checks import CHECK_NAMES
from lab.chaos.model.zoo import ZOO
from lab.chaos.run.report import CaseResult
from lab.chaos.views import coverage

CELL = 30
MiB = 1 << 20


def catalog_order(case_id: str) -> int:
    ids = [s.id for s in catalog.CATALOG]
    return ids.index(case_id) if case_id in ids else len(ids)


def coverage_json(covered: coverage.Coverage) -> dict[str, Any]:
    return {"ran": len(covered.ran), "cases": covered.total, "skipped": covered.skipped_count,
            "percent": round(covered.percent, 1), "text": covered.line(),
            "skip_reasons": [{"reason": reason, "count": len(cases), "cases": list(cases)}
                             for reason, cases in covered.skipped.items()]}


def scorecard_json(results: list[CaseResult]) -> dict[str, Any]:
    return {"target": next((r.target for r in results if r.target), ""),
            "summary": {outcome: sum(1 for r in results if r.outcome == outcome)
                        for outcome in ("pass", "fail", "skip", "error")},
            "coverage": coverage_json(coverage.of_results(results)),
            "cases": [{"id": r.id, "variant": r.variant, "outcome": r.outcome, "failed_checks": list(r.failed_checks),
                       "messages": list(r.messages), "seed": r.seed, "plan": r.plan, "engine": r.engine,
                       "responses": None if r.responses_owed is None else {"got": r.responses_got,
                                                                           "owed": r.responses_owed}}
                      for r in sorted(results, key=lambda r: (catalog_order(r.id), r.variant))],
            "memory_across_cases": [memory.to_json() for memory in memory_across_cases(results)]}


@dataclass(frozen=True)
class TargetMemory:
    """One target process's RSS across the cases it served, each case's baseline in the order they ran."""

    label: str  # the variant (and the server, for a profile's), numbered when several processes ran it
    cases: tuple[tuple[str, int], ...]  # (case id, baseline RSS bytes)

    @property
    def growth_bytes(self) -> int:
        return self.cases[-1][1] - self.cases[0][1]

    def largest_step(self) -> tuple[str, int]:
        """The case after which the next baseline rose the most, and by how much."""
        steps = [(case, after[1] - rss) for (case, rss), after in zip(self.cases, self.cases[1:], strict=False)]
        return max(steps, key=lambda step: step[1])

    def to_json(self) -> dict[str, Any]:
        after, step = self.largest_step()
        return {"target": self.label, "cases": len(self.cases), "first_rss_bytes": self.cases[0][1],
                "last_rss_bytes": self.cases[-1][1], "growth_bytes": self.growth_bytes,
                "largest_step": {"after": after, "bytes": step}}

    def text(self) -> str:
        after, step = self.largest_step()
        return (f"{self.label}: {self.cases[0][1] / MiB:.1f} → {self.cases[-1][1] / MiB:.1f} MiB over "
                f"{len(self.cases)} cases ({self.growth_bytes / MiB:+.1f} MiB; the largest step "
                f"{step / MiB:+.1f} MiB, after {after})")


def memory_across_cases(results: list[CaseResult]) -> list[TargetMemory]:
    """Per target process that served two cases or more (a fresh target per case shows nothing): its baseline
    RSS from the first case to the last, in the order they ran (results are written as cases finish)."""
    runs: dict[tuple[str, str, str, int], list[tuple[str, int]]] = {}
    for result in results:
        if result.baseline_rss_bytes is not None and result.target_started is not None:
            key = (result.server, result.variant, result.engine, result.target_started)
            runs.setdefault(key, []).append((result.id, result.baseline_rss_bytes))
    found: list[TargetMemory] = []
    per_label: dict[str, int] = {}
    for (server, variant, _, _), cases in runs.items():
        name = f"{server} {variant}" if server else variant
        per_label[name] = per_label.get(name, 0) + 1
        if len(cases) > 1:
            found.append(TargetMemory(f"{name} #{per_label[name]}", tuple(cases)))
    return found


def cell_text(result: CaseResult | None) -> str:
    """The outcome, failed checks and response counts, e.g. "pass 40/40" or "FAIL stall 1/40"."""
    if result is None:
        return "—"
    text = result.outcome if result.outcome != "fail" else "FAIL " + ",".join(result.failed_checks)
    unjudged = [message.split(" (missing data)")[0] for message in result.messages if " (missing data): " in message]
    if result.outcome == "error" and unjudged:
        text += " " + ",".join(unjudged)  # the checks whose data is missing (report.result_of)
    return f"{text} {result.counts}" if result.counts and result.outcome in ("pass", "fail") else text


def _matrix(results: list[CaseResult], row: Callable[[CaseResult], str], rows: list[str]) -> str:
    columns = sorted({r.variant for r in results})
    cells = {(row(r), r.variant): r for r in results}
    width = max(len(name) for name in rows) + 2
    lines = [f"{'case':{width}}" + "".join(f"{c:{CELL}}" for c in columns)]
    for name in rows:
        line = f"{name:{width}}" + "".join(f"{cell_text(cells.get((name, column))):{CELL}}" for column in columns)
        lines.append(line.rstrip())
    return "\n".join(lines)


def scorecard_table(results: list[CaseResult]) -> str:
    rows = sorted({r.id for r in results}, key=catalog_order)
    data = scorecard_json(results)
    counts = ", ".join(f"{count} {outcome}" for outcome, count in data["summary"].items())
    memory = [f"  {target.text()}" for target in memory_across_cases(results)]
    across = "\n".join(["target RSS across cases (each case's baseline, first → last):", *memory]) if memory else ""
    return (f"scorecard: {data['target']}\n{_matrix(results, lambda r: r.id, rows)}\n{counts}\n"
            f"{coverage.of_results(results).text()}" + (f"\n{across}" if across else ""))


def checks_caught(results: list[CaseResult]) -> dict[str, list[str]]:
    """For each check, the zoo variants (bugs) it flagged in some case; clean runs are not counted."""
    caught: dict[str, set[str]] = {check: set() for check in CHECK_NAMES}
    for result in results:
        if result.bug is None:
            continue
        for check in result.failed_checks:
            caught.setdefault(check, set()).add(result.bug)
    return {check: sorted(bugs) for check, bugs in caught.items()}


def zoo_json(results: list[CaseResult]) -> dict[str, Any]:
    variants = []
    for entry in ZOO:
        own = [r for r in results if r.bug == entry.bug]
        failed = sorted({check for r in own for check in r.failed_checks})
        variants.append({"bug": entry.bug, "trigger": entry.trigger, "ran": bool(own),
                         "detected": bool(entry.catches & set(failed)), "failed_checks": failed,
                         "errors": [r.id for r in own if r.outcome == "error"],  # not judged: never "detected"
                         "cases": {r.id: list(r.failed_checks) for r in own}, "symptom": entry.symptom})
    clean = [r for r in results if r.bug is None]
    ran = [v for v in variants if v["ran"]]
    return {"detected": sum(1 for v in ran if v["detected"]), "variants_run": len(ran),
            "score": f"{sum(1 for v in ran if v['detected'])}/{len(ran)}",
            "clean_false_alarms": [{"id": r.id, "variant": r.variant, "failed_checks": list(r.failed_checks)}
                                   for r in clean if r.outcome == "fail"],
            # a clean case that could not be judged is neither a pass nor a false alarm: counted apart
            "clean_errors": [{"id": r.id, "variant": r.variant, "messages": list(r.messages)}
                             for r in clean if r.outcome == "error"],
            "clean_cases_run": len(clean), "variants": variants, "checks": checks_caught(results)}


def zoo_table(results: list[CaseResult]) -> str:
    data = zoo_json(results)
    lines = [f"{'bug':20} {'trigger':8} {'detected':9} failed checks (per case)"]
    for variant in data["variants"]:
        per_case = "; ".join(f"{case}: {','.join(checks) or 'none'}" for case, checks in variant["cases"].items())
        lines.append(f"{variant['bug']:20} {variant['trigger']:8} {'yes' if variant['detected'] else 'NO':9} "
                     f"{per_case or 'not run'}")
    alarms, errors = data["clean_false_alarms"], data["clean_errors"]
    lines.append(f"clean server: {data['clean_cases_run']} cases, "
                 f"{len(alarms)} false alarms" + (f": {alarms}" if alarms else "")
                 + f", {len(errors)} errors (not judged)" + (f": {[(e['id'], e['variant']) for e in errors]}"
                                                             if errors else ""))
    lines.append("checks that fired on a variant:")
    lines += [f"  {check:17} {', '.join(bugs) or 'NONE'}" for check, bugs in data["checks"].items()]
    lines.append(f"detection score: {data['score']} variants flagged")
    return "\n".join(lines)
