"""Issue 14's lab captures hold what truth.json says happened, read with tshark (independently of netreset).

test_lab_rebuild.py already checks every capture's TCP facts (SYNs, payload, FINs, TTLs, RSTs); here
the application layer: DNS questions and answers, TLS ClientHello SNI and offered versions, the
version chosen, the certificate's issuer (TLS 1.2), plaintext alerts and who sent them, HTTP and
CONNECT status lines with Proxy-Authenticate schemes, and the timing and TTL facts each cause rests on.
test_lab_rebuild.py runs the same checks on a fresh build (its ``rebuilt_lab`` fixture, built once).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lab.test_lab_rebuild import CAPTURES, load_truth

FIELDS = ("frame.number", "frame.time_epoch", "ip.src", "ip.ttl", "tcp.srcport", "tcp.dstport", "udp.srcport",
          "udp.dstport", "tcp.flags.reset", "tcp.flags.syn", "tcp.flags.ack", "tcp.len", "tcp.analysis.keep_alive",
          "tls.handshake.type", "tls.handshake.extensions_server_name", "tls.handshake.extensions.supported_version",
          "tls.handshake.version", "tls.handshake.certificate", "tls.alert_message.level", "tls.alert_message.desc",
          "http.request.method", "http.request.uri", "http.host", "http.response.code", "http.proxy_authenticate",
          "dns.flags.response", "dns.qry.name", "dns.qry.type", "dns.flags.rcode", "dns.cname", "dns.a", "dns.aaaa")
VERSIONS = {"0x0304": "TLSv1.3", "0x0303": "TLSv1.2", "0x0302": "TLSv1.1", "0x0301": "TLSv1"}
ALERTS = {"48": "unknown_ca", "70": "protocol_version", "42": "bad_certificate", "40": "handshake_failure",
          "80": "internal_error", "112": "unrecognized_name"}
DNS_TYPES = {"1": "A", "28": "AAAA", "5": "CNAME"}
TIME_TOLERANCE_S = 0.3

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


@dataclass(frozen=True)
class Frame:
    """One frame's fields (multi-valued ones as tuples)."""

    f: dict[str, tuple[str, ...]]

    def one(self, name: str) -> str:
        values = self.f[name]
        return values[0] if values else ""

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return self.f[name]

    @property
    def ports(self) -> tuple[int, int]:
        src, dst = self.one("tcp.srcport") or self.one("udp.srcport"), self.one("tcp.dstport") or self.one("udp.dstport")
        return int(src), int(dst)

    @property
    def time(self) -> float:
        return float(self.one("frame.time_epoch"))


def read_frames(path: Path) -> list[Frame]:
    argv = ["tshark", "-r", str(path), "-T", "fields", "-E", "aggregator=|", "-E", "occurrence=a"]
    for name in FIELDS:
        argv += ["-e", name]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    frames = []
    for line in out.splitlines():
        cols = line.split("\t")
        frames.append(Frame({n: tuple(v for v in c.split("|") if v) for n, c in zip(FIELDS, cols)}))
    return frames


def why_entries(truth: dict) -> list[dict]:
    return [c for c in truth["captures"] if "causes" in c]


def why_ids() -> list[str]:
    return [c["file"] for c in why_entries(load_truth())] if (CAPTURES / "truth.json").is_file() else []


def of_conn(frames: list[Frame], conn: dict) -> tuple[list[Frame], list[Frame]]:
    """(from orig, from resp) frames of a truth connection, by its orig port (unique in the lab)."""
    port = conn["orig_port"]
    return ([f for f in frames if f.ports[0] == port], [f for f in frames if f.ports[1] == port])


def certificate_names(hex_der: str) -> tuple[str, str]:
    """(subject CN, issuer CN) of a DER certificate, read by openssl."""
    done = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject", "-issuer", "-nameopt",
                           "multiline"], input=bytes.fromhex(hex_der.replace(":", "")), capture_output=True, check=True)
    subject, _, issuer = done.stdout.decode().partition("issuer=")
    cn = [line.split("=", 1)[1].strip() for part in (subject, issuer) for line in part.splitlines()
          if line.strip().startswith("commonName")]
    return cn[0], cn[1]


