"""Copying images between engines: each docker CLI talks to its own engine, whatever this process uses."""

from __future__ import annotations

import io
import subprocess
from typing import Any

import pytest

from lab import engine, images
from lab.errors import LabError

SECOND = "unix:///run/second.sock"


class FakeSave:
    def __init__(self, command: list[str], *, env: dict[str, str], returncode: int = 0, **_: Any) -> None:
        self.command, self.env, self.returncode = command, env, returncode
        self.stdout = io.BytesIO(b"tar")

    def poll(self) -> int:
        return self.returncode

    def wait(self, timeout: float) -> int:
        return self.returncode

    def kill(self) -> None:
        pass


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    ids = {"": "sha256:new", SECOND: None}  # the second engine is cold

    def fake_popen(command: list[str], **kwargs: Any) -> FakeSave:
        seen["save"] = FakeSave(command, **kwargs)
        return seen["save"]  # type: ignore[no-any-return]

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        seen["load"] = (command, kwargs["env"])
        return subprocess.CompletedProcess(command, 0, b"", b"")

    monkeypatch.setattr(subprocess, "Popen", fake_popen)
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(engine, "require_docker_cli", lambda: "docker")
    monkeypatch.setattr(engine, "image_id", lambda tag: ids[engine.current()])
    return seen


def test_the_save_reads_the_local_engine_while_this_process_uses_the_second(
        calls: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    with engine.using(SECOND):  # as a scorecard worker on the second engine runs ensure_images
        images.copy_images(engine.LOCAL, SECOND, ("epoll-lab/server:dev",), lambda _: None)
    assert "DOCKER_HOST" not in calls["save"].env, "docker save inherited the second engine's DOCKER_HOST"
    assert calls["save"].command == ["docker", "save", "epoll-lab/server:dev"]
    load_command, load_env = calls["load"]
    assert load_command == ["docker", "load", "-q"] and load_env["DOCKER_HOST"] == SECOND


def test_a_failed_save_is_named_as_such(calls: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_popen(command: list[str], **kwargs: Any) -> FakeSave:
        kwargs["stderr"].write(b"Error response from daemon: reference does not exist\n")
        return FakeSave(command, returncode=1, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", failing_popen)
    with engine.using(SECOND), pytest.raises(LabError, match=r"`docker save`: Error response .* does not exist"):
        images.copy_images(engine.LOCAL, SECOND, ("epoll-lab/server:dev",), lambda _: None)
