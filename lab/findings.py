"""`make findings`: each finding's server brought up, its standalone reproducer run against it, and again against
a server known not to have the defect (a reproducer that always says yes is worthless).

A finding is data: the board server it was found in (lab/images/<server>/), how its container runs, and the
reproducer `findings/<slug>.py` (standard library only, runnable without the lab: exit 1 "affected", 0 "not
affected", 2 "cannot tell"). Its write-up is docs/findings/<server>-<slug>.md.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import docker.errors
import docker.types

from lab import engine, images, settings
from lab.compose import echo
from lab.errors import LabError

FINDINGS_DIR = settings.REPO_ROOT / "findings"
DOCS_DIR = settings.REPO_ROOT / "docs" / "findings"
LISTEN_PORT = 8080  # every board server and the bundled one listen here in their containers
READY_TIMEOUT_S = 30.0
REPRODUCER_SLACK_S = 30.0
AFFECTED, NOT_AFFECTED = 1, 0


@dataclass(frozen=True)
class Finding:
    slug: str  # findings/<slug>.py
    server: str  # the board server it was found in: lab/images/<server>/, board/profiles/<server>.toml
    summary: str
    arguments: tuple[str, ...] = ()  # after HOST:PORT; "{pid}" is the server's process id on this host
    open_files: int | None = None  # the container's open-file limit (soft and hard)
    control: str = "server"  # a server known not to have it: "server" (the bundled one) or a board server
    bound_s: float = 30.0  # the reproducer's own longest wait

    @property
    def reproducer(self) -> str:
        return f"findings/{self.slug}.py"

    @property
    def document(self) -> str:
        return f"docs/findings/{self.server}-{self.slug}.md"


FINDINGS: tuple[Finding, ...] = (
    Finding("http10-te-smuggling", "gohttp",
            "net/http frames an HTTP/1.0 request by Content-Length, ignoring Transfer-Encoding, and keeps the "
            "connection: a chunked body is answered as a request of its own (TE.CL request smuggling)"),
    Finding("emfile-accept-spin", "tornado",
            "EMFILE on accept() escapes the accept handler: the listening socket stays readable, the loop spins "
            "and logs a traceback each time", arguments=("--pid", "{pid}"), open_files=64),
    Finding("idle-connection-held", "uvicorn",
            "a connection that never sends a byte is held for ever: the keep-alive deadline is armed only after "
            "a response", arguments=("--wait", "12"), bound_s=15),
    Finding("500-before-request", "gunicorn",
            "a request head cut off by the worker timeout is answered 500 Internal Server Error",
            arguments=("--wait", "20"), bound_s=25),
)


@dataclass(frozen=True)
class Outcome:
    finding: Finding
    image: str
    code: int
    text: str


def image_of(server: str) -> str:
    return settings.SERVER_IMAGE if server == "server" else settings.extra_image(server)


@contextlib.contextmanager
def running(server: str, finding: Finding, run_id: str) -> Iterator[tuple[str, int]]:
    """The server's container: (its address on its own bridge, its process id); removed on every exit.

    The reproducer talks to the container's address, not a published port: docker-proxy would stand between
    them, accepting before the server does and turning the server's RSTs into FINs.
    """
    client = engine.client()
    name = f"epl-finding-{finding.slug}-{server}-{run_id}"
    labels = {settings.LABEL_LAB: "true", settings.LABEL_PROJECT: f"findings-{run_id}"}
    # A bridge of its own without masquerading: the server reaches nothing beyond this host.
    network = client.networks.create(name, labels=labels,
                                      options={"com.docker.network.bridge.enable_ip_masquerade": "false"})
    container = None
    try:
        limits = ([docker.types.Ulimit(name="nofile", soft=finding.open_files, hard=finding.open_files)]
                  if finding.open_files else None)
        container = client.containers.run(image_of(server), detach=True, name=name, labels=labels,
                                          network=network.name, ulimits=limits)
        address = wait_ready(container, network.name)
        yield address, int(container.attrs["State"]["Pid"])
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
        with contextlib.suppress(docker.errors.DockerException):
            network.remove()


def answers(address: tuple[str, int]) -> bool:
    """An HTTP status line comes back to `GET /`."""
    try:
        with socket.create_connection(address, timeout=2) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
            return connection.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def wait_ready(container: object, network: str) -> str:
    """The container's address once its server answers HTTP there (bounded by READY_TIMEOUT_S)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        container.reload()  # type: ignore[attr-defined]
        attrs = container.attrs  # type: ignore[attr-defined]
        if not attrs["State"]["Running"]:
            raise LabError(f"{attrs['Name'].lstrip('/')} exited (code {attrs['State']['ExitCode']}) before it was "
                           "ready")
        address = attrs["NetworkSettings"]["Networks"].get(network, {}).get("IPAddress") or ""
        if address and answers((address, LISTEN_PORT)):
            return str(address)
        if time.monotonic() > deadline:
            raise LabError(f"{attrs['Name'].lstrip('/')} did not accept connections within {READY_TIMEOUT_S:g} s")
        time.sleep(0.2)  # polling the container's state, under the deadline above


def reproduce(finding: Finding, address: str, pid: int) -> tuple[int, str]:
    arguments = [argument.replace("{pid}", str(pid)) for argument in finding.arguments]
    command = [sys.executable, str(settings.REPO_ROOT / finding.reproducer), f"{address}:{LISTEN_PORT}", *arguments]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              timeout=finding.bound_s + REPRODUCER_SLACK_S)
    except subprocess.TimeoutExpired:
        return 2, f"the reproducer ran over {finding.bound_s + REPRODUCER_SLACK_S:g} s"
    text = (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or ["(no output)"])[-1]
    return done.returncode, text


def check(finding: Finding, run_id: str) -> tuple[Outcome, Outcome]:
    """The reproducer against the finding's server, then against its control."""
    outcomes = []
    for server in (finding.server, finding.control):
        with running(server, finding, run_id) as (address, pid):
            code, text = reproduce(finding, address, pid)
        outcomes.append(Outcome(finding, image_of(server), code, text))
    return outcomes[0], outcomes[1]


def run(slugs: tuple[str, ...] = ()) -> int:
    chosen = [f for f in FINDINGS if not slugs or f.slug in slugs]
    unknown = set(slugs) - {f.slug for f in FINDINGS}
    if unknown:
        raise LabError(f"no finding {sorted(unknown)[0]!r}; known: {', '.join(f.slug for f in FINDINGS)}")
    servers = tuple(sorted({s for f in chosen for s in (f.server, f.control) if s != "server"}))
    images.ensure_images(echo, extra=servers)
    run_id = secrets.token_hex(3)
    failures = 0
    for finding in chosen:
        started = time.monotonic()
        found, control = check(finding, run_id)
        confirmed = found.code == AFFECTED
        clean = control.code == NOT_AFFECTED
        failures += (not confirmed) + (not clean)
        print(f"{finding.slug}: {'confirmed' if confirmed else 'not confirmed'} on {found.image} — {found.text}")
        print(f"  control {control.image}: {'not affected' if clean else 'NOT A CLEAN CONTROL'} — {control.text}")
        print(f"  ({time.monotonic() - started:.0f} s; {finding.document})", flush=True)
    print(f"{len(chosen)} findings: {failures} problem(s) above" if failures else
          f"{len(chosen)} findings confirmed, each control not affected")
    return 1 if failures else 0
