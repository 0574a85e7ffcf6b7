"""Write captures/truth.json: what the lab *knows* about each capture, derived from the scenario
definitions and the topology (positions, initial TTLs), never from reading a capture.

TTL rule used throughout: a packet leaves its sender with the sender's initial TTL and loses one per
router it crosses. A capture on a node's interface sees a packet either on its way in (the
interface faces the sender) or on its way out after the node itself forwarded it (one less), or as
the node's own packet (the initial value).
"""

from __future__ import annotations

from topology import (AGENT_OPTIONAL_SYSCTLS, AGENT_SYSCTLS, INITIAL_TTL, NODES, SERVER_SYSCTLS, address, interface,
                      routers_between)
from scenarios import (CONNTRACK_ESTABLISHED_TIMEOUT_S, DNS_CNAMES, DNS_HOSTS, DNS_SERVER, DNS_SERVER_NODE, DNS_TTL,
                       FIREWALL_V4, FIREWALL_V6, FW_LISTENERS, FW_SYSCTLS, INSPECTION_CA, MARKER, ROOT_CA,
                       TLS_LISTENERS, Conn, Rst, Scenario, View, scenarios)

SCHEMA_VERSION = 1
EXTENSIONS = {"tcpdump": ".pcap", "tcpdump-nano": ".pcap", "dumpcap": ".pcapng"}
#: Capture point -> (node, interfaces captured on).
CAPTURE_POINTS = {"agent": ("agent", ("to-r1",)), "server": ("server", ("to-r6",)), "fw": ("fw", ("to-r3", "to-r5"))}
CLAIMED_NODE = {"orig": "agent", "resp": "server"}


def ttl_at(sender: str, node: str, iface: str) -> int:
    """TTL of ``sender``'s packet in a capture on ``node``'s interface ``iface``."""
    if sender == node:
        return INITIAL_TTL[sender]
    arriving = INITIAL_TTL[sender] - routers_between(sender, node)
    return arriving if iface == interface(node, sender) else arriving - 1


def syn_gaps(retransmissions: int, linear_timeouts: int) -> list[float]:
    """Linux SYN retransmission gaps: initial RTO 1 s, the first ``tcp_syn_linear_timeouts`` + 1 gaps
    stay at 1 s (Linux >= 6.x; 0 on older kernels), then doubling: 1, 2, 4 … classic."""
    return [1.0 if i <= linear_timeouts + 1 else float(2 ** (i - linear_timeouts - 1))
            for i in range(1, retransmissions + 1)]


def count(value: int | tuple[int, int]) -> int | list[int]:
    """Exact counts stay ints; ranges become [min, max]."""
    return list(value) if isinstance(value, tuple) else value


def owner(addr: str) -> str:
    """The node that owns a lab address (any of its interfaces)."""
    for k, node in enumerate(NODES):
        for link, side in ((k - 1, 2), (k, 1)):
            if 0 <= link < len(NODES) - 1 and addr in (f"10.66.{link}.{side}", f"fd00:66:{link}::{side}"):
                return node
    raise ValueError(f"{addr} is no lab address")


def reset_entry(rst: Rst, node: str, iface: str, version: int, claimed: str | None = None) -> dict:
    """One RST as seen at a capture point, with who really sent it and the TTL that follows."""
    claimed = claimed or CLAIMED_NODE[rst.claimed]
    hops = routers_between(rst.sender, "agent")
    return {
        "claimed_sender": rst.claimed,
        "flags": rst.flags,
        "count": rst.count,
        "true_sender": "peer" if rst.sender == claimed else "middlebox",
        "device": rst.sender,
        "device_address_seen_by_traceroute": address(rst.sender, version),
        "device_routers_from_agent": hops,
        "device_traceroute_hop_from_agent": 0 if rst.sender == "agent" else hops + 1,
        "initial_ttl": INITIAL_TTL[rst.sender],
        "ttl": ttl_at(rst.sender, node, iface),
    }


