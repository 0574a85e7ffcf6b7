"""What differs between two capture points on one connection, and what each difference means.

* **Placement.** Every router decrements the TTL, so a packet seen at both points arrives at the later one
  with a lower TTL: the difference counts the routers between the capture points and says which of them is
  nearer each end. Without matched packets, a host's own packets arriving with an initial TTL (0 routers)
  say the capture was taken on that host.
* **One-sided packets.** A packet travels away from its sender. Seen only at the capture point nearer
  its sender, it never got to the other one: **dropped** between them. Seen only at the point farther
  from its sender, it was never at the nearer one: someone between the points **injected** it in the
  sender's name. A packet far outside the other capture's time span says nothing (``outside_capture``).
* **Modifications.** Fields of matched packets that changed on the way (window, MSS, options, DF, IP ID,
  ECN) name the kind of device in between; a constant sequence shift names a terminating proxy.
"""

from __future__ import annotations

import numpy as np

from netreset.flows.model import Conversation
from netreset.packets.table import ACK, CWR, ECE, FIN, RST, SYN, PacketTable
from netreset.analyses.ttl import TtlTable, guess_ttl
from netreset.analyses.vantage.model import Modification, OneSided, Placement

COVERAGE_SLACK_S = 60.0  #: a packet this far outside the other capture's packets may predate/outlive it

#: field → (column or None, what a change means)
MODIFIED_FIELDS = {
    "window": ("win", "the TCP window was rewritten: a normalising firewall, proxy or WAN optimiser"),
    "mss": ("mss", "MSS clamping: a router, firewall or VPN gateway lowers the MSS of SYNs"),
    "wscale": ("wscale", "the window-scale option was rewritten: a normalising firewall or proxy"),
    "sack_perm": ("sack_perm", "the SACK-permitted option was added or removed: a normalising firewall or proxy"),
    "timestamps": (None, "TCP timestamps were stripped or added: a normalising firewall or proxy"),
    "options": (None, "the TCP option list changed: a normalising firewall or proxy"),
    "df": ("df", "the DF bit changed: a router clearing DF, or a tunnel"),
    "ip_id": ("ip_id", "the IP ID was rewritten: some NATs and load balancers do"),
    "ecn": (None, "ECN bits were cleared or set on the way"),
}


def flag_letters(flags: int) -> str:
    """tcpdump-style letters in the order the lab's truth uses: S, F, R, P, A (e.g. "RA")."""
    return "".join(letter for bit, letter in ((SYN, "S"), (FIN, "F"), (RST, "R"), (0x08, "P"), (ACK, "A"))
                   if flags & bit)


def packet_name(flags: int, payload_len: int) -> str:
    """SYN | SYN-ACK | RST | FIN | data segment | ACK — what a person calls the packet."""
    if flags & RST:
        return "RST"
    if flags & SYN:
        return "SYN-ACK" if flags & ACK else "SYN"
    if payload_len:
        return "data segment"
    return "FIN" if flags & FIN else "ACK"


def _side_rows(conv: Conversation, orig: bool) -> np.ndarray:
    return conv.rows[np.asarray(conv.from_orig) == orig]


def at_host(table: PacketTable, conv: Conversation | None, orig: bool, ttl_table: TtlTable | None) -> bool:
    """The capture shows this side's own packets with an initial TTL: it was taken on that host."""
    if conv is None:
        return False
    rows = _side_rows(conv, orig)
    own = rows[(table.flags[rows] & RST) == 0]
    rows = own if len(own) else rows  # a host that only refused still shows its own TTL on the RST
    return bool(len(rows)) and all(guess_ttl(int(t), ttl_table).routers_between == 0 for t in set(table.ttl[rows].tolist()))


def placement(a_table: PacketTable, ca: Conversation | None, b_table: PacketTable, cb: Conversation | None,
              a_rows: np.ndarray, b_rows: np.ndarray, a_from_orig: np.ndarray,
              ttl_table: TtlTable | None = None) -> Placement:
    """Which capture point is nearer the originator, and how many routers lie between them."""
    if len(a_rows):
        delta = a_table.ttl[a_rows].astype(np.int64) - b_table.ttl[b_rows].astype(np.int64)
        toward_resp = np.where(a_from_orig, delta, -delta)
        routers = int(np.median(toward_resp))
        if routers:
            return Placement(routers > 0, abs(routers), "ttl")
    else:
        routers = None
    if at_host(a_table, ca, True, ttl_table) or (cb is not None and at_host(b_table, cb, False, ttl_table)):
        return Placement(True, routers, "endpoint")
    if at_host(a_table, ca, False, ttl_table) or (cb is not None and at_host(b_table, cb, True, ttl_table)):
        return Placement(False, routers, "endpoint")
    return Placement(True, routers, "assumed")


