"""What the lab does, scenario by scenario, and what each capture point must therefore show.

A scenario = a server behaviour on one port, a firewall rule (installed once for all scenarios, see
FIREWALL_V4/V6), a client run, and — the ground truth — one :class:`View` per connection and capture
point, written from the lab's knowledge of who did what, never from reading a capture.
Every scenario owns distinct ports, so each capture's BPF filter (its port) isolates it from the
others even if a kernel retransmits late.
"""

from __future__ import annotations

from dataclasses import dataclass

from topology import address

MARKER = "FORBIDDEN"
SERVER4, SERVER6, AGENT4, AGENT6 = address("server"), address("server", 6), address("agent"), address("agent", 6)
#: The firewall's own address on its server side: the NAT scenario's rewritten source.
FW_NAT_SOURCE, FW_NAT_PORT = "10.66.4.1", 55010

#: iptables-restore input for the firewall (nft backend via iptables-nft, which is what works here).
FIREWALL_V4 = f"""*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -p tcp -m string --string {MARKER} --algo bm -j REJECT --reject-with tcp-reset
-A FORWARD -p tcp --dport 8082 --syn -j DROP
-A FORWARD -p tcp --dport 8084 --syn -j REJECT --reject-with tcp-reset
-A FORWARD -p tcp --sport 8088 --tcp-flags SYN,ACK SYN,ACK -j DROP
COMMIT
*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -p tcp -s {AGENT4} -d {SERVER4} --dport 8089 -j SNAT --to-source {FW_NAT_SOURCE}:{FW_NAT_PORT}
COMMIT
"""
FIREWALL_V6 = f"""*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -p tcp -m string --string {MARKER} --algo bm -j REJECT --reject-with tcp-reset
COMMIT
"""


@dataclass(frozen=True)
class Rst:
    """A RST: the node that really emits it, whose address it carries, its flags."""

    sender: str
    claimed: str
    flags: str
    count: int = 1


@dataclass(frozen=True)
class View:
    """One connection as one capture point sees it. Counts are exact unless given as (min, max)."""

    outcome: str
    orig_syns: int | tuple[int, int]
    resp_synacks: int | tuple[int, int]
    orig_payload: bool = False
    resp_payload: bool = False
    orig_fin: bool = False
    resp_fin: bool = False
    marker_seen: bool = False
    resets: tuple[Rst, ...] = ()


@dataclass(frozen=True)
class Conn:
    """One TCP connection of a scenario and its view per capture point (absent: never reaches it)."""

    orig_port: int
    views: dict[str, View]
    #: (address, port) of the agent as the server sees it, when the firewall NATs it.
    nat_source: tuple[str, int] | None = None


@dataclass(frozen=True)
class Scenario:
    """One capture scenario: server behaviour, client run, expected application result, truth."""

    name: str
    description: str
    agent_tool: str
    version: int
    port: int
    server_mode: str | None
    client: tuple[str, ...]
    client_result: object
    conns: tuple[Conn, ...]
    fw_capture: bool = False

    @property
    def server(self) -> str:
        return SERVER4 if self.version == 4 else SERVER6

    @property
    def agent(self) -> str:
        return AGENT4 if self.version == 4 else AGENT6


