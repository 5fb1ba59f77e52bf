"""The board's pure parts: which (server, case) cells a shard runs, merging shard results, the HTML matrix.

No Docker, no subprocess: results in, results and text out (unit-tested without Docker: test_board.py).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lab.chaos.run.report import CaseResult
from lab.chaos.views import coverage
from lab.chaos.views.triage import Triage, load_triage
from lab.profiles import server_version

Cell = tuple[str, str]  # (server, case)
OUTCOMES = ("pass", "fail", "skip", "error")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as `--shard 2/4` spells it
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        found = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not found or not 1 <= int(found.group(1)) <= int(found.group(2)):
            raise ValueError(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/4")
        return cls(int(found.group(1)), int(found.group(2)))


def cells(servers: Iterable[str], cases: Iterable[str]) -> list[Cell]:
    """Every (server, case) in a fixed order: servers as given, cases as given."""
    case_list = list(cases)
    return [(server, case) for server in servers for case in case_list]


def shard_cells(all_cells: list[Cell], shard: Shard) -> list[Cell]:
    """The shard's cells: every count-th one from index-1, so shards together are every cell exactly once."""
    return all_cells[shard.index - 1::shard.count]


def result_key(result: CaseResult) -> tuple[str, str, str]:
    return (result.server, result.id, result.variant)


def merge(result_lists: Iterable[Iterable[CaseResult]]) -> list[CaseResult]:
    """One list from many shards' results, in a canonical order; a cell run twice keeps its last result."""
    merged: dict[tuple[str, str, str], CaseResult] = {}
    for results in result_lists:
        for result in results:
            merged[result_key(result)] = result
    return [merged[key] for key in sorted(merged)]


def cell_file_name(result: CaseResult) -> str:
    return f"{result.server or 'bundled'}--{result.id}--{result.variant}.json"


def write_results(results: Iterable[CaseResult], directory: Path) -> None:
    """One JSON file per server × case (× trigger variant) under directory/results/."""
    folder = directory / "results"
    folder.mkdir(parents=True, exist_ok=True)
    for result in results:
        (folder / cell_file_name(result)).write_text(json.dumps(result.to_json(), indent=1) + "\n")


def read_cell_results(directory: Path) -> list[CaseResult]:
    return [CaseResult.from_json(json.loads(path.read_text()))
            for path in sorted((directory / "results").glob("*.json"))]


def summary(results: Iterable[CaseResult]) -> dict[str, dict[str, int]]:
    """server -> outcome -> count."""
    counts: dict[str, dict[str, int]] = {}
    for result in results:
        row = counts.setdefault(result.server or "bundled", dict.fromkeys(OUTCOMES, 0))
        row[result.outcome] = row.get(result.outcome, 0) + 1
    return counts


def summary_table(results: list[CaseResult]) -> str:
    """One row per server with its coverage and version, then each server's "ran N of M" and skip reasons."""
    covered = coverage.by_server(results)
    lines = [f"{'server':14} {'pass':>5} {'fail':>5} {'skip':>5} {'error':>5}  {'coverage':24}  version"]
    for server, row in summary(results).items():
        lines.append(f"{server:14} {row['pass']:5} {row['fail']:5} {row['skip']:5} {row['error']:5}  "
                     f"{covered[server].cell():24}  {version_line(server)}".rstrip())
    for server, found in covered.items():
        lines.append(f"{server}: {found.text()}")
    return "\n".join(lines)


