"""Application events and names on crafted packets: DNS (UDP and TCP, CNAME chains), TLS ClientHello /
ServerHello (TLS 1.2 and 1.3) / Certificate split over segments / alerts, HTTP and CONNECT through a proxy;
hostile bytes never raise; the plain and compiled readers keep the same bytes."""

from __future__ import annotations

import datetime
import random
import struct

import pytest
from scapy.all import DNS, DNSQR, DNSRR, IP, TCP, UDP, Ether, Raw, wrpcap

from netreset.analyses.application.dns import dns_answers
from netreset.analyses.application.events import application_summaries
from netreset.analyses.application.http import http_head
from netreset.analyses.application.tls import tls_events
from netreset.ingest.payloads import PAYLOAD_BUDGET, starts_application
from netreset.ingest.reader import read_capture
from netreset.pipeline.whole import Analysis, Options

C, S, P = "10.0.0.1", "93.184.216.34", "10.9.9.9"


def _record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", ctype, version, len(body)) + body


def _handshake(mtype: int, body: bytes) -> bytes:
    return bytes([mtype]) + len(body).to_bytes(3, "big") + body


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def client_hello(sni: str = "www.example.com", alpn=(b"h2", b"http/1.1"), versions=(0x0304, 0x0303)) -> bytes:
    name = sni.encode()
    sni_ext = _ext(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)
    protos = b"".join(bytes([len(p)]) + p for p in alpn)
    alpn_ext = _ext(16, struct.pack("!H", len(protos)) + protos)
    sv = b"".join(struct.pack("!H", v) for v in versions)
    sv_ext = _ext(43, bytes([len(sv)]) + sv)
    exts = sni_ext + alpn_ext + sv_ext
    body = struct.pack("!H", 0x0303) + bytes(32) + b"\x00" + struct.pack("!HH", 2, 0x1301) + b"\x01\x00" \
        + struct.pack("!H", len(exts)) + exts
    return _record(22, _handshake(1, body), 0x0301)


def server_hello(version: int = 0x0303) -> bytes:
    exts = _ext(43, struct.pack("!H", version)) if version == 0x0304 else b""
    body = struct.pack("!H", 0x0303) + bytes(32) + b"\x00" + struct.pack("!H", 0x1301) + b"\x00" \
        + (struct.pack("!H", len(exts)) + exts if exts else b"")
    return _record(22, _handshake(2, body))


def make_cert(subject: str = "www.example.com", issuer: str = "Inspecting Firewall CA") -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(subject), x509.DNSName("alt." + subject)]), False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def certificate_record(*ders: bytes) -> bytes:
    chain = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    return _record(22, _handshake(11, len(chain).to_bytes(3, "big") + chain))


def alert(description: int, level: int = 2) -> bytes:
    return _record(21, bytes([level, description]))


def conversation(client_segments, server_segments, *, sport=40000, dport=443, server=S, first_server=True):
    """Handshake, then the client's segments, the server's (each list of bytes), then a FIN each way."""
    pk = [Ether() / IP(src=C, dst=server) / TCP(sport=sport, dport=dport, flags="S", seq=999),
          Ether() / IP(src=server, dst=C) / TCP(sport=dport, dport=sport, flags="SA", seq=4999, ack=1000),
          Ether() / IP(src=C, dst=server) / TCP(sport=sport, dport=dport, flags="A", seq=1000, ack=5000)]
    cseq, sseq = 1000, 5000
    for data in client_segments:
        pk.append(Ether() / IP(src=C, dst=server) / TCP(sport=sport, dport=dport, flags="PA", seq=cseq, ack=sseq) / Raw(data))
        cseq += len(data)
    for data in server_segments:
        pk.append(Ether() / IP(src=server, dst=C) / TCP(sport=dport, dport=sport, flags="PA", seq=sseq, ack=cseq) / Raw(data))
        sseq += len(data)
    return pk


def dns_answer(name="www.example.com", cname="edge.example.net", address=S):
    return Ether() / IP(src="10.0.0.53", dst=C) / UDP(sport=53, dport=5353) / DNS(
        id=1, qr=1, qd=DNSQR(qname=name),
        an=[DNSRR(rrname=name, type="CNAME", rdata=cname), DNSRR(rrname=cname, rdata=address)])


def analyse(tmp_path, packets, **options):
    path = tmp_path / "c.pcap"
    wrpcap(str(path), packets)
    analysis = Analysis.of_files([path], Options(**options))
    return analysis, path


