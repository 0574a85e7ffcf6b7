"""What the lab does, scenario by scenario, and what each capture point must therefore show.

A scenario = a server behaviour on one port, a firewall rule (installed once for all scenarios, see
FIREWALL_V4/V6), a client run, and — the ground truth — one :class:`View` per connection and capture
point, written from the lab's knowledge of who did what, never from reading a capture.
Every scenario owns distinct ports, so each capture's BPF filter (its port) isolates it from the
others even if a kernel retransmits late.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from topology import address
from traffic import STEP_PAUSE_S

MARKER = "FORBIDDEN"
SERVER4, SERVER6, AGENT4, AGENT6 = address("server"), address("server", 6), address("agent"), address("agent", 6)
#: The firewall's own address on its server side: the NAT scenario's rewritten source.
FW_NAT_SOURCE, FW_NAT_PORT = "10.66.4.1", 55010

#: Issue 14's middlebox behaviour on fw (see the scenarios below and captures/README.md).
SNI_BLOCKED = "wu2.frontend.clouddatahub.net"
SNI_ALLOWED = "x.servicebus.windows.net"
TRANSPARENT_PORT, INSPECTOR_PORT, PROXY_PORT = 3129, 9443, 3128
#: fw's address toward the agent: the explicit proxy's address, and where REDIRECT delivers.
FW4 = address("fw")
INSPECTED_CLIENT_PORT = 40141
IDLE_PORT = 8095
#: A second SNI filter that drops (no reset), and a port whose forgotten connections fw drops silently.
SNI_DROPPED = "eu.frontend.clouddatahub.net"
IDLE_SILENT_PORT = 8096
#: fw's conntrack: no pick-up of connections in mid-stream, and a short established timeout, so a
#: connection silent for longer loses its state and its next segment is INVALID (then reset).
CONNTRACK_ESTABLISHED_TIMEOUT_S = 20
FW_SYSCTLS = {"net.netfilter.nf_conntrack_tcp_loose": "0",
              "net.netfilter.nf_conntrack_tcp_timeout_established": str(CONNTRACK_ESTABLISHED_TIMEOUT_S)}

#: iptables-restore input for the firewall (nft backend via iptables-nft, which is what works here).
FIREWALL_V4 = f"""*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -p tcp -m string --string {MARKER} --algo bm -j REJECT --reject-with tcp-reset
-A FORWARD -p tcp --dport 8082 --syn -j DROP
-A FORWARD -p tcp --dport 8084 --syn -j REJECT --reject-with tcp-reset
-A FORWARD -p tcp --sport 8088 --tcp-flags SYN,ACK SYN,ACK -j DROP
-A FORWARD -p tcp --dport 443 -m string --string {SNI_BLOCKED} --algo bm -j REJECT --reject-with tcp-reset
-A FORWARD -p tcp --dport {IDLE_PORT} -m conntrack --ctstate INVALID -j REJECT --reject-with tcp-reset
-A FORWARD -p tcp --dport 443 -m string --string {SNI_DROPPED} --algo bm -j DROP
-A FORWARD -p tcp -m tcp --dport {IDLE_SILENT_PORT} -m conntrack --ctstate INVALID -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -d {SERVER4} --dport 80 -j REDIRECT --to-ports {TRANSPARENT_PORT}
-A PREROUTING -p tcp -s {AGENT4} --sport {INSPECTED_CLIENT_PORT} -d {SERVER4} --dport 443 -j REDIRECT --to-ports {INSPECTOR_PORT}
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
    #: Issue 14's connections: where the agent connects (default: the scenario's server and port), the
    #: node whose kernel really answers for that address (a proxy or an inspector may stand in for
    #: the server), and what the applications did (TLS, HTTP, proxy facts; see truth.py).
    resp: str | None = None
    resp_port: int | None = None
    answered_by: str = "server"
    app: dict | None = None