def check_tls(orig: list[Frame], resp: list[Frame], tls: dict) -> None:
    """ClientHello SNI and versions, the version chosen, the certificate (≤ 1.2), and every plaintext alert."""
    hellos = [f for f in orig if "1" in f["tls.handshake.type"]]
    assert len(hellos) == 1
    assert hellos[0]["tls.handshake.extensions_server_name"] == (tls["sni"],)
    assert [VERSIONS[v] for v in hellos[0]["tls.handshake.extensions.supported_version"]] == tls["offered_versions"]
    server_hellos = [f for f in resp if "2" in f["tls.handshake.type"]]
    if tls["version"] is None:
        assert server_hellos == []
    else:
        assert len(server_hellos) == 1
        chosen = server_hellos[0]["tls.handshake.extensions.supported_version"] or server_hellos[0]["tls.handshake.version"]
        assert VERSIONS[chosen[0]] == tls["version"]
    certs = [c for f in resp for c in f["tls.handshake.certificate"]]
    if tls["version"] == "TLSv1.2":
        assert len(certs) == 1  # the leaf alone, in clear
        assert certificate_names(certs[0]) == (tls["cert_subject_cn"], tls["cert_issuer_cn"])
    else:
        assert certs == []  # TLS 1.3 encrypts it; no handshake, no certificate
    alerts = [(side, f.one("tls.alert_message.level"), ALERTS[f.one("tls.alert_message.desc")])
              for side, frames in (("orig", orig), ("resp", resp)) for f in frames if f["tls.alert_message.desc"]]
    want = tls["alert"]
    assert alerts == ([(want["from"], {"fatal": "2", "warning": "1"}[want["level"]], want["description"])] if want else [])


def check_http(orig: list[Frame], resp: list[Frame], conn: dict) -> None:
    """The plain HTTP or CONNECT request and the status line that answered it (none: no answer)."""
    requests = [(f.one("http.request.method"), f.one("http.request.uri")) for f in orig if f["http.request.method"]]
    statuses = [int(f.one("http.response.code")) for f in resp if f["http.response.code"]]
    proxy = conn.get("proxy")
    if proxy and proxy["kind"] == "explicit":
        assert requests[0] == ("CONNECT", proxy["target"])
        assert statuses[0] == proxy["status"]
        schemes = [f["http.proxy_authenticate"] for f in resp if f["http.response.code"]][0]
        assert [s.split(" ")[0] for s in schemes] == proxy["proxy_authenticate"]
        requests, statuses = requests[1:], statuses[1:]  # what follows inside a 200 tunnel is TLS, not HTTP
    http = conn.get("http")
    if http and "tls" not in conn:  # in clear
        assert requests == [("GET", "/")]
        assert statuses == ([http["status"]] if http["status"] is not None else [])
    else:
        assert requests == [] and statuses == []


def check_dns(frames: list[Frame], queries: list[dict]) -> None:
    """Every query from its fixed client port, over its transport, answered with the truth's chain."""
    dns = [f for f in frames if f["dns.qry.name"]]
    assert len(dns) == 2 * len(queries)
    for q in queries:
        asked = [f for f in dns if f.ports == (q["client_port"], q["server_port"])]
        answered = [f for f in dns if f.ports == (q["server_port"], q["client_port"])]
        assert len(asked) == len(answered) == 1
        transport = "tcp" if asked[0]["tcp.srcport"] else "udp"
        assert transport == q["transport"]
        for f in asked + answered:
            assert f["dns.qry.name"] == (q["qname"],) and DNS_TYPES[f.one("dns.qry.type")] == q["qtype"]
        ans = answered[0]
        assert ans.one("dns.flags.rcode") == "0" and q["rcode"] == "NOERROR"
        assert ans.one("ip.src") == q["server"]
        chain = [c + "." for c in ans["dns.cname"]] + list(ans["dns.a"] + ans["dns.aaaa"])
        assert chain == q["answers"]


def check_entry(directory: Path, entry: dict) -> None:
    frames = read_frames(directory / entry["file"])
    check_dns(frames, entry["dns"])
    for conn in entry["connections"]:
        orig, resp = of_conn(frames, conn)
        assert orig and all(f.one("ip.src") == conn["orig"] for f in orig)
        if "tls" in conn:
            check_tls(orig, resp, conn["tls"])
        check_http(orig, resp, conn)
        synacks = [f for f in resp if f.one("tcp.flags.syn") == "1"]
        if synacks:  # who answered the handshake: the TTL says how far away it is
            assert {int(f.one("ip.ttl")) for f in synacks} == {conn["ttl"]["resp"]}
            routers = conn["answered_by_routers_from_agent"]
            assert conn["ttl"]["resp"] in (64 - routers, 128 - routers)
    ports = {c["orig_port"] for c in entry["connections"]}
    for cause in entry["causes"]:
        assert set(cause["orig_ports"]) <= ports


@pytest.mark.parametrize("name", why_ids())
def test_committed_why_capture_shows_what_truth_states(name):
    check_entry(CAPTURES, next(e for e in why_entries(load_truth()) if e["file"] == name))


