"""Agreement with Zeek's conn.log and tshark's tcp.completeness over the whole external corpus.

Run with ``pytest -s`` to see the figures and every disagreement. Bars (issue 2): conn_state >= 99 %
of Zeek's primary-baseline TCP rows, completeness >= 99.5 % of tshark's streams. History agreement
is reported, not enforced. Accepted disagreements are listed in ``ACCEPTED`` with the reason; they
still count in the printed figures and are only left out of the bar.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from netreset.flows.conversations import build_conversations
from netreset.ingest.reader import read_capture

#: (corpus id, what) -> why we accept the difference. ``what`` is "conn_state", "history",
#: "completeness" or "count" (number of connections).
ACCEPTED = {
    ("zeek-globus-url-copy", "conn_state"): "Zeek's GridFTP script stops analysing the data channel "
        "once it is recognised (skip_further_processing), so its FINs never reach the TCP analyzer",
    ("zeek-globus-url-copy", "history"): "same GridFTP skip: Zeek saw only the first 13 packets",
    ("zeek-tcp-retransmit-timeout", "count"): "timer-dependent: the primary baseline ran with the "
        "default max_timer_expires, which delays the expiry; our timers fire on time (as the alternate "
        "baseline conn-all.log does, two connections)",
    ("zeek-tcp-retransmit-timeout", "history"): "same timer limit: the later retransmission falls in "
        "our second connection",
    ("zeek-tcp-handshake-reorder", "history"): "the test redefines likely_server_ports = {} so Zeek "
        "flips on the SYN (Hs^...); with the default port list port 80 flips on the SYN-ACK (^hS...)",
    ("zeek-ftp-bigtransfer", "history"): "letter g (content gap) needs stream reassembly, which we "
        "do not do",
    ("zeek-ftp-fake-long-commands", "history"): "letter X comes from Zeek's FTP analyzer, not TCP",
    ("zeek-tunnels-gre-aruba-amsdu", "history"): "bare-mode test (-b): 443 is not in Zeek's "
        "likely_server_ports there, so Zeek does not flip; with the default port list it flips (^d)",
    ("zeek-ftp-bigtransfer", "completeness"): "Wireshark's FTP dissector creates the data-channel "
        "conversation from the PORT/PASV reply, so the data connection's SYN does not open it and "
        "tshark leaves out the SYN bit; we have no payload to follow FTP commands",
}

#: Captures whose primary Zeek baseline ignored checksums through a script option, not ``-C``.
CHECKSUMS_IGNORED_BY_OPTION = {"zeek-chksums-localhost-bad-chksum"}


def _tuple(h1, p1, h2, p2):
    return tuple(sorted([(h1, p1), (h2, p2)]))


#: Zeek logs the outer UDP "connection" of these tunnels too; cut baselines have no proto column.
TUNNEL_SERVICES = {"vxlan", "geneve", "ayiya", "teredo", "gtpv1"}


def _zeek_rows(entry):
    baseline = entry["zeek"][0]
    return [r for r in baseline["rows"]
            if r.get("proto") in ("tcp", None) and r.get("service") not in TUNNEL_SERVICES]


def _matched(entry, convs):
    """Pairs (zeek row, our conversation or None): by unordered 5-tuple then order; by order for
    ``printed:`` baselines, which have no 5-tuple (single-connection traces)."""
    ours = defaultdict(list)
    for conv in convs:
        ours[_tuple(conv.orig_h, conv.orig_p, conv.resp_h, conv.resp_p)].append(conv)
    used = Counter()
    for i, row in enumerate(_zeek_rows(entry)):
        if row.get("orig_h") is None or row.get("orig_p") is None:
            yield row, convs[i] if i < len(convs) else None
            continue
        key = _tuple(row["orig_h"], row["orig_p"], row["resp_h"], row["resp_p"])
        j, used[key] = used[key], used[key] + 1
        yield row, ours[key][j] if j < len(ours[key]) else None


class Tally:
    def __init__(self):
        self.total, self.agree, self.counted_total, self.counted_agree = Counter(), Counter(), Counter(), Counter()
        self.disagreements = []

    def add(self, what, entry_id, ok, detail):
        accepted = (entry_id, what) in ACCEPTED
        self.total[what] += 1
        self.agree[what] += ok
        if not accepted:
            self.counted_total[what] += 1
            self.counted_agree[what] += ok
        if not ok:
            self.disagreements.append((what, entry_id, "ACCEPTED" if accepted else "", detail))

    def ratio(self, what, counted=True):
        total = (self.counted_total if counted else self.total)[what]
        return ((self.counted_agree if counted else self.agree)[what] / total) if total else 1.0


@pytest.fixture(scope="module")
def tally(corpus):
    result = Tally()
    for entry in corpus:
        _compare_entry(entry, result)
    print("\nconn_state %d/%d = %.2f %% (bar counts %.2f %%)" % (
        result.agree["conn_state"], result.total["conn_state"], 100 * result.ratio("conn_state", False),
        100 * result.ratio("conn_state")))
    print("history    %d/%d = %.2f %%" % (result.agree["history"], result.total["history"],
                                          100 * result.ratio("history", False)))
    print("completeness %d/%d = %.2f %% (bar counts %.2f %%)" % (
        result.agree["completeness"], result.total["completeness"],
        100 * result.ratio("completeness", False), 100 * result.ratio("completeness")))
    for item in result.disagreements:
        print("  disagree", *item)
    for key, why in sorted(ACCEPTED.items()):
        print("  accepted", *key, "-", why)
    return result


def _compare_entry(entry, result):
    zeek = (entry.get("zeek") or [None])[0]
    verify = bool(zeek) and not any("-C" in f for f in zeek["zeek_flags"]) \
        and entry["id"] not in CHECKSUMS_IGNORED_BY_OPTION
    table, _ = read_capture(entry["capture_path"], verify_checksums=verify)
    convs = build_conversations(table, verify_checksums=verify)
    if zeek:  # Zeek's connections, one per conn.log row (an attempt its timers split is several)
        _compare_zeek(entry, build_conversations(table, verify_checksums=verify, attempts=False), result)
    by_stream = {c.tcp_stream: c.completeness for c in convs}
    for stream in entry["tshark"]["streams"]:
        mine = by_stream.get(stream["tcp_stream"])
        result.add("completeness", entry["id"], mine == stream["completeness"],
                   f"stream {stream['tcp_stream']}: tshark {stream['completeness']} ours {mine}")


def _compare_zeek(entry, convs, result):
    rows = _zeek_rows(entry)
    if len(rows) != len(convs):
        result.disagreements.append(("count", entry["id"], "ACCEPTED" if (entry["id"], "count") in ACCEPTED
                                     else "", f"zeek {len(rows)} connections, ours {len(convs)}"))
    for row, conv in _matched(entry, convs):
        mine = (conv.conn_state, conv.history) if conv else (None, None)
        where = f"{row.get('orig_h')}:{row.get('orig_p')} > {row.get('resp_h')}:{row.get('resp_p')}"
        if row.get("conn_state"):
            result.add("conn_state", entry["id"], mine[0] == row["conn_state"],
                       f"{where} zeek {row['conn_state']} {row['history']} ours {mine[0]} {mine[1]}")
        if row.get("history") is not None:
            result.add("history", entry["id"], mine[1] == row["history"],
                       f"{where} zeek {row['history']} ours {mine[1]}")


def test_conn_state_agrees_with_zeek_on_99_percent(tally):
    assert tally.total["conn_state"] > 0
    assert tally.ratio("conn_state") >= 0.99


def test_completeness_agrees_with_tshark_on_99_5_percent(tally):
    assert tally.total["completeness"] > 0
    assert tally.ratio("completeness") >= 0.995


def test_history_agreement_is_reported(tally):
    # Reported, not a bar: letters like g (gaps) need reassembly. Guard against a collapse only.
    assert tally.ratio("history", counted=False) >= 0.9
