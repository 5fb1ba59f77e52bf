"""A saved case can be judged again: CaseHistory reads back what it writes, and `lab judge` says what changed."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from lab.chaos.model import catalog
from lab.chaos.model.checks import judge
from lab.chaos.model.history import CanarySample, CaseHistory
from lab.chaos.model.scenario import ERROR_STATUSES, Expect, client
from lab.chaos.views.judge_command import changes, load_saved, rejudge
from lab.errors import LabError
from lab.settings import REPO_ROOT
from tests.lab_unit.histories import RUN, SCENARIO, answered, healthy, snap, window


def through_json(history: CaseHistory) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(history.to_json()))  # plain JSON types, as saved
    return data


def full_history() -> CaseHistory:
    history = healthy(canary=[CanarySample(1.0, 0.002), CanarySample(1.05, None, "timed out", keep_alive=True,
                                                                      sent_after_s=0.01)],
                      events=[(0.0, "baseline"), (1.0, "clients started")], held_cpu=window(1.0, 0.02),
                      held_error=None, rounds=[snap(4.0), snap(5.0)], probe_errors=["a late reading"],
                      stats_before={"open_connections": 0}, stats_after={"open_connections": 0}, started=100.0,
                      phases={"clients": 1.5}, stop_elapsed_s=0.4, after_request_error="status 503",
                      peak_reset_error="clear_refs: permission denied", observed_until=6.0)
    history.clients.append(answered(client("malformed", variant="garbage", expect=Expect(
        responses=1, statuses=ERROR_STATUSES, cut_off_s=4.5, deadline="header", undeclared=True))))
    return history


def test_a_history_reads_back_what_it_writes() -> None:
    history = full_history()
    again = CaseHistory.from_json(through_json(history))
    assert again.to_json() == history.to_json()
    assert again == history  # every field, not only what to_json shows
    assert again.clients[1].run == history.clients[1].run  # the client run itself, expectations and all
    assert judge(SCENARIO, again) == judge(SCENARIO, history)


def test_a_history_written_before_clients_carried_their_run_is_matched_to_the_case() -> None:
    data = through_json(healthy())
    for saved in data["clients"]:
        del saved["client_run"]  # as histories were written before
    again = CaseHistory.from_json(data, SCENARIO)
    assert again.clients[0].run == RUN
    with pytest.raises(ValueError, match="does not say how it ran"):
        CaseHistory.from_json(data)


def saved_case(tmp_path: Path, verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    scenario = catalog.get("connect_and_close")
    history = healthy(clients=[answered(run) for run in scenario.clients])
    history.case_id = scenario.id
    return through_json(history) | {"verdicts": verdicts}


def test_judge_reads_a_bundle_and_says_what_changed(tmp_path: Path) -> None:
    data = saved_case(tmp_path, [{"check": "close_wait", "ok": False, "message": "3 sockets", "applicable": True},
                                 {"check": "fd_leak", "ok": True, "message": "", "applicable": True}])
    timeline = tmp_path / "timeline.json"
    timeline.write_text(json.dumps(data))
    bundle = tmp_path / "case.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        tar.add(timeline, arcname="timeline.json")
    saved, today, note = rejudge(load_saved(bundle))
    assert note == ""
    lines = changes(saved, today)
    assert any(line.startswith("close_wait: FAIL → ok") for line in lines), lines
    assert not any(line.startswith("fd_leak") for line in lines)
    assert any("(not judged then)" in line for line in lines)  # checks added since were not judged then


def test_judge_refuses_what_holds_no_history(tmp_path: Path) -> None:
    other = tmp_path / "x.json"
    other.write_text('{"id": "a result line"}')
    with pytest.raises(LabError, match="holds no case history"):
        load_saved(other)
    with pytest.raises(LabError, match="no such file"):
        load_saved(tmp_path / "none.tar.gz")


def test_a_bundle_made_before_histories_read_back_is_judged_again() -> None:
    """tests/fixtures/histories/slowloris-ca27677.tar.gz: `make repro CASE=slowloris SEED=5` on ca27677, the last
    commit before histories carried their client runs (and before the open-loop canary and the stream's CPU)."""
    bundle = REPO_ROOT / "tests" / "fixtures" / "histories" / "slowloris-ca27677.tar.gz"
    saved, today, _ = rejudge(load_saved(bundle))
    assert {verdict["check"] for verdict in saved} == {verdict.check for verdict in today}
    assert [verdict.check for verdict in today if verdict.failed or verdict.missing] == []
    assert changes(saved, today) == []  # the same verdicts, judged by today's checks