def test_every_issue_14_cause_has_a_capture():
    codes = {c["code"] for e in why_entries(load_truth()) for c in e["causes"]}
    assert codes == {"sni_filtered", "proxy_denied", "proxy_auth_required", "tls_interception", "tls_alert",
                     "idle_timeout", "transparent_proxy"}


def _entry(name: str, truth: dict | None = None) -> dict:
    return next(e for e in (truth or load_truth())["captures"] if e["file"] == name)


def _conn(entry: dict, port: int) -> dict:
    return next(c for c in entry["connections"] if c["orig_port"] == port)


def check_sni_filtered(directory: Path, truth: dict) -> None:
    """The RST comes right after the blocked name's ClientHello, from hop 4; the other name passes."""
    entry = _entry("sni-filtered.pcapng", truth)
    frames = read_frames(directory / entry["file"])
    cause = entry["causes"][0]
    blocked = next(c for c in entry["connections"] if c["tls"]["sni"] == cause["evidence"]["name"])
    conv = [f for f in frames if blocked["orig_port"] in f.ports]
    hello = next(i for i, f in enumerate(conv) if "1" in f["tls.handshake.type"])
    assert conv[hello + 1:] and conv[hello + 1].one("tcp.flags.reset") == "1"
    assert int(conv[hello + 1].one("ip.ttl")) == cause["evidence"]["rst_ttl"] == 64 - 3
    assert len(conv) == hello + 2 and conv[hello + 1].time - conv[hello].time < 0.1  # nothing else: no retransmission
    passing = [c for c in entry["connections"] if c is not blocked]
    assert [c["tls"]["sni"] for c in passing] == cause["evidence"]["other_names_pass"]
    assert all((c["resp"], c["resp_port"]) == (blocked["resp"], blocked["resp_port"]) for c in passing)
    assert all(c["outcome"] == "clean" and c["ttl"]["resp"] == cause["evidence"]["server_ttl"] for c in passing)