@dataclass(frozen=True)
class Cause:
    """What an analysis must conclude about a connection, and why (issue 14's ``causes``)."""

    code: str
    orig_ports: tuple[int, ...]
    device: str
    sentence: str
    evidence: dict | None = None


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
    #: Issue 14's scenarios: agent capture only (no peer/ file), a capture filter of their own (their
    #: client ports), the program the client runs, DNS lookups the capture holds, and the causes.
    peer_capture: bool = True
    bpf: str | None = None
    program: str = "traffic.py"
    dns: tuple[dict, ...] = ()
    causes: tuple[Cause, ...] = ()

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


# ------------------------------------------------------------------------------------ issue 14: why

#: The lab's DNS zone, served by dnsmasq on r1 (the agent's resolver, hop 1): two service names
#: behind CNAME chains ending at the server's lab addresses. ``.test`` is reserved (RFC 6761).
DNS_SERVER_NODE = "r1"
DNS_SERVER = address(DNS_SERVER_NODE)
DNS_TTL = 300
DNS_CNAMES = (("wu2.frontend.clouddatahub.net", "adf-wu2.trafficmanager.lab.test"),
              ("adf-wu2.trafficmanager.lab.test", "server.lab.test"),
              ("x.servicebus.windows.net", "server.lab.test"))
DNS_HOSTS = (("server.lab.test", SERVER4, SERVER6),)
#: Where the real server listens for issue 14's scenarios, and with what.
TLS_PORT, TLS12_PORT, HTTP_PORT, DNS_FOLLOW_PORT = 443, 8443, 80, 8090
TLS_LISTENERS = (f"tls@{SERVER4}:{TLS_PORT}", f"tls12@{SERVER4}:{TLS12_PORT}", f"http@{SERVER4}:{HTTP_PORT}")
FW_LISTENERS = (f"connect@{FW4}:{PROXY_PORT}", f"transparent@0.0.0.0:{TRANSPARENT_PORT}",
                f"inspect@0.0.0.0:{INSPECTOR_PORT}")
#: The idle client sleeps IDLE_S after its second connection's first answer; each connection is then
#: silent for IDLE_S + one step pause (its first exchange came a step earlier, its second one comes a step
#: later): 21.8 s, the least that safely exceeds fw's 20 s timeout (with the delayed ACK's 40 ms and
#: scheduling slack) while keeping the capture short.
IDLE_S = 21.5
IDLE_SILENCE_S = round(IDLE_S + STEP_PAUSE_S, 3)
KEEPALIVE_S = 5
#: The certificate facts truth.json states (pki.py makes them).
ROOT_CA, INSPECTION_CA, SERVER_CN = "netreset lab Root CA", "netreset lab Inspection CA", SNI_BLOCKED
BOTH_VERSIONS, ONLY_13 = ["TLSv1.3", "TLSv1.2"], ["TLSv1.3"]
CA = "{ca}"  # replaced by lab.py with the lab root's certificate file


def resolve(name: str, rtype: str) -> list[str]:
    """What the lab's DNS answers for ``name``: the CNAME chain, then the addresses (dig +short order)."""
    chain, cnames, hosts = [], dict(DNS_CNAMES), {h: (a, aaaa) for h, a, aaaa in DNS_HOSTS}
    while name in cnames:
        name = cnames[name]
        chain.append(name + ".")
    return chain + [hosts[name][0 if rtype == "A" else 1]]


def _dns_query(port: int, rtype: str, name: str, transport: str = "udp") -> dict:
    return {"client_port": port, "transport": transport, "server": DNS_SERVER, "server_port": 53,
            "qname": name, "qtype": rtype, "rcode": "NOERROR", "answers": resolve(name, rtype)}


def _tls(sni: str, offered: list[str], version: str | None, *, issuer: str | None = None,
         alert: dict | None = None, status: int | None = 200) -> dict:
    """TLS facts of one connection. The certificate is visible (and stated) only when TLS 1.2 was chosen."""
    tls = {"sni": sni, "offered_versions": offered, "version": version, "alert": alert}
    if version == "TLSv1.2":
        tls |= {"cert_subject_cn": SERVER_CN, "cert_issuer_cn": issuer or ROOT_CA}
    app = {"tls": tls}
    if status is not None:
        app["http"] = {"request": "GET /", "host": sni, "status": status}
    return app


