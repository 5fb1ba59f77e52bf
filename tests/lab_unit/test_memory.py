"""memory_growth on hand-made histories: the peak from VmHWM, one response per connection in flight, and the
growth between rounds of the same connection storm."""

from __future__ import annotations

from dataclasses import replace

from lab.chaos.model import catalog
from lab.chaos.model.checks import memory_growth, outcome
from lab.chaos.model.history import CaseHistory
from lab.chaos.model.memory import largest_response_bytes, more_rounds_needed
from lab.chaos.model.scenario import ANYTHING, Scenario, client
from lab.probe import Snapshot
from tests.lab_unit.histories import SCENARIO, answered, healthy

MiB = 1 << 20


def reading(t: float, rss_mib: float, *, peak_mib: float = 0, established: int = 0) -> Snapshot:
    return Snapshot(t=t, pids=(1,), fds=8, fd_kinds={}, tcp={"LISTEN": 1, "ESTABLISHED": established},
                    cpu_ticks=10, clk_tck=100, rss_bytes=int(rss_mib * MiB), start_ticks=5,
                    rss_peak_bytes=int(peak_mib * MiB))


# -- the peak ------------------------------------------------------------------------------------------------


def test_a_64_mib_header_freed_between_two_readings_is_seen_in_vmhwm() -> None:
    """Buffered and freed within 250 ms: every RSS reading is back at 14 MiB, the high-water mark is not."""
    history = healthy(baseline=reading(0.0, 14, peak_mib=14),
                      samples=[reading(0.25, 14, peak_mib=14 + 64), reading(0.5, 14, peak_mib=14 + 64)],
                      settled=reading(3.0, 14, peak_mib=14 + 64))
    verdict = memory_growth(SCENARIO, history)
    assert verdict.failed
    assert "14 → 78 MiB" in verdict.message and "+64.0 MiB" in verdict.message
    assert "peak from VmHWM, risen during the case" in verdict.message


def test_a_high_water_mark_from_before_the_case_is_not_the_case_s() -> None:
    """No reset: the baseline's mark (100 MiB, an earlier case) stays; the readings judge, and the message says so."""
    history = healthy(baseline=reading(0.0, 14, peak_mib=100),
                      samples=[reading(1.0, 16, peak_mib=100)], settled=reading(3.0, 14, peak_mib=100))
    verdict = memory_growth(SCENARIO, history)
    assert verdict.ok and "peak RSS growth 2.0 MiB" in verdict.message
    assert "VmHWM stayed at the baseline's 100.0 MiB" in verdict.message
    # A mark that rises above the old one was set during the case: its rise counts, from the baseline's own mark.
    history.samples = [reading(1.0, 16, peak_mib=110)]
    assert "+10.0 MiB" in memory_growth(SCENARIO, history).message


def processes(t: float, *rss_and_peak_mib: tuple[float, float], established: int = 0) -> Snapshot:
    """One reading of a target of several processes: the probe sums RSS and VmHWM over them."""
    rss = sum(pair[0] for pair in rss_and_peak_mib)
    peak = sum(pair[1] for pair in rss_and_peak_mib)
    return replace(reading(t, rss, peak_mib=peak, established=established),
                   pids=tuple(range(1, len(rss_and_peak_mib) + 1)))


def test_memory_a_worker_freed_after_the_reset_is_not_the_case_s_growth() -> None:
    """gunicorn on the board: a sync worker frees 15 MiB just after the reset, so the summed VmHWM sits 15 MiB
    above the summed RSS at the baseline; another worker's +1 MiB during the case then raised the sum to 15 + 1
    MiB above the baseline RSS. The case's growth is the mark's rise: 1 MiB."""
    baseline = processes(0.0, (40, 40), (25, 40), (25, 25))
    during = processes(1.0, (40, 40), (25, 40), (26, 26))
    history = healthy(baseline=baseline, samples=[during], settled=processes(3.0, (40, 40), (25, 40), (25, 26)))
    verdict = memory_growth(SCENARIO, history)
    assert verdict.ok, verdict.message
    assert "peak RSS growth 1.0 MiB" in verdict.message
    assert "the baseline's mark was 15.0 MiB above its RSS" in verdict.message
    # The same worker growing 20 MiB past its old mark is the case's: +20 MiB from the baseline's mark.
    history.samples = [processes(1.0, (40, 40), (25, 40), (45, 45))]
    failed = memory_growth(SCENARIO, history)
    assert failed.failed and "+20.0 MiB" in failed.message


def test_without_vmhwm_the_sampled_rss_is_the_peak() -> None:
    history = healthy(baseline=reading(0.0, 14), samples=[reading(1.0, 30)], settled=reading(3.0, 14))
    verdict = memory_growth(SCENARIO, history)
    assert verdict.failed and "peak from sampled RSS" in verdict.message and "+16.0 MiB" in verdict.message


