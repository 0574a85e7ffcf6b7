"""Building a :class:`ResetContext` for every RST: which packets each rule may compare it with.

Whole-capture facts (each host's TTLs, the ICMP errors) are indexed once per run in a
:class:`CaptureIndex`; each RST then only slices its own conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from netreset.conversations import Conversation
from netreset.packets import PROTO_ICMP, PROTO_ICMP6, PROTO_TCP, RST, PacketTable
from netreset.resets.evidence import HostTtls, ResetContext
from netreset.resets.icmp_rules import quoting_rows
from netreset.ttl import TtlTable

_NO_TTLS = HostTtls(np.zeros(0, dtype=np.int16), np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class CaptureIndex:
    """Per-capture lookups shared by every RST."""

    host_ttls: dict[int, HostTtls]  #: address id → TTLs of its non-RST TCP packets
    icmp_rows: np.ndarray  #: rows of ICMP/ICMPv6 errors that quote a TCP header

    @classmethod
    def build(cls, table: PacketTable) -> "CaptureIndex":
        """Group every non-RST TCP packet by (source, TTL) once, with numpy."""
        keep = (table.proto == PROTO_TCP) & ((table.flags & RST) == 0) & (table.ttl >= 0)
        keys = table.src[keep].astype(np.int64) * 256 + table.ttl[keep]
        unique, counts = np.unique(keys, return_counts=True)
        sources, ttls = unique // 256, (unique % 256).astype(np.int16)
        starts = np.flatnonzero(np.r_[True, sources[1:] != sources[:-1]]) if len(sources) else np.zeros(0, int)
        ends = np.r_[starts[1:], len(sources)]
        host = {int(sources[s]): HostTtls(ttls[s:e], counts[s:e]) for s, e in zip(starts, ends)}
        icmp = np.flatnonzero(np.isin(table.proto, (PROTO_ICMP, PROTO_ICMP6)) & (table.q_sport >= 0))
        return cls(host, icmp)


def reset_contexts(
    table: PacketTable, conv: Conversation, index: CaptureIndex, ttl_table: TtlTable | None = None
) -> Iterator[ResetContext]:
    """One context per RST of ``conv``, in capture order."""
    rows = np.asarray(conv.rows, dtype=np.int64)
    from_orig = np.asarray(conv.from_orig, dtype=bool)
    is_rst = (table.flags[rows] & RST) != 0
    if not np.any(is_rst):
        return
    orig = _address(table, rows, from_orig, True)
    resp = _address(table, rows, from_orig, False)
    icmp = quoting_rows(table, index.icmp_rows, orig, resp, conv.orig_p, conv.resp_p)
    positions = np.arange(len(rows))
    for pos in np.flatnonzero(is_rst).tolist():
        side = bool(from_orig[pos])
        mine = from_orig == side
        sender_id = orig if side else resp
        yield ResetContext(
            table=table,
            conv=conv,
            row=int(rows[pos]),
            pos=pos,
            from_orig=side,
            sender=rows[mine & ~is_rst & (positions < pos)],
            sender_after=rows[mine & ~is_rst & (positions > pos)],
            sender_rsts=rows[mine & is_rst],
            other=rows[~mine & (positions < pos)],
            host=index.host_ttls.get(sender_id, _NO_TTLS),
            icmp=icmp,
            ttl_table=ttl_table,
        )


def _address(table: PacketTable, rows: np.ndarray, from_orig: np.ndarray, orig: bool) -> int:
    """Address id of one side: the source of its first packet, else the destination of the other's."""
    mine = rows[from_orig == orig]
    if len(mine):
        return int(table.src[mine[0]])
    return int(table.dst[rows[0]])