def _fw_rst(flags: str) -> Rst:
    return Rst("fw", "resp", flags)


def _dns_lookup() -> Scenario:
    queries = (_dns_query(40101, "A", SNI_BLOCKED), _dns_query(40102, "AAAA", SNI_BLOCKED),
               _dns_query(40103, "A", SNI_ALLOWED), _dns_query(40104, "A", SNI_ALLOWED, "tcp"))
    dns_tcp = Conn(40104, {"agent": View("clean", 1, 1, True, True, True, True)}, resp=DNS_SERVER, resp_port=53,
                   answered_by=DNS_SERVER_NODE, app={"dns": {"qname": SNI_ALLOWED, "qtype": "A"}})
    follow = Conn(40105, {"agent": CLEAN}, resp_port=DNS_FOLLOW_PORT, app={"resolved_from": [SNI_BLOCKED, SNI_ALLOWED]})
    specs = [f"{q['client_port']}:{q['qtype']}:{q['qname']}" + (":tcp" if q["transport"] == "tcp" else "")
             for q in queries]
    return Scenario(
        "dns-lookup", f"The agent resolves {SNI_BLOCKED} (A, AAAA) and {SNI_ALLOWED} (A over UDP, then A over TCP) "
        f"with dig through dnsmasq on r1 ({DNS_SERVER}); both are CNAME chains ending at the server's lab "
        "addresses. Then one plain request/response to the resolved address.",
        "dumpcap", 4, DNS_FOLLOW_PORT, "rr",
        ("multi-run", json.dumps([["apps.py", "dns", DNS_SERVER, AGENT4, *specs],
                                  ["traffic.py", "session", _ep(AGENT4, 40105), _ep(SERVER4, DNS_FOLLOW_PORT),
                                   "GET /hello"]])),
        [{"result": "ok", "answers": [q["answers"] for q in queries]}, {"result": "ok", "answers": 1}],
        (dns_tcp, follow), peer_capture=False, program="apps.py",
        bpf="(udp or tcp) and (port 40101 or port 40102 or port 40103 or port 40104 or port 40105)",
        dns=queries, causes=())


def _tls_versions() -> Scenario:
    alert = {"from": "resp", "level": "fatal", "description": "protocol_version"}
    conns = (
        Conn(40111, {"agent": CLEAN}, resp_port=TLS_PORT, app=_tls(SNI_ALLOWED, BOTH_VERSIONS, "TLSv1.3")),
        Conn(40112, {"agent": CLEAN}, resp_port=TLS12_PORT, app=_tls(SNI_ALLOWED, BOTH_VERSIONS, "TLSv1.2")),
        Conn(40113, {"agent": View("clean", 1, 1, True, True, True, True)}, resp_port=TLS12_PORT,
             app=_tls(SNI_ALLOWED, ONLY_13, None, alert=alert, status=None)),
    )
    return Scenario(
        "tls-versions", f"Three TLS connections to the real server (certificate CN {SERVER_CN}, SANs for both "
        f"service names, issued by '{ROOT_CA}', which the agent trusts): port 443 negotiates TLS 1.3; port 8443 "
        "(a TLS 1.2-only server) negotiates TLS 1.2, so its Certificate is in clear; a client offering only "
        "TLS 1.3 to port 8443 gets a fatal protocol_version alert from the server.",
        "dumpcap", 4, TLS_PORT, None,
        ("multi-run",
         json.dumps([["apps.py", "tls", _ep(AGENT4, 40111), _ep(SERVER4, TLS_PORT), SNI_ALLOWED, CA],
                     ["apps.py", "tls", _ep(AGENT4, 40112), _ep(SERVER4, TLS12_PORT), SNI_ALLOWED, CA],
                     ["apps.py", "tls", _ep(AGENT4, 40113), _ep(SERVER4, TLS12_PORT), SNI_ALLOWED, CA, "tls1.3"]])),
        [{"result": "ok", "version": "TLSv1.3", "status": 200}, {"result": "ok", "version": "TLSv1.2", "status": 200},
         {"result": "TLSV1_ALERT_PROTOCOL_VERSION"}],
        conns, peer_capture=False, program="apps.py", bpf="tcp and (port 40111 or port 40112 or port 40113)",
        causes=(Cause("tls_alert", (40113,), "server", "the server (hop 7) ended the handshake with a fatal "
                      "protocol_version alert: the client offered only TLS 1.3, the server speaks at most TLS 1.2",
                      {"alert": "protocol_version", "alert_from": "resp", "level": "fatal"}),))


