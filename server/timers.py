"""Deadlines on a heap, with at most one live entry per owner.

Owners move their ``deadline`` freely (every request does); the heap is only touched when a
deadline comes earlier than the owner's queued entry. An entry that pops early is pushed
back at the owner's current deadline, so keep-alive traffic does not grow the heap.
"""

from __future__ import annotations

import heapq
from typing import Any, Generic, Protocol, TypeVar


class Timed(Protocol):
    deadline: float | None  # when the owner wants on_timeout; None for never
    heap_at: float | None  # the time of this owner's queued heap entry, managed here

    def __lt__(self, other: Any, /) -> bool: ...  # breaks ties between equal deadlines


T = TypeVar("T", bound=Timed)


class TimerHeap(Generic[T]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, T]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, owner: T) -> None:
        """Call after changing ``owner.deadline``."""
        deadline = owner.deadline
        if deadline is not None and (owner.heap_at is None or deadline < owner.heap_at):
            owner.heap_at = deadline
            heapq.heappush(self._heap, (deadline, owner))

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_expired(self, now: float) -> list[T]:
        """Owners whose deadline has passed. Stale entries are dropped or re-queued."""
        expired: list[T] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, owner = heapq.heappop(heap)
            if owner.heap_at != at:
                continue  # superseded by an earlier entry for the same owner
            owner.heap_at = None
            if owner.deadline is None:
                continue
            if owner.deadline <= now:
                expired.append(owner)
            else:
                self.schedule(owner)
        return expired
