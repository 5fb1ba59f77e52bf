"""The board's triage as data (board/triage.toml): for a failing cell, its class, one line, and where the evidence
is, so the HTML matrix tells a finding from a red square. Read with tomllib; a bad entry is one line naming it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError
from lab.settings import REPO_ROOT

TRIAGE_FILE = REPO_ROOT / "board" / "triage.toml"
CLASSES = {"defect": "defect", "design": "stated design or documented policy", "unclear": "unclear",
           "lab": "the lab's own (a false alarm)"}


@dataclass(frozen=True)
class Triage:
    kind: str  # one of CLASSES
    note: str  # one line: what happens, and why it is classed so
    link: str = ""  # a finding (docs/findings/...) or a section of docs/board.md


def load_triage(path: Path = TRIAGE_FILE) -> dict[tuple[str, str], Triage]:
    """(server, case) → its triage; no file, no triage."""
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise LabError(f"{path}: {error}") from None
    found: dict[tuple[str, str], Triage] = {}
    for number, entry in enumerate(data.get("cell", []), 1):
        where = f"{path.name}: cell {number}"
        try:
            server, case, kind, note = (str(entry[key]) for key in ("server", "case", "class", "note"))
        except KeyError as missing:
            raise LabError(f"{where}: missing {missing.args[0]!r}") from None
        if kind not in CLASSES:
            raise LabError(f"{where}: class {kind!r} is not one of {', '.join(CLASSES)}")
        if (server, case) in found:
            raise LabError(f"{where}: {server} {case} is triaged twice")
        found[(server, case)] = Triage(kind, note, str(entry.get("link", "")))
    return found