def _sni_filtered() -> Scenario:
    blocked = View("reset_by_middlebox", 1, 1, True, False, resets=(_fw_rst("R"),))
    conns = (Conn(40121, {"agent": blocked}, resp_port=TLS_PORT,
                  app={"tls": {"sni": SNI_BLOCKED, "offered_versions": BOTH_VERSIONS, "version": None, "alert": None}}),
             Conn(40122, {"agent": CLEAN}, resp_port=TLS_PORT, app=_tls(SNI_ALLOWED, BOTH_VERSIONS, "TLSv1.3")))
    return Scenario(
        "sni-filtered", f"fw resets TLS connections whose ClientHello names {SNI_BLOCKED} (iptables string match "
        "on the name, REJECT --reject-with tcp-reset): the ClientHello is dropped and a RST (TTL 64 at fw, 61 at "
        f"the agent) claims to come from the server. A second connection to the same address and port with SNI "
        f"{SNI_ALLOWED} passes and completes TLS 1.3 with the real server (TTL 122).",
        "dumpcap", 4, TLS_PORT, None,
        ("multi-run",
         json.dumps([["apps.py", "tls", _ep(AGENT4, 40121), _ep(SERVER4, TLS_PORT), SNI_BLOCKED, CA],
                     ["apps.py", "tls", _ep(AGENT4, 40122), _ep(SERVER4, TLS_PORT), SNI_ALLOWED, CA]])),
        [{"result": "ECONNRESET"}, {"result": "ok", "version": "TLSv1.3", "status": 200}],
        conns, peer_capture=False, program="apps.py", bpf="tcp and (port 40121 or port 40122)",
        causes=(Cause("sni_filtered", (40121,), "fw", f"the device at hop 4 resets connections to {SNI_BLOCKED} "
                      "right after the ClientHello — check its URL/SNI filtering for that name; "
                      f"{SNI_ALLOWED} to the same address and port passes",
                      {"name": SNI_BLOCKED, "hop": 4, "rst_ttl": 61, "server_ttl": 122,
                       "other_names_pass": [SNI_ALLOWED]}),))


