"""The one module that talks to Toxiproxy (through toxiproxy-python).

toxiproxy-python 0.1.1 keeps the API host and port as class globals and sets no timeouts;
here every call sets them under a lock and passes a timeout, so a hung API call fails the
case instead of hanging the suite.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from lab.errors import LabError
from lab.toxics import Toxic

CALL_TIMEOUT_S = 5.0
_api_lock = threading.Lock()  # APIConsumer's host and port are class globals


class ToxiproxyAPI:
    """A Toxiproxy server at `api_url` (http://host:port)."""

    def __init__(self, api_url: str, *, timeout: float = CALL_TIMEOUT_S) -> None:
        parts = urlsplit(api_url)
        if not parts.hostname or not parts.port:
            raise ValueError(f"bad Toxiproxy API URL {api_url!r}")
        self.api_url = api_url
        self._host, self._port = parts.hostname, parts.port
        self._timeout = timeout

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        with _api_lock:
            APIConsumer.host, APIConsumer.port = self._host, self._port
            try:
                response = getattr(APIConsumer, method)(path, timeout=self._timeout, **kwargs)
            except InvalidToxic as error:
                raise LabError(f"Toxiproxy refused {method.upper()} {path}: {error}") from None
            except requests.RequestException as error:
                raise LabError(f"Toxiproxy at {self.api_url} did not answer {method.upper()} {path}: "
                               f"{type(error).__name__}") from None
        if response.status_code >= 400:
            raise LabError(f"Toxiproxy refused {method.upper()} {path}: {response.status_code} "
                           f"{response.text.strip()[:200]}")
        return response

    def version(self) -> str:
        return str(self._call("get", "/version").text.strip())

    def proxies(self) -> dict[str, Any]:
        return dict(self._call("get", "/proxies").json())

    def create_proxy(self, name: str, *, listen: str, upstream: str) -> None:
        try:
            self._call("post", "/proxies", json={"name": name, "listen": listen, "upstream": upstream,
                                                 "enabled": True})
        except ProxyExists:
            raise LabError(f"Toxiproxy already has a proxy named {name!r}") from None

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        self._call("post", f"/proxies/{proxy}", json={"enabled": enabled})

    def add_toxic(self, proxy: str, toxic: Toxic) -> None:
        self._call("post", f"/proxies/{proxy}/toxics", json=toxic.to_api())

    def remove_toxic(self, proxy: str, toxic_name: str) -> None:
        try:
            self._call("delete", f"/proxies/{proxy}/toxics/{toxic_name}")
        except NotFound:
            return

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self._call("get", f"/proxies/{proxy}/toxics").json())

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("post", "/reset")
