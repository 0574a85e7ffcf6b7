"""Plot functions on crafted conversations: what they draw (arrows, labels, the highlighted RST), under Agg."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text

from netreset.flows.model import Conversation
from netreset.packets.table import ACK, FIN, PSH, RST, SYN, PacketTableBuilder
from netreset.plots import style
from netreset.plots.ladder import MAX_PACKETS, draw_ladder, ladder_text, plan_ladder, select_positions

AGENT, SERVICE = "10.0.0.5", "20.1.2.3"
T0 = 1_700_000_000 * 10**9


def build(packets: list[tuple]) -> tuple:
    """Rows ``(t_s, from_orig, flags, seq, ack, payload_len, ttl)`` of one agent→service conversation."""
    builder = PacketTableBuilder()
    agent, service = builder.book.intern(AGENT), builder.book.intern(SERVICE)
    for frame, (t, from_orig, flags, seq, ack, length, ttl) in enumerate(packets, 1):
        src, dst = (agent, service) if from_orig else (service, agent)
        sport, dport = (50000, 443) if from_orig else (443, 50000)
        builder.append(dict(frame=frame, ts_ns=T0 + int(t * 1e9), ip_version=4, src=src, dst=dst, ttl=ttl,
                            proto=6, sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, win=64240,
                            payload_len=length, ip_len=40 + length, ip_id=frame))
    table = builder.build()
    return table, conversation_of(table, outcome="reset_by_resp")


def conversation_of(table, outcome: str, conv_id: int = 0, state: str = "RSTR", history: str = "ShADadR") -> Conversation:
    rows = np.arange(len(table), dtype=np.int64)
    from_orig = table.src == table.book.intern(AGENT)
    syn_ts = table.ts_ns[(table.flags == SYN) & from_orig] / 1e9
    return Conversation(
        id=conv_id, tcp_stream=conv_id, orig_h=AGENT, orig_p=50000, resp_h=SERVICE, resp_p=443, ip_version=4,
        rows=rows, from_orig=from_orig, start_ns=int(table.ts_ns[0]), end_ns=int(table.ts_ns[-1]),
        conn_state=state, history=history, completeness=47, outcome=outcome, partial=False,
        orig_pkts=int(from_orig.sum()), resp_pkts=int((~from_orig).sum()),
        orig_bytes=int(table.payload_len[from_orig].sum()), resp_bytes=int(table.payload_len[~from_orig].sum()),
        orig_ip_bytes=int(table.ip_len[from_orig].sum()), resp_ip_bytes=int(table.ip_len[~from_orig].sum()),
        syn_count=len(syn_ts), syn_gaps_s=tuple(np.diff(syn_ts).tolist()), retransmissions=0)


def forged_reset_packets(data_segments: int = 2) -> list[tuple]:
    """The guide's story: service at TTL 107 (Windows, 21 routers), a RST arriving with TTL 61."""
    isn_c, isn_s = 1000, 5000
    packets = [(0.0, True, SYN, isn_c, 0, 0, 64), (0.020, False, SYN | ACK, isn_s, isn_c + 1, 0, 107),
               (0.0201, True, ACK, isn_c + 1, isn_s + 1, 0, 64)]
    t, seq = 0.03, isn_c + 1
    for _ in range(data_segments):
        packets.append((t, True, PSH | ACK, seq, isn_s + 1, 100, 64))
        packets.append((t + 0.02, False, ACK, isn_s + 1, seq + 100, 0, 107))
        t, seq = t + 0.05, seq + 100
    packets.append((t + 63.0, True, PSH | ACK, seq, isn_s + 1, 100, 64))
    packets.append((t + 63.004, False, RST, isn_s + 1, 0, 0, 61))
    return packets


def forged_verdict(table, frame: int) -> dict:
    return {"conversation": 0, "frame": frame, "ts": 0.0, "src": SERVICE, "dst": AGENT, "sport": 443,
            "dport": 50000, "observed_ttl": 61, "initial_ttl": 64, "routers_between": 3, "traceroute_hop": 4,
            "claimed_sender_routers_between": 21, "verdict": "middlebox", "confidence": 0.97, "reason": "ttl_mismatch",
            "evidence": [{"code": "ttl_mismatch", "observed": 61, "expected": 107, "weight": 3.0,
                          "detail": "RST arrives 18 hops closer than the service's packets"}],
            "display_filter": "tcp.flags.reset == 1", "advice": "Ask what sits at hop 4."}


def arrows(artists) -> list[Annotation]:
    return [a for a in artists if isinstance(a, Annotation) and (a.get_gid() or "").startswith("packet-")]