def classify(side: str, from_orig: bool, place: Placement, ts_ns: int, other_span: tuple[int, int] | None) -> str:
    """injected | dropped | outside_capture for a packet only the capture ``side`` holds."""
    if other_span is not None:
        slack = int(COVERAGE_SLACK_S * 1e9)
        if ts_ns < other_span[0] - slack or ts_ns > other_span[1] + slack:
            return "outside_capture"
    holder_nearer_orig = place.a_nearer_orig if side == "a" else not place.a_nearer_orig
    holder_nearer_sender = holder_nearer_orig == from_orig
    return "dropped" if holder_nearer_sender else "injected"


def one_sided(side: str, table: PacketTable, conv: Conversation, rows: np.ndarray, flip: bool, place: Placement,
              ts_on_a: np.ndarray, other_span, names: tuple[str, str]) -> tuple[OneSided, ...]:
    """Records for ``rows`` of ``conv`` (``flip``: this capture names orig/resp the other way from A)."""
    position = {int(r): i for i, r in enumerate(conv.rows.tolist())}
    here, there = names if side == "a" else names[::-1]
    found = []
    for row, ts in zip(rows.tolist(), ts_on_a.tolist()):
        from_orig = bool(conv.from_orig[position[row]]) ^ flip
        flags, length = int(table.flags[row]), int(table.payload_len[row])
        name = packet_name(flags, length)
        kind = classify(side, from_orig, place, ts, other_span)
        sender = table.book.name(int(table.src[row]))
        frame = int(table.frame[row])
        if kind == "dropped":
            detail = f"{name} from {sender} seen in {here} (frame {frame}) never reached {there}: dropped between them."
        elif kind == "injected":
            detail = (f"{name} claiming to come from {sender} reached {here} (frame {frame}) but never passed "
                      f"{there}, which sits nearer {sender}: a device between the two capture points sent it.")
        else:
            detail = f"{name} in {here} (frame {frame}) lies outside the time {there} covers: no evidence."
        found.append(OneSided(side, row, frame, ts / 1e9, from_orig, name, flag_letters(flags),
                              int(table.seq[row]), int(table.ttl[row]), kind, detail))
    return tuple(found)


def _field_values(table: PacketTable, rows: np.ndarray, name: str) -> np.ndarray:
    if name == "timestamps":
        return table.ts_val[rows] >= 0
    if name == "options":
        signatures = table.book.signatures
        return np.array([signatures[s] if s >= 0 else "" for s in table.options_sig[rows].tolist()], dtype=object)
    if name == "ecn":
        return table.flags[rows] & (ECE | CWR)
    return table.columns[MODIFIED_FIELDS[name][0]][rows]


def modifications(a_table: PacketTable, a_rows: np.ndarray, b_table: PacketTable, b_rows: np.ndarray,
                  a_from_orig: np.ndarray) -> tuple[Modification, ...]:
    """Header fields that changed between the capture points, with the first example and a meaning."""
    found = []
    for name, (_, meaning) in MODIFIED_FIELDS.items():
        va, vb = _field_values(a_table, a_rows, name), _field_values(b_table, b_rows, name)
        changed = np.flatnonzero(va != vb)
        if len(changed):
            i = int(changed[0])
            found.append(Modification(name, len(changed), _plain(va[i]), _plain(vb[i]),
                                      int(a_table.frame[a_rows[i]]), int(b_table.frame[b_rows[i]]), meaning))
    delta = a_table.ttl[a_rows].astype(np.int64) - b_table.ttl[b_rows].astype(np.int64)
    for orig in (True, False):
        values = np.unique(delta[a_from_orig == orig])
        if len(values) > 1:
            found.append(Modification("ttl_spread", len(values), int(values.min()), int(values.max()), 0, 0,
                                      "TTL decrements differ between packets of one direction: a route change, "
                                      "or a device re-stamping TTLs"))
    return tuple(found)


def _plain(value):
    return value.item() if hasattr(value, "item") else value
