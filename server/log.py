"""Optional structured log: one JSON object per line for each connection lifecycle event."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from server import jsontext


class EventLog:
    def __init__(self, target: str | None) -> None:
        self._file: TextIO | None
        if not target:
            self._file = None
        elif target == "-":
            self._file = sys.stdout
        else:
            self._file = open(target, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the server

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def write(self, event: str, **fields: jsontext.JsonValue) -> None:
        if self._file is None:
            return
        record: dict[str, jsontext.JsonValue] = {"t": round(time.time(), 6), "event": event}
        record.update(fields)
        try:
            self._file.write(jsontext.dumps(record) + "\n")
            if self._file is sys.stdout:
                self._file.flush()
        except (OSError, ValueError):
            self._file = None  # a broken log must not take the server down

    def close(self) -> None:
        if self._file is not None and self._file is not sys.stdout:
            self._file.close()
        self._file = None
