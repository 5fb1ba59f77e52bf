"""Shared by the server's tests."""

from __future__ import annotations

import pytest

import server.connection as connection_module


@pytest.fixture(autouse=True)
def still_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The read loop's time budget (READ_TIME_BUDGET_S) is on the real clock: on a loaded machine a test's first
    wakeup used it up and left the end of input unread (a fake socket's test then failed). Here the clock stands
    still; the test of that budget sets a clock of its own. Live servers run in processes of their own."""
    monkeypatch.setattr(connection_module, "monotonic", lambda: 0.0)
