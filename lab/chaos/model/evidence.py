"""What a case's packet capture and syscall trace say, as pure functions of their text (tcpdump -r, strace).

The capture (lab.chaos.run.capture) records them from the probe; these summaries land in the failure messages.
"""

from __future__ import annotations

import re
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

EPOLL_WAITS = ("epoll_wait", "epoll_pwait", "epoll_pwait2")
READS = ("recvfrom", "read", "recv", "recvmsg")
_TRACE_LINE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\d+\.\d+)\s+(\w+)\(.*\)\s+=\s+(-?\d+)")
_PACKET = re.compile(r"^(\d+\.\d+)\s.*?\bIP6?\s+(\S+)\s+>\s+(\S+?):\s+Flags\s+\[([^\]]*)\]")


# -- strace ----------------------------------------------------------------------------------------
def split_trace(text: str) -> tuple[list[str], str]:
    """strace -C output: the timed log's lines, and the count table strace prints at the end."""
    at = text.find("% time")
    if at < 0:
        return text.splitlines(), ""
    return text[:at].splitlines(), text[at:]


def syscall_counts(table: str) -> dict[str, int]:
    """Successful calls per syscall (calls − errors) from strace's -c tables, summed over the trace's segments
    (`% time  seconds  usecs/call  calls  [errors]  syscall`; EAGAIN from a non-blocking accept is no accept)."""
    counts: dict[str, int] = {}
    for line in table.splitlines():
        fields = line.split()
        if len(fields) in (5, 6) and fields[0].replace(".", "", 1).isdigit() and fields[-1] != "total":
            errors = int(fields[4]) if len(fields) == 6 else 0
            counts[fields[-1]] = counts.get(fields[-1], 0) + int(fields[3]) - errors  # tables of segments add up
    return counts


@dataclass(frozen=True)
class WindowActivity:
    """What the target's loop did in one time window, from the timed log."""

    seconds: float  # the span the log covers in the window
    wakeups: int  # epoll_wait calls that returned
    empty_wakeups: int  # of which returned events but read no byte before the next wait
    bytes_read: int

    @property
    def wakeups_per_s(self) -> float:
        return self.wakeups / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        return (f"{self.wakeups_per_s:,.0f} epoll_wait returns/s over {self.seconds:.1f} s "
                f"({self.empty_wakeups:,} woke with events and read 0 bytes; {self.bytes_read:,} bytes read)")


def window_activity(lines: list[str], start: float, end: float, *, truncated: bool = False) -> WindowActivity:
    """Wakeups and bytes read in [start, end] (wall-clock seconds, as strace -ttt writes them); the rate is over
    the window, or over the span the lines cover when they were `truncated` (cut to a bounded number)."""
    wakeups = empty = bytes_read = 0
    pending = False  # an epoll_wait returned events; has a read since moved any byte?
    first = last = None
    for line in lines:
        match = _TRACE_LINE.match(line)
        if match is None:
            continue
        t, call, result = float(match[2]), match[3], int(match[4])
        if not start <= t <= end:
            continue
        first = t if first is None else first
        last = t
        if call in EPOLL_WAITS:
            if pending:
                empty += 1
            wakeups += 1
            pending = result > 0
        elif call in READS and result > 0:
            bytes_read += result
            pending = False
    span = (last - first) if truncated and first is not None and last is not None else 0.0
    return WindowActivity(seconds=span or (end - start), wakeups=wakeups, empty_wakeups=empty,
                          bytes_read=bytes_read)


def connection_calls(lines: list[str], until: float | None = None) -> tuple[int, int]:
    """Successful accepts and closes in the timed log, up to the wall-clock time `until` (None: all)."""
    accepts = closes = 0
    for line in lines:
        match = _TRACE_LINE.match(line)
        if match is None or int(match[4]) < 0 or (until is not None and float(match[2]) > until):
            continue
        accepts += match[3] in ("accept4", "accept")
        closes += match[3] == "close"
    return accepts, closes


# -- tcpdump ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PacketCounts:
    """TCP segments on the target's lab port, by who sent them (tcpdump -nn -tt -r)."""

    packets: int = 0
    fins_from_peers: int = 0
    fins_from_target: int = 0
    resets_from_peers: int = 0
    resets_from_target: int = 0
    closed_first_by_target: int = 0  # connections whose first FIN was the target's (it closed, not the peer)

    def __add__(self, other: PacketCounts) -> PacketCounts:
        """The counts of two ring files together (a connection's first FIN is in one of them)."""
        return PacketCounts(*(a + b for a, b in zip(self.__dict__.values(), other.__dict__.values(), strict=True)))


def counted(peer: str, peers: frozenset[str] | None, exclude: frozenset[str]) -> bool:
    """Whether segments with the peer host `peer` count: it is one of `peers` (None: any), and not excluded."""
    return peer not in exclude and (peers is None or peer in peers)


