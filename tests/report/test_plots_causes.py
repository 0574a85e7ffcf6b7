"""The ladder and the hop diagram show names, application events and causes (issue 14), as matplotlib Text.

On the lab captures (captures/truth.json says what each scenario did): the ladder draws each event on the
arrow of its frame ("ClientHello SNI=…", "403 Forbidden", "alert unknown_ca", "Certificate CN=… issuer=…"),
marks the idle gap, and names the responder; the hop diagram labels the resetting device with what it did
and puts the server name beside the claimed peer. Crafted plans check the layout rules on their own.
"""

from __future__ import annotations

import json

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from netreset.pipeline.whole import Analysis, Options
from netreset.plots.figures import hops_figure, ladder_figure
from netreset.plots.hops import draw_hops, hop_path, hops_text
from netreset.plots.ladder import EVENT_ROWS, draw_ladder, event_lines, ladder_text, plan_ladder
from netreset.report.html import hop_paths, ladder_facts
from tests.conftest import CAPTURES
from tests.report.test_plots import build, forged_reset_packets


def truth(name: str) -> dict[int, dict]:
    [capture] = [c for c in json.loads((CAPTURES / "truth.json").read_text())["captures"]
                 if c["file"] == f"{name}.pcapng"]
    return {c["orig_port"]: c for c in capture["connections"]}


def analysis(name: str) -> Analysis:
    return Analysis.of_files([CAPTURES / f"{name}.pcapng"], Options())


def ladder_texts(a: Analysis, orig_port: int) -> tuple[dict[str, str], list[str]]:
    """(gid → text of the gid-carrying Text artists, every text of the figure) of one conversation's ladder."""
    [conv] = [c for c in a.conversations if c.orig_p == orig_port]
    figure = ladder_figure(a.table, conv, a.resets, **ladder_facts(a, conv))
    texts = [t for ax in figure.axes for t in ax.findobj(Text)]
    return {t.get_gid(): t.get_text() for t in texts if t.get_gid()}, [t.get_text() for t in texts]


def frame_row(a: Analysis, orig_port: int, frame: int) -> int:
    [conv] = [c for c in a.conversations if c.orig_p == orig_port]
    return int(next(r for r in conv.rows if a.table.frame[r] == frame))


def test_ladder_of_the_sni_filtered_connection_shows_the_clienthello_name_on_its_arrow():
    a = analysis("sni-filtered")
    [(port, connection)] = [(p, c) for p, c in truth("sni-filtered").items() if c["outcome"] == "reset_by_middlebox"]
    by_gid, texts = ladder_texts(a, port)
    [hello] = [e for c in a.conversations if c.orig_p == port for e in a.application[c.id].events
               if e["kind"] == "client_hello"]
    on_arrow = by_gid[f"events-{frame_row(a, port, hello['frame'])}"]
    assert on_arrow.startswith(f"ClientHello SNI={connection['tls']['sni']}")
    assert any(f"({connection['tls']['sni']})" in t for t in texts)  # the responder's name on its lifeline


def test_ladders_of_the_proxy_connections_show_connect_and_the_proxys_status():
    a = analysis("proxy-connect")
    for port, connection in truth("proxy-connect").items():
        by_gid, _ = ladder_texts(a, port)
        events = [t for gid, t in by_gid.items() if gid.startswith("events-")]
        proxy = connection["proxy"]
        assert any(f"CONNECT {proxy['target']}" in t for t in events)
        assert any(t.startswith(str(proxy["status"])) or f"\n{proxy['status']} " in t for t in events), events
        if proxy["status"] == 407:
            assert any("407 Proxy Authentication Required" in t for t in events)
        if proxy["status"] == 403:
            assert any("403 Forbidden" in t for t in events)


