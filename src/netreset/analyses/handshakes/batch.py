"""Findings of connections that never opened — refused by a RST, or SYNs nobody answered — for many
conversations at once.

A port scan or a blocked service yields thousands of such conversations, each a handful of packets.
The per-conversation rules (:mod:`.opening`) spend a dozen numpy calls on tiny arrays on each, then
the sentence. Here every fact those two findings rest on — the SYN transmissions, the refusing RSTs,
orig's own RST, whether resp sent anything — is found with one numpy pass over the packets of all
conversations, turned into Python lists once, and each finding is assembled from slices
of those lists with the same sentence and field helpers the rules use.

The result is exact, not an approximation. A conversation is answered here only when the rules would
take the ``refused`` (RST) or ``syn_unanswered`` branch with no choice left to make:
- orig sent a SYN, resp sent no SYN-ACK;
- no SYN candidate and no refusing RST candidate repeats the candidate before it (then
  :func:`~netreset.analyses.handshakes.model.transmissions` keeps every candidate: see :mod:`.prepass`);
- for ``syn_unanswered``: resp sent nothing, orig sent no bare ACK, and no ICMP error in the capture
  quotes the conversation's 4-tuple (ICMP errors may refuse the connection or join the sentence).
Every other conversation goes to the rules; ``tests/analyses/test_handshakes.py`` checks that both paths give
the same findings.
"""

from __future__ import annotations

import operator
from typing import Sequence

import numpy as np

from netreset.flows.model import Conversation
from netreset.analyses.handshakes.model import DUPLICATE_WINDOW_NS, Context, Gathered, new_finding
from netreset.analyses.handshakes.opening import _next_retry_s, schedule_fields, ttl_phrase, verdict_fields
from netreset.analyses.handshakes.text import display_filter, rst_refusal_summary, unanswered_summary
from netreset.packets.table import ACK, PROTO_TCP, RST, SYN, PacketTable

#: What :func:`never_opened` decided for a conversation.
RULES, REFUSED, UNANSWERED = 0, 1, 2
#: A conversation and the fields a finding copies from it, read in one C-level call per conversation.
_CONVERSATION_FIELDS = operator.attrgetter("id", "tcp_stream", "file_id", "orig_h", "orig_p", "resp_h", "resp_p")
#: The verdict fields of a refusal whose RST has no reset verdict (:func:`.opening.verdict_fields` of None).
_NO_VERDICT = verdict_fields(None)


def never_opened(ctx: Context, table: PacketTable, conversations: Sequence[Conversation],
                 gathered: Gathered) -> tuple[list, np.ndarray]:
    """The ``refused`` (RST) and ``syn_unanswered`` findings of ``conversations``, and a bool per
    conversation: True when it still needs the per-conversation rules (nothing was decided here).
    ``gathered``: :func:`~netreset.analyses.handshakes.model.gather` of exactly these conversations."""
    n = len(conversations)
    if n == 0:
        return [], np.zeros(0, dtype=bool)
    facts = _Facts(table, gathered, n)
    outcome = facts.outcome(ctx, conversations)
    findings = facts.findings(ctx, conversations, outcome)
    return findings, outcome == RULES