def view_entry(s: Scenario, conn: Conn, view: View, node: str, iface: str, linear: int) -> dict:
    """One connection's facts at one capture point (interface)."""
    orig, orig_port = (conn.nat_source if conn.nat_source and node == "server" else (s.agent, conn.orig_port))
    resp, resp_port = conn.resp or s.server, conn.resp_port or s.port
    resp_sends = isinstance(view.resp_synacks, tuple) or view.resp_synacks > 0 or view.resp_payload
    claimed = {"orig": "agent", "resp": owner(resp)}
    entry = {
        "interface": iface, "ip_version": s.version, "orig": orig, "orig_port": orig_port,
        "resp": resp, "resp_port": resp_port, "outcome": view.outcome,
        "orig_syns": count(view.orig_syns), "resp_synacks": count(view.resp_synacks),
        "orig_payload": view.orig_payload, "resp_payload": view.resp_payload,
        "orig_fin": view.orig_fin, "resp_fin": view.resp_fin, "marker_seen": view.marker_seen,
        "ttl": {"orig": ttl_at("agent", node, iface),
                "resp": ttl_at(conn.answered_by, node, iface) if resp_sends else None},
        "resets": [reset_entry(r, node, iface, s.version, claimed[r.claimed]) for r in view.resets],
    }
    if conn.app is not None:  # issue 14: who really answered for the address, and the application facts
        entry |= {"resp_owner": claimed["resp"], "answered_by": conn.answered_by,
                  "answered_by_routers_from_agent": routers_between(conn.answered_by, "agent"), **conn.app}
    if isinstance(view.orig_syns, int) and view.orig_syns > 1:
        entry["orig_syn_gaps_s"] = syn_gaps(view.orig_syns - 1, linear)
    return entry


def capture_files(s: Scenario) -> list[tuple[str, str, str]]:
    """(capture point, path relative to captures/, tool) of every file a scenario records."""
    files = [("agent", s.name + EXTENSIONS[s.agent_tool], s.agent_tool)]
    files += [("server", f"peer/{s.name}-server.pcapng", "dumpcap")] if s.peer_capture else []
    return files + ([("fw", f"peer/{s.name}-fw.pcapng", "dumpcap")] if s.fw_capture else [])


def capture_entry(s: Scenario, point: str, path: str, tool: str, linear: int) -> dict:
    """Everything truth.json says about one capture file."""
    node, ifaces = CAPTURE_POINTS[point]
    conns = []
    for conn in s.conns:
        for iface in ifaces:
            view = conn.views.get(point if point != "fw" else f"fw:{iface}")
            if view is not None:
                conns.append(view_entry(s, conn, view, node, iface, linear))
    entry = {"file": path, "scenario": s.name, "vantage": point, "node": node, "interfaces": list(ifaces),
             "format": "pcapng" if tool == "dumpcap" else ("pcap-ns" if tool == "tcpdump-nano" else "pcap"),
             "tool": tool.split("-")[0], "description": s.description, "client_result": s.client_result,
             "connections": conns}
    if not s.peer_capture:  # issue 14's scenarios: DNS lookups and the causes an analysis must report
        entry |= {"dns": list(s.dns), "causes": [cause_entry(c) for c in s.causes]}
    return entry


def cause_entry(cause) -> dict:
    """One cause as truth.json states it: the code, the connections (by the agent's port), the device."""
    hops = routers_between(cause.device, "agent")
    return {"code": cause.code, "orig_ports": list(cause.orig_ports), "device": cause.device,
            "device_address_seen_by_traceroute": address(cause.device),
            "device_traceroute_hop_from_agent": hops + 1, "sentence": cause.sentence,
            "evidence": cause.evidence or {}}


def _difference(more: int | tuple[int, int], fewer: int | tuple[int, int]) -> int | list[int]:
    """How many packets one side saw beyond the other (fewer is always exact in this lab)."""
    if isinstance(more, tuple):
        return [more[0] - fewer, more[1] - fewer]
    return more - fewer


