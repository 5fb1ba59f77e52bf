"""The lab foundation: up and down, Toxiproxy in the path, the probe sees the target."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lab.chaos.model.faults.packet_loss import PacketLoss
from lab.chaos.views.pytest_plugin import run_config
from lab.http_check import http_get
from lab.instance import Lab, leftovers
from lab.probe import Snapshot
from lab.settings import REPO_ROOT, LabConfig, unique_project
from lab.toxics import Latency
from lab.wait import wait_until
from tests.lab.conftest import quiet

LATENCY_MS = 300


def run_lab_cli(*args: str, env: dict[str, str] | None = None,
                timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)


def test_lab_comes_up_answers_and_leaves_nothing_after_down() -> None:
    project = unique_project("epl-updown", run_config().run_id)
    with Lab(LabConfig.from_env(os.environ, project=project), log=quiet) as lab:
        assert http_get(lab.endpoints().proxied_url).status == 200
        assert any(item.startswith("network ") for item in leftovers(project=project))
    assert leftovers(project=project) == []


def test_request_through_toxiproxy_returns_200(lab: Lab) -> None:
    result = http_get(lab.endpoints().proxied_url)
    assert result.status == 200, result


def median_elapsed(url: str, count: int = 5) -> float:
    return statistics.median(http_get(url).elapsed_s for _ in range(count))


def test_latency_toxic_slows_requests_and_removing_it_restores_them(lab: Lab) -> None:
    url = lab.endpoints().proxied_url
    toxiproxy = lab.toxiproxy()
    before = median_elapsed(url)
    toxic = Latency(latency_ms=LATENCY_MS)
    toxiproxy.add_toxic("target", toxic)
    try:
        slowed = min(http_get(url).elapsed_s for _ in range(3))
    finally:
        toxiproxy.remove_toxic("target", toxic.name)
    after = median_elapsed(url)
    # Toxiproxy holds each response back by the latency; the request's own few ms overlap with it.
    assert slowed >= LATENCY_MS / 1000 > before, (before, slowed)
    assert after < before + LATENCY_MS / 1000 / 2, (before, after)


@contextmanager
def open_keepalive_connections(url: str, count: int) -> Iterator[list[socket.socket]]:
    """Connections that finished one request and stay open (idle keep-alive)."""
    host, port = url.removeprefix("http://").split(":")
    sockets = []
    try:
        for _ in range(count):
            conn = socket.create_connection((host, int(port)), timeout=5)
            sockets.append(conn)
            conn.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        yield sockets
    finally:
        for conn in sockets:
            conn.close()


def at_least(snapshot: Snapshot, fds: int) -> Snapshot | None:
    return snapshot if snapshot.fds >= fds else None


def at_most(snapshot: Snapshot, fds: int) -> Snapshot | None:
    return snapshot if snapshot.fds <= fds else None


def test_probe_sees_target_fds_rise_with_connections_and_fall_when_they_close(lab: Lab) -> None:
    probe = lab.probe()
    baseline = probe.snapshot()
    assert baseline.fds > 0 and baseline.pids, baseline
    assert baseline.sockets("LISTEN") >= 1, baseline
    count = 20
    with open_keepalive_connections(lab.endpoints().direct_url, count):
        risen = wait_until(lambda: at_least(probe.snapshot(), baseline.fds + count),
                           timeout=10, what=f"{count} more fds in the target")
        assert risen.sockets("ESTABLISHED") >= count
    fallen = wait_until(lambda: at_most(probe.snapshot(), baseline.fds),
                        timeout=10, what="the target's fds to fall back to the baseline")
    assert fallen.sockets("CLOSE_WAIT") == 0


def test_status_json_lists_the_endpoints_and_they_answer(lab: Lab) -> None:
    config = lab.config
    saved = REPO_ROOT / ".lab" / f"{config.project}.json"
    saved.parent.mkdir(exist_ok=True)
    saved.write_text(json.dumps({"project": config.project, "target_port": config.target_port}))
    try:
        done = run_lab_cli("status", "--project", config.project, "--json")
    finally:
        saved.unlink()
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    for key in ("proxied_url", "direct_url", "toxiproxy_url"):
        assert status[key].startswith("http://127.0.0.1:"), status
    assert http_get(status["proxied_url"]).status == 200
    assert lab.toxiproxy().version() == "2.12.0" or "2.12.0" in lab.toxiproxy().version()


def test_status_of_a_lab_that_is_not_running_is_one_clear_line() -> None:
    done = run_lab_cli("status", "--project", "epl-never-started")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "not running" in done.stderr and "Traceback" not in done.stderr


def test_missing_target_image_is_one_clear_line_and_leaves_nothing() -> None:
    project = unique_project("epl-noimage", run_config().run_id)
    done = run_lab_cli("up", "--project", project, "--target-image", "epoll-lab/does-not-exist:none")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("epoll-lab: error:") and "image" in last, done.stderr
    assert "Traceback" not in done.stderr
    assert leftovers(project=project) == []


def test_taken_port_is_one_clear_line_and_leaves_nothing() -> None:
    project = unique_project("epl-porttaken", run_config().run_id)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        done = run_lab_cli("up", "--project", project, env={"LAB_DIRECT_HOST_PORT": str(taken)})
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("epoll-lab: error:") and "port" in last, done.stderr
    assert leftovers(project=project) == []


def test_bad_project_name_is_a_usage_error() -> None:
    done = run_lab_cli("up", "--project", "Bad Name!")
    assert done.returncode == 2
    assert "bad project name" in done.stderr and "Traceback" not in done.stderr


# Beside the target's server, in its container: accepts one connection on HELPER_PORT, writes until the kernel
# holds all it can (the client reads nothing yet), says how much, and waits to be killed with the container.
HELPER_PORT = 9099
WRITTEN = "/tmp/written"
HELPER = f"""
import socket, time
listener = socket.create_server(("0.0.0.0", {HELPER_PORT}))
connection, _ = listener.accept()
connection.setblocking(False)
total, chunk = 0, bytes(range(256)) * 256
while True:
    try:
        total += connection.send(chunk)
    except BlockingIOError:
        time.sleep(0.3)
        try:
            total += connection.send(chunk)
            continue
        except BlockingIOError:
            break
