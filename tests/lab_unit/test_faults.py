"""Faults apply and lift themselves; the schedule applies and lifts them in order. A fake lab, no Docker."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from lab.chaos.model.faults import (
    Blackhole,
    DisconnectClients,
    Fault,
    FaultUnavailable,
    KillClients,
    Netem,
    PacketLoss,
    PauseClients,
    ProxyDownUp,
    StopTarget,
)
from lab.chaos.model.faults.packet_rules import (
    CHAIN_IN,
    CHAIN_OUT,
    dropped_packets,
    established_peers,
    install_script,
    remove_script,
)
from lab.chaos.model.faults.schedule import FaultSchedule
from lab.chaos.model.scenario import StopTarget as StopTargetFromScenario
from lab.errors import LabError


@dataclass
class FakeContainer:
    name: str
    calls: list[str]
    status: str = "running"
    id: str = ""

    def __getattr__(self, action: str) -> Any:
        if action.startswith("_"):
            raise AttributeError(action)

        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append(f"{self.name}.{action}")
            if action == "pause":
                self.status = "paused"
            elif action == "unpause":
                self.status = "running"
        return record


@dataclass
class FakeProbe:
    status: str = "running"

    def reload(self) -> None:
        pass


@dataclass
class FakeNetwork:
    calls: list[str]
    containers: list[FakeContainer] = field(default_factory=list)

    def disconnect(self, container: FakeContainer, force: bool = False) -> None:
        self.calls.append("network.disconnect")
        self.containers.remove(container)

    def connect(self, container: FakeContainer) -> None:
        self.calls.append("network.connect")
        self.containers.append(container)

    def reload(self) -> None:
        pass


@dataclass
class FakeToxiproxy:
    calls: list[str]

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.calls.append(f"proxy enabled={enabled}")


@dataclass
class FakeConfig:
    target_port: int = 8080


class FakeLab:
    """Records what faults do; `replies` answers the scripts run in the target's network namespace, in order
    (stdout, stderr, exit)."""

    def __init__(self, replies: list[tuple[str, str, int]] | None = None) -> None:
        self.calls: list[str] = []
        self.config = FakeConfig()
        self.containers = {name: FakeContainer(name, self.calls, id=name) for name in ("clients", "target")}
        self.probe, self.netns = FakeProbe(), FakeProbe()
        self.lab_network = FakeNetwork(self.calls, [self.containers["clients"]])
        self.scripts: list[str] = []
        self._replies = list(replies or [])

    def container(self, service: str) -> Any:
        return {"probe": self.probe, "netns": self.netns}.get(service) or self.containers[service]

    def toxiproxy(self) -> FakeToxiproxy:
        return FakeToxiproxy(self.calls)

    def network(self, name: str) -> FakeNetwork:
        assert name == "lab"
        return self.lab_network

    def exec(self, service: str, args: list[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
        assert service == "netns" and args[:2] == ["sh", "-c"]
        self.scripts.append(args[2])
        self.calls.append("namespace script")
        stdout, stderr, code = self._replies.pop(0) if self._replies else ("", "", 0)
        return subprocess.CompletedProcess(args, code, stdout.encode(), stderr.encode())


@dataclass
class FakeHistory:
    stop_elapsed_s: float | None = None


def test_faults_stay_importable_from_the_scenario_module() -> None:
    assert StopTargetFromScenario is StopTarget


@pytest.mark.parametrize(("fault", "applied", "lifted"), [
    (KillClients(), ["clients.kill"], []),
    (PauseClients(), ["clients.pause"], ["clients.reload", "clients.unpause"]),
    (DisconnectClients(), ["network.disconnect"], ["network.connect"]),
    (ProxyDownUp(), ["proxy enabled=False"], ["proxy enabled=True"]),
    (StopTarget(deadline_s=3), ["target.stop"], []),
])
def test_container_faults_apply_and_lift(fault: Fault, applied: list[str], lifted: list[str]) -> None:
    lab, history = FakeLab(), FakeHistory()
    fault.apply(lab, history)
    assert lab.calls == applied
    del lab.calls[:]
    fault.lift(lab)
    assert lab.calls == lifted


def test_lifting_twice_or_without_apply_is_harmless() -> None:
    lab = FakeLab()
    for fault in (PauseClients(), DisconnectClients()):
        fault.lift(lab)
        fault.lift(lab)
    assert lab.calls == ["clients.reload", "clients.reload"]  # nothing paused, nothing disconnected


@dataclass
class FreezerThatGivesUp(FakeContainer):
    """cgroup v1 under load: runc's freezer gives up `refusals` times before the container freezes."""

    refusals: int = 0

    def pause(self) -> None:
        self.calls.append(f"{self.name}.pause")
        if self.refusals:
            self.refusals -= 1
            raise LabError("OCI runtime pause failed: unable to freeze: unknown")
        self.status = "paused"


