"""What a capture and a trace say, from their text alone (samples in the format tcpdump and strace write)."""

from __future__ import annotations

import dataclasses

from lab.chaos.model.evidence import (
    Evidence,
    PacketCounts,
    Untraced,
    WindowActivity,
    connection_calls,
    packet_counts,
    split_trace,
    syscall_counts,
    window_activity,
)

STRACE_TABLE = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 72.75    0.101282           4     23307           recvfrom
 27.24    0.037922           4      7770           epoll_wait
  0.01    0.000013           3         4         1 accept4
  0.00    0.000005           0         6           epoll_ctl
  0.00    0.000000           0         3           close
------ ----------- ----------- --------- --------- ----------------
100.00    0.139222           4     31090         1 total
"""

# A level-triggered loop that ignores EOF: woken again and again, reading nothing; then one real request.
SPIN_LOG = """\
1     100.000000 epoll_wait(4, [{events=EPOLLIN|EPOLLRDHUP, data={u32=8, u64=8}}], 1023, 1000) = 1 <0.000010>
1     100.000020 recvfrom(8, "", 65536, 0, NULL, NULL) = 0 <0.000005>
1     100.000040 epoll_wait(4, [{events=EPOLLIN|EPOLLRDHUP, data={u32=8, u64=8}}], 1023, 1000) = 1 <0.000010>
1     100.000060 recvfrom(8, "", 65536, 0, NULL, NULL) = 0 <0.000005>
1     100.500000 epoll_wait(4, [{events=EPOLLIN, data={u32=9, u64=9}}], 1023, 1000) = 1 <0.000010>
1     100.500020 recvfrom(9, "GET / HTTP/1.1\\r\\n\\r\\n", 65536, 0, NULL, NULL) = 18 <0.000005>
1     101.000000 epoll_wait(4, [], 1023, 1000) = 0 <1.000010>
1     103.000000 epoll_wait(4,  <detached ...>
"""

PACKETS = """\
1796290815.053850 eth0  In  IP 192.168.160.1.48666 > 192.168.160.2.8080: Flags [S], seq 1, win 64240, length 0
1796290815.053867 eth0  Out IP 192.168.160.2.8080 > 192.168.160.1.48666: Flags [S.], seq 2, ack 2, win 65160, length 0
1796290815.054000 eth0  In  IP 192.168.160.1.48666 > 192.168.160.2.8080: Flags [F.], seq 1, ack 1, win 63, length 0
1796290815.054100 eth0  Out IP 192.168.160.2.8080 > 192.168.160.1.48666: Flags [.], ack 2, win 64, length 0
1796290815.055000 eth0  In  IP 192.168.160.1.48670 > 192.168.160.2.8080: Flags [R.], seq 1, ack 1, win 63, length 0
1796290815.056000 eth0  Out IP 192.168.160.2.8080 > 192.168.160.1.48680: Flags [F.], seq 9, ack 1, win 64, length 0
1796290815.057000 eth0  Out IP 192.168.160.2.9999 > 192.168.160.1.48680: Flags [R], seq 9, win 0, length 0
tcpdump: some line that is not a packet
"""


def test_syscall_counts_are_successful_calls_from_the_count_table() -> None:
    assert syscall_counts(STRACE_TABLE) == {"recvfrom": 23307, "epoll_wait": 7770, "accept4": 3, "epoll_ctl": 6,
                                            "close": 3}
    assert syscall_counts("") == {}


def test_split_trace_separates_the_log_from_the_table() -> None:
    lines, table = split_trace(SPIN_LOG + STRACE_TABLE)
    assert len(lines) == 8 and table.startswith("% time")
    assert split_trace(SPIN_LOG) == (SPIN_LOG.splitlines(), "")


def test_window_activity_counts_wakeups_that_read_nothing() -> None:
    lines = SPIN_LOG.splitlines()
    spin = window_activity(lines, 100.0, 100.1)
    assert (spin.wakeups, spin.empty_wakeups, spin.bytes_read) == (2, 1, 0)
    whole = window_activity(lines, 100.0, 102.0)
    assert (whole.wakeups, whole.empty_wakeups, whole.bytes_read) == (4, 2, 18)
    assert whole.seconds == 2.0 and whole.wakeups_per_s == 2.0  # over the window
    cut = window_activity(lines, 100.0, 102.0, truncated=True)
    assert cut.seconds == 1.0 and cut.wakeups_per_s == 4.0  # over the span the bounded lines cover
    quiet = window_activity(lines, 200.0, 201.0)
    assert (quiet.wakeups, quiet.seconds) == (0, 1.0)


def test_packet_counts_by_sender_on_the_lab_port_only() -> None:
    # 48666 closed by its client first, 48680 by the target first.
    assert packet_counts(PACKETS, 8080) == PacketCounts(packets=6, fins_from_peers=1, fins_from_target=1,
                                                        resets_from_peers=1, resets_from_target=0,
                                                        closed_first_by_target=1)
    assert packet_counts("", 8080) == PacketCounts()
    assert packet_counts(PACKETS, 8080, until=1796290815.0545) == PacketCounts(packets=4, fins_from_peers=1)


def test_the_lab_s_own_requests_from_the_host_are_counted_apart_from_the_clients() -> None:
    other = PACKETS.replace("192.168.160.1.48680", "192.168.144.1.48680")  # the canary's, through the gateway
    host = frozenset({"192.168.144.1"})
    assert packet_counts(other, 8080, exclude=host) == PacketCounts(packets=5, fins_from_peers=1,
                                                                    resets_from_peers=1)
    assert packet_counts(other, 8080, peers=host) == PacketCounts(packets=1, fins_from_target=1,
                                                                  closed_first_by_target=1)


CONNECTION_LOG = """\
1     10.000000 accept4(3, {sa_family=AF_INET}, [16], SOCK_CLOEXEC) = 8 <0.000028>
1     10.100000 accept4(3, 0x7ffedb0d1c30, [16], SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable) <0.0001>
1     11.000000 close(8)        = 0 <0.000043>
1     12.000000 accept4(3, {sa_family=AF_INET}, [16], SOCK_CLOEXEC) = 9 <0.000028>
1     13.000000 close(9)        = 0 <0.000043>
"""


def test_connection_calls_count_successful_accepts_and_closes_up_to_a_moment() -> None:
    lines = CONNECTION_LOG.splitlines()
    assert connection_calls(lines) == (2, 2)
    assert connection_calls(lines, until=12.5) == (2, 1)


EVIDENCE = Evidence(folder="reports/captures/x--level", packets=PacketCounts(20, fins_from_peers=20),
                    syscalls={"accept4": 20, "close": 0, "epoll_wait": 9000},
                    windows={"after the case": WindowActivity(1.5, 6000, 5990, 0)}, accepts=20, closes=0)


def test_the_note_of_cpu_spin_gives_the_wakeup_rate_and_the_bytes_read() -> None:
    note = EVIDENCE.note("cpu_spin")
    assert "after the case: 4,000 epoll_wait returns/s over 1.5 s" in note
    assert "5,990 woke with events and read 0 bytes; 0 bytes read" in note
    assert note.endswith("capture and trace in reports/captures/x--level")


def test_the_note_of_close_wait_gives_the_fins_seen_and_the_closes_not_made() -> None:
    assert ("by the end of the settle wait the capture saw 20 FINs from clients and 0 from the target; the trace "
            "shows 20 accepts and 0 closes (20 connections not closed)") in EVIDENCE.note("close_wait")


def test_calls_made_while_the_trace_was_off_are_not_called_closes_not_made() -> None:
    canary = Untraced("the canary's latency was judged", 10.0, 14.5)
    off = dataclasses.replace(EVIDENCE, untraced=(canary,), settled_at=16.0)
    note = off.note("close_wait")
    assert "shows 20 accepts and 0 closes outside the stretches it was off (4.5 s (the canary's latency was " \
        "judged))" in note and "not closed" not in note
    # A stretch after the settle wait (the idle CPU window) takes nothing from the counts.
    after = dataclasses.replace(off, untraced=(Untraced("a CPU window", 16.5, 18.0),))
    assert "(20 connections not closed)" in after.note("close_wait")
    assert "trace off for 1.5 s (a CPU window)" in after.summary()
    assert Evidence.from_json(off.to_json()) == off


def test_cpu_spin_alone_says_which_cpu_window_had_no_stretch_traced_right_after_it() -> None:
    held = "the CPU window while connections were held: no stretch right after it was traced"
    off = dataclasses.replace(EVIDENCE, untraced_windows=(held,))
    assert off.note("cpu_spin").startswith("traced right after the CPU window, after the case: 4,000 epoll_wait "
                                           "returns/s")
    assert f"0 bytes read); {held}; capture and trace in" in off.note("cpu_spin")
    assert held not in off.note("close_wait") and held in off.summary()
    assert Evidence.from_json(off.to_json()) == off


def test_the_note_of_other_checks_points_at_the_files() -> None:
    assert EVIDENCE.note("memory_growth") == "capture and trace in reports/captures/x--level"
    assert "0 RSTs and 0 FINs from the target (it closed first 0 times)" in EVIDENCE.note("stall")


def test_evidence_round_trips_through_json() -> None:
    assert Evidence.from_json(EVIDENCE.to_json()) == EVIDENCE


def test_a_failed_check_carries_the_evidence_note_before_the_repro() -> None:
    from tests.lab_unit.histories import SCENARIO, failed, healthy, snap

    found = failed(SCENARIO, healthy(settled=snap(3.0, close_wait=3), evidence=EVIDENCE))
    assert "(20 connections not closed); capture and trace in reports/captures/x--level] [reproduce:" in (
        found["close_wait"])
    assert all("capture and trace in" not in message for message in failed(SCENARIO, healthy()).values())


def test_capture_windows_are_the_cpu_windows_and_the_settle_wait_on_the_probe_clock() -> None:
    from lab.chaos.model.history import CpuWindow
    from lab.chaos.run.capture import Window, capture_windows
    from tests.lab_unit.histories import healthy, snap

    history = healthy(started=100.0, settled=snap(105.0), idle_cpu=CpuWindow(snap(105.5), snap(107.0)),
                      held_cpu=None)
    history.event(2.0, "clients done, toxics removed")
    assert capture_windows(history) == ([Window("after the case", 105.5, 107.0),
                                         Window("during the settle wait", 102.0, 105.0)], [])
    assert capture_windows(healthy(started=None)) == ([Window("after the case", 3.0, 4.5)], [])


def test_a_cpu_window_runs_untraced_and_is_summed_up_over_as_long_a_stretch_after_it() -> None:
    from lab.chaos.model.history import CpuWindow
    from lab.chaos.run.capture import Window, capture_windows
    from tests.lab_unit.histories import healthy, snap

    history = healthy(started=100.0, settled=snap(105.0), idle_cpu=CpuWindow(snap(105.5), snap(107.0)),
                      held_cpu=CpuWindow(snap(101.0), snap(102.0)))
    history.event(3.0, "clients done, toxics removed")
    held, idle = Untraced("a CPU window", 100.9, 102.4), Untraced("a CPU window", 105.4, 107.3)
    assert capture_windows(history, [held, idle]) == ([Window("after the case", 107.3, 108.8),
                                                       Window("while connections were held", 102.4, 103.4),
                                                       Window("during the settle wait", 103.0, 105.0)], [])
    # A trace that never came back after the window has nothing to say about it.
    assert capture_windows(history, [held]) == ([Window("while connections were held", 102.4, 103.4),
                                                 Window("during the settle wait", 103.0, 105.0)],
                                                ["the CPU window after the case: no stretch right after it was traced"])
    # Nor one that came back only when the canary's stretch around the window ended: the connections are gone.
    canary = Untraced("the canary's latency was judged and a CPU window", 100.2, 103.5)
    assert capture_windows(history, [canary, idle]) == (
        [Window("after the case", 107.3, 108.8), Window("during the settle wait", 103.0, 105.0)],
        ["the CPU window while connections were held: no stretch right after it was traced (the trace was off "
         "1.5 s longer: the canary's latency was judged and a CPU window)"])


def test_the_count_tables_of_several_trace_segments_add_up() -> None:
    table = ("% time     seconds  usecs/call     calls    errors syscall\n"
             "------ ----------- ----------- --------- --------- ----------------\n"
             " 90.00    0.000900           1       900           epoll_wait\n"
             " 10.00    0.000100           1        30        10 accept4\n"
             "100.00    0.001000           1       930        10 total\n")
    assert syscall_counts(table + table) == {"epoll_wait": 1800, "accept4": 40}


def test_the_summary_gives_packets_syscalls_and_each_window() -> None:
    text = EVIDENCE.summary()
    assert text.startswith("packets with the case's clients 20 (FIN from clients 20, from target 0, target "
                           "first 0; RST from clients 0, from target 0)\n  syscalls:")  # nothing from the host
    host = dataclasses.replace(EVIDENCE, host_packets=PacketCounts(8, fins_from_target=2, closed_first_by_target=2))
    assert "\n  with the lab's own host-side requests (canary, checks) 8 (FIN from clients 0, from target 2, " \
        "target first 2;" in host.summary()
    assert Evidence.from_json(host.to_json()) == host
    assert "syscalls: epoll_wait 9,000, accept4 20, close 0" in text
    assert "after the case: 4,000 epoll_wait returns/s" in text


def _pcap(frames: list[tuple[float, int, int, int]], link: int = 276, target_port: int = 8080) -> bytes:
    """A little-endian pcap of IPv4/TCP frames (time, source port, destination port, TCP flags) between the
    target (10.0.0.2) and a peer: 10.0.0.1, or 10.0.0.9 for peer ports from 40001."""
    import struct

    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 256, link)
    header = {276: 20, 113: 16, 1: 14}.get(link, 0)
    for t, source, destination, flags in frames:
        peer = 9 if max(source, destination) > 40000 else 1
        addresses = [10, 0, 0, 2, 10, 0, 0, peer] if source == target_port else [10, 0, 0, peer, 10, 0, 0, 2]
        ip = bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, *addresses])
        tcp = struct.pack("!HHIIBBHHH", source, destination, 0, 0, 0x50, flags, 0, 0, 0)
        frame = bytes(header) + ip + tcp
        out += struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(frame), len(frame)) + frame
    return out


def test_pcap_counts_read_a_raw_capture_when_tcpdump_cannot() -> None:
    from lab.chaos.model.evidence import pcap_counts

    frames = [(10.0, 40000, 8080, 0x02), (10.1, 8080, 40000, 0x12), (10.2, 40000, 8080, 0x04),
              (10.3, 8080, 40000, 0x11), (10.4, 5000, 6000, 0x01), (11.0, 8080, 40001, 0x04)]
    assert pcap_counts(_pcap(frames), 8080) == PacketCounts(packets=5, fins_from_peers=0, fins_from_target=1,
                                                            resets_from_peers=1, resets_from_target=1,
                                                            closed_first_by_target=1)
    assert pcap_counts(_pcap(frames), 8080, exclude=frozenset({"10.0.0.1"})) == PacketCounts(
        packets=1, resets_from_target=1)  # the RST to 10.0.0.9 only
    assert pcap_counts(_pcap(frames), 8080, peers=frozenset({"10.0.0.1"})).packets == 4
    assert pcap_counts(_pcap(frames, link=1), 8080, until=10.25).packets == 3
    assert pcap_counts(_pcap(frames)[:-10], 8080).packets == 4  # a cut-off last frame is not counted
    assert pcap_counts(_pcap(frames), 8080) + pcap_counts(_pcap(frames[:1]), 8080) == PacketCounts(
        packets=6, fins_from_target=1, resets_from_peers=1, resets_from_target=1, closed_first_by_target=1)
    assert pcap_counts(b"", 8080) == PacketCounts()
    assert pcap_counts(_pcap(frames, link=999), 8080) == PacketCounts()


def test_a_crashed_target_is_described_by_its_last_syscalls() -> None:
    from lab.chaos.model.evidence import last_calls, syscall_counts_from_log

    log = (CONNECTION_LOG + "1     13.100000 recvfrom(9, 0x7f, 65536, 0, NULL, NULL) = -1 ECONNRESET (Connection "
           "reset by peer) <0.00001>\n1     13.200000 +++ exited with 1 +++\n").splitlines()
    assert syscall_counts_from_log(log) == {"accept4": 2, "close": 2}
    assert last_calls(log, 2) == ["recvfrom(9, 0x7f, 65536, 0, NULL, NULL) = -1 ECONNRESET (Connection reset by peer) "
                                  "<0.00001>", "+++ exited with 1 +++"]
    crashed = Evidence(folder="f", last_calls=("+++ exited with 1 +++",))
    assert "the target's last syscalls: +++ exited with 1 +++" in crashed.note("crash")