def one(analysis):
    (app,) = [analysis.application[c.id] for c in analysis.raw_conversations]
    return app


def test_client_hello_sni_alpn_versions_and_dns_names(tmp_path):
    analysis, _ = analyse(tmp_path, [dns_answer()] + conversation([client_hello()], [server_hello(0x0304)]))
    app = one(analysis)
    assert app.server_name == "www.example.com"
    assert app.tls["sni"] == "www.example.com" and app.tls["alpn"] == ["h2", "http/1.1"]
    assert app.tls["versions_offered"] == ["TLS 1.3", "TLS 1.2"]
    assert app.tls["version"] == "TLS 1.3"  # from supported_versions, not the legacy 1.2 field
    assert app.names["resp"][:2] == ["edge.example.net", "www.example.com"]  # Wireshark's name first, then the alias
    kinds = [(e["kind"], e["from"], e["frame"]) for e in app.events]
    assert kinds == [("client_hello", "orig", 5), ("server_hello", "resp", 6)]


def test_certificate_split_over_segments_and_client_alert(tmp_path):
    record = server_hello() + certificate_record(make_cert(), make_cert("Inspecting Firewall CA", "Inspecting Firewall CA"))
    third = len(record) // 3
    thirds = [record[:third], record[third:2 * third], record[2 * third:]]  # frames 5, 6, 7
    analysis, _ = analyse(tmp_path, conversation([client_hello()], thirds) + [
        Ether() / IP(src=C, dst=S) / TCP(sport=40000, dport=443, flags="PA", seq=1000 + len(client_hello()), ack=5000 + len(record)) / Raw(alert(48))])
    app = one(analysis)
    cert = [e for e in app.events if e["kind"] == "certificate"][0]
    assert cert["frame"] == 7  # the segment that completes the message
    assert app.tls["cert_subject"] == "CN=www.example.com" and app.tls["cert_issuer"] == "CN=Inspecting Firewall CA"
    assert app.tls["cert_san"] == ["www.example.com", "alt.www.example.com"]
    assert app.tls["cert_not_after"] == "2024-03-31T00:00:00Z"
    assert app.tls["alert"] == {"from": "orig", "description": "unknown_ca", "level": "fatal", "frame": 8}


def test_certificate_cut_by_the_budget_keeps_the_leaf(tmp_path):
    big = make_cert()
    filler = bytes(PAYLOAD_BUDGET)  # a second "certificate" past the budget
    record = server_hello() + certificate_record(big, filler)
    segments = [record[i:i + 1400] for i in range(0, len(record), 1400)]
    analysis, _ = analyse(tmp_path, conversation([client_hello()], segments))
    app = one(analysis)
    assert app.tls["cert_subject"] == "CN=www.example.com"
    kept = sum(len(v) for v in analysis.stats.payloads.segments.values())
    assert kept <= 2 * PAYLOAD_BUDGET


def test_connect_through_an_explicit_proxy_407(tmp_path):
    request = b"CONNECT wu2.frontend.clouddatahub.net:443 HTTP/1.1\r\nHost: wu2.frontend.clouddatahub.net:443\r\n\r\n"
    answer = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\nProxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 10\r\n\r\n0123"
    analysis, _ = analyse(tmp_path, conversation([request], [answer], dport=3128, server=P))
    app = one(analysis)
    assert app.proxy["kind"] == "explicit" and app.proxy["target"] == "wu2.frontend.clouddatahub.net:443"
    assert app.proxy["status"] == 407 and app.proxy["proxy_authenticate"] == "NTLM"
    assert app.server_name == "wu2.frontend.clouddatahub.net"
    assert [c.id for c in analysis.conversations] == [0]
    assert analyse(tmp_path, conversation([request], [answer], dport=3128, server=P), name_glob="*.CLOUDDATAHUB.net")[0].conversations
    assert not analyse(tmp_path, conversation([request], [answer], dport=3128, server=P), name_glob="*.windows.net")[0].conversations


def test_plain_http_request_and_status(tmp_path):
    analysis, _ = analyse(tmp_path, conversation([b"GET /x HTTP/1.1\r\nHost: example.org\r\n\r\n"],
                                                 [b"HTTP/1.1 403 Forbidden\r\n\r\n"], dport=80))
    app = one(analysis)
    assert app.server_name == "example.org" and app.proxy is None
    assert [(e["kind"], e.get("method"), e.get("status")) for e in app.events] == [
        ("http_request", "GET", None), ("http_response", None, 403)]


