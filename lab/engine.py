"""The Docker engine: a client with timeouts, clear errors when there is none, and which engine a lab uses.

LAB_DOCKER_HOSTS lists the engines labs spread over (Docker endpoints such as unix:///run/x.sock or
ssh://host, or Docker context names); the first one builds the images, the others load them from it.
An edge (the CLI, the pytest plugin, a scheduler worker) hands that setting in with `set_hosts`.
A process talks to one engine at a time (`use`): its DOCKER_HOST, which the SDK, the docker CLI and
compose all read. Unset, the environment's own engine is the only one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors

from lab.errors import LabError
from lab.settings import LABEL_LAB

API_TIMEOUT_S = 60
HOSTS_ENV = "LAB_DOCKER_HOSTS"
LOCAL = ""  # the environment's own engine: DOCKER_HOST as it was, else Docker's default socket
_ORIGINAL_HOST = os.environ.get("DOCKER_HOST", LOCAL)
_hosts_setting = ""  # LAB_DOCKER_HOSTS as the edge read it (lab.run_config.RunConfig.docker_hosts)


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


# -- several engines ---------------------------------------------------------------------------------
def set_hosts(setting: str) -> None:
    """The engines this process may use, as LAB_DOCKER_HOSTS names them ("": the environment's own only)."""
    global _hosts_setting
    _hosts_setting = setting


def configured_hosts() -> tuple[str, ...]:
    """The engines labs may use, first the one that builds images; contexts resolved to endpoints."""
    entries = [entry for entry in re.split(r"[,\s]+", _hosts_setting) if entry]
    if not entries:
        return (_ORIGINAL_HOST,)
    hosts = tuple(dict.fromkeys(resolve_host(entry) for entry in entries))  # in order, once each
    return hosts


def resolve_host(entry: str) -> str:
    """An endpoint as it is; a Docker context name as its endpoint; `local` as the environment's engine."""
    if entry == "local":
        return _ORIGINAL_HOST
    if "://" in entry:
        return entry
    command = [require_docker_cli(), "context", "inspect", "--format", "{{.Endpoints.docker.Host}}", entry]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"{HOSTS_ENV}: `docker context inspect {entry}` did not answer within 30 s") from None
    host = done.stdout.strip()
    if done.returncode != 0 or not host:
        raise LabError(f"{HOSTS_ENV}: {entry!r} is neither a Docker endpoint (scheme://...) nor a Docker context")
    return host


def current() -> str:
    return os.environ.get("DOCKER_HOST", LOCAL)


def describe(host: str) -> str:
    return host or "local"


def use(host: str) -> None:
    """From now on this process (and the docker CLI and compose it starts) talks to `host`."""
    if host:
        os.environ["DOCKER_HOST"] = host
    else:
        os.environ.pop("DOCKER_HOST", None)
    client.cache_clear()


def cli_env(host: str) -> dict[str, str]:
    """The environment for a docker CLI that must talk to `host`, whatever engine this process uses now.

    `use` points DOCKER_HOST at this process's engine: a CLI started for another engine (LOCAL included)
    must not inherit it, or `docker save` from the first engine reads the second one.
    """
    env = dict(os.environ)
    if host:
        env["DOCKER_HOST"] = host
    else:
        env.pop("DOCKER_HOST", None)
    return env


@contextlib.contextmanager
def using(host: str) -> Iterator[None]:
    previous = current()
    use(host)
    try:
        yield
    finally:
        use(previous)


def for_worker(worker: str | None) -> str:
    """pytest-xdist worker gwN takes engine N modulo their number: workers spread evenly."""
    hosts = configured_hosts()
    digits = (worker or "").removeprefix("gw")
    return hosts[int(digits) % len(hosts) if digits.isdigit() else 0]


def choose(explicit: str | None) -> str:
    """`explicit` (an endpoint or context) when given, else the engine running the fewest lab containers."""
    if explicit:
        return resolve_host(explicit)
    hosts = configured_hosts()
    if len(hosts) == 1:
        return hosts[0]
    load: dict[str, int] = {}
    for host in hosts:
        with using(host):
            # sparse: one list call; a full one inspects each container, failing on one removed meanwhile
            load[host] = len(client().containers.list(sparse=True, filters={"label": f"{LABEL_LAB}=true"}))
    return min(hosts, key=lambda host: load[host])


def image_id(tag: str) -> str | None:
    try:
        return str(client().images.get(tag).id)
    except docker.errors.ImageNotFound:
        return None
