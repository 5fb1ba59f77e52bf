"""`docker pause` of the clients container: its sockets stop reading and writing (the kernel still ACKs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lab.chaos.model.faults.base import Fault, FaultHistory, FaultLab
from lab.wait import wait_until

FREEZE_WAIT_S = 10.0  # how long the freezer may keep giving up on a busy container before the case errs


@dataclass(frozen=True)
class PauseClients(Fault):
    kind: ClassVar[str] = "pause_clients"

    def apply(self, lab: FaultLab, history: FaultHistory) -> None:
        clients = lab.container("clients")
        failed: list[Exception] = []

        def tried() -> bool:
            try:
                clients.pause()
            except Exception as error:
                # cgroup v1: runc gives up ("unable to freeze") when a busy process will not stop within its
                # own short wait, and thaws the container again; the next try usually freezes it.
                if "unable to freeze" in str(error):
                    return False
                failed.append(error)  # anything else is final
            return True

        wait_until(tried, timeout=FREEZE_WAIT_S, interval=0.05, what="the clients container to freeze")
        if failed:
            raise failed[0]

    def lift(self, lab: FaultLab) -> str | None:
        clients = lab.container("clients")
        clients.reload()
        if clients.status == "paused":
            clients.unpause()
        return None
