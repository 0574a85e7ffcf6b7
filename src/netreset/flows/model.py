"""The conversation: what every analysis, record and plot reads about one TCP connection.

A plain frozen record with Zeek's and Wireshark's names for its fields, made by
:func:`netreset.flows.conversations.build_conversations` (or its compiled twin, which fills the same fields
through :func:`conversations_from_columns`). Kept apart from the walks that build it so that readers of a
conversation depend on its shape, not on how it was computed.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Conversation:
    """One TCP connection as seen in the capture. ``orig`` opened it (sent the first SYN)."""

    id: int  #: 0-based, in order of the conversation's first packet (see docs/tcp-states.md)
    tcp_stream: int  #: Wireshark's ``tcp.stream`` number of this conversation's packets
    orig_h: str  #: originator address (text)
    orig_p: int  #: originator port
    resp_h: str  #: responder address (text)
    resp_p: int  #: responder port
    ip_version: int  #: 4 or 6
    rows: np.ndarray  #: int64 indices into the PacketTable, in capture order
    from_orig: np.ndarray  #: bool per entry of ``rows``: True when the packet was sent by orig
    start_ns: int  #: timestamp of the first packet, ns since the epoch
    end_ns: int  #: timestamp of the last packet, ns since the epoch
    conn_state: str  #: Zeek conn_state (S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH)
    history: str  #: Zeek history letters (upper case = orig)
    completeness: int  #: Wireshark tcp.completeness bitmask (1 SYN 2 SYN-ACK 4 ACK 8 DATA 16 FIN 32 RST)
    outcome: str  #: clean | open | syn_unanswered | refused | reset_by_orig | reset_by_resp | half_closed | partial
    partial: bool  #: True when no SYN from orig was seen (orig guessed from the first packet)
    orig_pkts: int  #: packets sent by orig
    resp_pkts: int  #: packets sent by resp
    orig_bytes: int  #: TCP payload bytes sent by orig (IP-length based)
    resp_bytes: int  #: TCP payload bytes sent by resp
    orig_ip_bytes: int  #: IP bytes sent by orig (sum of IP total lengths)
    resp_ip_bytes: int  #: IP bytes sent by resp
    syn_count: int  #: SYNs (without ACK) sent by orig, retransmissions included
    syn_gaps_s: tuple[float, ...]  #: seconds between consecutive SYNs of orig
    retransmissions: int  #: data segments seen again (both directions)
    file_id: int = 0  #: capture file index the conversation started in
    orig_seq_bytes: int = 0  #: Zeek's orig_bytes: payload bytes by sequence numbers (``Size()``)
    resp_seq_bytes: int = 0  #: Zeek's resp_bytes: payload bytes by sequence numbers
    #: start of every Zeek connection (conn.log row) this conversation is made of, in order: one, or
    #: several when Zeek's timers split one connection attempt (see docs/tcp-states.md); () = just this one
    zeek_starts_ns: tuple[int, ...] = ()
    zeek_last_ns: int = 0  #: Zeek's last activity time of its last connection (conn.log ``duration`` = this - ts)

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last packet."""
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def zeek_connections(self) -> int:
        """How many rows of Zeek's conn.log this conversation is (1 unless one attempt was split)."""
        return len(self.zeek_starts_ns) or 1

    @property
    def ts(self) -> float:
        """Start time, seconds since the epoch (float), as Zeek's ``ts``."""
        return self.start_ns / 1e9


_FIELDS = tuple(field.name for field in fields(Conversation))


def conversations_from_columns(columns: dict) -> list[Conversation]:
    """Conversations from one sequence per field (all of equal length), without ``__init__``.

    The generated ``__init__`` of a frozen dataclass sets each of the 28 fields through
    ``object.__setattr__``; filling the instance dict at once makes the same objects in a third
    of the time, which matters at ~70k conversations per million packets (the compiled path).
    """
    if set(columns) != set(_FIELDS):
        raise ValueError(f"columns do not match Conversation's fields: {sorted(set(columns) ^ set(_FIELDS))}")
    new, out = object.__new__, []
    collecting = gc.isenabled()
    gc.disable()  # tens of thousands of new objects, no cycle among them: no collection can free any
    try:
        for values in zip(*(columns[name] for name in _FIELDS)):
            conv = new(Conversation)
            conv.__dict__.update(zip(_FIELDS, values))
            out.append(conv)
    finally:
        if collecting:
            gc.freeze()  # the new objects join the old ones in the oldest generation (as resets.collector
            gc.unfreeze()  # explains): re-enabling would otherwise collect over all of them at once
            gc.enable()
    return out


def with_outcome(conv: Conversation, outcome: str) -> Conversation:
    """A copy of ``conv`` with another outcome (what ``dataclasses.replace`` makes, without its per-field checks)."""
    copy = object.__new__(Conversation)
    copy.__dict__.update(conv.__dict__, outcome=outcome)
    return copy


#: Zeek conn_states of a connection that never got past its SYN: nothing answered it (``S0``) or a RST
#: refused it (``REJ``). Only such a connection can be continued by a later same-ISN SYN.
ATTEMPT_STATES = ("S0", "REJ")
#: A same-ISN SYN continues an attempt only this soon after the attempt's last packet: the longest gap of
#: any stack's SYN retry schedule is Linux's TCP_RTO_MAX, 120 s (data/syn_schedules.toml). Later, the
#: same ISN is a coincidence or a replay, not the stack's timer. It also bounds how long the streamed
#: path must keep an unanswered tuple open (pipeline/streamed.py).
ATTEMPT_HORIZON_NS = 120 * 1_000_000_000


#: Friendly outcome per Zeek conn_state.
OUTCOMES = {
    "SF": "clean", "S1": "open", "S0": "syn_unanswered", "RSTOS0": "syn_unanswered", "REJ": "refused",
    "RSTO": "reset_by_orig", "RSTR": "reset_by_resp", "RSTRH": "reset_by_resp", "S2": "half_closed",
    "S3": "half_closed", "SH": "half_closed", "SHR": "half_closed", "OTH": "partial",
}


def endpoint(host: str, port: int) -> str:
    """``host:port``, bracketing IPv6 addresses as URLs do. Every sentence, record, table and figure
    names a conversation's ends this way; defined here, with the conversation, so that each of them
    (analyses, records, reports, plots) can import it one way."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
