"""The careful server (tests/fixtures/careful-server/) loaded from its file and run in a thread, for unit tests."""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from lab.settings import REPO_ROOT

SERVER_FILE = REPO_ROOT / "tests" / "fixtures" / "careful-server" / "careful_server.py"


def module() -> ModuleType:
    found = sys.modules.get("careful_server")
    if found is not None:
        return found
    spec = importlib.util.spec_from_file_location("careful_server", SERVER_FILE)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules["careful_server"] = loaded  # dataclasses look their module up while the file runs
    spec.loader.exec_module(loaded)
    return loaded


@contextlib.contextmanager
def running(**config: Any) -> Iterator[tuple[Any, int]]:
    """A careful server on 127.0.0.1 and a free port, with these Config fields; stopped (drained) at the end."""
    careful = module()
    listener = socket.create_server(("127.0.0.1", 0))
    server = careful.Server(careful.Config(**config), listener=listener)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, listener.getsockname()[1]
    finally:
        server.request_stop()
        thread.join(server.config.stop_s + 5)
        assert not thread.is_alive(), "the careful server did not stop"