def _proxy_connect() -> Scenario:
    proxy_view = View("clean", 1, 1, True, True, True, True)
    auth = {"kind": "explicit", "target": f"{SNI_ALLOWED}:443", "status": 407,
            "proxy_authenticate": ["Negotiate", "NTLM", "Basic"]}
    denied = {"kind": "explicit", "target": f"{SNI_BLOCKED}:443", "status": 403, "proxy_authenticate": []}
    tunnel = {"kind": "explicit", "target": f"{SNI_ALLOWED}:443", "status": 200, "proxy_authenticate": []}
    conns = (Conn(40131, {"agent": proxy_view}, resp=FW4, resp_port=PROXY_PORT, answered_by="fw", app={"proxy": auth}),
             Conn(40132, {"agent": proxy_view}, resp=FW4, resp_port=PROXY_PORT, answered_by="fw",
                  app={"proxy": denied, "proxy_authorization": "Basic"}),
             Conn(40133, {"agent": proxy_view}, resp=FW4, resp_port=PROXY_PORT, answered_by="fw",
                  app={"proxy": tunnel, "proxy_authorization": "Basic", **_tls(SNI_ALLOWED, BOTH_VERSIONS, "TLSv1.3")}))
    proxy = _ep(FW4, PROXY_PORT)
    creds = "ir-service:lab-only"
    return Scenario(
        "proxy-connect", f"An explicit HTTP proxy on fw ({proxy}): CONNECT {SNI_ALLOWED}:443 without credentials "
        "gets 407 Proxy Authentication Required (Proxy-Authenticate: Negotiate, NTLM, Basic); with Basic "
        f"credentials, CONNECT {SNI_BLOCKED}:443 gets 403 Forbidden (the proxy's URL policy) and CONNECT "
        f"{SNI_ALLOWED}:443 gets 200, then TLS 1.3 with the real server through the tunnel. The proxy closes "
        "after 403/407 (Connection: close).",
        "dumpcap", 4, PROXY_PORT, None,
        ("multi-run",
         json.dumps([["apps.py", "proxy", _ep(AGENT4, 40131), proxy, f"{SNI_ALLOWED}:443", CA],
                     ["apps.py", "proxy", _ep(AGENT4, 40132), proxy, f"{SNI_BLOCKED}:443", CA, creds],
                     ["apps.py", "proxy", _ep(AGENT4, 40133), proxy, f"{SNI_ALLOWED}:443", CA, creds]])),
        [{"result": "ok", "proxy_status": 407}, {"result": "ok", "proxy_status": 403},
         {"result": "ok", "version": "TLSv1.3", "status": 200, "proxy_status": 200}],
        conns, peer_capture=False, program="apps.py", bpf="tcp and (port 40131 or port 40132 or port 40133)",
        causes=(Cause("proxy_auth_required", (40131,), "fw", f"the proxy at {FW4}:{PROXY_PORT} answered CONNECT "
                      f"{SNI_ALLOWED}:443 with 407 Proxy Authentication Required (Negotiate, NTLM, Basic): the "
                      "Integration Runtime service account must be allowed to authenticate to the proxy",
                      {"status": 407, "target": f"{SNI_ALLOWED}:443", "schemes": ["Negotiate", "NTLM", "Basic"]}),
                Cause("proxy_denied", (40132,), "fw", f"the proxy at {FW4}:{PROXY_PORT} refused CONNECT "
                      f"{SNI_BLOCKED}:443 with 403 Forbidden: put the name on the proxy's allow list",
                      {"status": 403, "target": f"{SNI_BLOCKED}:443"})))


def _tls_inspection() -> Scenario:
    alert = {"from": "orig", "level": "fatal", "description": "unknown_ca"}
    inspected = Conn(INSPECTED_CLIENT_PORT, {"agent": View("reset_by_orig", 1, 1, True, True, resp_fin=True,
                                                            resets=(Rst("agent", "orig", "RA"),))},
                     resp_port=TLS_PORT, answered_by="fw",
                     app=_tls(SNI_ALLOWED, BOTH_VERSIONS, "TLSv1.2", issuer=INSPECTION_CA, alert=alert, status=None))
    direct = Conn(40142, {"agent": CLEAN}, resp_port=TLS12_PORT, app=_tls(SNI_ALLOWED, BOTH_VERSIONS, "TLSv1.2"))
    return Scenario(
        "tls-inspection", f"A TLS-inspecting terminator on fw takes the agent's connection to {SERVER4}:443 (nat "
        f"REDIRECT to a local TLS server on port {INSPECTOR_PORT}) and answers the handshake itself: SYN-ACK and "
        f"TLS 1.2 handshake from fw (TTL 61 at the agent), certificate CN {SERVER_CN} issued by '{INSPECTION_CA}', "
        "which the agent does not trust: the agent sends a fatal unknown_ca alert and closes with the rest of "
        "the server's flight unread (so its kernel sends RST/ACK). A second connection to the same server on "
        f"port 8443 is answered by the server itself (TTL 122), certificate issued by '{ROOT_CA}'.",
        "dumpcap", 4, TLS_PORT, None,
        ("multi-run",
         json.dumps([["apps.py", "tls", _ep(AGENT4, INSPECTED_CLIENT_PORT), _ep(SERVER4, TLS_PORT), SNI_ALLOWED, CA],
                     ["apps.py", "tls", _ep(AGENT4, 40142), _ep(SERVER4, TLS12_PORT), SNI_ALLOWED, CA]])),
        [{"result": "CERTIFICATE_VERIFY_FAILED"}, {"result": "ok", "version": "TLSv1.2", "status": 200}],
        (inspected, direct), peer_capture=False, program="apps.py",
        bpf=f"tcp and (port {INSPECTED_CLIENT_PORT} or port 40142)",
        causes=(Cause("tls_interception", (INSPECTED_CLIENT_PORT,), "fw", f"the certificate presented for "
                      f"{SNI_ALLOWED} is issued by '{INSPECTION_CA}', not the service's CA, and the handshake was "
                      "answered by the device at hop 4 (SYN-ACK TTL 61; the server answers with 122): a TLS-"
                      "inspecting device replaces the server certificate; the client rejected it (alert "
                      "unknown_ca). Trust the proxy's root on the agent, or exempt the name from inspection",
                      {"issuer_cn": INSPECTION_CA, "expected_issuer_cn": ROOT_CA, "alert": "unknown_ca",
                       "alert_from": "orig", "handshake_ttl": 61, "server_ttl": 122, "hop": 4}),))