with open("{WRITTEN}.part", "w") as out:
    out.write(str(total))
import os; os.rename("{WRITTEN}.part", "{WRITTEN}")
time.sleep(3600)
"""


def written_by_helper(lab: Lab) -> int | None:
    done = lab.exec("target", ["cat", WRITTEN], timeout=10)
    return int(done.stdout) if done.returncode == 0 and done.stdout.strip() else None


def test_what_the_target_wrote_before_it_stopped_still_arrives(lab: Lab) -> None:
    """The target's network namespace outlives its processes (as a Kubernetes pod's does): bytes a server wrote
    into the kernel and then exited are still sent, so a server that writes and exits is not judged to lose them."""
    subprocess.run(["docker", "exec", "-d", lab.container("target").name, "python3", "-c", HELPER], check=True,
                   timeout=30)
    networks = lab.container("netns").attrs["NetworkSettings"]["Networks"]
    address = networks[f"{lab.config.project}_edge"]["IPAddress"]
    reader = wait_until(lambda: _connected(address), timeout=15, what=f"the helper to listen on {HELPER_PORT}")
    try:
        written = wait_until(lambda: written_by_helper(lab), timeout=15, what="the helper to fill the kernel")
        lab.container("target").stop(timeout=10)  # the server, then the helper with its PID namespace
        reader.settimeout(20)
        received = bytearray()
        while chunk := reader.recv(1 << 16):
            received += chunk
        assert len(received) == written, f"{len(received)} of the {written} bytes written before the stop arrived"
        assert received[:512] == bytes(range(256)) * 2
    finally:
        reader.close()
        lab.restart_target()  # for the session's other tests


def _connected(address: str) -> socket.socket | None:
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    try:
        reader.connect((address, HELPER_PORT))
    except OSError:
        reader.close()
        return None
    return reader


@dataclass
class NoHistory:
    stop_elapsed_s: float | None = None


def test_packet_loss_spares_the_handshake(lab: Lab) -> None:
    """A lost SYN costs connect() 1 s and leaves both ends retransmitting after 3 s, so a request then lost arrives
    after a short header deadline: the loss drops segments, never the handshake. At 90 % loss, 20 connections still
    connect at once (with the handshake dropped too, one in a hundred would)."""
    networks = lab.container("netns").attrs["NetworkSettings"]["Networks"]
    address = (networks[f"{lab.config.project}_edge"]["IPAddress"], int(lab.config.target_port))
    loss = PacketLoss(probability=0.9)
    connections: list[socket.socket] = []
    try:
        loss.apply(lab, NoHistory())
        for _ in range(20):
            connections.append(socket.create_connection(address, timeout=0.9))  # a lost SYN is retried after 1 s
    finally:
        drops = loss.lift(lab)  # before the close, so that the FINs arrive
        for connection in connections:
            connection.close()
    assert drops is not None and "dropped" in drops, f"the rules were never in place: {drops}"
