"""A device answering for the server (netreset.analyses.interception, rules/terminated.py): every premise on
crafted packets, with the negatives (one hop apart, another stack at the same hop, a route change on one
port), the host reference kept at the address's own hop, the service roots file and its override, and the
streamed pipeline equal to the whole one."""

from __future__ import annotations

import pytest
from scapy.all import IP, TCP, Ether, Raw, wrpcap

from netreset.analyses.interception import common_name, load_service_roots, service_for
from netreset.errors import UsageError
from netreset.pipeline.streamed import analyse_streamed
from netreset.pipeline.whole import Analysis, Options

from tests.analyses.test_application import C, S, alert, certificate_record, client_hello, make_cert, server_hello

GET = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"


def connection(sport: int, dport: int, ttl: int, t: float, *, client=(GET,), server=(b"HTTP/1.1 200 OK\r\n\r\n",),
               rst_ttl: int | None = None, client_rst: bool = False, options=(("MSS", 1460),)) -> list:
    """A connection whose server side arrives with ``ttl``; ends with the server's RST/ACK (``rst_ttl``), the
    client's RST (``client_rst``) or a FIN each way."""
    pk = [Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=sport, dport=dport, flags="S", seq=999, options=[("MSS", 1460)]),
          Ether() / IP(src=S, dst=C, ttl=ttl) / TCP(sport=dport, dport=sport, flags="SA", seq=4999, ack=1000,
                                                  options=list(options)),
          Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=sport, dport=dport, flags="A", seq=1000, ack=5000)]
    cseq, sseq = 1000, 5000
    for data in client:
        pk.append(Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=sport, dport=dport, flags="PA", seq=cseq, ack=sseq) / Raw(data))
        cseq += len(data)
    for data in server:
        pk.append(Ether() / IP(src=S, dst=C, ttl=ttl) / TCP(sport=dport, dport=sport, flags="PA", seq=sseq, ack=cseq) / Raw(data))
        sseq += len(data)
    if rst_ttl is not None:
        pk.append(Ether() / IP(src=S, dst=C, ttl=rst_ttl) / TCP(sport=dport, dport=sport, flags="RA", seq=sseq, ack=cseq))
    elif client_rst:
        pk.append(Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=sport, dport=dport, flags="RA", seq=cseq, ack=sseq))
    else:
        pk += [Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=sport, dport=dport, flags="FA", seq=cseq, ack=sseq),
               Ether() / IP(src=S, dst=C, ttl=ttl) / TCP(sport=dport, dport=sport, flags="FA", seq=sseq, ack=cseq + 1),
               Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=sport, dport=dport, flags="A", seq=cseq + 1, ack=sseq + 1)]
    for i, p in enumerate(pk):
        p.time = t + i * 0.01
    return pk


def refused(sport: int, dport: int, rst_ttl: int, t: float) -> list:
    pk = [Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=sport, dport=dport, flags="S", seq=77),
          Ether() / IP(src=S, dst=C, ttl=rst_ttl) / TCP(sport=dport, dport=sport, flags="RA", seq=0, ack=78)]
    for i, p in enumerate(pk):
        p.time = t + i * 0.001
    return pk


def analyse(tmp_path, packets, **options) -> Analysis:
    path = tmp_path / "c.pcap"
    wrpcap(str(path), packets)
    return Analysis.of_files([path], Options(**options))


def causes(analysis) -> dict[int, list[str]]:
    return {c.orig_p: [x["code"] for x in analysis.causes[c.id][1]] for c in analysis.conversations}


def proxied(tmp_path, ttl=61, rst_ttl=61, other_ttl=122, other_port=443):
    """Port 80 answered (and reset) with ``ttl``; then the same address on ``other_port`` with ``other_ttl``."""
    return analyse(tmp_path, connection(40161, 80, ttl, 1.0, server=(), rst_ttl=rst_ttl)
                   + connection(40162, other_port, other_ttl, 2.0))