def _ep(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


FW_RESET = Rst("fw", "resp", "R")
AGENT_RESET_VIEW = View("reset_by_middlebox", 1, 1, True, True, marker_seen=True, resets=(FW_RESET,))
SERVER_OPEN_VIEW = View("open", 1, 1, True, True)
CLEAN = View("clean", 1, 1, True, True, True, True)


def _reset_scenario(name: str, version: int, port: int, cport: int, text: str, nat=None, fw=False) -> Scenario:
    """Scenario 1 and its variants: data, then the marker, which fw answers with a forged RST."""
    views = {"agent": AGENT_RESET_VIEW, "server": SERVER_OPEN_VIEW}
    if fw:
        views |= {"fw:to-r3": AGENT_RESET_VIEW, "fw:to-r5": SERVER_OPEN_VIEW}
    host = AGENT4 if version == 4 else AGENT6
    server = SERVER4 if version == 4 else SERVER6
    return Scenario(name, text, "dumpcap", version, port, "rr",
                    ("session", _ep(host, cport), _ep(server, port), "GET /hello", MARKER),
                    {"result": "ECONNRESET", "answers": 1}, (Conn(cport, views, nat),), fw_capture=fw)


def _connect_scenario(name: str, text: str, tool: str, port: int, cport: int, result: str, server_mode: str | None,
                      views: dict[str, View]) -> Scenario:
    """A scenario whose client only tries to connect (the handshake is the whole story)."""
    return Scenario(name, text, tool, 4, port, server_mode, ("connect", _ep(AGENT4, cport), _ep(SERVER4, port)),
                    {"result": result}, (Conn(cport, views),))


def _syn_blackhole() -> Scenario:
    return _connect_scenario(
        "syn-blackhole", "fw silently drops SYNs to port 8082 (the server listens there): the agent retransmits "
        "its SYN and gives up (like `telnet 8.8.8.8 888`).", "tcpdump", 8082, 40002, "ETIMEDOUT", "rr",
        {"agent": View("syn_unanswered", 3, 0)})


def _port_closed() -> Scenario:
    refused = View("refused", 1, 0, resets=(Rst("server", "resp", "RA"),))
    return _connect_scenario(
        "port-closed", "Nothing listens on port 8083 at the server: its kernel answers the SYN with a genuine "
        "RST/ACK.", "tcpdump-nano", 8083, 40003, "ECONNREFUSED", None, {"agent": refused, "server": refused})


def _firewall_rejects_syn() -> Scenario:
    return _connect_scenario(
        "firewall-rejects-syn", "fw answers SYNs to port 8084 with a forged RST/ACK although the server listens "
        "there.", "dumpcap", 8084, 40004, "ECONNREFUSED", "rr",
        {"agent": View("refused", 1, 0, resets=(Rst("fw", "resp", "RA"),))})


def _synack_dropped() -> Scenario:
    """The server answers every SYN (1 + up to 2 duplicate-SYN-triggered + 2 timer SYN-ACKs)."""
    return _connect_scenario(
        "synack-dropped", "fw drops the server's SYN-ACKs from port 8088: the server answers every SYN, none of "
        "its SYN-ACKs reaches the agent.", "tcpdump", 8088, 40009, "ETIMEDOUT", "rr",
        {"agent": View("syn_unanswered", 3, 0), "server": View("handshake_incomplete", 3, (3, 5))})


def _clean() -> Scenario:
    return Scenario(
        "clean", "Handshake, two request/response exchanges, 4-way FIN teardown started by the client.",
        "tcpdump", 4, 8080, "rr", ("session", _ep(AGENT4, 40005), _ep(SERVER4, 8080), "GET /hello", "GET /bye"),
        {"result": "ok", "answers": 2}, (Conn(40005, {"agent": CLEAN, "server": CLEAN}),))


def _server_abort() -> Scenario:
    aborted = View("reset_by_resp", 1, 1, True, True, resets=(Rst("server", "resp", "RA"),))
    return Scenario(
        "server-abort", "The server application sends half an answer, then closes with SO_LINGER {1,0}: a "
        "genuine RST from the server.", "dumpcap", 4, 8085, "abort",
        ("session", _ep(AGENT4, 40006), _ep(SERVER4, 8085), "GET /abort"), {"result": "ECONNRESET", "answers": 0},
        (Conn(40006, {"agent": aborted, "server": aborted}),))


def _multi() -> Scenario:
    """Scenario 8: four concurrent connections, the third one sends the marker."""
    ports = (40081, 40082, 40083, 40084)
    conns = tuple(Conn(p, {"agent": AGENT_RESET_VIEW, "server": SERVER_OPEN_VIEW} if p == 40083
                       else {"agent": CLEAN, "server": CLEAN}) for p in ports)
    return Scenario(
        "multi-connection",
        "Four concurrent connections exchange data; only the third (port 40083) sends the marker and is "
        "reset by fw; the other three finish with a clean 4-way teardown.",
        "tcpdump-nano", 4, 8086, "rr", ("multi", AGENT4, ",".join(map(str, ports)), _ep(SERVER4, 8086), "2"),
        {"result": ["ok", "ok", "ECONNRESET", "ok"]}, conns)


def scenarios() -> list[Scenario]:
    """Every scenario, in recording order."""
    return [
        _reset_scenario("firewall-reset", 4, 8081, 40001,
                        "Handshake and one request/response, then the client sends the marker; fw drops that "
                        "segment and forges a RST (TTL 64 at fw) claiming to come from the server.", fw=True),
        _syn_blackhole(),
        _port_closed(),
        _firewall_rejects_syn(),
        _clean(),
        _server_abort(),
        _reset_scenario("firewall-reset-ipv6", 6, 8087, 40007, "Scenario firewall-reset over IPv6 (ip6tables "
                        "REJECT with tcp-reset; hop limits instead of TTLs)."),
        _multi(),
        _synack_dropped(),
        _reset_scenario("firewall-reset-nat", 4, 8089, 40010, "Scenario firewall-reset through a source NAT: fw "
                        f"rewrites the agent to {FW_NAT_SOURCE}:{FW_NAT_PORT}, so the two ends see different "
                        "5-tuples.", nat=(FW_NAT_SOURCE, FW_NAT_PORT)),
    ]


def server_listeners() -> list[str]:
    """``traffic.py serve`` arguments for every scenario that has a listening server."""
    return [f"{s.server_mode}@{_ep(s.server, s.port)}" for s in scenarios() if s.server_mode]
