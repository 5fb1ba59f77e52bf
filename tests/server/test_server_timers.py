"""The timer wheel: coarse slots, never early, at most one resolution late, no work when deadlines move later."""

from __future__ import annotations

from server.timers import RESOLUTION, TimerWheel


class Owner:
    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.timer_at: float | None = None


def test_an_owner_expires_after_its_deadline_within_one_resolution() -> None:
    wheel: TimerWheel[Owner] = TimerWheel()
    owner = Owner(10.01)
    wheel.schedule(owner)
    due = wheel.next_deadline()
    assert due is not None and 10.01 <= due <= 10.01 + RESOLUTION
    assert wheel.pop_expired(10.0) == []
    assert wheel.pop_expired(due) == [owner]
    assert len(wheel) == 0 and wheel.next_deadline() is None


def test_a_later_deadline_costs_nothing_and_is_requeued_when_its_slot_comes() -> None:
    wheel: TimerWheel[Owner] = TimerWheel()
    owner = Owner(5.0)
    wheel.schedule(owner)
    for step in range(100):  # keep-alive traffic: the deadline moves on with every request
        owner.deadline = 5.0 + step * 0.1
        wheel.schedule(owner)
    assert len(wheel) == 1
    assert wheel.pop_expired(6.0) == []  # moved on: queued again at the new deadline
    assert len(wheel) == 1
    assert wheel.pop_expired(14.9 + RESOLUTION) == [owner]


def test_an_earlier_deadline_supersedes_the_queued_entry() -> None:
    wheel: TimerWheel[Owner] = TimerWheel()
    owner = Owner(60.0)
    wheel.schedule(owner)
    owner.deadline = 2.0
    wheel.schedule(owner)
    assert wheel.pop_expired(2.0 + RESOLUTION) == [owner]
    assert wheel.pop_expired(61.0) == []  # the superseded entry is dropped, not fired again
    assert len(wheel) == 0


def test_no_deadline_is_never_queued_and_a_cleared_one_never_fires() -> None:
    wheel: TimerWheel[Owner] = TimerWheel()
    wheel.schedule(Owner(None))
    assert len(wheel) == 0
    owner = Owner(1.0)
    wheel.schedule(owner)
    owner.deadline = None
    assert wheel.pop_expired(2.0) == []


def test_owners_fire_in_slot_order_and_share_a_slot() -> None:
    wheel: TimerWheel[Owner] = TimerWheel()
    late, early, same = Owner(3.0), Owner(1.0), Owner(1.0 + RESOLUTION / 4)
    for owner in (late, early, same):
        wheel.schedule(owner)
    assert early.timer_at is same.timer_at  # one shared float per slot
    assert wheel.pop_expired(1.0 + RESOLUTION) == [early, same]
    assert wheel.pop_expired(3.0 + RESOLUTION) == [late]