def test_a_device_terminating_port_80_is_a_transparent_proxy_and_its_reset_a_middlebox(tmp_path):
    analysis = proxied(tmp_path)
    (reset,) = analysis.resets
    assert (reset.verdict, reset.reason, reset.traceroute_hop) == ("middlebox", "terminated_by_device", 4)
    assert reset.claimed_sender_routers_between == 6  # the server's own hop, not the device's
    assert "transparent proxy" in reset.advice and "hop 4" in reset.advice
    assert [c["code"] for c in reset.causes] == ["transparent_proxy"]
    assert causes(analysis) == {40161: ["transparent_proxy"], 40162: []}
    (found,) = analysis.causes[analysis.conversations[0].id][1]
    assert found["evidence"] == {"address": S, "port": 80, "ttl": 61, "traceroute_hop": 4, "server_ttl": 122,
                                 "server_traceroute_hop": 7, "server_ports": [443], "synack_options_differ": False,
                                 "reset_by_device": True}
    assert found["frames"] == [2, reset.frame]
    assert {c.orig_p: c.outcome for c in analysis.conversations}[40161] == "reset_by_middlebox"


def test_the_same_connection_alone_stays_the_peer(tmp_path):
    analysis = analyse(tmp_path, connection(40161, 80, 61, 1.0, server=(), rst_ttl=61))
    (reset,) = analysis.resets
    assert reset.verdict == "peer" and not any(o.code == "terminated_by_device" for o in reset.evidence)
    assert causes(analysis) == {40161: []}


@pytest.mark.parametrize("ttl, other_ttl, other_port, why", [
    (121, 122, 443, "one hop apart: a route change"),
    (58, 122, 443, "as many routers away, another stack: a load balancer's backends"),
    (61, 58, 80, "the same port and TTL family further away later: a route change is not told apart"),
    (30, 36, 443, "TTL 30 may be 34 routers from a 64 as well as 2 from a 32: not surely nearer than 36 (28 from 64)"),
    (172, 143, 443, "no default explains 143 within max_routers: no own hop to compare with"),
])
def test_no_device_is_claimed_without_both_facts(tmp_path, ttl, other_ttl, other_port, why):
    analysis = proxied(tmp_path, ttl=ttl, rst_ttl=ttl, other_ttl=other_ttl, other_port=other_port)
    (reset,) = analysis.resets
    assert reset.reason != "terminated_by_device", why
    assert "transparent_proxy" not in causes(analysis)[40161], why


def test_the_same_ttl_family_on_another_port_is_enough(tmp_path):
    analysis = proxied(tmp_path, ttl=61, rst_ttl=61, other_ttl=58, other_port=443)  # both initial 64: 3 vs 6 routers
    (reset,) = analysis.resets
    assert reset.reason == "terminated_by_device"


def test_other_synack_options_on_the_same_port_alone_are_not_enough(tmp_path):
    """Three hops nearer on the same port, same TTL family, other options: a VIP whose backends differ (and
    sit on other paths) looks the same as a proxy there, so the reset is not called the device's until the
    address is seen answering some other port from its own hop."""
    device = connection(40161, 80, 61, 1.0, server=(), rst_ttl=61, options=(("MSS", 1380), ("WScale", 7)))
    analysis = analyse(tmp_path, device + connection(40162, 80, 58, 2.0))
    (reset,) = analysis.resets
    assert reset.reason != "terminated_by_device" and reset.verdict != "middlebox"


def test_an_address_whose_ttls_form_three_clusters_has_no_own_hop(tmp_path):
    """Another TTL in every connection (several machines behind one address): the farthest is no reference."""
    packets = (connection(40161, 80, 61, 1.0, server=(), rst_ttl=61) + connection(40162, 443, 122, 2.0)
               + connection(40163, 8443, 100, 3.0))
    analysis = analyse(tmp_path, packets)
    assert all(r.reason != "terminated_by_device" for r in analysis.resets)
    proxied_only = analyse(tmp_path, connection(40161, 80, 61, 1.0, server=(), rst_ttl=61)
                           + connection(40162, 443, 122, 2.0))
    assert [r.reason for r in proxied_only.resets] == ["terminated_by_device"]


