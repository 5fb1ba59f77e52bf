"""Cases fitted to target profiles (lab/chaos/adapt.py): pure, no Docker."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lab.chaos import catalog
from lab.chaos.adapt import Skip, adapt
from lab.chaos.scenario import GRACE_S, KillClients, Scenario, client
from lab.profiles import Profile, load_profiles, parse_profile

BIG = b"x" * (20 << 20)


def profile(*, deadlines: dict[str, float] | None = None, keep_alive: bool = True,
            small: dict[str, Any] | None = None, large: dict[str, Any] | None = None,
            echo: dict[str, Any] | None = None, exclude: list[dict[str, str]] | None = None) -> Profile:
    routes: dict[str, Any] = {"small": small or {"path": "/", "body": "hello, epoll\n"}, "missing": {}}
    for name, table in (("large", large), ("echo", echo)):
        if table is None:
            routes["missing"][name] = f"no {name} route here"
        else:
            routes[name] = table
    if not routes["missing"]:
        del routes["missing"]
    data: dict[str, Any] = {
        "language": "Rust", "software": "a test server",
        "target": {"image": "example/server:1", "port": 8080, "stop_signal": "SIGTERM", "keep_alive": keep_alive},
        "deadlines": {"header_s": 2, "idle_s": 5, "write_s": 5} if deadlines is None else deadlines,
        "routes": routes,
    }
    if exclude:
        data["exclude"] = exclude
    return parse_profile(data, name="test", source=Path("test.toml"))


SIZES = [1024, 65536, 524288, 1 << 20, 4 << 20, 8 << 20, 16 << 20]
FULL: dict[str, Any] = {"large": {"path": "/bytes/{size}", "sizes": SIZES, "pattern": "i % 251"},
                        "echo": {"path": "/echo", "max_bytes": 8 << 20}}


def adapted(case: str, target: Profile) -> Scenario:
    result = adapt(catalog.get(case), target)
    assert isinstance(result, Scenario), result
    return result


def skipped(case: str, target: Profile) -> str:
    result = adapt(catalog.get(case), target)
    assert isinstance(result, Skip), f"{case} was not skipped"
    return result.reason


@pytest.mark.parametrize("name", ["server-level", "server-edge"])
def test_the_bundled_servers_profiles_leave_every_case_as_it_is(name: str) -> None:
    bundled = load_profiles()[name]
    for scenario in catalog.CATALOG:
        assert adapt(scenario, bundled) == scenario, scenario.id


def unmet_need(scenario: Scenario, target: Profile) -> str | None:
    """Why the profile cannot run the scenario, from the profile's own declarations, in adapt's words: what a
    skip's reason must be true of. None when the reason is none of adapt's kinds."""
    if target.excluded(scenario.id) is not None:
        return f"excluded by the profile: {target.excluded(scenario.id)}"
    if target.trigger is None and "stats" in scenario.requires:
        return "needs the bundled server's /__lab/stats"
    if target.trigger is None and "deadlines" in scenario.requires:
        return "needs a deadline the lab sets on the bundled server only (its idle timeout, accept queue)"
    for deadline in sorted(scenario.needs_deadlines):
        if getattr(target.deadlines, f"{deadline}_s") is None:
            return deadline_text(deadline)
    return None


def deadline_text(deadline: str) -> str:
    article = "an" if deadline == "idle" else "a"
    return f"needs {article} {deadline} deadline; the profile declares none ([deadlines] {deadline}_s)"


def test_every_shipped_profile_runs_or_skips_every_case_with_a_reason_true_of_the_profile() -> None:
    closes = "the target closes after each response (keep_alive = false)"
    for name, shipped in load_profiles().items():
        routes = shipped.routes
        for scenario in catalog.CATALOG:
            result = adapt(scenario, shipped)
            where = (name, scenario.id)
            if isinstance(result, Skip):
                reason = result.reason
                if (unmet := unmet_need(scenario, shipped)) is not None:
                    assert reason == unmet, where  # the first unmet need, in adapt's order
                elif reason in {deadline_text(str(run.expect.deadline)) for run in scenario.clients}:
                    # a client that must be cut off by that deadline
                    assert getattr(shipped.deadlines, reason.rsplit("] ", 1)[1].rstrip(")")) is None, where
                elif closes in reason:  # keep-alive or held connections, of a server that closes after each
                    assert not shipped.keep_alive, where
                elif reason.startswith("needs a large GET: "):
                    assert routes.large is None and reason.endswith(routes.missing.get("large", "none declared"))
                elif reason.startswith("needs an echo POST: "):
                    assert routes.echo is None and reason.endswith(routes.missing.get("echo", "none declared"))
                elif reason.startswith("the absolute_form probe expects GET / to answer"):
                    assert (routes.small.path, routes.small.body) != ("/", b"hello, epoll\n"), where
                else:
                    pytest.fail(f"{where}: a skip reason adapt does not give: {reason}")
            else:
                assert unmet_need(scenario, shipped) is None, where
                for run in result.clients:
                    run.resolved_attributes()  # the clients accept every rewritten attribute


def test_a_server_without_the_lab_contract_gets_its_own_small_body_everywhere() -> None:
    seed = profile(deadlines={}, keep_alive=False, small={"path": "/", "body": "Hello, world!"})
    storm = adapted("connect_storm", seed)
    want = f"13:{hashlib.sha256(b'Hello, world!').hexdigest()}"
    assert dict(storm.clients[0].attributes)["expect_body"] == want
    assert (storm.canary_path, storm.canary_body) == ("/", b"Hello, world!")
    status_only = adapted("connect_storm", profile(small={"path": "/health"}, **FULL))
    assert dict(status_only.clients[0].attributes).items() >= {"path": "/health", "expect_body": "status"}.items()
    assert status_only.canary_body is None


def test_needs_that_are_not_met_are_skips_with_the_reason() -> None:
    seed = profile(deadlines={}, keep_alive=False)
    assert skipped("slow_reader", seed) == "needs a large GET: no large route here"
    assert skipped("post_body", seed) == "needs an echo POST: no echo route here"
    assert "header deadline" in skipped("slowloris", seed)
    assert "an idle deadline" in skipped("connect_and_idle", seed)
    assert "needs keep-alive (3 responses on one connection)" in skipped("well_behaved", seed)
    assert "kept-alive" in skipped("idle_connections_2000", seed)
    assert "/__lab/stats" in skipped("registry_forgets_gone_clients", profile(**FULL))
    assert "write deadline" in skipped("blackholed_client", profile(deadlines={"header_s": 2}, **FULL))
    small_echo = profile(large=FULL["large"], echo={"path": "/echo", "max_bytes": 1000})
    assert "echo of 1048576 bytes; the profile echoes up to 1000" in skipped("post_body", small_echo)
    excluded = profile(exclude=[{"case": "garbage", "reason": "answers garbage with 200 by design"}], **FULL)
    assert skipped("garbage", excluded) == "excluded by the profile: answers garbage with 200 by design"


def test_cut_offs_and_settle_times_follow_the_declared_deadlines() -> None:
    slow = profile(deadlines={"header_s": 6, "idle_s": 9, "write_s": 4}, **FULL)
    slowloris = adapted("slowloris", slow)
    assert slowloris.clients[0].expect.cut_off_s == 6 + GRACE_S
    assert slowloris.clients[0].max_duration_s() >= 6 + 2 * GRACE_S  # outlasts the cut-off it watches for
    assert adapted("connect_and_idle", slow).clients[0].expect.cut_off_s == 9 + GRACE_S
    assert adapted("stopped_reader", slow).clients[0].expect.cut_off_s == 4 + GRACE_S
    assert adapted("well_behaved", slow).limits.settle_s == 9 + GRACE_S
    assert adapted("connect_and_close", slow).limits.settle_s == 1.0  # prompt cases keep their own bound


def test_a_large_resource_known_by_sha256_is_used_when_big_enough() -> None:
    digest = hashlib.sha256(BIG).hexdigest()
    by_digest = profile(large={"path": "/big.bin", "size": len(BIG), "sha256": digest}, echo=FULL["echo"])
    run = adapted("bandwidth_16mib", by_digest).clients[0]
    assert dict(run.attributes).items() >= {"path": "/big.bin", "expect_body": f"{len(BIG)}:{digest}"}.items()
    reader = adapted("slow_reader", by_digest).clients[0]
    assert dict(reader.attributes)["response_bytes"] == len(BIG)
    assert "/bytes/N" in skipped("reset_mid_response", by_digest)
    tiny = profile(large={"path": "/small.bin", "size": 1000, "sha256": "0" * 64}, echo=FULL["echo"])
    assert "at least 16777216 bytes; the profile's largest is 1000" in skipped("bandwidth_16mib", tiny)


def test_a_pattern_route_elsewhere_is_checked_by_its_digest() -> None:
    moved = profile(large={"path": "/data/{size}.bin", "sizes": [1 << 20, 4 << 20], "pattern": "i % 251"},
                    echo=FULL["echo"])
    run = adapted("large_response_through_loss", moved).clients[0]
    pattern = (bytes(range(251)) * ((4 << 20) // 251 + 1))[: 4 << 20]
    assert dict(run.attributes)["path"] == f"/data/{4 << 20}.bin"
    assert dict(run.attributes)["expect_body"] == f"{4 << 20}:{hashlib.sha256(pattern).hexdigest()}"


def test_a_fault_waiting_for_connections_a_closing_target_need_not_hold_is_skipped() -> None:
    waits = Scenario("quick_then_killed", "one GET each, then the clients are killed",
                     (client("well_behaved", connections=3, requests=1),), fault=KillClients(when_established=3))
    closing = profile(keep_alive=False, **FULL)
    result = adapt(waits, closing)
    assert isinstance(result, Skip) and "keep_alive = false" in result.reason
    assert isinstance(adapt(waits, profile(**FULL)), Scenario)  # a keep-alive target holds them
    holding = replace(waits, clients=(client("slow_body", connections=3, body_bytes=100_000),))
    assert isinstance(adapt(holding, closing), Scenario)  # mid-body, even a closing target holds them


def test_a_slow_reader_of_a_response_the_kernel_buffers_whole_is_not_held_by_a_closing_target() -> None:
    closing = profile(keep_alive=False, **FULL)
    assert "slow_reader connections need not be held" in skipped("proxy_down_up", closing)  # 1 MiB: written whole
    assert isinstance(adapt(catalog.get("blackholed_client"), closing), Scenario)  # 16 MiB: still sending
    assert isinstance(adapt(catalog.get("proxy_down_up"), profile(**FULL)), Scenario)


def test_a_case_in_rounds_waits_out_the_profile_s_deadlines_before_each_reading() -> None:
    rounds = catalog.get("connection_rounds")
    slow_deadlines = adapted("connection_rounds", profile(deadlines={"header_s": 3, "idle_s": 4, "write_s": 4}))
    assert slow_deadlines.round_quiet_s == 4.5  # the idle deadline and ROUND_QUIET_SLACK_S
    assert adapted("connection_rounds", profile(deadlines={})).round_quiet_s == rounds.round_quiet_s
    assert adapted("well_behaved", profile()).round_quiet_s == 0  # a case of one round has no reading to wait for
