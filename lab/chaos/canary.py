"""A well-behaved client on the host that keeps asking GET / while a case runs, timing each answer."""

from __future__ import annotations

import threading
import time

from lab.chaos.history import CanarySample
from lab.http_check import http_get

INTERVAL_S = 0.05
REQUEST_TIMEOUT_S = 3.0


class Canary:
    """`with Canary(url) as canary:` samples until the block ends; `canary.samples` holds the answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[CanarySample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="canary", daemon=True)

    def __enter__(self) -> Canary:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT_S + 2)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                result = http_get(self.url, timeout=REQUEST_TIMEOUT_S)
            except Exception as error:  # any failure is the canary's finding, not the lab's
                self.samples.append(CanarySample(started, None, f"{type(error).__name__}: {error}"))
            else:
                ok = result.status == 200
                self.samples.append(CanarySample(started, result.elapsed_s if ok else None,
                                                 None if ok else f"status {result.status}"))
            self._stop.wait(INTERVAL_S)