# -- the HTML report -----------------------------------------------------------------------------------------
STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; }
table.matrix { border-collapse: collapse; }
table.matrix th, table.matrix td { border: 1px solid #ccc; padding: 2px 6px; text-align: center; }
table.matrix th.case { text-align: left; font-weight: normal; font-family: monospace; }
td.pass { background: #cfc; } td.fail { background: #f99; } td.skip { background: #eee; color: #666; }
td.error { background: #fc6; } td.none { background: #fff; }
table#coverage td { text-align: left; } table#coverage ul { margin: 0; padding-left: 1.2em; }
td a { color: inherit; text-decoration: none; display: block; }
small.triage.defect { color: #a00; font-weight: bold; } small.triage.unclear { color: #a60; }
small.triage.design { color: #555; } small.untriaged { color: #a00; font-style: italic; }
section.evidence { border-top: 1px solid #ccc; margin-top: 1em; padding-top: .5em; }
section.evidence:target { background: #ffd; }
pre { white-space: pre-wrap; }
"""


def evidence_id(result: CaseResult) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"ev-{result.server or 'bundled'}-{result.id}-{result.variant}")


def evidence_links(result: CaseResult, root: Path) -> list[tuple[str, str]]:
    """(label, relative href) of the files a cell's evidence has under the report folder."""
    stem = f"{result.id}--{result.variant}"
    links = []
    for label, relative in (("timeline picture", f"servers/{result.server}/timelines/{stem}.png"),
                            ("case history (clients, probe samples, verdicts)",
                             f"servers/{result.server}/timelines/{stem}.json")):
        if (root / relative).exists():
            links.append((label, relative))
    for history in sorted((root / "servers" / result.server / "histories").glob(f"{stem}-*.json")):
        links.append((f"client history {history.stem.rsplit('-', 1)[-1]}", str(history.relative_to(root))))
    return links


def repro_of(result: CaseResult) -> str:
    """The command that reruns the cell: from a failing verdict's message, else built from the result."""
    for message in result.messages:
        found = re.search(r"\[reproduce: ([^\]]+)\]", message)
        if found:
            return found.group(1)
    profile = f" --profile {result.server}" if result.server else ""
    return f"python -m lab run {result.id} --seed {result.seed}{profile}"


def cell_html(found: list[CaseResult], triaged: Triage | None, *, docs: str = "") -> str:
    """One matrix cell: each variant's outcome linking to its evidence; a failing cell says its triage class (and
    links its finding), a skipped one shows why on hover."""
    worst = max(found, key=lambda r: ("skip", "pass", "error", "fail").index(r.outcome)
                if r.outcome in ("skip", "pass", "error", "fail") else 0)
    links = []
    for result in found:
        reason = "; ".join(result.messages) if result.outcome in ("skip", "error") else result.variant
        links.append(f"<a href='#{evidence_id(result)}' title='{html.escape(reason)}'>{result.outcome}</a>")
    label = ""
    if worst.outcome == "fail":
        if triaged is None:
            label = "<br><small class=untriaged>untriaged</small>"
        else:
            text = html.escape(triaged.kind)
            if triaged.link:
                text = f"<a href='{html.escape(docs + triaged.link)}'>{text}</a>"
            label = f"<br><small class='triage {triaged.kind}' title='{html.escape(triaged.note)}'>{text}</small>"
    return f"<td class={worst.outcome}>{' '.join(links)}{label}</td>"


def render_html(results: list[CaseResult], root: Path, *, title: str = "epoll-lab board",
                triage: dict[Cell, Triage] | None = None, docs: str = "") -> str:
    """The matrix and every cell's evidence; `triage` classes failing cells (board/triage.toml), `docs` is how the
    report reaches the repository's docs/ (links to findings)."""
    triage = load_triage() if triage is None else triage
    servers = list(dict.fromkeys(result.server or "bundled" for result in results))
    cases = list(dict.fromkeys(result.id for result in results))
    by_cell: dict[Cell, list[CaseResult]] = {}
    for result in results:
        by_cell.setdefault((result.server or "bundled", result.id), []).append(result)
    counts = summary(results)
    covered = coverage.by_server(results)
    head = "".join(f"<th class=server>{html.escape(server)}<br><small>{counts[server]['pass']}/"
                   f"{counts[server]['fail']}/{counts[server]['skip']}<br>ran {covered[server].cell()}"
                   f"</small>{_version_html(server)}</th>" for server in servers)
    rows = []
    for case in cases:
        tds = []
        for server in servers:
            found = by_cell.get((server, case), [])
            tds.append(cell_html(found, triage.get((server, case)), docs=docs) if found
                       else "<td class=none>–</td>")
        rows.append(f"<tr><th class=case>{html.escape(case)}</th>{''.join(tds)}</tr>")
    sections = [_evidence_section(result, root) for result in results]
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{len(servers)} servers × {len(cases)} cases; under each server: pass/fail/skip. "
            "Every cell links to its evidence below; a failing cell says its triage class (defect, design: a stated "
            "design or documented policy, unclear; docs/board.md), a skipped one its reason on hover.</p>"
            f"{_coverage_table(counts, covered)}"
            f"<table class=matrix id=matrix><thead><tr><th>case</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>{''.join(sections)}</body></html>\n")


def _coverage_table(counts: dict[str, dict[str, int]], covered: dict[str, coverage.Coverage]) -> str:
    """Per server: its outcomes, its coverage, and why the cases it skipped were skipped (grouped)."""
    rows = []
    for server, row in counts.items():
        found = covered[server]
        reasons = "".join(f"<li>{len(cases)}: {html.escape(reason)} <small>({html.escape(', '.join(cases))})</small>"
                          "</li>" for reason, cases in sorted(found.skipped.items(), key=lambda i: -len(i[1])))
        rows.append(f"<tr class=server><th class=case>{html.escape(server)}</th>"
                    + "".join(f"<td>{row[outcome]}</td>" for outcome in OUTCOMES)
                    + f"<td class=coverage>{html.escape(found.line())}</td><td><ul>{reasons}</ul></td></tr>")
    return ("<table class=matrix id=coverage><thead><tr class=server><th>server</th>"
            + "".join(f"<th>{outcome}</th>" for outcome in OUTCOMES)
            + f"<th>coverage</th><th>skip reasons</th></tr></thead><tbody>{''.join(rows)}</tbody></table><p></p>")


def version_line(server: str) -> str:
    """What the server runs and that version's release date, from its profile ("" without one)."""
    software, released = server_version(server)
    return f"{software}; released {released}" if released else software


def _version_html(server: str) -> str:
    """Under the server's name: its software up to the first parenthesis, and the release date (all on hover)."""
    software, released = server_version(server)
    if not software:
        return ""
    short = html.escape(software.split(" (")[0])
    return (f"<br><small class=version title='{html.escape(version_line(server))}'>{short}"
            f"{'<br>' + html.escape(released) if released else ''}</small>")


def _evidence_section(result: CaseResult, root: Path) -> str:
    items = "".join(f"<li>{html.escape(message)}</li>" for message in result.messages) or "<li>no failing check</li>"
    links = evidence_links(result, root)
    pictures = "".join(f"<p><img src='{html.escape(href)}' alt='{html.escape(label)}' width=720></p>"
                       for label, href in links if href.endswith(".png"))
    files = "".join(f"<li><a href='{html.escape(href)}'>{html.escape(label)}</a></li>" for label, href in links)
    counts = f"; responses {result.counts}" if result.counts else ""
    return (f"<section class=evidence id='{evidence_id(result)}'><h3>{html.escape(result.server or 'bundled')} · "
            f"{html.escape(result.id)} · {html.escape(result.variant)}: {result.outcome}</h3>"
            f"<p>seed {result.seed}, {result.duration_s:.1f} s{html.escape(counts)}"
            f"{'; ' + html.escape(result.plan) if result.plan else ''}</p><ul>{items}</ul>"
            f"<p>reproduce: <code>{html.escape(repro_of(result))}</code></p>{pictures}<ul>{files}</ul></section>")


def failing_cells(results: list[CaseResult], triage: dict[Cell, Triage] | None = None) -> str:
    """Every failing or errored cell in text, for keeping beside docs/board.md: server, case, variant, triage,
    each failed check's message (cut to 600 characters) and the command that reruns it."""
    triage = load_triage() if triage is None else triage
    lines = []
    for result in sorted(results, key=lambda r: (r.server, r.id, r.variant)):
        if result.outcome not in ("fail", "error"):
            continue
        triaged = triage.get((result.server or "bundled", result.id))
        lines.append(f"## {result.server or 'bundled'} · {result.id} · {result.variant}: {result.outcome} "
                     f"({', '.join(result.failed_checks) or 'no check'})"
                     + (f" — {triaged.kind}: {triaged.note}" if triaged else " — untriaged"))
        lines += [f"- {message[:600]}{'…' if len(message) > 600 else ''}" for message in result.messages]
        lines += [f"- reproduce: `{repro_of(result)}`", ""]
    return "\n".join(lines)


def write_report(results: list[CaseResult], directory: Path) -> Path:
    """results/*.json, index.html, summary.txt and failing.md in directory; returns index.html's path."""
    write_results(results, directory)
    index = directory / "index.html"
    index.write_text(render_html(results, directory))
    (directory / "summary.txt").write_text(summary_table(results) + "\n")
    (directory / "failing.md").write_text(failing_cells(results))
    return index