def test_pause_tries_again_when_the_freezer_gives_up_on_a_busy_container() -> None:
    lab = FakeLab()
    lab.containers["clients"] = FreezerThatGivesUp("clients", lab.calls, refusals=2)
    PauseClients().apply(lab, FakeHistory())
    assert lab.calls == ["clients.pause"] * 3 and lab.containers["clients"].status == "paused"


def test_pause_fails_at_once_on_any_other_error() -> None:
    lab = FakeLab()
    clients = lab.containers["clients"] = FreezerThatGivesUp("clients", lab.calls, refusals=1)
    clients.pause = lambda: (_ for _ in ()).throw(LabError("No such container"))  # type: ignore[method-assign]
    started = time.monotonic()
    with pytest.raises(LabError, match="No such container"):
        PauseClients().apply(lab, FakeHistory())
    assert time.monotonic() - started < 1 and lab.calls == []


def test_stop_target_records_how_long_the_stop_took() -> None:
    history = FakeHistory()
    StopTarget().apply(FakeLab(), history)
    assert history.stop_elapsed_s is not None and history.stop_elapsed_s >= 0


def test_packet_loss_drops_both_directions_of_the_lab_port_but_not_the_handshake_in_the_labs_own_chains() -> None:
    lab = FakeLab()
    PacketLoss(probability=0.05).apply(lab, FakeHistory())
    script = lab.scripts[0]
    drop = "--tcp-flags SYN NONE -m statistic --mode random --probability 0.05 -j DROP"
    assert f"-A {CHAIN_IN} -p tcp --dport 8080 {drop}" in script
    assert f"-A {CHAIN_OUT} -p tcp --sport 8080 {drop}" in script
    assert script.index(remove_script()) < script.index(f"-N {CHAIN_IN}")  # a leftover chain is replaced
    PacketLoss().lift(lab)
    assert lab.scripts[1] == remove_script()


def test_install_script_jumps_to_the_chains_only_after_filling_them() -> None:
    script = install_script(["-j DROP"], [])
    assert script.index(f"-A {CHAIN_IN} -j DROP") < script.index(f"-I INPUT 1 -j {CHAIN_IN}")
    assert script.startswith("set -e")


def test_remove_script_flushes_and_deletes_both_chains() -> None:
    script = remove_script()
    for chain, hook in ((CHAIN_IN, "INPUT"), (CHAIN_OUT, "OUTPUT")):
        assert f"-D {hook} -j {chain}" in script and f"-F {chain}" in script and f"-X {chain}" in script


@pytest.mark.parametrize("probability", [0.0, 1.0, -0.1])
def test_packet_loss_refuses_a_probability_outside_zero_and_one(probability: float) -> None:
    with pytest.raises(ValueError, match="probability"):
        PacketLoss(probability=probability)


SS_OUTPUT = """0      0      172.20.0.3:8080    172.20.0.5:51234
0      0      [::ffff:172.20.0.3]:8080  [::ffff:172.20.0.4]:40000
0      0      172.20.0.3:44444    172.20.0.9:8080
"""


def test_established_peers_reads_ss_for_the_lab_port_only() -> None:
    assert established_peers(SS_OUTPUT, 8080) == [("172.20.0.4", 40000), ("172.20.0.5", 51234)]
    assert established_peers("", 8080) == []


def test_blackhole_drops_the_first_peer_by_address_and_port_both_ways() -> None:
    lab = FakeLab([(SS_OUTPUT, "", 0)])
    Blackhole(when_established=1).apply(lab, FakeHistory())
    rules = lab.scripts[1]
    assert "-s 172.20.0.4 --sport 40000 --dport 8080 -j DROP" in rules
    assert "-d 172.20.0.4 --dport 40000 --sport 8080 -j DROP" in rules


def test_blackhole_without_a_connection_is_a_lab_error() -> None:
    with pytest.raises(LabError, match="no ESTABLISHED"):
        Blackhole().apply(FakeLab([("", "", 0)]), FakeHistory())


def test_netem_is_unavailable_on_a_kernel_without_sch_netem() -> None:
    lab = FakeLab([("", "Error: Specified qdisc kind is unknown.", 2)])
    with pytest.raises(FaultUnavailable, match="no sch_netem"):
        Netem(delay_ms=100).apply(lab, FakeHistory())


def test_netem_arguments() -> None:
    assert Netem(delay_ms=100, jitter_ms=20, reorder_percent=25).netem_args() == "delay 100ms 20ms reorder 25%"
    assert Netem(loss_percent=5, duplicate_percent=1).netem_args() == "loss 5% duplicate 1%"


