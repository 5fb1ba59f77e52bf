"""The bench's pure parts: wrk and strace -c parsing, workloads, ratios, tables, targets, the docs guard
(no servers started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import cpu, report, syscalls, targets, wrk
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
    found = targets.evaluate({"cpu_per_request": {"keepalive": _cpu(14.0, 10.0), "distinct": _cpu(15.5, 10.0),
                                                  "pipelined": _cpu(10.5, 10.0)}})
    verdicts = {t["target"]: t["met"] for t in found}
    assert verdicts["ours-level keep-alive, one repeated request: CPU/request <= 1.5x nginx"] is True
    assert verdicts["ours-level keep-alive, distinct requests: CPU/request <= 1.5x nginx"] is False
    assert verdicts["ours-edge pipelined: CPU/request <= 1x nginx"] is False
    assert len(found) == 6  # sections that did not run add no targets
    lines = report.target_lines(found)
    assert "MET    ours-edge keep-alive, one repeated request: CPU/request <= 1.5x nginx: 1.40x" in lines
    assert "MISSED ours-edge keep-alive, distinct requests: CPU/request <= 1.5x nginx: 1.55x" in lines


def test_a_workload_not_measured_is_listed_as_such() -> None:
    found = targets.evaluate({"cpu_per_request": {"keepalive": _cpu(14.0, 10.0)}})
    distinct = [t for t in found if "distinct" in t["target"]]
    assert [(t["measured"], t["met"]) for t in distinct] == [("not measured", None)] * 2


WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:40000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.00ms  200.00us   5.00ms   90.00%
    Req/Sec    50.00k     1.00k   52.00k    80.00%
  149850 requests in 3.00s, 15.00MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:  49950.00
Transfer/sec:      5.00MB
"""


def test_wrk_output_is_parsed() -> None:
    found = wrk.parse(WRK_OUTPUT)
    assert found == wrk.WrkResult(requests=149850, seconds=3.0, requests_per_s=49950.0, socket_errors=3,
                                  non_2xx=4)
    with pytest.raises(RuntimeError, match="cannot read"):
        wrk.parse("unable to connect to 127.0.0.1:40000 Connection refused")


def test_every_workload_has_its_script_label_and_target(tmp_path: Path) -> None:
    assert cpu.WORKLOADS == ("keepalive", "distinct", "pipelined")
    assert wrk.workload_script("keepalive", tmp_path, 16) is None  # wrk repeats its one request
    pipelined = wrk.workload_script("pipelined", tmp_path, 16)
    assert pipelined is not None and pipelined.read_text().count('wrk.format(nil, "/")') == 1
    assert "for i = 1, 16 do" in pipelined.read_text()
    for workload in cpu.WORKLOADS:
        assert workload in cpu.WORKLOAD_LABELS and workload in targets.MAX_RATIO_TO_NGINX
    with pytest.raises(ValueError, match="unknown workload"):
        wrk.workload_script("bursty", tmp_path, 16)


def test_distinct_workload_makes_every_request_new(tmp_path: Path) -> None:
    script = wrk.workload_script("distinct", tmp_path, 16)
    assert script is not None
    lua = script.read_text()
    # One request per call (no batch), its path counting up from the `/` route with a query string.
    assert "counter = counter + 1" in lua
    assert 'return wrk.format(nil, "/?n=" .. counter)' in lua
    assert "req = " not in lua  # nothing built once and repeated


def test_ratios_are_to_nginx_in_the_same_workload() -> None:
    by_server: cpu.Json = {"ours-level": {"us_per_request": 15.0}, "nginx": {"us_per_request": 10.0},
                 "uvicorn": {"error": "boom"}}
    cpu.add_ratios(by_server)
    assert by_server["ours-level"]["ratio_to_nginx"] == 1.5
    assert by_server["nginx"]["ratio_to_nginx"] == 1.0
    assert "ratio_to_nginx" not in by_server["uvicorn"]
    alone: cpu.Json = {"ours-edge": {"us_per_request": 15.0}}
    cpu.add_ratios(alone)
    assert alone["ours-edge"]["ratio_to_nginx"] is None


def _measured(us: float, ratio: float) -> dict[str, float]:
    return {"us_per_request": us, "user_us_per_request": us / 3, "sys_us_per_request": us * 2 / 3,
            "ratio_to_nginx": ratio, "requests_per_s": 40000.0}


def test_cpu_table_has_a_row_group_per_workload() -> None:
    results = {"cpu_per_request": {
        "keepalive": {"ours-level": _measured(12.0, 1.2), "nginx": _measured(10.0, 1.0)},
        "distinct": {"ours-level": _measured(15.0, 1.5), "nginx": _measured(10.5, 1.0)},
        "pipelined": {"ours-level": {"error": "wrk got no responses"}, "nginx": _measured(3.0, 1.0)},
        "settings": {"repeats": 1, "seconds": 3, "connections": 50, "pipeline_depth": 16}}}
    text = report.markdown(results)
    assert "| workload | server | µs/req | user + sys | × nginx | req/s |" in text
    assert "| keep-alive, one repeated request | ours-level | 12.00 | 4.0 + 8.0 | 1.20 | 40,000 |" in text
    assert "| keep-alive, distinct requests | ours-level | 15.00 | 5.0 + 10.0 | 1.50 | 40,000 |" in text
    assert "| keep-alive, distinct requests | nginx | 10.50 | 3.5 + 7.0 | 1.00 | 40,000 |" in text
    assert "| pipelined | ours-level | error: wrk got no responses |" in text
    assert "its memo of requests already parsed" in text


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
