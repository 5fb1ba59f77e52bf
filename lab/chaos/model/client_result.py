"""How the lab reads a client's run: the clients' own schema (clients/results.py), shared by writer and reader.

Everything on the lab side (history, runner, checks, reports) works with these types.
"""

from __future__ import annotations

from clients.results import CLOSED_BY, ClientResultError, ConnectionResult, ResponseResult, RunResult, run_summary

__all__ = ["CLOSED_BY", "ClientResultError", "ConnectionResult", "ResponseResult", "RunResult", "run_summary"]