def one_sided(agent: View, server: View | None) -> tuple[list[dict], list[dict]]:
    """(only at the agent, only at the server): what fw injected or dropped between the two ends."""
    server = server or View("absent", 0, 0)
    only_a, only_b = [], []
    injected = [r for r in agent.resets if r.sender != "server" and r not in server.resets]
    only_a += [{"kind": "injected", "packet": "RST", "flags": r.flags, "count": r.count, "by": r.sender}
               for r in injected]
    if agent.marker_seen and not server.marker_seen:
        only_a.append({"kind": "dropped", "packet": f"{MARKER} segment", "count": 1, "by": "fw"})
    if agent.orig_syns != server.orig_syns:
        only_a.append({"kind": "dropped", "packet": "SYN", "count": _difference(agent.orig_syns, server.orig_syns),
                       "by": "fw"})
    if server.resp_synacks != agent.resp_synacks:
        only_b.append({"kind": "dropped", "packet": "SYN-ACK", "by": "fw",
                       "count": _difference(server.resp_synacks, agent.resp_synacks)})
    return only_a, only_b


def pair_entry(s: Scenario, linear: int) -> dict:
    """The agent/server capture pair of one scenario, joined as issue 5's ``compare`` must join it."""
    files = {point: path for point, path, _ in capture_files(s)}
    conversations = []
    for conn in s.conns:
        agent, server = conn.views["agent"], conn.views.get("server")
        only_a, only_b = one_sided(agent, server)
        a = view_entry(s, conn, agent, "agent", "to-r1", linear)
        b = view_entry(s, conn, server, "server", "to-r6", linear) if server else None
        conversations.append({"a": [a["orig"], a["orig_port"], a["resp"], a["resp_port"]],
                              "b": [b["orig"], b["orig_port"], b["resp"], b["resp_port"]] if b else None,
                              "only_in_a": only_a, "only_in_b": only_b})
    return {"scenario": s.name, "a": files["agent"], "b": files["server"], "clock_offset_s": 0.0,
            "routers_between_vantage_points": routers_between("agent", "server"), "conversations": conversations}


def lab_facts(kernel: dict) -> dict:
    """Topology, settings and firewall rules, so the truth file explains itself."""
    nodes = [{"name": n, "traceroute_hop_from_agent": k, "address_v4": address(n), "address_v6": address(n, 6),
              "initial_ttl": INITIAL_TTL[n]} for k, n in enumerate(NODES)]
    return {"nodes": nodes, "agent_sysctls": AGENT_SYSCTLS | AGENT_OPTIONAL_SYSCTLS, "server_sysctls": SERVER_SYSCTLS,
            "firewall_iptables_v4": FIREWALL_V4.splitlines(), "firewall_ip6tables": FIREWALL_V6.splitlines(),
            "marker": MARKER, "kernel": kernel,
            "fw_sysctls": FW_SYSCTLS, "conntrack_established_timeout_s": CONNTRACK_ESTABLISHED_TIMEOUT_S,
            "dns": {"server": DNS_SERVER, "node": DNS_SERVER_NODE, "software": "dnsmasq", "ttl": DNS_TTL,
                    "cnames": [list(c) for c in DNS_CNAMES], "hosts": [list(h) for h in DNS_HOSTS]},
            "tls": {"root_ca": ROOT_CA, "inspection_ca": INSPECTION_CA, "key": "ECDSA P-256",
                    "made_by": "openssl at build time (pki.py), never committed"},
            "services": {"server": list(TLS_LISTENERS), "fw": list(FW_LISTENERS)},
            "clock_offset_between_captures_s": 0.0,
            "clock_note": "all namespaces share one kernel clock, so every capture pair has offset 0 and no drift"}


def truth(kernel: dict) -> dict:
    """The whole truth.json document."""
    linear = kernel.get("tcp_syn_linear_timeouts", 0)
    captures = [capture_entry(s, point, path, tool, linear)
                for s in scenarios() for point, path, tool in capture_files(s)]
    pairs = [pair_entry(s, linear) for s in scenarios() if s.peer_capture]
    return {"schema_version": SCHEMA_VERSION, "lab": lab_facts(kernel), "captures": captures, "pairs": pairs}