def test_ladder_draws_one_arrow_per_packet_and_highlights_the_forged_rst():
    table, conv = build(forged_reset_packets())
    verdict = forged_verdict(table, frame=len(table))
    ax = Figure(figsize=(11, 6)).add_subplot()
    artists = draw_ladder(ax, table, conv, [verdict])
    assert len(arrows(artists)) == len(table)
    rst_arrow = [a for a in arrows(artists) if a.get_gid() == f"packet-{len(table) - 1}"][0]
    assert rst_arrow.arrow_patch.get_linewidth() > 2 * arrows(artists)[0].arrow_patch.get_linewidth()
    callout = [a for a in artists if a.get_gid() == f"rst-{len(table) - 1}"]
    assert len(callout) == 1 and "MIDDLEBOX" in callout[0].get_text()
    assert "61 observed, 107 expected" in callout[0].get_text()


def test_ladder_labels_carry_relative_seq_ack_length_and_ttl():
    table, conv = build(forged_reset_packets())
    labels = {a.get_gid(): a.get_text() for a in draw_ladder(Figure().add_subplot(), table, conv)
              if isinstance(a, Text) and (a.get_gid() or "").startswith("label-")}
    assert labels["label-0"] == "SYN  seq=0  len=0  TTL 64"
    assert labels["label-1"] == "SYN, ACK  seq=0  ack=1  len=0  TTL 107"
    assert labels["label-3"] == "PSH, ACK  seq=1  ack=1  len=100  TTL 64"


def test_a_long_idle_period_is_compressed_and_labelled():
    table, conv = build(forged_reset_packets())
    plan = plan_ladder(table, conv)
    pauses = [m for m in plan.marks if m.kind == "pause"]
    assert len(pauses) == 1 and "63.03 s" in pauses[0].text
    assert plan.height_rows < len(table) + 3  # 63 s did not stretch the page


def test_syn_retransmissions_show_the_gap_between_attempts():
    packets = [(0.0, True, SYN, 7, 0, 0, 64), (1.0, True, SYN, 7, 0, 0, 64), (3.0, True, SYN, 7, 0, 0, 64)]
    table, _ = build(packets)
    conv = conversation_of(table, outcome="syn_unanswered", state="S0", history="S")
    labels = [r.label for r in plan_ladder(table, conv).rows]
    assert labels[1].endswith("(retransmission #1, +1.00 s)")
    assert labels[2].endswith("(retransmission #2, +2.00 s)")


def test_long_conversations_keep_handshake_last_packets_and_reset_with_an_elision_mark():
    table, conv = build(forged_reset_packets(data_segments=200))
    plan = plan_ladder(table, conv)
    frames = [r.frame for r in plan.rows]
    assert len(frames) <= MAX_PACKETS and frames[:3] == [1, 2, 3] and frames[-1] == len(table)
    elisions = [m for m in plan.marks if m.kind == "elision"]
    assert len(elisions) == 1 and f"{len(table) - len(frames)} packets not shown" in elisions[0].text


def test_select_positions_keeps_every_rst_of_a_burst_and_what_follows():
    flags = np.full(100, ACK)
    flags[[60, 61, 62]] = RST
    kept = select_positions(flags, limit=20)
    assert {0, 1, 2, 3, 60, 61, 62, 63, 66}.issubset(kept) and 70 not in kept


def test_capture_point_sits_at_the_side_whose_ttl_shows_no_router():
    table, conv = build(forged_reset_packets())
    plan = plan_ladder(table, conv)
    assert plan.sides.orig.routers_between == 0 and plan.sides.resp.routers_between == 21
    assert plan.sides.capture_fraction() == 0.0


def test_ladder_text_lists_every_packet_and_the_verdict():
    table, conv = build(forged_reset_packets())
    text = ladder_text(plan_ladder(table, conv), [forged_verdict(table, len(table))], conversation_id=0)
    assert text.count("──▶") + text.count("◀──") == len(table)
    assert "verdict: MIDDLEBOX" in text and "pause 63.03 s" in text


@pytest.mark.parametrize("flags, expected", [(SYN | ACK, "SYN, ACK"), (FIN | PSH | ACK, "FIN, PSH, ACK"), (0, "<none>")])
def test_flag_names_follow_wiresharks_order(flags, expected):
    assert style.flags_label(flags) == expected


# ── overview ────────────────────────────────────────────────────────────────────────────────────────────
import dataclasses  # noqa: E402

from netreset.plots.hops import hop_path, hops_text  # noqa: E402
from netreset.plots.overview import MAX_ROWS, draw_overview, overview_rows  # noqa: E402
from netreset.plots.tsg import draw_tsg, flag_positions  # noqa: E402


def many_conversations(conv, outcomes: list[str]) -> list:
    return [dataclasses.replace(conv, id=i, outcome=o, start_ns=conv.start_ns + i * 10**9,
                                end_ns=conv.start_ns + i * 10**9 + 5 * 10**8) for i, o in enumerate(outcomes)]