def _idle_timeout() -> Scenario:
    idle = View("reset_by_middlebox", 1, 1, True, True, resets=(_fw_rst("R"),))
    conns = (Conn(40151, {"agent": idle}, resp_port=IDLE_PORT, app={"idle_before_reset_s": IDLE_SILENCE_S, "keepalive": False}),
             Conn(40152, {"agent": CLEAN}, resp_port=IDLE_PORT,
                  app={"idle_s": IDLE_SILENCE_S, "keepalive": True, "keepalive_interval_s": KEEPALIVE_S}))
    return Scenario(
        "idle-timeout", f"fw's conntrack forgets an established connection after {CONNTRACK_ESTABLISHED_TIMEOUT_S} s "
        "of silence (nf_conntrack_tcp_timeout_established) and does not pick up connections in mid-stream "
        "(nf_conntrack_tcp_loose=0), so the next segment is INVALID and fw answers it with a RST (REJECT "
        f"--reject-with tcp-reset) claiming to come from the server. Two connections to port {IDLE_PORT} each "
        f"make one request, stay silent for {IDLE_SILENCE_S} s, and make a second one: 40151 (no keepalives) is reset; "
        f"40152 sends TCP keepalives every {KEEPALIVE_S} s, which keep its state alive, and gets its answer.",
        "dumpcap", 4, IDLE_PORT, "rr",
        ("idle", _ep(AGENT4, 40151), _ep(AGENT4, 40152), _ep(SERVER4, IDLE_PORT), str(IDLE_S),
         str(KEEPALIVE_S)),
        {"result": ["ECONNRESET", "ok"]},
        conns, peer_capture=False, program="apps.py", bpf="tcp and (port 40151 or port 40152)",
        causes=(Cause("idle_timeout", (40151,), "fw", f"the device at hop 4 reset the connection on the first "
                      f"segment after {IDLE_SILENCE_S} s of silence (no keepalives): its state timeout is shorter than "
                      "the idle time; the connection with keepalives survived the same silence",
                      {"idle_s": IDLE_SILENCE_S, "configured_timeout_s": CONNTRACK_ESTABLISHED_TIMEOUT_S, "hop": 4,
                       "rst_ttl": 61, "keepalive_port": 40152}),))


