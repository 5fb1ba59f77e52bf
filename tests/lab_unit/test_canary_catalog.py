"""The canary runs beside every case of the catalog, except where a correct server cannot answer it."""

from __future__ import annotations

from lab.chaos.model.catalog import CATALOG, NO_CANARY, get
from lab.chaos.model.scenario import Blackhole, Netem, PacketLoss, StopTarget


def test_every_case_but_the_listed_ones_runs_the_canary() -> None:
    assert set(NO_CANARY) <= {scenario.id for scenario in CATALOG}
    assert [s.id for s in CATALOG if not s.canary] == [s.id for s in CATALOG if s.id in NO_CANARY]
    assert len([s for s in CATALOG if s.canary]) >= 40  # it ran beside 7 cases before issue 21


def test_no_canary_where_the_case_itself_keeps_a_correct_server_from_answering_it() -> None:
    for scenario in CATALOG:
        # The packet faults act on the canary's packets too, or pick a connected peer that may be the canary's;
        # a stopped target answers no one; at a 64-fd limit a new connection waits or is refused.
        unanswerable = (isinstance(scenario.fault, (PacketLoss, Netem, Blackhole, StopTarget))
                        or (scenario.target_nofile or 1 << 16) < 128)
        assert not (unanswerable and scenario.canary), f"{scenario.id}: a canary there cannot be answered"


def test_cases_that_flood_connects_allow_the_scheduler_its_worst_seen() -> None:
    default = get("well_behaved").limits
    flood = get("idle_connections_2000").limits
    assert (default.canary_p99_s, default.canary_silence_s) == (0.25, 0.75)
    assert flood.canary_p99_s == flood.canary_silence_s == flood.canary_max_s == 1.0
    assert flood.canary_p50_s == default.canary_p50_s  # the p50 still bites