def test_overview_draws_one_bar_per_conversation_coloured_by_outcome_with_a_counting_legend():
    table, conv = build(forged_reset_packets())
    convs = many_conversations(conv, ["clean", "reset_by_middlebox", "syn_unanswered", "reset_by_resp"])
    artists = draw_overview(Figure().add_subplot(), table, convs, [forged_verdict(table, len(table))])
    bars = next(a for a in artists if a.get_gid() == "bars")
    assert len(bars.get_paths()) == 4
    assert tuple(bars.get_facecolors()[1][:3]) == pytest.approx(tuple(int(style.CATEGORY_COLOURS[
        "reset_by_middlebox"][i:i + 2], 16) / 255 for i in (1, 3, 5)))
    legend = [t.get_text() for t in artists[-1].get_texts()]
    assert "reset by middlebox (1)" in legend and "reset by peer (1)" in legend
    assert {a.get_gid() for a in artists} >= {"rst"}


def test_overview_of_thousands_keeps_every_failing_conversation_and_says_so():
    table, conv = build(forged_reset_packets())
    outcomes = ["clean"] * 3000
    outcomes[1500] = outcomes[2999] = "refused"
    convs = many_conversations(conv, outcomes)
    shown = overview_rows(convs)
    assert len(shown) == MAX_ROWS and {1500, 2999} <= {c.id for c in shown}
    ax = Figure().add_subplot()
    draw_overview(ax, table, convs)
    assert "showing 60" in ax.get_title(loc="left") and "3000 TCP conversations" in ax.get_title(loc="left")


# ── time-sequence graph ─────────────────────────────────────────────────────────────────────────────────
def test_tsg_shows_data_retransmissions_ack_window_and_the_rst():
    packets = forged_reset_packets(3)
    packets.insert(6, (0.0801, True, PSH | ACK, 1101, 5001, 100, 64))  # the second segment again
    packets.sort(key=lambda p: p[0])
    table, conv = build(packets)
    conv = dataclasses.replace(conv, orig_bytes=400)
    artists = {a.get_gid(): a for a in draw_tsg(Figure().add_subplot(), table, conv)}
    assert len(artists["data"].get_segments()) == 4 and len(artists["retransmissions"].get_segments()) == 1
    assert {"ack", "window", "syn", "rst"} <= set(artists)
    # the bare RST from the receiver sits where the sender's data stood, not at ack=0 - ISN
    assert artists["rst"].get_offsets()[0][1] == pytest.approx(401)


def test_flag_positions_of_receiver_packets_without_ack_follow_the_last_known_position():
    table, conv = build([(0.0, True, SYN, 100, 0, 0, 64), (0.1, False, RST, 0, 0, 0, 64)])
    rel = flag_positions(table, conv.rows, conv.from_orig, 100)
    assert rel.tolist() == [0.0, 0.0]


# ── hop diagram ─────────────────────────────────────────────────────────────────────────────────────────
def test_hop_path_of_a_forged_rst_puts_the_resetter_at_its_hop_before_the_peer():
    table, conv = build(forged_reset_packets())
    path = hop_path(forged_verdict(table, len(table)), table, conv)
    kinds = [(n.kind, n.hop) for n in path.nodes]
    assert kinds[0] == ("capture", 0) and ("resetter", 4) in kinds and kinds[-1] == ("peer", 22)
    assert [h for k, h in kinds if k == "router"][:3] == [1, 2, 3]
    assert any(k == "elided" for k, _ in kinds)
    text = hops_text(path)
    assert "hop 4     >> RST SENT HERE <<  TTL 61 on the RST" in text
    assert "TTL 107 observed; initial 128 (windows); 21 routers from capture" in text


def test_hop_path_of_a_genuine_rst_says_so_and_has_no_separate_resetter():
    table, conv = build(forged_reset_packets())
    genuine = dict(forged_verdict(table, len(table)), verdict="peer", observed_ttl=107, initial_ttl=128,
                   routers_between=21, traceroute_hop=22)
    path = hop_path(genuine, table, conv)
    assert "genuine" in path.headline and all(n.kind != "resetter" for n in path.nodes)
    artists = draw_hops(Figure().add_subplot(), path)
    assert [a.get_gid() for a in artists if (a.get_gid() or "").startswith("node-")] == ["node-capture", "node-peer"]


def test_icmp_error_names_the_router_at_its_hop():
    packets = forged_reset_packets()
    table, conv = build(packets)
    builder = PacketTableBuilder(table.book)
    router = table.book.intern("192.0.2.9")
    builder.append(dict(frame=len(table) + 1, ts_ns=T0, ip_version=4, src=router, dst=table.book.intern(AGENT),
                        ttl=253, proto=1, icmp_type=3, icmp_code=13, q_src=table.book.intern(AGENT),
                        q_dst=table.book.intern(SERVICE), q_sport=50000, q_dport=443))
    from netreset.packets.table import PacketTable
    both = PacketTable.concat([table, builder.build()])
    path = hop_path(forged_verdict(table, len(table)), both, conv)
    named = [n for n in path.nodes if n.hop == 3]
    assert named[0].lines == ("192.0.2.9", "named by ICMP")


from netreset.plots.hops import draw_hops  # noqa: E402