class _Facts:
    """The TCP packets of all conversations as flat columns (conversation by conversation, in capture
    order), and the per-conversation facts of the two never-opened branches."""

    def __init__(self, table: PacketTable, gathered: Gathered, n: int) -> None:
        rows, orig, lengths = gathered
        tcp = table.proto[rows] == PROTO_TCP
        self.rows, self.orig = rows[tcp], orig[tcp]
        self.idx = np.repeat(np.arange(n), lengths)[tcp]
        self.counts = np.bincount(self.idx, minlength=n)
        self.starts = np.r_[0, np.cumsum(self.counts)[:-1]]
        self.pos = np.arange(len(self.rows)) - self.starts[self.idx]
        self.n, self.table = n, table
        flags = table.flags[self.rows].astype(np.int64)
        self.flags = flags
        hs = flags & (SYN | ACK | RST)
        orig, idx, pos = self.orig, self.idx, self.pos
        self.syn = np.flatnonzero(orig & (hs == SYN))  # SYN candidates, by conversation and position
        self.syn_at = np.searchsorted(idx[self.syn], np.arange(n + 1))  # each conversation's slice of syn
        has_syn = self.syn_at[1:] > self.syn_at[:-1]
        first_syn = np.full(n, np.iinfo(np.int64).max)
        first_syn[has_syn] = pos[self.syn[self.syn_at[:-1][has_syn]]]
        after_syn = pos > first_syn[idx]
        rst = (flags & RST) != 0
        self.refusing = np.flatnonzero(~orig & rst & after_syn)
        self.rst_at = np.searchsorted(idx[self.refusing], np.arange(n + 1))
        self.aborts = np.flatnonzero(orig & rst & after_syn)  # orig gave up its own attempt
        self.has_syn = has_syn
        self.synack = np.bincount(idx[~orig & (hs == (SYN | ACK))], minlength=n) > 0
        self.resp_sent = np.bincount(idx[~orig], minlength=n) > 0
        self.orig_acked = np.bincount(idx[orig & (hs == ACK)], minlength=n) > 0

    def _repeats(self, candidates: np.ndarray) -> np.ndarray:
        """Per conversation: some candidate is a capture copy of the one before it (the test of
        :func:`~netreset.analyses.handshakes.model.transmissions`)."""
        a, b = candidates[:-1], candidates[1:]
        col, ra, rb = self.table.columns, self.rows[a], self.rows[b]
        seq, ip_id, ts = col["seq"], col["ip_id"], col["ts_ns"]
        ip_b = ip_id[rb].astype(np.int64)
        copy = ((self.idx[a] == self.idx[b]) & (seq[ra] == seq[rb]) & (self.flags[a] == self.flags[b])
                & (ip_id[ra] == ip_id[rb]) & ((ip_b > 0) | (self.pos[b] == self.pos[a] + 1))
                & (ts[rb].astype(np.int64) - ts[ra].astype(np.int64) < DUPLICATE_WINDOW_NS))
        return np.bincount(self.idx[b[copy]], minlength=self.n) > 0

    def outcome(self, ctx: Context, conversations: Sequence[Conversation]) -> np.ndarray:
        """RULES, REFUSED or UNANSWERED per conversation."""
        clear = self.has_syn & ~self.synack & ~self._repeats(self.syn) & ~self._repeats(self.refusing)
        refused = clear & (self.rst_at[1:] > self.rst_at[:-1])
        unanswered = clear & ~self.resp_sent & ~self.orig_acked  # resp sent nothing: no refusing RST either
        if ctx.icmp:  # an ICMP error quoting the 4-tuple may refuse the connection or join the sentence
            for i in np.flatnonzero(unanswered).tolist():
                c = conversations[i]
                if (c.orig_h, c.resp_h, c.orig_p, c.resp_p) in ctx.icmp:
                    unanswered[i] = False
        return np.where(refused, REFUSED, np.where(unanswered, UNANSWERED, RULES))

    def findings(self, ctx: Context, conversations: Sequence[Conversation], outcome: np.ndarray) -> list:
        """The findings of the conversations decided here, in conversation order. Every number a
        finding holds is computed for all of them with numpy (the same integer and float operations
        as the rules, so the same values); the loop only formats and assembles."""
        refused, unanswered = outcome == REFUSED, outcome == UNANSWERED
        d = np.flatnonzero(outcome != RULES)
        if not len(d):
            return []
        col, idx, rows, pos = self.table.columns, self.idx, self.rows, self.pos
        frame, ts_ns, ttl = col["frame"], col["ts_ns"], col["ttl"]
        syn, refusing, aborts = self.syn, self.refusing, self.aborts
        syn_rows = rows[syn]
        syn_ts = ts_ns[syn_rows].astype(np.int64)
        s0, s1 = self.syn_at[d], self.syn_at[d + 1]
        first_ts, final_ts = syn_ts[s0], syn_ts[s1 - 1]
        # refused: the first refusing RST, and the last SYN sent before it
        r0, r1 = self.rst_at[d], self.rst_at[d + 1]
        first_rst = refusing[np.minimum(r0, len(refusing) - 1)] if len(refusing) else np.zeros(len(d), np.int64)
        rst_pos = np.where(r1 > r0, pos[first_rst], -1)
        rst_pos_of = np.full(self.n, -1)
        rst_pos_of[d] = rst_pos
        asked = np.r_[0, np.cumsum(pos[syn] < rst_pos_of[idx[syn]])]
        asked = asked[s1] - asked[s0]  # SYNs before the RST
        delay_s = (ts_ns[rows[first_rst]].astype(np.int64) - syn_ts[s0 + np.maximum(asked, 1) - 1]) / 1e9
        # unanswered: orig's first RST after its first SYN
        first_abort = aborts[np.r_[True, idx[aborts[1:]] != idx[aborts[:-1]]]] if len(aborts) else aborts
        first_abort = first_abort[unanswered[idx[first_abort]]]
        abort_of = np.full(self.n, -1)
        abort_of[idx[first_abort]] = first_abort
        abort = abort_of[d]
        abort_s = (ts_ns[rows[abort]].astype(np.int64) - first_ts) / 1e9
        # the packets each finding rests on: SYNs and refusing RSTs, or SYNs and orig's first RST
        cited = np.zeros(len(rows), dtype=bool)
        cited[syn[(outcome != RULES)[idx[syn]]]] = True
        cited[refusing[refused[idx[refusing]]]] = True
        cited[first_abort] = True
        cited = np.flatnonzero(cited)
        cited_at = np.searchsorted(idx[cited], np.r_[d, d[-1] + 1])
        frames = frame[rows[cited]].tolist()
        view_first, view_last = rows[self.starts[d]], rows[self.starts[d] + self.counts[d] - 1]
        syn_dt = np.r_[0, np.diff(syn_ts)].tolist()  # ns since the SYN before (a conversation's first: unused)
        decided = [conversations[i] for i in d.tolist()]
        columns = zip(
            refused[d].tolist(), s0.tolist(), s1.tolist(), ttl[syn_rows[s0]].tolist(),
            (first_ts / 1e9).tolist(), ((final_ts - first_ts) / 1e9).tolist(), final_ts.tolist(),
            (r1 - r0).tolist(), frame[rows[first_rst]].tolist(), ttl[rows[first_rst]].tolist(),
            np.where(asked > 0, delay_s, np.nan).tolist(), np.where(abort >= 0, abort_s, np.nan).tolist(),
            ts_ns[view_last].tolist(), frame[view_first].tolist(), frame[view_last].tolist(),
            cited_at[:-1].tolist(), cited_at[1:].tolist(),
            decided, map(_CONVERSATION_FIELDS, decided),
        )
        sharing, capture_end, verdicts = ctx.stream_sharing, ctx.capture_end, ctx.verdicts
        schedules: dict[tuple, list] = {}
        out = []
        for (is_refused, s0, s1, syn_ttl, ts, span_s, final, rst_count, rst_frame, rst_ttl, delay_s, abort_s,
             last_ts, first_frame, last_frame, f0, f1, c,
             (cid, stream, file_id, orig_h, orig_p, resp_h, resp_p)) in columns:
            key = (tuple(syn_dt[s0 + 1:s1]), syn_ttl)
            schedule = schedules.get(key)
            if schedule is None:
                syn_gaps = tuple(float(dt) / 1e9 for dt in key[0])
                schedule = schedules[key] = [*schedule_fields(ctx, syn_gaps, syn_ttl, s1 - s0), None]
            span = (first_frame, last_frame) if sharing[stream] > 1 else None
            if is_refused:
                if delay_s != delay_s:  # NaN: no SYN before the RST
                    delay_s = None
                found = verdicts.get((cid, rst_frame))
                verdict = verdict_fields(found) if found is not None else _NO_VERDICT
                out.append(new_finding({
                    "kind": "refused", "conversation": cid, "tcp_stream": stream, "file_id": file_id, "ts": ts,
                    "orig_h": orig_h, "orig_p": orig_p, "resp_h": resp_h, "resp_p": resp_p,
                    "frames": tuple(frames[f0:f1]), **schedule[0], "refused_by": resp_h, "refusal": "rst", **verdict,
                }, (_refused_text, (c, s1 - s0, rst_count, rst_frame, rst_ttl, delay_s, verdict["verdict"], span))))
                continue
            if abort_s != abort_s:  # NaN: orig did not give up itself
                abort_s = None
            tail_s = (capture_end.get(file_id, last_ts) - final) / 1e9
            if abort_s is None and schedule[2] is None:
                schedule[2] = _next_retry_s(schedule[0]["syn_gaps_s"], ctx, syn_ttl)
            cut_short = abort_s is None and tail_s < schedule[2]
            out.append(new_finding({
                "kind": "syn_unanswered", "conversation": cid, "tcp_stream": stream, "file_id": file_id, "ts": ts,
                "orig_h": orig_h, "orig_p": orig_p, "resp_h": resp_h, "resp_p": resp_p,
                "frames": tuple(frames[f0:f1]), **schedule[0], "silent_side": "resp",
            }, (_unanswered_text, (c, s1 - s0, schedule[1], span_s, tail_s, cut_short, abort_s, span))))
        return out


def _refused_text(c: Conversation, syn_count: int, rst_count: int, rst_frame: int, rst_ttl: int,
                  delay_s: float | None, verdict: str | None, span: tuple[int, int] | None) -> tuple[str, str]:
    """The sentence and filter of a refusal by RST (written when first read)."""
    return (rst_refusal_summary(c, syn_count, rst_count, rst_frame, ttl_phrase(rst_ttl), delay_s, verdict),
            display_filter("refused", c.tcp_stream, span, ()))


def _unanswered_text(c: Conversation, syn_count: int, gaps_text: str, span_s: float, tail_s: float, cut_short: bool,
                     abort_s: float | None, span: tuple[int, int] | None) -> tuple[str, str]:
    """The sentence and filter of unanswered SYNs (written when first read)."""
    return (unanswered_summary(c, syn_count, gaps_text, span_s, tail_s, None, cut_short, abort_s),
            display_filter("syn_unanswered", c.tcp_stream, span, (), names_reset=abort_s is not None))
