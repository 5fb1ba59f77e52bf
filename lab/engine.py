"""The Docker engine: a client with timeouts, and clear errors when there is none."""

from __future__ import annotations

import functools
import shutil
import subprocess
from typing import Any

import docker
import docker.errors

from lab.errors import LabError

API_TIMEOUT_S = 60


def require_docker_cli() -> str:
    path = shutil.which("docker")
    if path is None:
        raise LabError("Docker is not installed: install Docker Engine, or run `make prepare` as root on Debian")
    return path


@functools.cache
def client() -> Any:
    """A Docker SDK client; every API call is bounded by API_TIMEOUT_S."""
    try:
        engine = docker.from_env(timeout=API_TIMEOUT_S)
        engine.ping()
    except docker.errors.DockerException as error:
        raise LabError(explain_engine_error(str(error))) from None
    return engine


def explain_engine_error(detail: str) -> str:
    lowered = detail.lower()
    if "permission denied" in lowered:
        return "cannot talk to the Docker engine: permission denied on its socket (join the docker group)"
    if "no such file" in lowered or "connection refused" in lowered or "connection aborted" in lowered:
        return "the Docker engine is not running: start it, or run `make prepare` as root on Debian"
    return f"cannot talk to the Docker engine: {detail.splitlines()[0] if detail else 'unknown error'}"


def image_exists(tag: str) -> bool:
    try:
        client().images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def image_labels(tag: str) -> dict[str, str]:
    try:
        labels = client().images.get(tag).labels
    except docker.errors.ImageNotFound:
        return {}
    return dict(labels or {})


def run_docker(args: list[str], *, timeout: float, what: str, input_bytes: bytes | None = None) -> str:
    """Run the docker CLI; LabError with its last line of stderr when it fails."""
    command = [require_docker_cli(), *args]
    try:
        done = subprocess.run(command, input=input_bytes, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"{what}: docker did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"]
        raise LabError(f"{what}: {lines[-1]}")
    return done.stdout.decode(errors="replace")
