"""Reads the probe sidecar: what the target's /proc says, from outside the target."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lab.errors import LabError

AGENT = "/probe/agent.py"


@dataclass(frozen=True)
class Snapshot:
    """One reading of the target (see docs/architecture.md for the fields)."""

    t: float
    pids: tuple[int, ...]
    fds: int
    fd_kinds: dict[str, int]
    tcp: dict[str, int]
    cpu_ticks: int  # the target's CPU time, in units of which clk_tck make a second (ns with schedstat)
    clk_tck: int
    rss_bytes: int
    start_ticks: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(t=float(data["t"]), pids=tuple(data["pids"]), fds=int(data["fds"]),
                   fd_kinds=dict(data["fd_kinds"]), tcp=dict(data["tcp"]), cpu_ticks=int(data["cpu_ticks"]),
                   clk_tck=int(data["clk_tck"]), rss_bytes=int(data["rss_bytes"]),
                   start_ticks=int(data["start_ticks"]))

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "pids": list(self.pids), "fds": self.fds, "fd_kinds": self.fd_kinds,
                "tcp": self.tcp, "cpu_ticks": self.cpu_ticks, "clk_tck": self.clk_tck,
                "rss_bytes": self.rss_bytes, "start_ticks": self.start_ticks}

    def sockets(self, state: str) -> int:
        return self.tcp.get(state, 0)

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_ticks / self.clk_tck


class Probe:
    """Snapshots through `docker exec` into the probe container (a Docker SDK container)."""

    def __init__(self, container: Any) -> None:
        self._container = container

    def snapshot(self) -> Snapshot:
        result = self._container.exec_run(["python3", AGENT, "snapshot"], demux=True)
        stdout, stderr = result.output
        if result.exit_code != 0:
            detail = (stderr or b"").decode(errors="replace").strip()
            raise LabError(f"probe snapshot failed (exit {result.exit_code}): {detail or 'no message'}")
        try:
            return Snapshot.from_json(json.loads(stdout or b""))
        except (ValueError, KeyError, TypeError) as error:
            raise LabError(f"probe snapshot unreadable: {error}") from None


@dataclass
class Timeline:
    """Samples the probe in the background while a case runs."""

    probe: Probe
    interval_s: float = 0.25
    samples: list[Snapshot] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Timeline:
        self._thread = threading.Thread(target=self._run, name="probe-timeline", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.samples.append(self.probe.snapshot())
            except Exception as error:  # the target may be down mid-case; keep sampling
                self.errors.append(str(error))
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