def test_a_reset_at_the_servers_own_hop_is_not_the_devices(tmp_path):
    analysis = proxied(tmp_path, ttl=61, rst_ttl=122)
    (reset,) = analysis.resets
    assert reset.reason != "terminated_by_device"


def test_a_device_answering_one_port_is_no_reference_for_another(tmp_path):
    """The forger's SYN-ACKs and data for port 443 (TTL 61) must not make a refusal on port 8084 (RST TTL 61,
    the server silent there) look like the server's own: the reference is the address's own hop, 122."""
    packets = (connection(40141, 443, 61, 1.0) + connection(40142, 8443, 122, 2.0)
               + refused(40004, 8084, 61, 3.0))
    analysis = analyse(tmp_path, packets)
    (reset,) = [r for r in analysis.resets if r.sport == 8084]
    assert (reset.verdict, reset.reason) == ("middlebox", "ttl_mismatch")
    assert reset.claimed_sender_routers_between == 6


def test_streamed_equals_whole_on_a_transparent_proxy(tmp_path):
    path = tmp_path / "s.pcap"
    packets = (connection(40141, 443, 61, 1.0) + connection(40161, 80, 61, 5.0, server=(), rst_ttl=61)
               + connection(40142, 8443, 122, 60.0) + refused(40004, 8084, 61, 120.0))
    wrpcap(str(path), packets)
    whole = Analysis.of_files([path])
    streamed = analyse_streamed(path, Options(), chunk_rows=4, batch_rows=4)
    assert [r["reason"] for r in whole.reset_rows()] == ["terminated_by_device", "ttl_mismatch"]
    assert [dict(r) for r in streamed.reset_rows()] == whole.reset_rows()


# ── tls_interception ──────────────────────────────────────────────────────────────────────────────────────

def tls12(sport: int, ttl: int, t: float, sni: str, issuer: str, *, client_alert: int | None = 48, dport=443):
    """A TLS 1.2 handshake: the client's hello, the server's hello and certificate (``issuer``), then the
    client's fatal alert (48 unknown_ca) and its RST, or a clean close."""
    server = (server_hello() + certificate_record(make_cert(sni, issuer)),)
    client = (client_hello(sni),)
    pk = connection(sport, dport, ttl, t, client=client, server=server, client_rst=client_alert is not None)
    if client_alert is not None:
        last = pk[-1]
        seq = last[TCP].seq
        pk.insert(-1, Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=sport, dport=dport, flags="PA", seq=seq,
                                                            ack=last[TCP].ack) / Raw(alert(client_alert)))
        last[TCP].seq = seq + len(alert(client_alert))
        for i, p in enumerate(pk):
            p.time = t + i * 0.01
    return pk


def test_an_issuer_the_service_does_not_use_is_tls_interception(tmp_path):
    analysis = analyse(tmp_path, tls12(40141, 122, 1.0, "login.microsoftonline.com", "Inspecting Firewall CA"))
    assert causes(analysis) == {40141: ["tls_interception"]}  # the unknown_ca alert is part of it, not a tls_alert
    (found,) = analysis.causes[analysis.conversations[0].id][1]
    assert found["evidence"]["issuer"] == "Inspecting Firewall CA"
    assert "Microsoft Azure RSA TLS Issuing CA *" in found["evidence"]["expected_issuers"]
    assert (found["evidence"]["alert"], found["evidence"]["alert_from"]) == ("unknown_ca", "orig")
    assert found["evidence"]["traceroute_hop"] is None  # no device premise: nothing else from this address
    assert "Trust the proxy's root CA" in found["sentence"] and "exempt login.microsoftonline.com" in found["sentence"]
    (reset,) = analysis.resets
    assert [c["code"] for c in reset.causes] == ["tls_interception"]


@pytest.mark.parametrize("sni, issuer", [("login.microsoftonline.com", "Microsoft Azure RSA TLS Issuing CA 07"),
                                         ("www.example.com", "Inspecting Firewall CA")])
