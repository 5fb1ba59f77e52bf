"""Where a case's time goes (lab.chaos.model.timing): laps into phases, summed over a run."""

from __future__ import annotations

import time

from lab.chaos.model.timing import PhaseClock, split_line, time_split
from lab.chaos.run.report import CaseResult


def test_laps_add_the_time_since_the_previous_lap_to_their_phase() -> None:
    clock = PhaseClock()
    busy_until = time.monotonic() + 0.02
    while time.monotonic() < busy_until:
        pass
    clock.lap("clients")
    clock.lap("settle")
    clock.lap("clients")
    assert set(clock.phases) == {"clients", "settle"}
    assert clock.phases["clients"] >= 0.02 and clock.phases["settle"] < 0.02


def test_a_run_sums_phases_in_their_order_and_names_the_rest_other() -> None:
    cases = [(10.0, {"settle": 1.0, "clients": 6.0, "prepare": 0.5}), (5.0, {"clients": 3.0, "mystery": 1.0}),
             (2.0, {})]
    assert time_split(cases) == [("prepare", 0.5), ("clients", 9.0), ("settle", 1.0), ("mystery", 1.0),
                                 ("other", 5.5)]
    assert split_line(cases) == ("cases took 17 s: prepare 0 s (3%), clients 9 s (53%), settle 1 s (6%), "
                                 "mystery 1 s (6%), other 6 s (32%)")
    assert split_line([]) == ""


def test_a_result_keeps_its_phases_through_json() -> None:
    result = CaseResult(id="slowloris", variant="level", target="bundled", outcome="pass", duration_s=3.0,
                        phases={"clients": 2.123, "settle": 0.5})
    again = CaseResult.from_json(result.to_json())
    assert again.phases == {"clients": 2.12, "settle": 0.5}
    old = result.to_json()
    del old["phases"]  # a results file written before phases were kept
    assert CaseResult.from_json(old).phases == {}