def test_ladder_of_the_inspected_connection_shows_the_certificate_and_the_clients_alert():
    a = analysis("tls-inspection")
    for port, connection in truth("tls-inspection").items():
        by_gid, _ = ladder_texts(a, port)
        events = "\n".join(t for gid, t in by_gid.items() if gid.startswith("events-"))
        tls = connection["tls"]
        assert f"Certificate CN={tls['cert_subject_cn']} issuer={tls['cert_issuer_cn']}" in events
        assert f"ServerHello {tls['version'].replace('TLSv', 'TLS ')}" in events
        if tls["alert"]:
            assert f"alert {tls['alert']['description']}" in events


def test_ladder_of_the_tls_versions_capture_shows_the_chosen_version_and_the_servers_alert():
    a = analysis("tls-versions")
    for port, connection in truth("tls-versions").items():
        by_gid, _ = ladder_texts(a, port)
        events = "\n".join(t for gid, t in by_gid.items() if gid.startswith("events-"))
        tls = connection["tls"]
        offered = "/".join(v.replace("TLSv", "") for v in tls["offered_versions"])
        assert f"ClientHello SNI={tls['sni']} offers {offered}" in events
        if tls["version"]:
            assert f"ServerHello {tls['version'].replace('TLSv', 'TLS ')}" in events
        if tls["alert"]:
            assert f"alert {tls['alert']['description']}" in events


def test_ladder_of_the_idle_reset_marks_the_idle_gap_and_the_keepalive_one_does_not():
    a = analysis("idle-timeout")
    marked = {}
    for port in truth("idle-timeout"):
        by_gid, _ = ladder_texts(a, port)
        marked[port] = [t for gid, t in by_gid.items() if gid.startswith("idle-")]
    [conv] = [c for c in a.conversations if c.outcome == "reset_by_middlebox"]
    idle = a.causes[conv.id][0]
    assert marked[conv.orig_p] == [f"{idle:.1f} s idle (not to scale), then the reset"]
    assert [port for port, m in marked.items() if m] == [conv.orig_p]
    text = ladder_text(plan_ladder(a.table, conv, **ladder_facts(a, conv)), a.resets, conv.id)
    assert f"{idle:.1f} s idle" in text


def _hop_texts(paths) -> dict[str, str]:
    figure = hops_figure(paths)
    return {t.get_gid(): t.get_text() for ax in figure.axes for t in ax.findobj(Text) if t.get_gid()}


def test_hop_diagram_of_the_sni_reset_labels_the_device_with_what_it_did_and_names_the_server():
    a = analysis("sni-filtered")
    [path] = hop_paths(a)
    [(_, connection)] = [(p, c) for p, c in truth("sni-filtered").items() if c["outcome"] == "reset_by_middlebox"]
    sni = connection["tls"]["sni"]
    texts = _hop_texts([path])
    assert " ".join(texts["did-resetter"].split()) == f"resets ClientHello for {sni} (SNI filter)"
    assert texts["node-peer"].splitlines()[1] == sni  # beside the claimed peer's address
    assert f"({sni})" in hops_text(path) and "-- resets ClientHello for" in hops_text(path)
    assert any(line.startswith("Cause sni_filtered: ") for line in hops_text(path).splitlines())


def test_hop_diagram_of_the_idle_reset_says_idle_timeout_after_the_measured_silence():
    a = analysis("idle-timeout")
    [path] = hop_paths(a)
    [reset] = a.resets
    assert _hop_texts([path])["did-resetter"] == f"idle timeout after {reset.idle_before_s:.1f} s"