def test_no_reading_of_memory_is_an_error_not_a_pass() -> None:
    verdict = memory_growth(SCENARIO, healthy(samples=[], settled=None))
    assert verdict.missing and outcome([verdict]) == "error"


# -- one response per connection in flight -------------------------------------------------------------------


def test_one_whole_16_mib_response_per_connection_is_allowed() -> None:
    run = client("slow_reader", connections=3, response_bytes=16 * MiB, max_duration_s=20, expect=ANYTHING)
    scenario = Scenario("holds_responses", "test", (run,))
    held = [reading(1.0, 14 + 3 * 16 + 4, established=3)]
    verdict = memory_growth(scenario, healthy(clients=[answered(run, 0)], samples=held))
    assert verdict.ok, verdict.message
    assert "one response per connection in flight: 3 × 16 MiB (slow_reader)" in verdict.message
    # A fourth whole response on three connections is more than one each.
    verdict = memory_growth(scenario, healthy(clients=[answered(run, 0)],
                                              samples=[reading(1.0, 14 + 4 * 16 + 4, established=3)]))
    assert verdict.failed and "3 × 16 MiB (slow_reader)" in verdict.message


def test_responses_queued_without_backpressure_still_fail() -> None:
    """2,000 pipelined 64 KiB GETs on one connection: one response is allowed, not the 125 MiB of them all."""
    scenario = catalog.get("pipelined_large_responses")
    run = scenario.clients[0]
    history = healthy(clients=[answered(run)], samples=[reading(1.0, 14 + 125, established=1)])
    verdict = memory_growth(scenario, history)
    assert verdict.failed
    assert "one response per connection in flight: 1 × 64 KiB (pipelined)" in verdict.message


def test_a_run_too_brief_for_any_reading_still_had_a_connection_in_flight() -> None:
    run = client("well_behaved", requests=1, path=f"/bytes/{16 * MiB}", max_duration_s=30)
    scenario = Scenario("brief", "test", (run,))
    verdict = memory_growth(scenario, healthy(clients=[answered(run)], samples=[reading(1.0, 14 + 20)]))
    assert verdict.ok and "1 × 16 MiB (well_behaved)" in verdict.message


def test_the_largest_response_comes_from_the_plan_and_never_from_what_the_client_sends() -> None:
    assert largest_response_bytes(client("slow_reader", response_bytes=512 * 1024)) == 512 * 1024
    assert largest_response_bytes(client("well_behaved", path="/bytes/4096")) == 4096
    assert largest_response_bytes(client("well_behaved", path="/echo", body_bytes=MiB)) == MiB  # echoed back
    assert largest_response_bytes(client("slow_body", body_bytes=512)) == 512  # posts to /echo itself
    # A profile's large route: its declared length.
    adapted = client("well_behaved", path="/large", expect_body=f"{16 * MiB}:{'a' * 64}")
    assert largest_response_bytes(adapted) == 16 * MiB
    assert largest_response_bytes(catalog.get("tiny_chunks").clients[0]) == catalog.TINY_CHUNKS_BODY_BYTES
    # A 64 MiB header is what the client sends: no response to hold, no allowance.
    assert largest_response_bytes(catalog.get("header_flood").clients[0]) == 0
    assert largest_response_bytes(client("well_behaved")) == 0


def test_the_memory_variants_cases_allow_no_more_than_before_but_one_response() -> None:
    """header_flood gets nothing; tiny_chunks' chunk_list (2 MB body at ~36 MiB) stays far over its bound."""
    header_flood = catalog.get("header_flood")
    history = healthy(clients=[answered(header_flood.clients[0])], samples=[reading(1.0, 14 + 9, established=1)])
    assert memory_growth(header_flood, history).failed
    tiny = catalog.get("tiny_chunks")
    history = healthy(clients=[answered(tiny.clients[0])], samples=[reading(1.0, 14 + 36, established=1)])
    assert memory_growth(tiny, history).failed


# -- rounds --------------------------------------------------------------------------------------------------

ROUNDS = catalog.get("connection_rounds")


def rounds_history(*rss_mib: float) -> CaseHistory:
    readings = [reading(3.0 * n, rss) for n, rss in enumerate(rss_mib, start=1)]
    return healthy(clients=[answered(ROUNDS.clients[0])] * ROUNDS.rounds, samples=list(readings),
                   settled=readings[-1] if readings else None, rounds=readings)


def test_a_server_that_keeps_1_kib_per_connection_fails_the_rounds() -> None:
    # Round 1 grows by warming up; each later round's 1,000 connections leave 1,000 KiB behind.
    leaking = rounds_history(16.0, 16 + 1000 / 1024, 16 + 2000 / 1024, 16 + 3000 / 1024)
    verdict = memory_growth(ROUNDS, leaking)
    assert verdict.failed
    assert "memory grows with every connection" in verdict.message
    assert "+3000 KiB over rounds 2-4 (+1024 bytes per connection; at most 512 bytes each" in verdict.message


