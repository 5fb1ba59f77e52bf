"""docs/architecture.md stays true: every path and dotted name it mentions exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from lab.settings import REPO_ROOT

DOCS = ("docs/architecture.md",)
# A path as the docs write one: a top-level folder of the repository, then more of it.
PATH = re.compile(r"(?<![\w./-])((?:server|clients|lab|tests|bench|board|docs|findings)/[\w./{}-]*)")
# A dotted name inside backticks: a module, maybe followed by a class, function or attribute.
DOTTED = re.compile(r"`((?:lab|server|clients|bench)(?:\.\w+)+)")


def mentioned(pattern: re.Pattern[str], text: str) -> list[str]:
    return sorted({match.rstrip(".,:;") for match in pattern.findall(text)})


def resolves(dotted: str) -> bool:
    """`lab.probe.Timeline` exists: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        names = parts[split:]
        for number, name in enumerate(names, 1):
            if not hasattr(target, name):
                # A dataclass field without a default is not a class attribute: the last name may be one.
                return number == len(names) and name in getattr(target, "__dataclass_fields__", {})
            target = getattr(target, name)
        return True
    return False


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_in_the_docs_exists(doc: str) -> None:
    text = (REPO_ROOT / doc).read_text()
    missing = [path for path in mentioned(PATH, text)
               if "{" not in path and not (REPO_ROOT / path).exists()]
    assert not missing, f"{doc} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_dotted_name_in_the_docs_exists(doc: str) -> None:
    text = (REPO_ROOT / doc).read_text()
    missing = [name for name in mentioned(DOTTED, text) if not resolves(name)]
    assert not missing, f"{doc} names modules or attributes that do not exist: {missing}"


def test_the_checker_sees_drift(tmp_path: Path) -> None:
    text = "see `lab/probe_agent.py` and `lab.compose.Lab`, and lab/chaos/model/checks.py"
    assert mentioned(PATH, text) == ["lab/chaos/model/checks.py", "lab/probe_agent.py"]
    assert not (REPO_ROOT / "lab/probe_agent.py").exists()
    assert not resolves("lab.compose.Lab") and resolves("lab.instance.Lab") and resolves("lab.chaos.model.checks.judge")


def rooms() -> dict[str, set[str]]:
    """The map in docs/architecture.md: each room's modules (lab/chaos/ stems), from its table."""
    text = (REPO_ROOT / "docs/architecture.md").read_text()
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("| ") and re.match(r"^\| (model|running|views)\b", line):
            room = line.split("|")[1].split()[0]
            found[room] = set(re.findall(r"`(\w+)(?:\.py|/)`", line.split("|")[2]))
    return found


def test_the_rooms_are_folders_and_the_arrows_point_one_way() -> None:
    """Each room of the map is its folder; the model never imports the running or the views, the running
    never imports the views."""
    import ast

    mapped = rooms()
    assert set(mapped) == {"model", "running", "views"}
    folders = {"model": "model", "running": "run", "views": "views"}  # the room's folder under lab/chaos/
    loose = {path.stem for path in (REPO_ROOT / "lab/chaos").glob("*.py")} - {"__init__"}
    assert not loose, f"modules outside the rooms' folders: {loose}"
    for room, folder in folders.items():
        on_disk = {path.stem for path in (REPO_ROOT / "lab/chaos" / folder).glob("*.py")} - {"__init__"}
        on_disk |= {path.name for path in (REPO_ROOT / "lab/chaos" / folder).iterdir()
                    if (path / "__init__.py").exists()}
        assert on_disk == mapped[room], f"lab/chaos/{folder}/ holds {sorted(on_disk)}, the map: {sorted(mapped[room])}"
    above = {"model": ("lab.chaos.run", "lab.chaos.views"), "run": ("lab.chaos.views",)}
    for folder, higher in above.items():
        for source in (REPO_ROOT / "lab/chaos" / folder).rglob("*.py"):
            tree = ast.parse(source.read_text())
            modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
            modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
            upward = {module for module in modules if module.startswith(higher)}
            assert not upward, f"{source.relative_to(REPO_ROOT)} ({folder}) imports {upward}"
