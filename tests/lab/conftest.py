"""One lab per pytest-xdist worker, under a project name unique to the worker and the run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lab.chaos.views.pytest_plugin import run_config
from lab.instance import Lab
from lab.settings import LabConfig, unique_project


def quiet(_: str) -> None:
    """Lab progress messages are noise inside pytest's output."""


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    project = unique_project("epl-found", run_config().run_id)
    with Lab(LabConfig.from_env(os.environ, project=project), log=quiet) as running:
        yield running
