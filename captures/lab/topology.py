"""The lab's chain of network namespaces: who sits where, which addresses they own, how to build it.

    agent ── r1 ── r2 ── r3 ── fw ── r5 ── r6 ── server

Node ``k`` (0 = agent … 7 = server) and node ``k+1`` share link ``k``: 10.66.k.0/24 and
fd00:66:k::/64, the left node owning ``.1``/``::1`` and the right one ``.2``/``::2``. Each interface
is named after the neighbour it leads to (``to-r1``), so pcapng interface names read as a path.
Every address is private and lives only inside these namespaces; nothing routes outside them.
The TTL arithmetic the ground truth relies on lives here too, next to the positions it uses.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass

NODES = ("agent", "r1", "r2", "r3", "fw", "r5", "r6", "server")
AGENT, FIREWALL, SERVER = 0, 4, 7
#: Initial TTL / hop limit per node: Linux's 64 everywhere, except the Windows-like server.
INITIAL_TTL = {name: 64 for name in NODES} | {"server": 128}

#: sysctls every namespace gets before its links exist (so ``default`` applies to the new veths).
#: DAD off: otherwise IPv6 addresses stay "tentative" for ~1 s and early SYNs are lost.
#: rp_filter off: reverse-path filtering must not judge the forged RST (its source is the server).
COMMON_SYSCTLS = {
    "net.ipv6.conf.all.accept_dad": "0",
    "net.ipv6.conf.default.accept_dad": "0",
    "net.ipv6.conf.all.accept_ra": "0",
    "net.ipv6.conf.default.accept_ra": "0",
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
}
ROUTER_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
#: Agent: 2 SYN retries with the classic doubling schedule (SYN at 0, 1, 3 s; connect() fails at
#: 7 s). Linux >= 6.x adds ``tcp_syn_linear_timeouts`` (default 4) *on top of* tcp_syn_retries, with
#: 1 s gaps first; setting it to 0 gives the schedule every kernel version produces.
AGENT_SYSCTLS = {"net.ipv4.tcp_syn_retries": "2"}
#: Applied only where the kernel has them (older kernels behave as if they were already set).
AGENT_OPTIONAL_SYSCTLS = {"net.ipv4.tcp_syn_linear_timeouts": "0"}
#: Server: Windows-like TTL 128 for IPv4 and IPv6; few SYN-ACK retries so a dropped SYN-ACK
#: scenario stops retransmitting before the next scenario starts.
SERVER_SYSCTLS = {
    "net.ipv4.ip_default_ttl": "128",
    "net.ipv6.conf.all.hop_limit": "128",
    "net.ipv6.conf.default.hop_limit": "128",
    "net.ipv4.tcp_synack_retries": "2",
}


@dataclass(frozen=True)
class Lab:
    """One instance of the topology; ``prefix`` keeps concurrent instances' namespace names apart."""

    prefix: str = "nr-"

    def ns(self, node: str) -> str:
        """Namespace name of a node."""
        return f"{self.prefix}{node}"


def ipv4(link: int, side: int) -> str:
    """Address of the left (side 1) or right (side 2) end of ``link``."""
    return f"10.66.{link}.{side}"


def ipv6(link: int, side: int) -> str:
    """IPv6 twin of :func:`ipv4`, in canonical (RFC 5952) form as tools print it: fd00:66::1 for link 0."""
    return ipaddress.IPv6Address(f"fd00:66:{link}::{side}").compressed


def address(node: str, version: int = 4) -> str:
    """The node's address that faces the agent (the server's only one; the agent's only one)."""
    k = NODES.index(node)
    link, side = (0, 1) if k == AGENT else (k - 1, 2)
    return ipv4(link, side) if version == 4 else ipv6(link, side)


def routers_between(sender: str, vantage: str) -> int:
    """Routers a packet from ``sender`` crosses before it reaches a capture on ``vantage``."""
    return max(abs(NODES.index(sender) - NODES.index(vantage)) - 1, 0)


def ttl_seen(sender: str, vantage: str) -> int:
    """TTL (hop limit) at which ``sender``'s own packets arrive at a capture on ``vantage``."""
    return INITIAL_TTL[sender] - routers_between(sender, vantage)


