"""Shared test wiring: tests under tests/lab, tests/chaos, tests/zoo and tests/board need Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["lab.chaos.views.pytest_plugin"]

DOCKER_DIRS = ("lab", "chaos", "zoo", "board")
TESTS_ROOT = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        relative = Path(str(item.path)).resolve().relative_to(TESTS_ROOT.resolve())
        if relative.parts and relative.parts[0] in DOCKER_DIRS:
            item.add_marker(pytest.mark.docker)
