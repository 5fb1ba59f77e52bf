"""Deadlines in coarse slots (a timer wheel keyed by slot), with at most one live entry per owner.

Owners move their ``deadline`` freely (every request does); the wheel is only touched when a
deadline falls into an earlier slot than the owner's queued entry. An entry whose slot comes
while the owner's deadline has moved on is put into the later slot, so keep-alive traffic does
no timer work per request. An entry costs one list slot (a heap entry took a tuple and a float);
a timeout fires at most ``resolution`` seconds late, never early.
"""

from __future__ import annotations

import heapq
from typing import Generic, Protocol, TypeVar

RESOLUTION = 1 / 32  # seconds: a power of two, so slot times are exact floats


class Timed(Protocol):
    deadline: float | None  # when the owner wants on_timeout; None for never
    timer_at: float | None  # the start of the slot holding this owner's live entry, managed here


T = TypeVar("T", bound=Timed)


class TimerWheel(Generic[T]):
    def __init__(self, resolution: float = RESOLUTION) -> None:
        self._resolution = resolution
        # slot number -> (slot start, owners). The start is one float shared by the slot's owners.
        self._slots: dict[int, tuple[float, list[T]]] = {}
        self._order: list[int] = []  # heap of the slot numbers in use
        self._entries = 0

    def __len__(self) -> int:
        """Entries queued, superseded ones included (they are dropped when their slot comes)."""
        return self._entries

    def schedule(self, owner: T) -> None:
        """Call after changing ``owner.deadline``; free unless it moved into an earlier slot."""
        deadline = owner.deadline
        if deadline is None:
            return
        queued = owner.timer_at
        if queued is not None and deadline >= queued:
            return  # the queued entry comes first; it is moved on then
        number = int(deadline // self._resolution)
        slot = self._slots.get(number)
        if slot is None:
            slot = self._slots[number] = (number * self._resolution, [])
            heapq.heappush(self._order, number)
        owner.timer_at = slot[0]
        slot[1].append(owner)
        self._entries += 1

    def next_deadline(self) -> float | None:
        """When the earliest slot is due (its end)."""
        return (self._order[0] + 1) * self._resolution if self._order else None

    def pop_expired(self, now: float) -> list[T]:
        """Owners whose deadline has passed. Superseded entries are dropped, moved ones re-queued."""
        expired: list[T] = []
        order = self._order
        resolution = self._resolution
        while order and (order[0] + 1) * resolution <= now:
            start, owners = self._slots.pop(heapq.heappop(order))
            self._entries -= len(owners)
            for owner in owners:
                if owner.timer_at != start:
                    continue  # superseded by an entry in an earlier slot
                owner.timer_at = None
                if owner.deadline is None:
                    continue
                if owner.deadline <= now:
                    expired.append(owner)
                else:
                    self.schedule(owner)
        return expired
