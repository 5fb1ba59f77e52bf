"""iptables and tc run in the `netns` container, which holds the target's network namespace (NET_ADMIN from the
compose file): rules are lifted there even when the target, and the probe with it, went down mid-case.

Every rule goes into two chains of the lab's own, jumped to from INPUT and OUTPUT; lifting flushes and deletes
them, so no rule survives a case whatever added it. The scripts are plain text, built by pure functions.
"""

from __future__ import annotations

import shlex

from lab.chaos.model.faults.base import FaultLab, FaultUnavailable
from lab.errors import LabError
from lab.settings import NETNS_SERVICE

CHAIN_IN, CHAIN_OUT = "EPOLL_LAB_IN", "EPOLL_LAB_OUT"
EXEC_TIMEOUT_S = 20.0
NO_NETEM = "Specified qdisc kind is unknown"


def install_script(ingress: list[str], egress: list[str]) -> str:
    """Shell that (re)creates the lab's chains with these rules (iptables arguments after `-A CHAIN`)."""
    lines = [remove_script()]
    for chain, hook, rules in ((CHAIN_IN, "INPUT", ingress), (CHAIN_OUT, "OUTPUT", egress)):
        lines.append(f"iptables -w -N {chain}")
        lines += [f"iptables -w -A {chain} {rule}" for rule in rules]
        lines.append(f"iptables -w -I {hook} 1 -j {chain}")
    return "set -e\n" + "\n".join(lines)


def remove_script() -> str:
    """Shell that prints the chains' DROP counters, then removes the chains and their jumps; succeeds when none."""
    lines = []
    for chain, hook in ((CHAIN_IN, "INPUT"), (CHAIN_OUT, "OUTPUT")):
        lines.append(f"iptables -w -L {chain} -v -n -x 2>/dev/null || true")
        lines.append(f"while iptables -w -D {hook} -j {chain} 2>/dev/null; do :; done")
        lines.append(f"iptables -w -F {chain} 2>/dev/null || true")
        lines.append(f"iptables -w -X {chain} 2>/dev/null || true")
    return "\n".join(lines)


def dropped_packets(listing: str) -> dict[str, int]:
    """Packets each lab chain dropped, from `iptables -L CHAIN -v -n -x` listings (a chain missing: absent)."""
    drops: dict[str, int] = {}
    chain = ""
    for line in listing.splitlines():
        fields = line.split()
        if line.startswith("Chain "):
            chain = fields[1]
            drops[chain] = 0
        elif chain and len(fields) > 2 and fields[0].isdigit() and fields[2] == "DROP":
            drops[chain] += int(fields[0])
    return drops


def drops_text(listing: str) -> str | None:
    drops = dropped_packets(listing)
    if not drops:
        return None
    return f"dropped {drops.get(CHAIN_IN, 0)} packets in, {drops.get(CHAIN_OUT, 0)} out"


def netem_script(netem_args: str) -> str:
    """Shell that puts netem on the egress of every interface but lo."""
    return ("set -e\nfor dev in $(ls /sys/class/net); do [ \"$dev\" = lo ] && continue; "
            f"tc qdisc replace dev \"$dev\" root netem {netem_args}; done")


NETEM_REMOVE = ("for dev in $(ls /sys/class/net); do [ \"$dev\" = lo ] && continue; "
                "tc qdisc del dev \"$dev\" root 2>/dev/null || true; done")


def run_in_namespace(lab: FaultLab, script: str, what: str) -> str:
    """Run a shell script in the target's network namespace; its stdout, or a LabError (FaultUnavailable when the
    kernel lacks netem)."""
    done = lab.exec(NETNS_SERVICE, ["sh", "-c", script], timeout=EXEC_TIMEOUT_S)
    stderr = bytes(done.stderr).decode(errors="replace").strip()
    if done.returncode != 0:
        if NO_NETEM in stderr:
            raise FaultUnavailable(f"{what}: the kernel has no sch_netem ({NO_NETEM})")
        raise LabError(f"{what} failed in the target's network namespace (exit {done.returncode}): "
                       f"{stderr or 'no message'}")
    return bytes(done.stdout).decode(errors="replace")


def lift_in_namespace(lab: FaultLab, script: str, what: str) -> str | None:
    """Run a lifting script, the target up or not; nothing to lift when the namespace's holder is gone (the lab is
    coming down), since its rules went with it."""
    holder = lab.container(NETNS_SERVICE)
    holder.reload()
    if holder.status != "running":
        return None
    return run_in_namespace(lab, script, what)


def established_peers(ss_output: str, port: int) -> list[tuple[str, int]]:
    """Peers (address, port) of ESTABLISHED sockets on the local `port`, from `ss -Htn state established`."""
    peers = []
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        local, peer = fields[-2], fields[-1]
        if local.rsplit(":", 1)[-1] != str(port):
            continue
        address, _, peer_port = peer.rpartition(":")
        peers.append((address.strip("[]").removeprefix("::ffff:"), int(peer_port)))
    return sorted(peers)


def list_peers(lab: FaultLab) -> list[tuple[str, int]]:
    port = int(lab.config.target_port)
    out = run_in_namespace(lab, f"ss -Htn state established {shlex.quote(f'( sport = :{port} )')}",
                       "listing the target's connections")
    return established_peers(out, port)
