"""The parser's coverage-guided fuzz test (tests/server/fuzz_parser.py), briefly: `make fuzz` runs it longer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.http.parser import Request
from tests.server.parser_properties import SEEDS, Outcome, check, run

REPO = Path(__file__).resolve().parents[2]
FUZZ_SECONDS = 4


def requests_and_status(outcome: Outcome) -> tuple[int, int | None]:
    events, status = outcome
    return sum(isinstance(event, Request) for event in events), status


# What each seed is, whole: its requests parsed, or the status it is refused with (gzip before chunked: 501).
SEED_OUTCOMES = [(1, None), (1, None), (1, None), (0, 501), (1, None), (2, None)]


@pytest.mark.parametrize(("seed", "outcome"), list(zip(SEEDS, SEED_OUTCOMES, strict=True)))
def test_the_properties_hold_for_the_seeds(seed: bytes, outcome: tuple[int, int | None]) -> None:
    half = seed[: len(seed) // 2]
    check(seed)
    check(half)
    assert requests_and_status(run([seed])) == outcome
    assert requests_and_status(run([seed[i : i + 1] for i in range(len(seed))])) == outcome
    assert requests_and_status(run([half])) == (0, 400)  # input that ends mid-request is refused, not parsed


def test_the_property_check_can_fail() -> None:
    """A parser whose outcome depends on how the input was split is caught (the first bug found here:
    a long request line got 400 when whole and 414 byte by byte)."""
    import tests.server.parser_properties as fuzz

    def split_sensitive(chunks: list[bytes]) -> fuzz.Outcome:
        return [], 400 if len(chunks) == 1 else 414

    original = fuzz.run
    fuzz.run = split_sensitive
    try:
        with pytest.raises(AssertionError, match="byte by byte"):
            fuzz.check(b"GET / HTTP/1.1\r\n\r\n")
    finally:
        fuzz.run = original


def test_a_few_seconds_of_fuzzing_find_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.server.fuzz_parser", f"-max_total_time={FUZZ_SECONDS}",
         f"-artifact_prefix={tmp_path}/", "-print_final_stats=1", str(tmp_path / "corpus")],
        cwd=REPO, capture_output=True, text=True, timeout=FUZZ_SECONDS + 60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "stat::number_of_executed_units" in result.stderr  # it really ran
    assert not list(tmp_path.glob("crash-*"))
