"""Plain HTTP from the host to a lab endpoint, with a timeout on everything."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: bytes
    elapsed_s: float


def http_get(url: str, path: str = "/", *, timeout: float = 5.0) -> HttpResult:
    """One GET on a fresh connection; raises OSError or http.client.HTTPException on failure."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    started = time.monotonic()
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read()
        return HttpResult(status=response.status, body=body, elapsed_s=time.monotonic() - started)
    finally:
        connection.close()
