"""Two servers the lab never saw, each with a contract unlike the bundled server's on every point (its routes,
bodies, byte content, deadlines, stop deadline, one large size): tests/fixtures/careful-server (Python,
level-triggered epoll) and tests/fixtures/rust-server judged through rust-unlike.toml (Rust, a thread per
connection). Every case must pass; a case may skip only for what these servers truly lack."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import pytest
from _pytest.mark import ParameterSet

from lab.chaos.model.catalog import CATALOG
from lab.chaos.run.play import open_session, target_profile
from lab.chaos.run.scheduler import Job, plan
from lab.chaos.run.session import LabSession
from lab.chaos.views.pytest_plugin import play_job, run_config
from lab.run_config import RunConfig
from lab.settings import REPO_ROOT

UNSEEN = {
    "careful-server": REPO_ROOT / "tests" / "fixtures" / "careful-server" / "careful-server.toml",
    "rust-unlike": REPO_ROOT / "tests" / "fixtures" / "rust-server" / "rust-unlike.toml",
}
# What these servers truly lack, as the skip says it: the bundled server's stats page, the sch_netem qdisc this
# kernel may not have. Any other skip is the lab's contract leaking through.
LACKS = ("/__lab/stats", "sch_netem")


def unseen_run(server: str) -> RunConfig:
    """The run's config for one unseen server: its profile, its results in a folder of its own."""
    run = run_config()
    return replace(run, profile=str(UNSEEN[server]), reports_dir=run.reports_dir / server)


def unseen_jobs() -> list[ParameterSet]:
    params = []
    for server in UNSEEN:
        run = unseen_run(server)
        for job in plan(CATALOG, run.seed, profile=target_profile(run), bundled=False):
            params.append(pytest.param(server, job, id=f"{server}-{job.cases[0]}",
                                       marks=[pytest.mark.heavy] if job.heavy else []))
    return params


class UnseenLabs:
    """One lab per unseen server on this worker, each up from its first case to the end of the session."""

    def __init__(self) -> None:
        self._sessions: dict[str, LabSession] = {}

    def session(self, server: str) -> LabSession:
        if server not in self._sessions:
            self._sessions[server] = open_session(unseen_run(server), os.environ.get("PYTEST_XDIST_WORKER"),
                                                  prefix=f"epl-{server}")
        return self._sessions[server]

    def close(self) -> None:
        while self._sessions:
            self._sessions.popitem()[1].close()


@pytest.fixture(scope="session")
def unseen_labs() -> Iterator[UnseenLabs]:
    labs = UnseenLabs()
    try:
        yield labs
    finally:
        labs.close()


@pytest.mark.parametrize(("server", "job"), unseen_jobs())
def test_an_unseen_server_passes_the_case(unseen_labs: UnseenLabs, server: str, job: Job) -> None:
    # A check that failed, or one whose data is missing (an error), fails the test; so does any skip but LACKS.
    play_job(unseen_labs.session(server), job, unseen_run(server),
             skip_allowed=lambda reason: any(lack in reason for lack in LACKS))
