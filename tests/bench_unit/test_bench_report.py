"""The bench's pure parts: strace -c parsing, targets, the docs guard (no servers started)."""

from __future__ import annotations

from bench import report, syscalls, targets
from bench.cli import docs_refusal

STRACE_SUMMARY = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 55.12    0.120000           6     20000           sendto
 40.00    0.080000           4     20000        10 recvfrom
  4.00    0.008000          16       500           epoll_wait
  0.88    0.000100           2        50           epoll_ctl
------ ----------- ----------- --------- --------- ----------------
100.00    0.208100           5     40550        10 total
"""


def test_strace_summary_is_parsed_without_the_total_row() -> None:
    counts = syscalls.parse_summary(STRACE_SUMMARY)
    assert counts == {"sendto": (20000, 0), "recvfrom": (20000, 10), "epoll_wait": (500, 0), "epoll_ctl": (50, 0)}


def test_strace_summary_of_nothing_is_empty() -> None:
    assert syscalls.parse_summary("strace: Process 12 attached\nstrace: Process 12 detached\n") == {}


def test_per_request_divides_by_responses() -> None:
    found = syscalls.per_request(syscalls.parse_summary(STRACE_SUMMARY), 20000)
    assert found["per_request"]["sendto"] == 1.0
    assert found["per_request"]["epoll_wait"] == 0.025
    assert found["errors_per_request"] == {"recvfrom": 0.0005}
    assert abs(found["total_per_request"] - 40550 / 20000) < 1e-12


def test_columns_put_the_round_trip_first_and_drop_rare_other_calls() -> None:
    traced = {"a": {"per_request": {"accept4": 0.001, "sendto": 1.0, "epoll_wait": 0.02, "futex": 0.5}},
              "b": {"per_request": {"writev": 1.0, "recvfrom": 1.0}}, "c": {"error": "boom"}}
    assert syscalls.columns(traced) == ["epoll_wait", "recvfrom", "sendto", "writev", "accept4", "futex"]
    assert "brk" not in syscalls.columns({"a": {"per_request": {"brk": 0.001}}})


def test_syscall_table_is_rendered() -> None:
    results = {"meta": {"commit": "abc1234", "clean_tree": True},
               "syscalls_per_request": {"nginx": {**syscalls.per_request(syscalls.parse_summary(STRACE_SUMMARY),
                                                                       20000), "seconds": 2.0, "connections": 50}}}
    text = report.markdown(results)
    assert "commit abc1234 (clean tree)" in text
    assert "| nginx | 2.03 | 0.025 | 0.003 | 1.000 | 1.000 |" in text


def _cpu(ours: float, nginx: float) -> dict[str, object]:
    return {name: {"us_per_request": us, "ratio_to_nginx": us / nginx}
            for name, us in (("ours-level", ours), ("ours-edge", ours), ("nginx", nginx))}


def test_cpu_targets_are_met_or_missed_by_this_run() -> None:
    found = targets.evaluate({"cpu_per_request": {"keepalive": _cpu(14.0, 10.0), "pipelined": _cpu(10.5, 10.0)}})
    verdicts = {t["target"]: t["met"] for t in found}
    assert verdicts["ours-level keepalive: CPU/request <= 1.5x nginx"] is True
    assert verdicts["ours-edge pipelined: CPU/request <= 1x nginx"] is False
    assert len(found) == 4  # sections that did not run add no targets


def test_idle_and_canary_targets() -> None:
    found = targets.evaluate({
        "idle_10k": {"ours-level": {"rss_per_connection_bytes": 512.0, "idle_cpu_percent": 0.2},
                     "ours-edge": {"rss_per_connection_bytes": 513.0, "idle_cpu_percent": 1.0}},
        "canary": {"ours-level": {"p99_ms": 9.9}, "ours-edge": {"error": "x"}},
    })
    verdicts = [t["met"] for t in found]
    assert verdicts == [True, True, False, False, True, None]
    assert "MISSED" in report.target_lines(found)


def test_docs_are_written_only_by_a_full_run_of_a_clean_tree() -> None:
    clean = {"commit": "abc1234", "clean_tree": True}
    assert docs_refusal(no_docs=False, only=None, meta=clean) is None
    assert docs_refusal(no_docs=False, only=["cpu"], meta=clean) == "only some sections ran"
    assert docs_refusal(no_docs=True, only=None, meta=clean) == "--no-docs"
    dirty = docs_refusal(no_docs=False, only=None, meta={"commit": "abc1234", "clean_tree": False})
    assert dirty is not None and "uncommitted" in dirty