def test_the_services_own_issuer_or_an_unlisted_name_is_a_plain_alert(tmp_path, sni, issuer):
    analysis = analyse(tmp_path, tls12(40141, 122, 1.0, sni, issuer))
    assert causes(analysis) == {40141: ["tls_alert"]}


def test_a_clean_session_through_an_inspector_is_no_failure(tmp_path):
    analysis = analyse(tmp_path, tls12(40141, 122, 1.0, "login.microsoftonline.com", "Inspecting Firewall CA",
                                       client_alert=None))
    assert causes(analysis) == {40141: []}


def test_the_users_service_roots_come_first(tmp_path):
    roots = tmp_path / "roots.toml"
    roots.write_text('[[service]]\nservice = "ours"\nnames = ["login.microsoftonline.com"]\n'
                     'issuers = ["Inspecting Firewall CA"]\n')
    analysis = analyse(tmp_path, tls12(40141, 122, 1.0, "login.microsoftonline.com", "Inspecting Firewall CA"),
                       service_roots=roots)
    assert causes(analysis) == {40141: ["tls_alert"]}
    assert service_for("x.servicebus.windows.net", load_service_roots(roots)).service.startswith("Azure")


@pytest.mark.parametrize("text", ["[[service]]\nnames = []\nissuers = ['x']\n", "service = 3\n", "[[service]\n"])
def test_a_malformed_service_roots_file_is_a_one_line_error(tmp_path, text):
    roots = tmp_path / "roots.toml"
    roots.write_text(text)
    with pytest.raises(UsageError) as err:
        load_service_roots(roots)
    assert str(roots) in str(err.value) and "\n" not in str(err.value)


def test_a_handshake_answered_by_a_device_is_tls_interception_without_a_certificate(tmp_path):
    """TLS 1.3: the certificate is encrypted, but the ServerHello came from a device 3 routers nearer than the
    same address on another port."""
    hello = connection(40141, 443, 61, 1.0, client=(client_hello("www.example.com"),), server=(server_hello(0x0304),),
                       client_rst=True)
    analysis = analyse(tmp_path, hello + connection(40142, 8443, 122, 2.0))
    assert causes(analysis)[40141][0] == "tls_interception"
    (found,) = [c for c in analysis.causes[analysis.conversations[0].id][1] if c["code"] == "tls_interception"]
    assert (found["evidence"]["traceroute_hop"], found["evidence"]["server_ports"]) == (4, [8443])
    assert found["evidence"]["issuer"] is None


def test_common_name():
    assert common_name("CN=netreset lab Inspection CA,O=netreset lab") == "netreset lab Inspection CA"
    assert common_name("O=x,CN=a\\, b") == "a, b"
    assert common_name(None) is None


# ── The lab's captures (captures/README.md rows 15 and 17; truth in captures/truth.json) ──────────────────────

from pathlib import Path  # noqa: E402

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def _lab(name: str, **options):
    path = CAPTURES / name
    if not path.is_file() or not (CAPTURES / "truth.json").is_file():
        pytest.skip(f"{name} not recorded")
    import json

    truth = next(c for c in json.loads((CAPTURES / "truth.json").read_text())["captures"] if c["file"] == name)
    return Analysis.of_files([path], Options(**options)), truth