def _transparent_proxy() -> Scenario:
    proxied = View("reset_by_middlebox", 1, 1, True, False, resets=(_fw_rst("RA"),))
    conns = (Conn(40161, {"agent": proxied}, resp_port=HTTP_PORT, answered_by="fw",
                  app={"http": {"request": "GET /", "host": SNI_ALLOWED, "status": None},
                       "proxy": {"kind": "transparent", "target": f"{SERVER4}:80", "status": None}}),
             Conn(40162, {"agent": CLEAN}, resp_port=TLS_PORT, app=_tls(SNI_ALLOWED, BOTH_VERSIONS, "TLSv1.3")))
    return Scenario(
        "transparent-proxy", f"fw redirects port 80 of {SERVER4} to a local transparent proxy (nat REDIRECT to "
        f"port {TRANSPARENT_PORT}) that completes the handshake itself (SYN-ACK TTL 61 at the agent), reads the "
        "HTTP request, and resets the client (SO_LINGER {1,0}: RST/ACK, TTL 61) — consistent with its own "
        "handshake, so only the comparison with port 443 of the same server (answered by the server itself, "
        "TTL 122) shows that a middlebox terminated the connection.",
        "dumpcap", 4, HTTP_PORT, None,
        ("multi-run",
         json.dumps([["apps.py", "http", _ep(AGENT4, 40161), _ep(SERVER4, HTTP_PORT), SNI_ALLOWED],
                     ["apps.py", "tls", _ep(AGENT4, 40162), _ep(SERVER4, TLS_PORT), SNI_ALLOWED, CA]])),
        [{"result": "ECONNRESET"}, {"result": "ok", "version": "TLSv1.3", "status": 200}],
        conns, peer_capture=False, program="apps.py", bpf="tcp and (port 40161 or port 40162)",
        causes=(Cause("transparent_proxy", (40161,), "fw", f"the connection to {SERVER4}:80 was terminated by the "
                      "device at hop 4, not the server: its SYN-ACK and RST arrive with TTL 61 while the same "
                      "address answers port 443 with TTL 122; the reset 'consistent with the peer' is the proxy's",
                      {"port_ttls": {"80": 61, "443": 122}, "hop": 4}),))


#: The dropped-ClientHello client gives up after this long without an answer (and resets).
SNI_GIVEUP_S = 3
#: The silent idle scenario: the plain client's wait for an answer after the silence; the waiting client's
#: keepalives start after KEEPIDLE s (more than fw's 20 s timeout: too late), KEEPCNT probes KEEPINTVL s apart.
SILENT_GIVEUP_S = 3
SILENT_KEEPIDLE_S, SILENT_KEEPINTVL_S, SILENT_KEEPCNT = 22, 1, 3


def _sni_dropped() -> Scenario:
    # The abort's RST/ACK carries the sequence number after the unsent hello, out of the server's window (it never
    # got the hello): the server answers with a challenge ACK (RFC 5961 §3.2) and the agent's kernel, the socket
    # gone, resets again with a plain RST at the acknowledged number.
    dropped = View("reset_by_orig", 1, 1, True, False, resets=(Rst("agent", "orig", "RA"), Rst("agent", "orig", "R")))
    conns = (Conn(40171, {"agent": dropped}, resp_port=TLS_PORT,
                  app={"tls": {"sni": SNI_DROPPED, "offered_versions": BOTH_VERSIONS, "version": None, "alert": None},
                       "client_hello_dropped": True}),
             Conn(40172, {"agent": CLEAN}, resp_port=TLS_PORT, app=_tls(SNI_ALLOWED, BOTH_VERSIONS, "TLSv1.3")))
    return Scenario(
        "sni-dropped", f"fw drops TLS segments whose ClientHello names {SNI_DROPPED} (iptables string match on the "
        "name, -j DROP: no reset): the TCP handshake completes, the ClientHello and each of its retransmissions "
        f"are dropped, and after {SNI_GIVEUP_S} s without an answer the client aborts (RST/ACK from the agent; the server's "
        "challenge ACK to it gets a second, plain RST). A "
        f"second connection to the same address and port with SNI {SNI_ALLOWED} passes (TLS 1.3 with the server).",
        "dumpcap", 4, TLS_PORT, None,
        ("multi-run",
         json.dumps([["apps.py", "tls-giveup", _ep(AGENT4, 40171), _ep(SERVER4, TLS_PORT), SNI_DROPPED, CA,
                      str(SNI_GIVEUP_S)],
                     ["apps.py", "tls", _ep(AGENT4, 40172), _ep(SERVER4, TLS_PORT), SNI_ALLOWED, CA]])),
        [{"result": "timeout"}, {"result": "ok", "version": "TLSv1.3", "status": 200}],
        conns, peer_capture=False, program="apps.py", bpf="tcp and (port 40171 or port 40172)",
        causes=(Cause("sni_filtered", (40171,), "fw", f"a device on the path drops connections to {SNI_DROPPED} "
                      "after the ClientHello: the handshake completed but the ClientHello was retransmitted and "
                      f"never acknowledged — check its URL/SNI filtering for that name; {SNI_ALLOWED} to the same "
                      "address and port passes",
                      {"name": SNI_DROPPED, "dropped": True, "other_names_pass": [SNI_ALLOWED]}),))