def packet_counts(text: str, port: int, until: float | None = None, *, peers: frozenset[str] | None = None,
                  exclude: frozenset[str] = frozenset()) -> PacketCounts:
    """Segments to and from `port`, up to the wall-clock time `until` (None: all), with peer hosts (addresses)
    in `peers` (None: any) and not in `exclude`."""
    packets = fin_in = fin_out = rst_in = rst_out = 0
    first_fin: dict[str, bool] = {}  # peer address:port → whether the target sent the connection's first FIN
    suffix = f".{port}"
    for line in text.splitlines():
        match = _PACKET.match(line)
        if match is None or (until is not None and float(match[1]) > until):
            continue
        source, destination, flags = match[2], match[3], match[4]
        from_target = source.endswith(suffix)
        if not from_target and not destination.endswith(suffix):
            continue
        peer = destination if from_target else source
        if not counted(peer.rsplit(".", 1)[0], peers, exclude):
            continue
        packets += 1
        if "F" in flags:
            fin_out, fin_in = (fin_out + 1, fin_in) if from_target else (fin_out, fin_in + 1)
            first_fin.setdefault(peer, from_target)
        if "R" in flags:
            rst_out, rst_in = (rst_out + 1, rst_in) if from_target else (rst_out, rst_in + 1)
    return PacketCounts(packets, fin_in, fin_out, rst_in, rst_out, sum(first_fin.values()))


LINK_HEADER_BYTES = {1: 14, 113: 16, 276: 20}  # Ethernet, Linux cooked (SLL), Linux cooked v2 (SLL2)


