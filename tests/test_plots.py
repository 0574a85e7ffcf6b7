"""Plot functions on crafted conversations: what they draw (arrows, labels, the highlighted RST), under Agg."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text

from netreset.conversations import Conversation
from netreset.packets import ACK, FIN, PSH, RST, SYN, PacketTableBuilder
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
