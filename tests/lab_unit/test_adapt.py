"""Cases fitted to target profiles (lab/chaos/model/adapt.py): pure, no Docker."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lab import settings
from lab.chaos.model import catalog
from lab.chaos.model.adapt import Skip, adapt
from lab.chaos.model.faults.stop_target import STOP_SLACK_S
from lab.chaos.model.scenario import DEADLINE_CEILINGS_S, GRACE_S, KillClients, Scenario, StopTarget, client
from lab.chaos.run import preflight
from lab.errors import LabError
from lab.profiles import Profile, load_profile, load_profiles, parse_profile

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


PROFILE_DATA: dict[str, Any] = {
    "language": "Rust", "software": "a test server",
    "target": {"image": "example/server:1", "port": 8080, "stop_signal": "SIGTERM"},
    "deadlines": {}, "routes": {"small": {"path": "/"}, "missing": {"large": "none", "echo": "none"}},
}


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
        if bundled.trigger in scenario.triggers:
            assert adapt(scenario, bundled) == scenario, scenario.id
        else:  # a case whose mistake shows the same in both modes runs in one (busy_connection: level)
            assert "mode only" in skipped(scenario.id, bundled), scenario.id


def unmet_need(scenario: Scenario, target: Profile) -> str | None:
    """The case-wide need the profile does not meet, from its own declarations, in adapt's words (None: none)."""
    if target.excluded(scenario.id) is not None:
        return f"excluded by the profile: {target.excluded(scenario.id)}"
    if target.trigger is None and "stats" in scenario.requires:
        return "needs the bundled server's /__lab/stats"
    if target.trigger is None and "deadlines" in scenario.requires:
        return "needs a deadline the lab sets on the bundled server only (its idle timeout, accept queue)"
    if target.trigger is not None and target.trigger not in scenario.triggers:
        return f"runs in the {', '.join(scenario.triggers)} mode only; the profile's is {target.trigger}"
    return None


def true_of(reason: str, target: Profile) -> bool:
    """Whether a client's skip reason says something the profile declares (a route or keep-alive it lacks)."""
    routes = target.routes
    numbers = [int(number) for number in re.findall(r"\d+", reason)]
    if "the target closes after each response (keep_alive = false)" in reason:
        return not target.keep_alive
    if reason.startswith("needs a large GET: "):
        return routes.large is None and reason.endswith(routes.missing.get("large", "none declared"))
    if reason.startswith("needs an echo POST: "):
        return routes.echo is None and reason.endswith(routes.missing.get("echo", "none declared"))
    if reason.startswith("needs a large GET of at least "):
        return routes.large is not None and max(routes.large.sizes) == numbers[-1] < numbers[0]
    if reason.startswith("needs an echo of "):
        return routes.echo is not None and routes.echo.max_bytes == numbers[-1] < numbers[0]
    if reason.startswith("needs a small GET answered 200"):
        return routes.small.status == numbers[-1] != 200
    if "the profile's only fitting size is" in reason or reason.startswith("the large route's content"):
        return routes.large is not None
    return False  # a reason adapt does not give, or not true of this profile


def test_every_shipped_profile_runs_or_skips_every_case_with_a_reason_true_of_the_profile() -> None:
    for name, shipped in load_profiles().items():
        for scenario in catalog.CATALOG:
            result = adapt(scenario, shipped)
            where = (name, scenario.id)
            unmet = unmet_need(scenario, shipped)
            if isinstance(result, Skip):
                # the first unmet need, in adapt's order: the case's own, else a client's
                assert result.reason == unmet if unmet is not None else true_of(result.reason, shipped), (
                    where, result.reason)
            else:
                assert unmet is None, where
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
    assert "needs keep-alive (3 responses on one connection)" in skipped("well_behaved", seed)
    assert "kept-alive" in skipped("idle_connections_2000", seed)
    assert "/__lab/stats" in skipped("registry_forgets_gone_clients", profile(**FULL))
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
    assert adapted("slow_close", slow).limits.settle_s == 9 + GRACE_S
    assert adapted("connect_and_close", slow).limits.settle_s == 1.0  # prompt cases keep their own bound


