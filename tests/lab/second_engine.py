"""A second Docker engine on this machine, for the several-engines test; removed on every exit path.

It gets a bridge of its own (never `--bridge none`: a daemon started with it deletes the first engine's
docker0), an address pool of its own (a 10.x.0.0/16, away from Docker's default 172.17-31 and 192.168
pools), and no iptables: it does not enforce the lab network's `internal` isolation (README says so).
The first engine's FORWARD policy is DROP, and with br_netfilter bridged traffic passes FORWARD too: without
a rule accepting the pool's traffic, containers of the second engine reach each other on no network
(the host still reaches their published ports). That rule goes with the engine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
BRIDGE_NET = "10.212"  # the bridge's own /24 is 10.212.N.0/24, outside the pool


@dataclass(frozen=True)
class Engine:
    host: str  # unix:///run/NAME.sock
    name: str
    pool: str  # the /16 its networks come from


def _forward_rule(engine: Engine) -> list[str]:
    return ["FORWARD", "-s", engine.pool, "-d", engine.pool, "-j", "ACCEPT", "-m", "comment", "--comment",
            f"epoll-lab second engine {engine.name}"]


class EngineError(Exception):
    """The second engine could not be set up (the reason is the message)."""


def unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "a second Docker engine needs root (a bridge and a dockerd)"
    for tool in ("dockerd", "ip", "docker"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on this machine"
    return None


def _run(*command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, check=False)


def _answers(host: str) -> bool:
    return _run("docker", "-H", host, "info", "--format", "{{.ID}}", timeout=10).returncode == 0


@contextlib.contextmanager
def second_engine() -> Iterator[Engine]:
    """A running dockerd with its own bridge, socket, data and exec roots; all of it gone afterwards."""
    reason = unavailable_reason()
    if reason:
        raise EngineError(reason)
    name = f"epl{secrets.token_hex(3)}"  # bridge names stop at 15 characters; socket paths at 107
    base = Path("/var/lib/epoll-lab-engines") / name
    socket_path = Path(f"/run/{name}.sock")
    exec_root = Path(f"/run/{name}")
    engine = Engine(f"unix://{socket_path}", name, f"10.{213 + secrets.randbelow(30)}.0.0/16")
    log_path = base.with_suffix(".log")
    daemon: subprocess.Popen[bytes] | None = None
    bridge = forwarding = False
    try:
        if shutil.which("iptables") and _run("iptables", "-S", "FORWARD").returncode == 0:
            done = _run("iptables", "-I", *_forward_rule(engine))
            if done.returncode != 0:
                raise EngineError(f"cannot let the second engine's containers reach each other: {done.stderr.strip()}")
            forwarding = True
        done = _run("ip", "link", "add", name, "type", "bridge")
        if done.returncode != 0:
            raise EngineError(f"cannot create a bridge: {done.stderr.strip()}")
        bridge = True
        subnet = f"{BRIDGE_NET}.{secrets.randbelow(250) + 1}"
        for command in (("ip", "addr", "add", f"{subnet}.1/24", "dev", name), ("ip", "link", "set", name, "up")):
            done = _run(*command)
            if done.returncode != 0:
                raise EngineError(f"cannot set up bridge {name}: {done.stderr.strip()}")
        base.mkdir(parents=True)
        with log_path.open("wb") as log:
            daemon = subprocess.Popen(
                ["dockerd", "-H", engine.host, "--data-root", str(base / "data"), "--exec-root", str(exec_root),
                 "--pidfile", str(base / "dockerd.pid"), "-b", name, "--iptables=false", "--ip-masq=false",
                 "--default-address-pool", f"base={engine.pool},size=24"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # its own group: killed as one
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(engine.host):
            if daemon.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
                raise EngineError(f"the second dockerd did not answer within {START_TIMEOUT_S} s: {tail[0]}")
            time.sleep(0.2)
        yield engine
    finally:
        if daemon is not None:
            _stop(engine, daemon, exec_root)
        if bridge:
            _run("ip", "link", "delete", name)
        if forwarding:
            _run("iptables", "-D", *_forward_rule(engine))
        _unmount_under(base, exec_root)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(exec_root, ignore_errors=True)
        log_path.unlink(missing_ok=True)
        socket_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            base.parent.rmdir()  # only when no other engine is using it


def _stop(engine: Engine, daemon: subprocess.Popen[bytes], exec_root: Path) -> None:
    """Containers first (their shims outlive a daemon), then dockerd and its containerd, then stragglers."""
    if daemon.poll() is None:
        ids = _run("docker", "-H", engine.host, "ps", "-aq", timeout=30).stdout.split()
        if ids:
            _run("docker", "-H", engine.host, "rm", "-f", *ids, timeout=120)
        daemon.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(daemon.pid, signal.SIGKILL)
    daemon.wait(timeout=STOP_TIMEOUT_S)
    for pid in processes_mentioning(str(exec_root)):  # shims started their own sessions
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def _unmount_under(*roots: Path) -> None:
    """Mounts a killed daemon left (overlay layers, netns files), deepest first."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if any(m.startswith(f"{root}/") for root in roots)), key=len,
                        reverse=True):
        _run("umount", "-l", mount)
