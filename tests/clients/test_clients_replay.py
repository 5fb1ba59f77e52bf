"""Seed determinism and replay fidelity: same seed, same bytes, splits and pauses; a replay re-sends
a recorded history split for split with the recorded pauses."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from clients.history import ConnectionHistory, RunHistory, summarize, without_timings
from clients.registry import ConnectionView, PlanContext, all_behaviours, connection_rng, get_behaviour
from clients.runner import parse_target, replay
from clients.steps import Step
from tests.clients.chaos_server import (
    RecordingServer,
    assert_each_read_as_sent,
    assert_read_as_sent,
    http,
    record_only,
    recorded_pauses,
    run_against,
)

CLIENT_OPS = ("connect", "send", "pause", "stall", "read", "shutdown", "reset", "close", "expect")
# Behaviours whose bytes, splits or pauses come from the seed, with attributes that make them do so.
SEEDED = [
    ("fragmented", {"mode": "random"}),
    ("fragmented", {"mode": "body"}),
    ("malformed", {"variant": "random"}),
    ("malformed", {"variant": "garbage", "size_bytes": 64}),
    ("malformed", {"variant": "endless_headers"}),
    ("slowloris", {}),
    ("slow_body", {}),
    ("well_behaved", {"path": "/echo"}),
    ("pipelined", {"path": "/echo"}),
    ("half_close", {"path": "/echo"}),
    ("abort_mid_request", {}),
    ("reset_mid_request", {}),
]


def planned(behaviour: str, seed: int, index: int, attributes: dict[str, Any], steps: int = 300) -> list[Step]:
    """The first steps a behaviour plans for one connection (no network: the view stays empty)."""
    cls = get_behaviour(behaviour)
    instance = cls(cls.resolve({name: str(value) for name, value in attributes.items()}))
    context = PlanContext(index, connection_rng(seed, behaviour, index), "127.0.0.1:8080", ConnectionView())
    return list(itertools.islice(instance.plan(context), steps))


def client_script(connection: ConnectionHistory) -> list[tuple[str, bytes | None, dict[str, Any]]]:
    """What the client did, without timestamps and without what it observed."""
    return [
        (op.kind, op.data, {name: value for name, value in op.args.items() if name != "connect_s"})
        for op in connection.ops
        if op.kind in CLIENT_OPS
    ]


@pytest.mark.parametrize("cls", all_behaviours(), ids=lambda cls: cls.name)
def test_every_behaviour_plans_the_same_steps_for_the_same_seed(cls: type[Any]) -> None:
    first = [planned(cls.name, 42, index, {}) for index in range(3)]
    again = [planned(cls.name, 42, index, {}) for index in range(3)]
    assert first == again and all(first)


@pytest.mark.parametrize(("behaviour", "attributes"), SEEDED, ids=lambda v: str(v))
def test_a_different_seed_or_connection_plans_different_steps(
    behaviour: str, attributes: dict[str, Any]
) -> None:
    base = planned(behaviour, 1, 0, attributes)
    assert planned(behaviour, 1, 0, attributes) == base
    assert planned(behaviour, 2, 0, attributes) != base
    assert planned(behaviour, 1, 1, attributes) != base


def test_seeded_runs_send_identical_bytes_splits_and_pauses_over_the_network() -> None:
    # One server for all runs: the Host header names the target, so the port must not change.
    runs = []
    with RecordingServer(http()) as server:
        for count, seed in enumerate((9, 9, 10), start=1):
            history, result = run_against(server, "fragmented", seed=seed, connections=2, pause_ms=20)
            assert result["summary"]["expected_ok"] == 2
            seen = server.wait_closed(2 * count)[-2:]
            assert_each_read_as_sent(seen, history)
            runs.append(history)
    first, again, other = runs
    for index in range(2):
        assert client_script(first.connections[index]) == client_script(again.connections[index])
        assert client_script(first.connections[index]) != client_script(other.connections[index])
        assert recorded_pauses(first, index) == recorded_pauses(again, index) != recorded_pauses(other, index)


def reloaded(history: RunHistory, path: Path) -> RunHistory:
    history.save(path)
    return RunHistory.load(path)


def test_replay_resends_every_piece_split_for_split_with_the_recorded_pauses(tmp_path: Path) -> None:
    with RecordingServer(http()) as server:
        original, result = run_against(server, "fragmented", seed=21, mode="random", fragments=6, pause_ms=40)
        (first,) = server.wait_closed(1)
    recorded = reloaded(original, tmp_path / "history.json")
    assert recorded == original  # the file keeps every byte and argument
    with RecordingServer(http()) as server:
        replayed = replay(recorded, parse_target(server.target), source="history.json")
        (second,) = server.wait_closed(1)
    assert client_script(replayed.connections[0]) == client_script(original.connections[0])
    assert len(recorded_pauses(replayed)) == 5
    assert_read_as_sent(first, original)
    assert_read_as_sent(second, replayed)  # the same pieces, so the same splits and pauses
    again = summarize(replayed)
    assert again["replayed_from"] == "history.json"
    assert without_timings(again) == without_timings(result)


def test_replay_keeps_every_connection_its_start_offset_and_its_ending(tmp_path: Path) -> None:
    with RecordingServer(record_only()) as server:
        original, _ = run_against(server, "reset_mid_request", seed=4, connections=3, pause_ms=30)
        first = server.wait_closed(3)
    with RecordingServer(record_only()) as server:
        replayed = replay(reloaded(original, tmp_path / "h.json"), parse_target(server.target))
        second = server.wait_closed(3)
    assert sorted(c.received() for c in first) == sorted(c.received() for c in second)
    assert [c.end for c in second] == ["ECONNRESET"] * 3
    for before, after in zip(original.connections, replayed.connections, strict=True):
        assert client_script(before) == client_script(after)
        assert [op.kind for op in after.ops][-1] == "reset"


def test_replay_of_a_run_the_server_cut_off_sends_what_was_sent_before_the_cut() -> None:
    with RecordingServer(http(header_timeout=0.4)) as server:
        original, result = run_against(server, "slowloris", interval_ms=40, max_duration_s=5)
        (first,) = server.wait_closed(1)
    with RecordingServer(http(header_timeout=5.0)) as server:  # a patient server this time
        replayed = replay(original, parse_target(server.target))
        (second,) = server.wait_closed(1)
    assert only_closed_by(result) == "server_fin"
    assert first.timed_out and not second.timed_out
    assert second.received() == first.received()  # the replay stops where the original was cut
    assert_read_as_sent(second, replayed)
    assert only_closed_by(summarize(replayed)) == "client"


def only_closed_by(result: dict[str, Any]) -> str:
    closed_by: str = result["connections"][0]["closed_by"]
    return closed_by