def test_a_large_resource_known_by_sha256_is_used_when_big_enough() -> None:
    digest = hashlib.sha256(BIG).hexdigest()
    by_digest = profile(large={"path": "/big.bin", "size": len(BIG), "sha256": digest}, echo=FULL["echo"])
    run = adapted("bandwidth_16mib", by_digest).clients[0]
    assert dict(run.attributes).items() >= {"path": "/big.bin", "expect_body": f"{len(BIG)}:{digest}"}.items()
    stopped = adapted("stopped_reader", by_digest).clients[0]  # reads 64 KiB of it, whatever its size
    assert dict(stopped.attributes)["response_bytes"] == len(BIG)
    reset = adapted("reset_mid_response", by_digest).clients[0]  # reads a prefix: any content will do
    assert dict(reset.attributes).items() >= {"path": "/big.bin", "response_bytes": len(BIG)}.items()
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


# -- issue 20: every part of the contract declared, nothing assumed ------------------------------------------------

MIRROR: dict[str, Any] = {"path": "/mirror", "max_bytes": 16 << 20}


def test_the_profiles_echo_route_is_where_every_post_goes() -> None:
    mirrored = profile(large=FULL["large"], echo=MIRROR)
    for case in ("fragmented_random", "split_crlf", "slow_body", "client_killed"):
        assert dict(adapted(case, mirrored).clients[0].attributes)["path"] == "/mirror", case
    post = dict(adapted("post_body", mirrored).clients[0].attributes)
    assert post.items() >= {"path": "/mirror", "echo_path": "/mirror"}.items()  # POSTed there, its body echoed
    for case in ("tiny_chunks", "body_after_error", "close_mid_headers", "reset_mid_request"):
        assert dict(adapted(case, mirrored).clients[0].attributes)["path"] == "/mirror", case
    framing = adapted("malformed_framing", mirrored).clients
    assert {dict(run.attributes)["variant"]: dict(run.attributes).get("path") for run in framing} == {
        "nul_bytes": None, "negative_cl": "/mirror", "conflicting_cl": "/mirror",
        **{variant: None for variant in catalog.BAD_VERSION_VARIANTS if variant != "bad_version_major_9"}}
    for case in ("rfc_cl_and_te", "rfc_te_http10", "rfc_te_not_final_identity"):
        assert dict(adapted(case, mirrored).clients[0].attributes)["path"] == "/mirror", case


def test_the_rfc_probes_use_the_profiles_routes_and_bodies() -> None:
    own = profile(small={"path": "/hi", "body": "hi there\n"}, large={"path": "/blob", "size": 16 << 20,
                                                                    "sha256": "b" * 64}, echo=MIRROR)
    absolute = dict(adapted("rfc_absolute_form", own).clients[0].attributes)
    want = f"9:{hashlib.sha256(b'hi there' + bytes([10])).hexdigest()}"
    assert absolute.items() >= {"path": "/hi", "expect_body": want}.items()
    query = dict(adapted("rfc_query_string", own).clients[0].attributes)
    assert query.items() >= {"path": "/blob", "size_bytes": 16 << 20, "expect_body": f"{16 << 20}:{'b' * 64}"}.items()