def pcap_counts(data: bytes, port: int, until: float | None = None, *, peers: frozenset[str] | None = None,
                exclude: frozenset[str] = frozenset()) -> PacketCounts:
    """The same counts from a raw pcap file (IPv4 over Ethernet or Linux cooked), for when tcpdump cannot read it
    (the probe went down with a crashed target). Truncated files count what is whole."""
    if len(data) < 24:
        return PacketCounts()
    magic = data[:4]
    order = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nanos = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link = struct.unpack(order + "I", data[20:24])[0]
    skip = LINK_HEADER_BYTES.get(link)
    if skip is None:
        return PacketCounts()
    packets = fin_in = fin_out = rst_in = rst_out = 0
    first_fin: dict[tuple[bytes, int], bool] = {}  # peer (address, port) → whether the target's FIN came first
    offset = 24
    while offset + 16 <= len(data):
        seconds, fraction, kept, _ = struct.unpack(order + "IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + kept]
        offset += 16 + kept
        if len(frame) < kept or (until is not None and seconds + fraction / (1e9 if nanos else 1e6) > until):
            continue
        ip = frame[skip:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        tcp = ip[(ip[0] & 0x0F) * 4:]
        if len(tcp) < 14:
            continue
        source, destination = struct.unpack("!HH", tcp[:4])
        flags = tcp[13]
        if port not in (source, destination):
            continue
        from_target = source == port
        peer = (ip[16:20], destination) if from_target else (ip[12:16], source)
        if not counted(socket.inet_ntoa(peer[0]), peers, exclude):
            continue
        packets += 1
        if flags & 0x01:
            fin_out, fin_in = (fin_out + 1, fin_in) if from_target else (fin_out, fin_in + 1)
            first_fin.setdefault(peer, from_target)
        if flags & 0x04:
            rst_out, rst_in = (rst_out + 1, rst_in) if from_target else (rst_out, rst_in + 1)
    return PacketCounts(packets, fin_in, fin_out, rst_in, rst_out, sum(first_fin.values()))


def syscall_counts_from_log(lines: list[str]) -> dict[str, int]:
    """Successful calls per syscall from the timed log, for when strace died before its count table."""
    counts: dict[str, int] = {}
    for line in lines:
        match = _TRACE_LINE.match(line)
        if match is not None and int(match[4]) >= 0:
            counts[match[3]] = counts.get(match[3], 0) + 1
    return counts


def last_calls(lines: list[str], count: int = 5) -> list[str]:
    """The last syscalls the log shows, shortened: what the target did just before it died."""
    calls = [line.split(None, 2)[2] for line in lines if _TRACE_LINE.match(line) or "+++" in line or "---" in line]
    return [call if len(call) <= 120 else call[:117] + "..." for call in calls[-count:]]


# -- what lands in a verdict -----------------------------------------------------------------------
@dataclass(frozen=True)
class Untraced:
    """A stretch the trace was detached for, and why: ptrace slows the target, so it is off while a verdict it
    would change is measured (a CPU window, the canary's latency). Wall-clock seconds in an Evidence."""

    reason: str
    start: float
    end: float

    def text(self) -> str:
        return f"{self.end - self.start:.1f} s ({self.reason})"


@dataclass(frozen=True)
class Evidence:
    """A case's capture and trace, summed up; `folder` holds the files themselves."""

    folder: str
    packets: PacketCounts = field(default_factory=PacketCounts)  # between the target and the case's clients
    host_packets: PacketCounts = field(default_factory=PacketCounts)  # the lab's own from the host (the canary…)
    syscalls: dict[str, int] = field(default_factory=dict)  # calls over the whole case (strace -c)
    windows: dict[str, WindowActivity] = field(default_factory=dict)  # CPU window label → the loop's activity
    accepts: int = 0  # successful accepts, from the start to the end of the settle wait (what the checks saw)
    closes: int = 0  # successful closes (of any fd) in the same span
    errors: tuple[str, ...] = ()  # what could not be recorded
    last_calls: tuple[str, ...] = ()  # the target's last syscalls, when it died during the case
    untraced: tuple[Untraced, ...] = ()  # stretches the trace was off: its counts miss the calls made then
    settled_at: float | None = None  # wall-clock end of the settle wait, where accepts and closes are counted to
    untraced_windows: tuple[str, ...] = ()  # CPU windows with no stretch traced right after them, and why

    def _missed(self) -> list[Untraced]:
        """The untraced stretches inside the span the accepts and closes are counted over."""
        return [u for u in self.untraced if self.settled_at is None or u.start < self.settled_at]

    def note(self, check: str) -> str:
        """One sentence for a failed check's message: what the wire and the syscalls say, and where they are."""
        parts: list[str] = []
        if check == "cpu_spin":
            traced = [f"{label}: {activity.text()}" for label, activity in self.windows.items()
                      if label != "during the settle wait"]
            if traced:  # CPU windows run untraced (ptrace would slow the loop they measure)
                parts.append("traced right after the CPU window, " + "; ".join(traced))
            parts += self.untraced_windows
        elif check in ("close_wait", "fd_leak", "stale_connection") and self.syscalls:
            text = (f"by the end of the settle wait the capture saw {self.packets.fins_from_peers} FINs from "
                    f"clients and {self.packets.fins_from_target} from the target; the trace shows "
                    f"{self.accepts} accepts and {self.closes} closes ")
            missed = self._missed()
            if missed:  # a close made while the trace was off is not a close not made
                text += "outside the stretches it was off (" + ", ".join(u.text() for u in missed) + ")"
            else:
                text += f"({max(self.accepts - self.closes, 0)} connections not closed)"
            parts.append(text)
        elif check in ("stall", "wrong_response", "crash", "no_timeout"):
            parts.append(f"the capture saw {self.packets.resets_from_target} RSTs and "
                         f"{self.packets.fins_from_target} FINs from the target (it closed first "
                         f"{self.packets.closed_first_by_target} times), {self.packets.resets_from_peers} "
                         f"RSTs and {self.packets.fins_from_peers} FINs from clients")
            if check == "crash" and self.last_calls:
                parts.append("the target's last syscalls: " + " | ".join(self.last_calls))
        if self.errors:
            parts.append("not recorded: " + "; ".join(self.errors))
        return "; ".join([*parts, f"capture and trace in {self.folder}"])

    def summary(self) -> str:
        """The capture and the trace in two lines: packets by kind, and the event loop's syscalls over the case."""
        def text(packets: PacketCounts) -> str:
            return (f"{packets.packets:,} (FIN from clients {packets.fins_from_peers}, from target "
                    f"{packets.fins_from_target}, target first {packets.closed_first_by_target}; RST from clients "
                    f"{packets.resets_from_peers}, from target {packets.resets_from_target})")

        host = self.host_packets
        calls = ", ".join(f"{name} {count:,}" for name, count in sorted(self.syscalls.items(), key=lambda kv: -kv[1]))
        return (f"packets with the case's clients {text(self.packets)}"
                + (f"\n  with the lab's own host-side requests (canary, checks) {text(host)}" if host.packets else "")
                + f"\n  syscalls: {calls or 'none traced'}"
                + "".join(f"\n  {label}: {activity.text()}" for label, activity in self.windows.items())
                + "".join(f"\n  {text}" for text in self.untraced_windows)
                + ("\n  trace off for " + ", ".join(u.text() for u in self.untraced) if self.untraced else ""))

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "packets": self.packets.__dict__, "host_packets": self.host_packets.__dict__,
                "syscalls": self.syscalls,
                "windows": {label: {**w.__dict__, "wakeups_per_s": round(w.wakeups_per_s, 1)}
                            for label, w in self.windows.items()},
                "accepts": self.accepts, "closes": self.closes, "errors": list(self.errors),
                "last_calls": list(self.last_calls), "untraced": [u.__dict__ for u in self.untraced],
                "settled_at": self.settled_at, "untraced_windows": list(self.untraced_windows)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        windows = {label: WindowActivity(seconds=w["seconds"], wakeups=w["wakeups"], empty_wakeups=w["empty_wakeups"],
                                         bytes_read=w["bytes_read"]) for label, w in data["windows"].items()}
        return cls(folder=data["folder"], packets=PacketCounts(**data["packets"]),
                   host_packets=PacketCounts(**data.get("host_packets", {})), syscalls=dict(data["syscalls"]),
                   windows=windows, accepts=data["accepts"], closes=data["closes"], errors=tuple(data["errors"]),
                   last_calls=tuple(data.get("last_calls", ())),
                   untraced=tuple(Untraced(**u) for u in data.get("untraced", ())), settled_at=data.get("settled_at"),
                   untraced_windows=tuple(data.get("untraced_windows", ())))