def interface(node: str, toward: str) -> str:
    """Name of ``node``'s interface that leads toward ``toward`` (a neighbour or any farther node)."""
    k, t = NODES.index(node), NODES.index(toward)
    return f"to-{NODES[k + 1] if t > k else NODES[k - 1]}"


def _run(argv: list[str], stdin: str | None = None) -> None:
    """Run one command; a failure raises with the command's own stderr (the lab must not half-build)."""
    done = subprocess.run(argv, input=stdin, text=True, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")


def sysctl(lab: Lab, node: str, settings: dict[str, str]) -> None:
    """Apply sysctls inside one namespace."""
    _run(["ip", "netns", "exec", lab.ns(node), "sysctl", "-q", "-w"] + [f"{k}={v}" for k, v in settings.items()])


def node_sysctls(node: str) -> dict[str, str]:
    """Every sysctl a node gets, by its role (optional ones only where this kernel has them)."""
    role = {"agent": AGENT_SYSCTLS, "server": SERVER_SYSCTLS}.get(node, ROUTER_SYSCTLS)
    optional = AGENT_OPTIONAL_SYSCTLS if node == "agent" else {}
    present = {k: v for k, v in optional.items() if os.path.exists("/proc/sys/" + k.replace(".", "/"))}
    return COMMON_SYSCTLS | role | present


def route_commands(k: int) -> list[str]:
    """``ip -batch`` lines giving node ``k`` a route to every link it is not attached to."""
    if k == AGENT:
        return [f"route add default via {ipv4(0, 2)}", f"route add ::/0 via {ipv6(0, 2)}"]
    if k == SERVER:
        return [f"route add default via {ipv4(k - 1, 1)}", f"route add ::/0 via {ipv6(k - 1, 1)}"]
    lines = []
    for link in range(len(NODES) - 1):
        if link in (k - 1, k):
            continue
        gw = (k - 1, 1) if link < k - 1 else (k, 2)
        lines.append(f"route add 10.66.{link}.0/24 via {ipv4(*gw)}")
        lines.append(f"route add fd00:66:{link}::/64 via {ipv6(*gw)}")
    return lines


def link_commands(k: int) -> list[str]:
    """``ip -batch`` lines bringing up node ``k``'s interfaces with their addresses."""
    lines = ["link set lo up"]
    for link, side in ((k - 1, 2), (k, 1)):
        if 0 <= link < len(NODES) - 1:
            ifname = interface(NODES[k], NODES[link + 1] if side == 1 else NODES[link])
            lines += [
                f"addr add {ipv4(link, side)}/24 dev {ifname}",
                f"addr add {ipv6(link, side)}/64 dev {ifname} nodad",
                f"link set {ifname} up",
            ]
    return lines


def build(lab: Lab, netdev_script: str) -> None:
    """Create the namespaces, sysctls, veth links, addresses and routes (IPv4 and IPv6)."""
    for node in NODES:
        _run(["ip", "netns", "add", lab.ns(node)])
        sysctl(lab, node, node_sysctls(node))
    for k in range(len(NODES) - 1):
        left, right = NODES[k], NODES[k + 1]
        _run(["ip", "-n", lab.ns(left), "link", "add", "name", f"to-{right}", "type", "veth",
              "peer", "name", f"to-{left}", "netns", lab.ns(right)])
    for k, node in enumerate(NODES):
        _run(["ip", "-n", lab.ns(node), "-batch", "-"], "\n".join(link_commands(k)) + "\n")
        ifaces = [interface(node, other) for other in (NODES[k - 1:k] + NODES[k + 1:k + 2])]
        _run(["ip", "netns", "exec", lab.ns(node), "python3", netdev_script, *ifaces])
    for k, node in enumerate(NODES):
        _run(["ip", "-n", lab.ns(node), "-batch", "-"], "\n".join(route_commands(k)) + "\n")


def existing(lab: Lab) -> list[str]:
    """This lab's namespaces that exist right now."""
    listed = subprocess.run(["ip", "netns", "list"], text=True, capture_output=True).stdout.split()
    return [lab.ns(node) for node in NODES if lab.ns(node) in listed]


def teardown(lab: Lab) -> None:
    """Stop what still runs inside this lab's namespaces (by pid) and delete the namespaces."""
    for ns in existing(lab):
        pids = subprocess.run(["ip", "netns", "pids", ns], text=True, capture_output=True).stdout.split()
        if pids:
            subprocess.run(["kill", *pids], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