def test_a_correct_server_passes_the_rounds_and_the_warm_up_is_not_judged() -> None:
    flat = rounds_history(20.0, 20.02, 20.04, 20.04)  # after a first round that grew the heap by 6 MiB
    verdict = memory_growth(ROUNDS, flat)
    assert verdict.ok and "RSS after each of 4 rounds of 1000 connections: 20.00 → 20.02 → 20.04 → 20.04" \
        in verdict.message
    # An allocator arena (1 MiB) kept by chance is within the 1.5 MiB the 3,000 judged connections allow.
    assert memory_growth(ROUNDS, rounds_history(20.0, 21.0, 21.0, 21.0)).ok


def play(series_mib: list[float]) -> CaseHistory:
    """The rounds the runner plays against a server whose RSS after each round is `series_mib` (its loop: four
    rounds, then more while more_rounds_needed says so)."""
    readings: list[Snapshot] = []
    while len(readings) < ROUNDS.rounds or more_rounds_needed(ROUNDS, readings, len(readings)):
        readings.append(reading(3.0 * (len(readings) + 1), series_mib[len(readings)]))
    return healthy(clients=[answered(ROUNDS.clients[0])] * len(readings), samples=list(readings),
                   settled=readings[-1], rounds=readings)


def test_a_collected_heap_that_sizes_itself_up_for_three_rounds_then_stops_passes() -> None:
    """gohttp on the board, 10 rounds by hand: +4 MiB a round for three rounds, then flat (Go's heap)."""
    gohttp = [27.09, 31.27, 35.36, 39.22, 39.22, 39.25, 39.26, 41.04, 41.04, 41.04]
    history = play(gohttp)
    assert len(history.rounds) == 7  # flat over rounds 5-7: no more needed
    verdict = memory_growth(ROUNDS, history)
    assert verdict.ok, verdict.message
    assert "+41 KiB over rounds 5-7" in verdict.message and "so 3 more were played" in verdict.message


def test_a_leak_grows_in_every_round_played_and_fails_after_the_most_rounds() -> None:
    leaking = play([16.0 + n * 1000 / 1024 for n in range(10)])  # 1 KiB kept per connection, from the first
    assert len(leaking.rounds) == ROUNDS.max_rounds
    verdict = memory_growth(ROUNDS, leaking)
    assert verdict.failed and "+3000 KiB over rounds 6-8 (+1024 bytes per connection" in verdict.message
    # A heap that sizes itself up and leaks besides never stops growing either.
    assert memory_growth(ROUNDS, play([27.0, 31.0, 35.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0])).failed


def test_a_missing_round_reading_is_an_error() -> None:
    verdict = memory_growth(ROUNDS, rounds_history(20.0, 20.0))
    assert verdict.missing and "RSS was read after 2 of 4 rounds" in verdict.message


def test_a_heap_sized_by_the_first_round_is_not_growth_but_a_later_rounds_peak_is() -> None:
    """node on the board: V8's heap grows 15 MiB in round 1 and serves the later rounds within it."""
    warm = [reading(3.0 * n, rss, peak_mib=peak) for n, (rss, peak) in
            enumerate([(85.0, 88.0), (85.2, 88.0), (85.8, 88.0), (85.4, 88.0)], start=1)]
    history = healthy(baseline=reading(0.0, 72, peak_mib=72), clients=[answered(ROUNDS.clients[0])] * 4,
                      samples=[reading(1.0, 86, peak_mib=88), *warm], settled=warm[-1], rounds=warm)
    verdict = memory_growth(ROUNDS, history)
    assert verdict.ok, verdict.message
    assert "peak RSS growth after the warm-up rounds 0.8 MiB" in verdict.message
    # A later round that buffers 20 MiB at once (freed before the next reading) raises the mark past round 1's.
    spiked = [*warm[:2], replace(warm[2], rss_peak_bytes=108 * MiB), replace(warm[3], rss_peak_bytes=108 * MiB)]
    history.samples, history.rounds, history.settled = [reading(1.0, 86, peak_mib=88), *spiked], spiked, spiked[-1]
    failed = memory_growth(ROUNDS, history)
    assert failed.failed and "RSS grew after the warm-up rounds 85 → 105 MiB" in failed.message


def test_a_case_not_played_in_rounds_is_judged_on_its_peak_alone() -> None:
    single = replace(ROUNDS, rounds=1)
    verdict = memory_growth(single, rounds_history(16.0, 30.0, 50.0, 70.0))
    assert "rounds" not in verdict.message
