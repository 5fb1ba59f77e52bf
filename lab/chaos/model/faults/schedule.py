"""When a case's fault is applied and lifted, around the clients' run; the runner drives it.

before the clients start: faults with `when_established == 0` are applied;
while the clients run: the others once the target holds their connections (and `after_s` more), held `hold_s`,
then lifted;
after the clients are done: faults held "until the clients are done" (`hold_s is None`) are lifted;
on every exit path the runner calls `lift_always` (faults' `lift` is safe to repeat).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lab.chaos.model.faults.base import Fault, FaultHistory, FaultLab


class FaultSchedule:
    def __init__(self, fault: Fault | None, lab: FaultLab, history: FaultHistory, *,
                 wait_established: Callable[[int, str], None], event: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.fault = fault
        self._lab = lab
        self._history = history
        self._wait_established = wait_established  # blocks until the target holds N connections (or raises)
        self._event = event
        self._sleep = sleep
        self.applied = False

    def before_clients(self) -> None:
        if self.fault is not None and self.fault.when_established == 0:
            self._apply(self.fault)

    def while_clients(self) -> None:
        fault = self.fault
        if fault is None:
            return
        if fault.when_established > 0:
            self._wait_established(fault.when_established, f"{fault.when_established} connections before {fault.kind}")
            if fault.after_s:
                self._sleep(fault.after_s)  # the fault's declared delay
            self._apply(fault)
        if fault.hold_s is not None:
            if fault.hold_s:
                self._sleep(fault.hold_s)  # the fault's declared duration
            self._lift(fault)

    def after_clients(self) -> None:
        if self.fault is not None and self.fault.hold_s is None and self.applied:
            self._lift(self.fault)

    def lift_always(self) -> None:
        if self.fault is not None:
            self.fault.lift(self._lab)

    def _apply(self, fault: Fault) -> None:
        self._event(f"fault {fault.describe()}")
        self.applied = True  # before apply: a half-applied fault is lifted too
        fault.apply(self._lab, self._history)

    def _lift(self, fault: Fault) -> None:
        done = fault.lift(self._lab)
        self._event(f"fault {fault.kind} lifted" + (f": {done}" if done else ""))
