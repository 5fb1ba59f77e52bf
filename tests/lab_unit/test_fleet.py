"""Client fleets: a run split across clients containers, each with its own seed; checks count over all."""

from __future__ import annotations

import subprocess
from typing import Any, cast

from lab.chaos.model import catalog
from lab.chaos.model.checks import judge
from lab.chaos.model.history import CaseHistory, TargetState
from lab.chaos.model.scenario import Scenario, client
from lab.chaos.run.report import result_of
from lab.chaos.run.runner import CaseRunner, fleet_seed
from lab.instance import Lab
from tests.lab_unit.histories import answered, healthy, snap

FLOOD = client("flood", connections=10, concurrency=10, hold_s=1, idle=False, fleet=4)


def test_a_fleet_splits_connections_and_concurrency_evenly() -> None:
    shares = FLOOD.shares()
    assert [share.connections for share in shares] == [3, 3, 2, 2]
    assert [share.concurrency for share in shares] == [3, 3, 2, 2]
    assert all(share.fleet == 1 and share.attributes == FLOOD.attributes for share in shares)
    assert sum(share.connections for share in shares) == FLOOD.connections


def test_a_fleet_larger_than_the_run_leaves_idle_replicas_out() -> None:
    assert [share.connections for share in client("flood", connections=2, fleet=4).shares()] == [1, 1]
    alone = client("flood", connections=5)
    assert alone.shares() == (alone,)


def test_the_catalog_fleet_case_holds_4000_in_each_of_4_containers() -> None:
    case = catalog.get("fleet_16000")
    assert case.fleet == 4
    assert [(share.connections, share.concurrency) for share in case.clients[0].shares()] == [(4000, 4000)] * 4


def test_fleet_seeds_are_distinct_and_replica_one_keeps_the_old_seed() -> None:
    seeds = {fleet_seed(100, index, replica, runs=3) for index in range(3) for replica in range(1, 5)}
    assert len(seeds) == 12
    assert [fleet_seed(100, index, 1, runs=3) for index in range(3)] == [100, 101, 102]


class FakeLab:
    """Records scaling and which replica each client ran in; every client exits 1 (no result)."""

    def __init__(self) -> None:
        self.scaled: list[int] = []
        self.execs: list[tuple[int, list[str]]] = []

    def endpoints(self, **_: Any) -> Any:
        class Endpoints:
            lab_direct = "target:8080"
            lab_proxied = "toxiproxy:18080"
        return Endpoints()

    def scale_clients(self, replicas: int) -> None:
        self.scaled.append(replicas)

    def exec(self, service: str, args: list[str], *, timeout: float,
             replica: int = 1) -> subprocess.CompletedProcess[bytes]:
        self.execs.append((replica, args))
        return subprocess.CompletedProcess(args, 1, b"", b"no server")

    def client_agent(self) -> Any:
        """Replica 1's clients run through the lab's agent, not a `docker exec` each."""
        execs = self.execs

        class Agent:
            def run(self, argv: list[str], *, limit_s: float, timeout: float) -> subprocess.CompletedProcess[bytes]:
                execs.append((1, argv))
                return subprocess.CompletedProcess(argv, 1, b"", b"no server")
        return Agent()

    def probe(self) -> Any:
        return None

    def toxiproxy(self) -> Any:
        class Proxy:
            def reset(self) -> None:
                pass
        return Proxy()


def seed_of(command: list[str]) -> int:
    return int(command[command.index("--seed") + 1])


def test_the_runner_plays_each_share_in_its_own_container_and_scales_back() -> None:
    lab = FakeLab()
    runner = CaseRunner(cast(Lab, lab), repro=lambda scenario, seed: "repro")
    scenario = Scenario("fleet", "test", (FLOOD, client("well_behaved")))
    history = CaseHistory(case_id="fleet", seed=50, target="t", repro="r", baseline=snap(),
                          target_before=TargetState(running=True, started_at="T0"))
    runner._run_clients(scenario, 50, history)
    runner._restore_after(scenario)
    assert lab.scaled == [4, 1]
    played = sorted((replica, seed_of(args), args[args.index("--connections") + 1]) for replica, args in lab.execs)
    assert played == [(1, 50, "3"), (1, 51, "1"), (2, 52, "3"), (3, 54, "2"), (4, 56, "2")]
    assert sorted((c.replica, c.run.connections) for c in history.clients) == [(1, 1), (1, 3), (2, 3), (3, 2),
                                                                               (4, 2)]


def test_checks_and_counts_cover_every_replica() -> None:
    scenario = Scenario("some_case", "test", (FLOOD,))
    shares = FLOOD.shares()
    whole = healthy(clients=[answered(share) for share in shares])
    assert not any(v.failed for v in judge(scenario, whole))
    assert result_of(whole, "level", [], 1.0, None).counts == "10/10"
    short = healthy(clients=[*[answered(share) for share in shares[:-1]], answered(shares[-1], per_connection=0)])
    stall = [v for v in judge(scenario, short) if v.check == "stall"]
    assert stall and stall[0].failed
    assert result_of(short, "level", [], 1.0, None).counts == "8/10"