@pytest.mark.parametrize("streamed", [False, True])
def test_lab_transparent_proxy(streamed):
    analysis, truth = _lab("transparent-proxy.pcapng")
    (want,) = truth["causes"]
    (conn,) = [c for c in truth["connections"] if c["orig_port"] == want["orig_ports"][0]]
    (rst,) = conn["resets"]
    rows = analysis.reset_rows()
    if streamed:
        kept = analyse_streamed(CAPTURES / truth["file"], Options(), chunk_rows=8, batch_rows=8)  # its runs live with it
        rows = [dict(r) for r in kept.reset_rows()]
    (reset,) = rows
    assert (reset["sport"], reset["verdict"], reset["reason"]) == (80, rst["true_sender"], "terminated_by_device")
    assert reset["traceroute_hop"] == rst["device_traceroute_hop_from_agent"] == want["device_traceroute_hop_from_agent"]
    assert reset["observed_ttl"] == rst["ttl"]
    assert [c["code"] for c in reset["causes"]] == [want["code"]]
    evidence = reset["causes"][0]["evidence"]
    ports = want["evidence"]["port_ttls"]
    assert {str(evidence["port"]): evidence["ttl"], **{str(p): evidence["server_ttl"] for p in evidence["server_ports"]}} == ports
    assert evidence["traceroute_hop"] == want["evidence"]["hop"] and evidence["reset_by_device"]
    assert causes(analysis) == {c["orig_port"]: ([want["code"]] if c["orig_port"] in want["orig_ports"] else [])
                                for c in truth["connections"]}
    assert {c.orig_p: c.outcome for c in analysis.conversations} == {c["orig_port"]: c["outcome"] for c in truth["connections"]}


@pytest.mark.parametrize("roots", [None, CAPTURES / "lab" / "service-roots.toml"])
def test_lab_tls_inspection(roots):
    analysis, truth = _lab("tls-inspection.pcapng", service_roots=roots)
    (want,) = truth["causes"]
    codes = causes(analysis)
    assert codes[want["orig_ports"][0]] == [want["code"], "teardown_incomplete"]  # the agent's RST after fw's FIN
    assert all(not codes[c["orig_port"]] for c in truth["connections"] if c["orig_port"] not in want["orig_ports"])
    conv = next(c for c in analysis.conversations if c.orig_p == want["orig_ports"][0])
    found = analysis.causes[conv.id][1][0]
    e, w = found["evidence"], want["evidence"]
    assert (e["issuer"], e["alert"], e["alert_from"]) == (w["issuer_cn"], w["alert"], w["alert_from"])
    assert (e["handshake_ttl"], e["server_ttl"], e["traceroute_hop"]) == (w["handshake_ttl"], w["server_ttl"], w["hop"])
    if roots is not None:  # the lab's own CA is the expected issuer there
        assert e["expected_issuers"] == [w["expected_issuer_cn"]]
    else:  # the shipped list: the names are Azure's
        assert "Microsoft Azure RSA TLS Issuing CA *" in e["expected_issuers"]
    assert "hop 4" in found["sentence"] and "unknown_ca" in found["sentence"] and "root CA" in found["sentence"]
    (reset,) = analysis.resets  # the agent's own RST: the peer's, and it carries the cause
    assert reset.verdict == "peer" and [c["code"] for c in reset.causes] == [want["code"]]


def test_lab_refusal_keeps_its_verdict_beside_a_device_answering_for_the_server():
    """fw answers 10.66.6.2's ports 443 and 80 itself (TTL 61) in the issue-14 captures; analysed with them, fw's
    refusal on port 8084 (RST/ACK TTL 61, the server silent there) stays what the original captures say:
    a middlebox at hop 4, the server's own TTL 122 the reference (before: 61 matched fw's answers, 'peer')."""
    names = ["firewall-rejects-syn.pcapng", "firewall-reset.pcapng"]
    if not all((CAPTURES / n).is_file() for n in names + ["tls-inspection.pcapng", "transparent-proxy.pcapng"]):
        pytest.skip("lab captures not recorded")

    def refusal(files):
        analysis = Analysis.of_files([CAPTURES / n for n in files])
        (reset,) = [r for r in analysis.resets if r.sport == 8084]
        return reset.verdict, reset.reason, reset.traceroute_hop, reset.claimed_sender_routers_between

    alone = refusal(names)
    assert alone == ("middlebox", "ttl_mismatch", 4, 6)
    assert refusal(names + ["tls-inspection.pcapng", "transparent-proxy.pcapng"]) == alone
    assert refusal(["firewall-rejects-syn.pcapng", "tls-inspection.pcapng", "transparent-proxy.pcapng"]) == alone
