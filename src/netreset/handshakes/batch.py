"""Findings of connections that never opened — refused by a RST, or SYNs nobody answered — for many
conversations at once.

A port scan or a blocked service yields thousands of such conversations, each a handful of packets.
The per-conversation rules (:mod:`.opening`) spend ≈ 100 µs on each: a dozen numpy calls on tiny
arrays, then the sentence. Here every fact those two findings rest on — the SYN transmissions, the
refusing RSTs, orig's own RST, whether resp sent anything — is found with one numpy pass over the
packets of all conversations, turned into Python lists once, and each finding is assembled from slices
of those lists with the same sentence and field helpers the rules use.

The result is exact, not an approximation. A conversation is answered here only when the rules would
take the ``refused`` (RST) or ``syn_unanswered`` branch with no choice left to make:
- orig sent a SYN, resp sent no SYN-ACK;
- no SYN candidate and no refusing RST candidate repeats the candidate before it (then
  :func:`~netreset.handshakes.model.transmissions` keeps every candidate: see :mod:`.prepass`);
- for ``syn_unanswered``: resp sent nothing, orig sent no bare ACK, and no ICMP error in the capture
  quotes the conversation's 4-tuple (ICMP errors may refuse the connection or join the sentence).
Every other conversation goes to the rules; ``tests/test_handshakes.py`` checks that both paths give
the same findings.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from netreset.conversations import Conversation
from netreset.handshakes.model import DUPLICATE_WINDOW_NS, Context, Gathered, new_finding
from netreset.handshakes.opening import _next_retry_s, schedule_fields, ttl_phrase, verdict_fields
from netreset.handshakes.text import display_filter, rst_refusal_summary, unanswered_summary
from netreset.packets import ACK, PROTO_TCP, RST, SYN, PacketTable

#: What :func:`never_opened` decided for a conversation.
RULES, REFUSED, UNANSWERED = 0, 1, 2


def never_opened(ctx: Context, table: PacketTable, conversations: Sequence[Conversation],
                 gathered: Gathered) -> tuple[list, np.ndarray]:
    """The ``refused`` (RST) and ``syn_unanswered`` findings of ``conversations``, and a bool per
    conversation: True when it still needs the per-conversation rules (nothing was decided here).
    ``gathered``: :func:`~netreset.handshakes.model.gather` of exactly these conversations."""
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
        :func:`~netreset.handshakes.model.transmissions`)."""
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
        """The findings of the conversations decided here, in conversation order."""
        refused, unanswered = outcome == REFUSED, outcome == UNANSWERED
        decided = np.flatnonzero(outcome != RULES)
        if not len(decided):
            return []
        col, idx, rows, pos = self.table.columns, self.idx, self.rows, self.pos
        frame, ts_ns, ttl = col["frame"], col["ts_ns"], col["ttl"]
        aborts = self.aborts
        first_abort = aborts[np.r_[True, idx[aborts[1:]] != idx[aborts[:-1]]]] if len(aborts) else aborts
        first_abort = first_abort[unanswered[idx[first_abort]]]
        # the packets each finding rests on: SYNs and refusing RSTs, or SYNs and orig's first RST
        cited = np.zeros(len(rows), dtype=bool)
        cited[self.syn[(outcome != RULES)[idx[self.syn]]]] = True
        cited[self.refusing[refused[idx[self.refusing]]]] = True
        cited[first_abort] = True
        cited = np.flatnonzero(cited)
        cited_at = np.searchsorted(idx[cited], np.arange(self.n + 1)).tolist()
        frames = frame[rows[cited]].tolist()
        syn_rows = rows[self.syn]
        syn_ts = ts_ns[syn_rows].astype(np.int64)
        syn_dt = np.r_[0, np.diff(syn_ts)].tolist()  # ns since the SYN before (the conversation's first: unused)
        syn_ts, syn_pos, syn_ttl = syn_ts.tolist(), pos[self.syn].tolist(), ttl[syn_rows].tolist()
        syn_at, rst_at = self.syn_at.tolist(), self.rst_at.tolist()
        has_rst = np.flatnonzero(self.rst_at[1:] > self.rst_at[:-1])
        first_rst = self.refusing[self.rst_at[has_rst]]
        rst_rows = rows[first_rst]
        rst = dict(zip(has_rst.tolist(), zip(frame[rst_rows].tolist(), ts_ns[rst_rows].tolist(),
                                             ttl[rst_rows].tolist(), pos[first_rst].tolist())))
        abort_ts = dict(zip(idx[first_abort].tolist(), ts_ns[rows[first_abort]].tolist()))
        ends = (self.starts + self.counts)[decided] - 1
        view_frames = dict(zip(decided.tolist(), zip(frame[rows[self.starts[decided]]].tolist(),
                                                     frame[rows[ends]].tolist())))
        view_last_ts = dict(zip(decided.tolist(), ts_ns[rows[ends]].tolist()))
        sharing, capture_end, verdicts = ctx.stream_sharing, ctx.capture_end, ctx.verdicts
        schedules: dict[tuple, list] = {}
        out = []
        for i, is_refused in zip(decided.tolist(), refused[decided].tolist()):
            c = conversations[i]
            s0, s1 = syn_at[i], syn_at[i + 1]
            key = (tuple(syn_dt[s0 + 1:s1]), syn_ttl[s0])
            schedule = schedules.get(key)
            if schedule is None:
                syn_gaps = tuple(float(dt) / 1e9 for dt in key[0])
                schedule = schedules[key] = [*schedule_fields(ctx, syn_gaps, key[1], s1 - s0), None]
            times = syn_ts[s0:s1]
            stream = c.tcp_stream
            span = view_frames[i] if sharing[stream] > 1 else None
            if is_refused:
                rst_frame, rst_ts, rst_ttl, rst_pos = rst[i]
                asked = [t for t, p in zip(times, syn_pos[s0:s1]) if p < rst_pos]
                delay_s = float(rst_ts - asked[-1]) / 1e9 if asked else None
                verdict = verdict_fields(verdicts.get((c.id, rst_frame)))
                summary = rst_refusal_summary(c, s1 - s0, rst_at[i + 1] - rst_at[i], rst_frame, ttl_phrase(rst_ttl),
                                              delay_s, verdict["verdict"])
                finding = {"kind": "refused", "refused_by": c.resp_h, "refusal": "rst", **verdict,
                           "display_filter": display_filter("refused", stream, span, ())}
            else:
                first, final = times[0], times[-1]
                abort = abort_ts.get(i)
                abort_s = float(abort - first) / 1e9 if abort is not None else None
                tail_s = (capture_end.get(c.file_id, view_last_ts[i]) - final) / 1e9
                if abort_s is None and schedule[2] is None:
                    schedule[2] = _next_retry_s(schedule[0]["syn_gaps_s"], ctx, key[1])
                cut_short = abort_s is None and tail_s < schedule[2]
                summary = unanswered_summary(c, s1 - s0, schedule[1], (final - first) / 1e9, tail_s, None, cut_short,
                                             abort_s)
                finding = {"kind": "syn_unanswered", "silent_side": "resp",
                           "display_filter": display_filter("syn_unanswered", stream, span, ())}
            finding.update(schedule[0])
            finding.update({
                "conversation": c.id, "tcp_stream": stream, "file_id": c.file_id, "ts": float(times[0]) / 1e9,
                "orig_h": c.orig_h, "orig_p": c.orig_p, "resp_h": c.resp_h, "resp_p": c.resp_p,
                "frames": tuple(frames[cited_at[i]:cited_at[i + 1]]), "summary": summary,
            })
            out.append(new_finding(finding))
        return out