def test_a_failing_namespace_script_is_a_one_line_lab_error() -> None:
    with pytest.raises(LabError, match=r"exit 1.*iptables: No chain"):
        PacketLoss().apply(FakeLab([("", "iptables: No chain", 1)]), FakeHistory())


# -- the schedule ----------------------------------------------------------------------------------
def schedule(fault: Fault | None, lab: FakeLab) -> tuple[FaultSchedule, list[str]]:
    log = lab.calls

    def wait(count: int, what: str) -> None:
        log.append(f"wait {count}")

    return FaultSchedule(fault, lab, FakeHistory(), wait_established=wait, event=lambda text: log.append(text),
                         sleep=lambda s: log.append(f"sleep {s:g}")), log


def test_a_timed_fault_is_applied_once_connected_held_and_lifted_while_the_clients_run() -> None:
    plan, log = schedule(PauseClients(when_established=2, hold_s=3), FakeLab())
    plan.before_clients()
    assert log == []
    plan.while_clients()
    plan.after_clients()
    assert log == ["wait 2", "fault pause_clients(after 2 connections, for 3 s)", "clients.pause", "sleep 3",
                   "clients.reload", "clients.unpause", "fault pause_clients lifted"]


def test_a_fault_before_the_clients_is_lifted_once_they_are_done() -> None:
    lab = FakeLab()
    plan, log = schedule(PacketLoss(probability=0.05), lab)
    plan.before_clients()
    assert log == ["fault packet_loss 5%(before the clients, until the clients are done)", "namespace script"]
    plan.while_clients()
    assert len(log) == 2  # held while the clients run
    plan.after_clients()
    assert log[2:] == ["namespace script", "fault packet_loss lifted"] and lab.scripts[-1] == remove_script()


def test_a_fault_until_the_clients_are_done_waits_for_its_connections_first() -> None:
    plan, log = schedule(Blackhole(when_established=1), FakeLab([(SS_OUTPUT, "", 0)]))
    plan.before_clients()
    plan.while_clients()
    assert log[0] == "wait 1" and "lifted" not in " ".join(log)
    plan.after_clients()
    assert log[-1] == "fault blackhole lifted"


def test_a_delayed_fault_waits_its_after_s_once_connected_before_applying() -> None:
    plan, log = schedule(Blackhole(when_established=1, after_s=1.5), FakeLab([(SS_OUTPUT, "", 0)]))
    plan.while_clients()
    assert log[:3] == ["wait 1", "sleep 1.5",
                       "fault blackhole(after 1 connections and 1.5 s, until the clients are done)"]


def test_lift_always_lifts_even_a_fault_whose_apply_failed() -> None:
    lab = FakeLab([("", "boom", 1)])
    plan, _ = schedule(PacketLoss(), lab)
    with pytest.raises(LabError):
        plan.before_clients()
    plan.lift_always()
    assert lab.scripts[-1] == remove_script()


def test_no_fault_no_calls() -> None:
    plan, log = schedule(None, FakeLab())
    plan.before_clients()
    plan.while_clients()
    plan.after_clients()
    plan.lift_always()
    assert log == []


IPTABLES_LISTING = """Chain EPOLL_LAB_IN (1 references)
    pkts      bytes target     prot opt in     out     source               destination
      17     1234 DROP       6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:8080 statistic
Chain EPOLL_LAB_OUT (1 references)
    pkts      bytes target     prot opt in     out     source               destination
     153   200000 DROP       6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp spt:8080 statistic
"""


def test_lifting_packet_rules_tells_how_many_packets_they_dropped() -> None:
    assert dropped_packets(IPTABLES_LISTING) == {CHAIN_IN: 17, CHAIN_OUT: 153}
    plan, log = schedule(PacketLoss(), FakeLab([("", "", 0), (IPTABLES_LISTING, "", 0)]))
    plan.before_clients()
    plan.after_clients()
    assert log[-1] == "fault packet_loss lifted: dropped 17 packets in, 153 out"
    assert dropped_packets("") == {}


def test_packet_rules_are_lifted_even_when_the_target_and_its_probe_went_down() -> None:
    lab = FakeLab()
    lab.probe.status = lab.containers["target"].status = "exited"
    PacketLoss().lift(lab)
    Blackhole().lift(lab)
    assert lab.scripts == [remove_script(), remove_script()]  # the namespace and its rules outlive the target


def test_packet_rules_have_nothing_to_lift_once_the_namespace_s_holder_is_gone() -> None:
    lab = FakeLab()
    lab.netns.status = "exited"
    for fault in (PacketLoss(), Blackhole(), Netem(delay_ms=10)):
        assert fault.lift(lab) is None
    assert lab.scripts == []