def _idle_silent() -> Scenario:
    plain = View("reset_by_orig", 1, 1, True, True, resets=(Rst("agent", "orig", "RA"),))
    waiting = View("reset_by_orig", 1, 1, True, True, resets=(Rst("agent", "orig", "RA"),))
    conns = (Conn(40181, {"agent": plain}, resp_port=IDLE_SILENT_PORT,
                  app={"idle_before_reset_s": IDLE_SILENCE_S, "keepalive": False, "silent": True}),
             Conn(40182, {"agent": waiting}, resp_port=IDLE_SILENT_PORT,
                  app={"keepalive": True, "keepalive_idle_s": SILENT_KEEPIDLE_S, "keepalive_interval_s": SILENT_KEEPINTVL_S,
                       "keepalive_probes": SILENT_KEEPCNT, "silent": True}))
    return Scenario(
        "idle-silent", f"fw's conntrack forgets an established connection after {CONNTRACK_ESTABLISHED_TIMEOUT_S} s of "
        f"silence (loose=0) and drops the INVALID segments that follow on port {IDLE_SILENT_PORT} (no reset). "
        f"40181 makes a request, stays silent for {IDLE_SILENCE_S} s, and its second request is retransmitted into "
        f"nothing until the client gives up after {SILENT_GIVEUP_S} s (RST/ACK from the agent). 40182 makes a "
        f"request and waits with TCP keepalives after {SILENT_KEEPIDLE_S} s (too late for the 20 s timeout): its "
        f"{SILENT_KEEPCNT} probes go unanswered and its kernel resets the connection (ETIMEDOUT).",
        "dumpcap", 4, IDLE_SILENT_PORT, "rr",
        ("idle-silent", _ep(AGENT4, 40181), _ep(AGENT4, 40182), _ep(SERVER4, IDLE_SILENT_PORT), str(IDLE_S),
         str(SILENT_GIVEUP_S), str(SILENT_KEEPIDLE_S), str(SILENT_KEEPINTVL_S), str(SILENT_KEEPCNT)),
        {"result": ["timeout", "ETIMEDOUT"]},
        conns, peer_capture=False, program="apps.py", bpf="tcp and (port 40181 or port 40182)",
        causes=(Cause("idle_timeout", (40181, 40182), "fw", f"after {IDLE_SILENCE_S} s of silence the next packet "
                      "was retransmitted with no answer until the client gave up: a device on the path dropped the "
                      "connection's state silently; the keepalives of 40182 came too late",
                      {"silent": True, "idle_s": IDLE_SILENCE_S, "configured_timeout_s": CONNTRACK_ESTABLISHED_TIMEOUT_S,
                       "keepalive_idle_s": SILENT_KEEPIDLE_S}),))


def issue14_scenarios() -> list[Scenario]:
    """Issue 14's scenarios (names, proxies, TLS, idle state), recorded after the others."""
    return [_dns_lookup(), _tls_versions(), _sni_filtered(), _proxy_connect(), _tls_inspection(), _idle_timeout(),
            _transparent_proxy(), _sni_dropped(), _idle_silent()]


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
    ] + issue14_scenarios()


def server_listeners() -> list[str]:
    """``traffic.py serve`` arguments for every scenario that has a listening server."""
    return [f"{s.server_mode}@{_ep(s.server, s.port)}" for s in scenarios() if s.server_mode]


def dnsmasq_argv() -> list[str]:
    """dnsmasq serving only the lab's zone (no upstream, no hosts file, no DHCP), in the foreground."""
    argv = ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--pid-file",
            f"--listen-address={DNS_SERVER}", "--bind-interfaces", "--user=root", "--group=root",
            f"--local-ttl={DNS_TTL}", "--log-facility=-"]
    argv += [f"--cname={alias},{target},{DNS_TTL}" for alias, target in DNS_CNAMES]
    return argv + [f"--host-record={name},{a},{aaaa}" for name, a, aaaa in DNS_HOSTS]
