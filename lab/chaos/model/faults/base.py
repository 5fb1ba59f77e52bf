"""What every fault is: a small frozen dataclass that applies and lifts itself (Jepsen nemesis, Toxiproxy toxic).

The runner waits for `when_established` connections, calls `apply`, holds it `hold_s`, calls `lift`; it calls
`lift` again on every exit path, so `lift` must be safe to call twice, or without an `apply` before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from lab.errors import LabError


class FaultLab(Protocol):
    """The part of a running lab (lab.instance.Lab) that faults touch; tests pass a fake."""

    config: Any  # lab.settings.LabConfig: target_port is the lab port packet faults act on

    def container(self, service: str) -> Any: ...

    def toxiproxy(self) -> Any: ...

    def network(self, name: str) -> Any: ...

    def exec(self, service: str, args: list[str], *, timeout: float) -> Any: ...


class FaultHistory(Protocol):
    """Where a fault writes what it measured (lab.chaos.model.history.CaseHistory)."""

    stop_elapsed_s: float | None


class FaultUnavailable(LabError):
    """The fault cannot run on this machine (e.g. no sch_netem in the kernel): the case is skipped, with this reason."""


@dataclass(frozen=True)
class Fault:
    """Something done to a lab container, the proxy or the target's packets while clients run."""

    kind: ClassVar[str]
    stops_target: ClassVar[bool] = False  # the checks judge a stopped target by its exit, not by settling
    kills_clients: ClassVar[bool] = False  # the clients' own results may be lost
    when_established: int = 1  # apply once the target holds this many ESTABLISHED sockets; 0: before the clients
    hold_s: float | None = 0.0  # seconds it lasts before it is lifted; None: until the clients are done
    after_s: float = 0.0  # then wait this long before applying (e.g. until a request was answered)

    def describe(self) -> str:
        when = "before the clients" if self.when_established == 0 else f"after {self.when_established} connections"
        if self.after_s:
            when += f" and {self.after_s:g} s"
        lasts = "until the clients are done" if self.hold_s is None else f"for {self.hold_s:g} s"
        return f"{self.kind}{self.details()}({when}, {lasts})"

    def details(self) -> str:
        """The fault's own attributes for `describe` (e.g. ` 5% loss`)."""
        return ""

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        raise NotImplementedError

    def lift(self, lab: FaultLab) -> str | None:
        """Undo `apply` (a no-op when nothing is applied); what the fault did, when it can tell (e.g. drops)."""
        return None