def test_a_large_resource_of_any_content_is_checked_against_the_preflights_reference() -> None:
    anything = profile(large={"path": "/blob", "size": 16 << 20}, echo=FULL["echo"])
    assert anything.routes.large is not None and anything.routes.large.needs_preflight
    assert "not known" in skipped("bandwidth_16mib", anything)  # never a case checked against i % 251
    body = b"any content at all" * ((16 << 20) // 18) + b"x" * ((16 << 20) % 18)
    digest = hashlib.sha256(body).hexdigest()
    fetched = preflight.fetch_references(anything, lambda path: (200, len(body), hashlib.sha256(body).hexdigest()))
    assert not preflight.needs_preflight(fetched)
    for case in ("bandwidth_16mib", "rfc_query_string"):
        assert dict(adapted(case, fetched).clients[0].attributes)["expect_body"] == f"{16 << 20}:{digest}", case
    for case in ("reset_mid_response", "close_after_partial_response"):  # they read a prefix, then go
        assert dict(adapted(case, fetched).clients[0].attributes)["path"] == "/blob", case


def test_the_preflight_refuses_a_resource_unlike_its_declaration() -> None:
    anything = profile(large={"path": "/data/{size}", "sizes": [1000, 2000]}, echo=FULL["echo"])
    asked: list[str] = []

    def fetch(path: str) -> tuple[int, int, str]:
        asked.append(path)
        return 200, int(path.rsplit("/", 1)[1]), "c" * 64

    fetched = preflight.fetch_references(anything, fetch)
    assert asked == ["/data/1000", "/data/2000"]  # each size once
    assert fetched.routes.large is not None and fetched.routes.large.references == ((1000, "c" * 64),
                                                                                      (2000, "c" * 64))
    assert preflight.fetch_references(fetched, lambda path: pytest.fail("fetched twice")) == fetched
    with pytest.raises(LabError, match=r"GET /data/1000 sent 999 bytes, the profile says 1000"):
        preflight.fetch_references(anything, lambda path: (200, 999, "c" * 64))
    with pytest.raises(LabError, match=r"GET /data/1000 answered 404, not 200"):
        preflight.fetch_references(anything, lambda path: (404, 0, "c" * 64))


# -- issue 20: adaptation never changes what a case means -----------------------------------------------------------

MiB = 1 << 20
SHAPES: dict[str, Profile] = {
    "full": profile(**FULL),
    "small sizes only": profile(large={"path": "/bytes/{size}", "sizes": [1024, 65536], "pattern": "i % 251"},
                                echo=FULL["echo"]),
    "one 16 MiB size only": profile(large={"path": "/blob", "size": 16 * MiB, "sha256": "b" * 64}, echo=MIRROR),
    "one huge size only": profile(large={"path": "/huge.bin", "size": 64 * MiB, "sha256": "a" * 64},
                                  echo=FULL["echo"]),
    "no echo": profile(large=FULL["large"]),
    "no keep-alive": profile(keep_alive=False, **FULL),
    "no deadlines": profile(deadlines={}, **FULL),
    "minimal GET / only": profile(deadlines={}, small={"path": "/"}),
}


def response_bytes(attributes: dict[str, object]) -> int:
    """The body a GET of the run's path brings: its declared length, else N of /bytes/N, else a small one."""
    expect_body, path = str(attributes.get("expect_body", "")), str(attributes.get("path", ""))
    if ":" in expect_body:
        return int(expect_body.split(":")[0])
    return int(path.removeprefix("/bytes/")) if path.startswith("/bytes/") else 0


def moved_bytes(scenario: Scenario, *, floor: int = 0) -> int:
    """Response bytes a case's clients ask the target to send (what its adaptation must not inflate).

    floor: count each connection that asks for a large body as at least this many bytes.
    """
    total = 0
    for run in scenario.clients:
        attributes = run.resolved_attributes()
        if run.behaviour in ("well_behaved", "pipelined", "half_close"):
            each = int(str(attributes.get("requests", 1))) * response_bytes(attributes)
        elif run.behaviour == "slow_reader":
            each = int(str(attributes["response_bytes" if attributes["mode"] == "slow" else "stop_after_bytes"]))
        elif run.behaviour in ("reset_mid_response", "close_after_partial_response"):
            each = int(str(attributes["after_bytes"]))
        elif run.behaviour == "malformed" and attributes["variant"] == "query_string":
            each = int(str(attributes["size_bytes"]))
        else:
            each = 0
        total += (max(each, floor) if each else 0) * run.connections
    return total


def paced_s(scenario: Scenario) -> float:
    """How long its slow readers take at their pace (read_bytes every read_interval_ms)."""
    longest = 0.0
    for run in scenario.clients:
        attributes = run.resolved_attributes()
        if run.behaviour == "slow_reader" and attributes["mode"] == "slow":
            reads = int(str(attributes["response_bytes"])) / int(str(attributes["read_bytes"]))
            longest = max(longest, reads * int(str(attributes["read_interval_ms"])) / 1000)
    return longest


@pytest.mark.parametrize("shape", SHAPES)
def test_no_adapted_case_moves_more_than_twice_its_bytes_in_its_own_time(shape: str) -> None:
    for scenario in catalog.CATALOG:
        result = adapt(scenario, SHAPES[shape])
        if isinstance(result, Skip):
            continue
        # Twice the case's bytes, or one 16 MiB response a connection (what the catalog asks of any server).
        allowed = max(2 * moved_bytes(scenario), moved_bytes(scenario, floor=16 * MiB))
        assert moved_bytes(result) <= allowed, (shape, scenario.id)
        assert paced_s(result) <= 2 * paced_s(scenario), (shape, scenario.id)
        for original, run in zip(scenario.clients, result.clients, strict=True):
            assert run.max_duration_s() <= original.max_duration_s(), (shape, scenario.id)  # the same time budget


def test_a_case_that_the_only_size_would_inflate_is_scaled_or_skipped_with_that_reason() -> None:
    only_16 = SHAPES["one 16 MiB size only"]
    flood = adapted("pipelined_large_responses", only_16).clients[0]
    assert dict(flood.attributes)["requests"] == 8  # 2,000 × 64 KiB: 8 × 16 MiB
    reader = adapted("slow_reader", only_16)
    attributes = dict(reader.clients[0].attributes)
    assert (attributes["read_bytes"], attributes["rcvbuf_bytes"]) == (4096 * 32, 4096 * 32)  # same pace in time
    assert reader.held_cpu is not None and reader.held_cpu.mib_per_s == 0.25 * 32  # CPU per MiB it moves
    huge = SHAPES["one huge size only"]
    assert skipped("slow_reader", huge) == (
        "slow_reader asks 524288 bytes a response; the profile's only fitting size is 67108864 bytes (128x): "
        "1 of them would move 67108864 bytes where the case moves 524288, a different case")
    assert skipped("rfc_query_string", huge) == (
        "the query_string probe asks 1000 bytes a response; the profile's only fitting size is 67108864 bytes "
        "(67109x): 1 of them would move 67108864 bytes where the case moves 1000, a different case")
    assert skipped("bandwidth_16mib", SHAPES["small sizes only"]) == (
        "needs a large GET of at least 16777216 bytes; the profile's largest is 65536")
    assert skipped("post_body", SHAPES["minimal GET / only"]) == "needs an echo POST: no echo route here"
    ran = [s for s in catalog.CATALOG if isinstance(adapt(s, only_16), Scenario)]
    assert len(catalog.CATALOG) - len(ran) == 2  # the stats page and the fleet: nothing about its contract


# -- issue 20: an undeclared deadline is judged, not skipped; the graceful stop is declared ---------------------------

def test_an_undeclared_deadline_runs_the_case_against_the_lab_ceiling_within_its_own_bounded_run() -> None:
    seed = profile(deadlines={}, keep_alive=False, small={"path": "/", "body": "Hello, world!"})
    for case, deadline in (("slowloris", "header"), ("slowloris_through_loss", "header"),
                           ("endless_headers", "header"), ("connect_and_idle", "idle")):
        run = adapted(case, seed).clients[0]
        original = catalog.get(case).clients[0]
        assert run.expect.undeclared and run.expect.deadline == deadline, case
        assert run.expect.cut_off_s == DEADLINE_CEILINGS_S[deadline] + GRACE_S, case
        assert run.max_duration_s() == original.max_duration_s(), case  # seconds, not the ceiling's minute
    blackholed = adapted("blackholed_client", profile(deadlines={"header_s": 2}, **FULL))
    assert "declares no write deadline" in blackholed.summary
    excluded = profile(deadlines={}, small={"path": "/"}, exclude=[{"case": "slowloris", "reason": "a proxy's job"}])
    assert skipped("slowloris", excluded) == "excluded by the profile: a proxy's job"


def test_a_declared_deadline_past_the_ceiling_is_judged_at_the_ceiling() -> None:
    lax = profile(deadlines={"header_s": 300, "idle_s": 75, "write_s": 5}, **FULL)
    slowloris = adapted("slowloris", lax).clients[0]
    assert slowloris.expect.cut_off_s == 30 + GRACE_S and not slowloris.expect.undeclared
    assert adapted("connect_and_idle", lax).clients[0].expect.cut_off_s == 60 + GRACE_S
    assert adapted("slow_close", lax).limits.settle_s == 60 + GRACE_S  # a case on the default bound


def test_the_stop_deadline_is_the_profiles() -> None:
    assert profile(**FULL).stop_s == 10  # undeclared: docker stop's own 10 s
    routes = {"small": {"path": "/"}, "large": FULL["large"], "missing": {"echo": "none"}}
    draining = parse_profile({**PROFILE_DATA, "target": {**PROFILE_DATA["target"], "stop_s": 12.5}, "routes": routes},
                             name="drains", source=Path("drains.toml"))
    fault = adapted("target_stopped", draining).fault
    assert isinstance(fault, StopTarget) and fault.deadline_s == 12.5
    assert fault.stop_timeout_s() == 13 + STOP_SLACK_S  # docker stop -t: never less than the deadline


def test_the_rust_fixture_under_a_contract_unlike_the_labs_runs_all_but_the_bundled_servers_own_cases() -> None:
    unlike = load_profile(settings.REPO_ROOT / "tests" / "fixtures" / "rust-server" / "rust-unlike.toml")
    assert unlike.stop_s == 8 and preflight.needs_preflight(unlike)
    blob = preflight.fetch_references(unlike, lambda path: (200, 16 << 20, "d" * 64))
    skips = {result.case: result.reason for result in (adapt(s, blob) for s in catalog.CATALOG)
             if isinstance(result, Skip)}
    assert set(skips) == {"registry_forgets_gone_clients", "fleet_16000"}, skips
