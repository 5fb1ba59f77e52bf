"""The settle checks judge readings by the time the probe took them (lab.chaos.model.settle), not by arrival."""

from __future__ import annotations

from lab.chaos.model.settle import settle_decided, settle_reading
from lab.probe import Snapshot
from tests.lab_unit.histories import snap

BASELINE = snap(0.0, fds=8)
BEGAN, BOUND = 100.0, 1.0


def dirty(t: float) -> Snapshot:
    return snap(t, fds=9, close_wait=1)


def clean(t: float) -> Snapshot:
    return snap(t, fds=8)


def test_the_first_reading_back_to_the_baseline_within_the_bound_is_judged() -> None:
    readings = [dirty(100.2), clean(100.4), dirty(100.6), clean(100.8)]
    assert settle_reading(BASELINE, readings, BEGAN, BOUND) is readings[1]


def test_a_server_still_dirty_late_in_the_bound_is_judged_dirty_even_when_a_later_reading_is_clean() -> None:
    # no_eof_check: CLOSE_WAIT until its own 2 s header deadline; the reading after the bound is clean.
    readings = [dirty(100.2), dirty(100.6), dirty(100.95), clean(102.5)]
    assert settle_reading(BASELINE, readings, BEGAN, BOUND) is readings[2]


def test_readings_too_sparse_within_the_bound_fall_back_to_the_first_one_after_it() -> None:
    # a stalled machine: one early reading, then none until after the bound; the server is not failed on it
    readings = [dirty(100.1), clean(103.0), dirty(104.0)]
    assert settle_reading(BASELINE, readings, BEGAN, BOUND) is readings[1]


def test_readings_before_the_settle_began_do_not_count() -> None:
    readings = [clean(99.9), dirty(100.9)]
    assert settle_reading(BASELINE, readings, BEGAN, BOUND) is readings[1]
    assert settle_reading(BASELINE, [clean(99.0)], BEGAN, BOUND) is None


def test_a_lone_early_dirty_reading_is_not_judged_when_nothing_else_came() -> None:
    # the stream died 0.1 s into a 1 s bound: the server had not had its time, so neither pass nor fail it
    assert settle_reading(BASELINE, [dirty(100.1)], BEGAN, BOUND) is None
    late_in_the_bound = [dirty(100.1), dirty(100.6)]
    assert settle_reading(BASELINE, late_in_the_bound, BEGAN, BOUND) is late_in_the_bound[1]


def test_the_wait_is_over_on_a_clean_reading_within_the_bound_or_any_reading_past_it() -> None:
    assert not settle_decided(BASELINE, [], BEGAN, BOUND)
    assert not settle_decided(BASELINE, [clean(99.5), dirty(100.5)], BEGAN, BOUND)
    assert settle_decided(BASELINE, [dirty(100.5), clean(100.7)], BEGAN, BOUND)
    assert settle_decided(BASELINE, [dirty(101.1)], BEGAN, BOUND)