def test_dns_over_tcp_names(tmp_path):
    msg = bytes(DNS(id=3, qr=1, qd=DNSQR(qname="svc.example.com"), an=[DNSRR(rrname="svc.example.com", rdata="10.1.2.3")]))
    framed = len(msg).to_bytes(2, "big") + msg
    query = bytes(DNS(id=3, qd=DNSQR(qname="svc.example.com")))
    packets = conversation([len(query).to_bytes(2, "big") + query], [framed[:10], framed[10:]], dport=53, server="10.0.0.53")
    packets += conversation([client_hello("")], [], server="10.1.2.3", sport=40001)
    analysis, _ = analyse(tmp_path, packets)
    by_resp = {c.resp_h: analysis.application[c.id] for c in analysis.raw_conversations}
    assert by_resp["10.1.2.3"].names["resp"] == ["svc.example.com"]


def test_tuple_reused_by_a_new_connection_starts_afresh(tmp_path):
    first = conversation([client_hello("one.example")], [])
    second = conversation([client_hello("two.example")], [])
    for p in second:
        p[TCP].seq = (p[TCP].seq + 10**6) & 0xFFFFFFFF
        if p[TCP].ack:
            p[TCP].ack = (p[TCP].ack + 10**6) & 0xFFFFFFFF
    analysis, _ = analyse(tmp_path, first + second)
    names = [analysis.application[c.id].server_name for c in analysis.raw_conversations]
    assert names == ["one.example", "two.example"]


def test_starts_application():
    assert starts_application(b"\x16\x03\x01\x00", 1, 2) and starts_application(b"\x15\x03\x03\x00", 1, 2)
    assert starts_application(b"GET /", 1, 2) and starts_application(b"HTTP/1.1", 1, 2)
    assert starts_application(b"", 53, 2)
    assert not starts_application(b"\x17\x03\x03\x00", 1, 2) and not starts_application(b"SSH-2.0", 1, 22)


def test_random_traffic_is_not_kept(tmp_path):
    rng = random.Random(5)
    data = [bytes(rng.randrange(256) for _ in range(1000)) for _ in range(5)]
    data = [b"\x00" + d[1:] for d in data]  # not a TLS/HTTP start
    analysis, _ = analyse(tmp_path, conversation(data, data))
    assert analysis.stats.payloads.segments == {}


@pytest.mark.parametrize("seed", range(40))
def test_hostile_bytes_never_raise(seed):
    rng = random.Random(seed)
    samples = [client_hello(), server_hello(0x0304) + certificate_record(make_cert()) if seed < 3 else server_hello(),
               alert(40), b"CONNECT a:1 HTTP/1.1\r\nProxy-Authenticate:\r\n\r\n", bytes(DNS(qr=1, an=DNSRR(rdata="1.2.3.4")))]
    for sample in samples:
        for _ in range(25):
            b = bytearray(sample)
            for _ in range(rng.randrange(1, 8)):
                if b:
                    b[rng.randrange(len(b))] = rng.randrange(256)
            cut = bytes(b[:rng.randrange(len(b) + 1)])
            tls_events(cut)
            http_head(cut)
            dns_answers(cut)
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        tls_events(b"\x16\x03\x03" + noise)
        http_head(b"HTTP/1.1 " + noise)
        dns_answers(noise)


def test_plain_and_compiled_readers_keep_the_same_bytes(tmp_path):
    pytest.importorskip("numba")
    record = server_hello() + certificate_record(make_cert())
    packets = [dns_answer()] + conversation([client_hello()], [record[:500], record[500:]])
    packets += conversation([b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"], [b"HTTP/1.1 200 OK\r\n\r\n" + bytes(6000)],
                            dport=80, sport=40002)
    packets += conversation([bytes(300)], [bytes(300)], sport=40003, dport=5000)
    path = tmp_path / "c.pcap"
    wrpcap(str(path), packets * 3)
    _, plain = read_capture(path, compiled=False)
    _, fast = read_capture(path, compiled=True)
    assert plain.payloads.segments and plain.payloads.segments == fast.payloads.segments
    assert plain.payloads.dns == fast.payloads.dns and plain.payloads.dns_tcp == fast.payloads.dns_tcp