def test_a_reset_without_causes_gets_no_label_and_a_new_code_its_own_words():
    table, conv = build(forged_reset_packets())
    verdict = {"conversation": 0, "frame": len(table), "src": "20.1.2.3", "dst": "10.0.0.5", "sport": 443,
               "dport": 50000, "observed_ttl": 61, "initial_ttl": 64, "routers_between": 3, "traceroute_hop": 4,
               "claimed_sender_routers_between": 21, "verdict": "middlebox", "confidence": 0.9, "advice": "",
               "server_name": None, "causes": []}
    ax = Figure().add_subplot()
    assert not [t for t in draw_hops(ax, hop_path(verdict, table, conv)) if str(t.get_gid()).startswith("did-")]
    new = dict(verdict, server_name="svc.example", causes=[{"code": "tls_interception", "sentence": "…", "frames": [3],
                                                            "evidence": {}},
                                                           {"code": "brand_new", "sentence": "did a new thing",
                                                            "frames": [4], "evidence": {}}])
    texts = {t.get_gid(): t.get_text() for t in draw_hops(Figure().add_subplot(), hop_path(new, table, conv))
             if isinstance(t, Text) and t.get_gid()}
    did = " ".join(texts["did-resetter"].split())
    assert "answered TLS with its own certificate" in did and "brand_new: did a new thing" in did
    assert texts["node-peer"] == "20.1.2.3:443\nsvc.example"


def test_events_on_arrows_take_room_and_long_ones_go_one_a_line():
    table, conv = build(forged_reset_packets())
    plain = plan_ladder(table, conv)
    events = [{"frame": 4, "from": "orig", "kind": "http_request", "method": "GET", "target": "/x"},
              {"frame": 4, "from": "orig", "kind": "alert", "level": "fatal", "description": "unknown_ca"}]
    planned = plan_ladder(table, conv, events=events, server_name="svc.example")
    [row] = [r for r in planned.rows if r.frame == 4]
    assert row.events == ("GET /x", "alert unknown_ca") and event_lines(row.events) == ["GET /x  ·  alert unknown_ca"]
    assert planned.height_rows == pytest.approx(plain.height_rows + EVENT_ROWS)
    assert planned.resp_label.endswith("(svc.example)")
    assert event_lines(("x" * 50, "y" * 50)) == ["x" * 50, "y" * 50]
    drawn = {t.get_gid(): t.get_text() for t in draw_ladder(Figure().add_subplot(), table, conv, plan=planned)
             if isinstance(t, Text) and t.get_gid()}
    assert drawn[f"events-{row.row}"] == "GET /x  ·  alert unknown_ca"
    assert "    GET /x" in ladder_text(planned)


def test_hostile_names_and_events_are_drawn_as_text_not_mathtext():
    """An SNI, certificate name or URL from a capture may hold ``$…$`` (matplotlib's mathtext): drawn as is,
    and the figure still renders (a mathtext parse error would be a traceback)."""
    import io

    table, conv = build(forged_reset_packets())
    hostile = "$\\frac{x$^{"
    events = [{"frame": 4, "from": "orig", "kind": "client_hello", "sni": hostile},
              {"frame": 5, "from": "resp", "kind": "certificate", "certificates": [{"subject": f"CN={hostile}",
                                                                                   "issuer": f"CN={hostile}"}]},
              {"frame": 6, "from": "orig", "kind": "http_request", "method": "GET", "target": "/" + hostile}]
    figure = Figure()
    plan = plan_ladder(table, conv, events=events, server_name=hostile)
    artists = draw_ladder(figure.add_subplot(), table, conv, plan=plan)
    figure.savefig(io.BytesIO(), format="png")
    assert any(hostile in t.get_text() for t in artists if isinstance(t, Text) and str(t.get_gid()).startswith("events-"))
    verdict = {"conversation": 0, "frame": len(table), "src": "20.1.2.3", "dst": "10.0.0.5", "sport": 443,
               "dport": 50000, "observed_ttl": 61, "initial_ttl": 64, "routers_between": 3, "traceroute_hop": 4,
               "claimed_sender_routers_between": 21, "verdict": "middlebox", "confidence": 0.9, "advice": hostile,
               "server_name": hostile, "causes": [{"code": "sni_filtered", "sentence": hostile, "frames": [4],
                                                   "evidence": {"sni": hostile}}]}
    hops = hops_figure([hop_path(verdict, table, conv)])
    hops.savefig(io.BytesIO(), format="png")
    assert any(hostile in t.get_text() for ax in hops.axes for t in ax.findobj(Text) if t.get_gid() == "node-peer")