def check_idle(directory: Path, truth: dict) -> None:
    """The silence before the reset exceeds fw's timeout; the keepalive connection is never silent that long."""
    entry = _entry("idle-timeout.pcapng", truth)
    frames = read_frames(directory / entry["file"])
    cause = entry["causes"][0]
    reset_conn = _conn(entry, cause["orig_ports"][0])
    conv = [f for f in frames if reset_conn["orig_port"] in f.ports]
    rst = next(i for i, f in enumerate(conv) if f.one("tcp.flags.reset") == "1")
    assert rst == len(conv) - 1 and int(conv[rst].one("ip.ttl")) == cause["evidence"]["rst_ttl"]
    trigger, before = conv[rst - 1], conv[rst - 2]
    assert trigger.ports[0] == reset_conn["orig_port"] and int(trigger.one("tcp.len")) > 0
    silence = trigger.time - before.time
    assert silence > cause["evidence"]["configured_timeout_s"]
    assert abs(silence - reset_conn["idle_before_reset_s"]) <= TIME_TOLERANCE_S, silence
    assert conv[rst].time - trigger.time < 0.1
    assert not any(f["tcp.analysis.keep_alive"] for f in conv)
    alive = _conn(entry, cause["evidence"]["keepalive_port"])
    conv = [f for f in frames if alive["orig_port"] in f.ports]
    gaps = [b.time - a.time for a, b in zip(conv, conv[1:])]
    assert max(gaps) <= alive["keepalive_interval_s"] + TIME_TOLERANCE_S
    probes = [f for f in conv if f["tcp.analysis.keep_alive"]]
    assert len(probes) >= int(alive["idle_s"] // alive["keepalive_interval_s"]) - 1
    assert conv[-1].time - conv[0].time > alive["idle_s"]


def check_sni_dropped(directory: Path, truth: dict) -> None:
    """The handshake completes; the blocked name's ClientHello is retransmitted and nothing comes back (no ACK of
    its bytes, no ServerHello) until the client's RST; the other name to the same address and port passes."""
    entry = _entry("sni-dropped.pcapng", truth)
    frames = read_frames(directory / entry["file"])
    cause = entry["causes"][0]
    blocked = next(c for c in entry["connections"] if c["tls"]["sni"] == cause["evidence"]["name"])
    orig, resp = of_conn(frames, blocked)
    hellos = [f for f in orig if "1" in f["tls.handshake.type"] or (int(f.one("tcp.len") or 0) > 0
                                                                     and f.one("tcp.flags.reset") != "1")]
    assert len(hellos) >= 3 and len({f.one("tcp.len") for f in hellos}) == 1  # the hello, retransmitted
    first, giveup = hellos[0].time, next(f for f in orig if f.one("tcp.flags.reset") == "1").time
    synack = next(f for f in resp if f.one("tcp.flags.syn") == "1")
    assert synack.time < first
    assert not [f for f in resp if f.time > first and f.time < giveup]  # nothing from the server meanwhile
    assert not any(f["tls.handshake.type"] for f in resp)
    passing = [c for c in entry["connections"] if c is not blocked]
    assert [c["tls"]["sni"] for c in passing] == cause["evidence"]["other_names_pass"]
    assert all((c["resp"], c["resp_port"]) == (blocked["resp"], blocked["resp_port"]) and c["tls"]["version"]
               for c in passing)


def check_idle_silent(directory: Path, truth: dict) -> None:
    """After the silence (longer than fw's timeout) the next segment is retransmitted, and the keepalive probes
    repeated, with nothing from the server, until the agent's RST."""
    entry = _entry("idle-silent.pcapng", truth)
    frames = read_frames(directory / entry["file"])
    cause = entry["causes"][0]
    for port in cause["orig_ports"]:
        conn = _conn(entry, port)
        conv = [f for f in frames if port in f.ports]
        gaps = [b.time - a.time for a, b in zip(conv, conv[1:])]
        at = max(range(len(gaps)), key=gaps.__getitem__) + 1
        assert gaps[at - 1] > cause["evidence"]["configured_timeout_s"]
        after = conv[at:]
        assert all(f.ports[0] == port for f in after)  # the server never answers after the silence
        assert after[-1].one("tcp.flags.reset") == "1" and len(after) >= 3
        if conn["keepalive"]:
            assert all(f["tcp.analysis.keep_alive"] for f in after[:-1])
            assert gaps[at - 1] >= conn["keepalive_idle_s"] - TIME_TOLERANCE_S
        else:
            assert abs(gaps[at - 1] - conn["idle_before_reset_s"]) <= TIME_TOLERANCE_S
            assert len({f.one("tcp.len") for f in after[:-1]}) == 1 and not any(f["tcp.analysis.keep_alive"]
                                                                                for f in after)


def check_same_address_other_port(directory: Path, truth: dict, name: str, code: str) -> None:
    """The terminated connection's handshake TTL differs from the server's on another port of the same address."""
    entry = _entry(name, truth)
    frames = read_frames(directory / entry["file"])
    cause = next(c for c in entry["causes"] if c["code"] == code)
    synack_ttl = {}
    for conn in entry["connections"]:
        _, resp = of_conn(frames, conn)
        synack_ttl[conn["orig_port"]] = {int(f.one("ip.ttl")) for f in resp if f.one("tcp.flags.syn") == "1"}
    terminated = _conn(entry, cause["orig_ports"][0])
    others = [c for c in entry["connections"] if c is not terminated]
    assert synack_ttl[terminated["orig_port"]] == {64 - (cause["device_traceroute_hop_from_agent"] - 1)} == {61}
    assert all(c["resp"] == terminated["resp"] and c["resp_port"] != terminated["resp_port"] for c in others)
    assert all(synack_ttl[c["orig_port"]] == {122} for c in others)


def check_proxy(directory: Path, truth: dict) -> None:
    """407 with three schemes, 403, and 200 followed by a TLS ClientHello through the tunnel."""
    entry = _entry("proxy-connect.pcapng", truth)
    statuses = sorted(c["proxy"]["status"] for c in entry["connections"])
    assert statuses == [200, 403, 407]
    codes = {c["code"]: c for c in entry["causes"]}
    assert codes["proxy_auth_required"]["evidence"]["schemes"] == ["Negotiate", "NTLM", "Basic"]
    frames = read_frames(directory / entry["file"])
    tunnel = next(c for c in entry["connections"] if c["proxy"]["status"] == 200)
    orig, resp = of_conn(frames, tunnel)
    ok = next(f for f in resp if f["http.response.code"])
    hello = next(f for f in orig if "1" in f["tls.handshake.type"])
    assert ok.time < hello.time


def check_causes(directory: Path, truth: dict) -> None:
    check_sni_filtered(directory, truth)
    check_sni_dropped(directory, truth)
    check_idle(directory, truth)
    check_idle_silent(directory, truth)
    check_proxy(directory, truth)
    check_same_address_other_port(directory, truth, "transparent-proxy.pcapng", "transparent_proxy")
    check_same_address_other_port(directory, truth, "tls-inspection.pcapng", "tls_interception")


def test_committed_captures_show_each_cause():
    check_causes(CAPTURES, load_truth())
