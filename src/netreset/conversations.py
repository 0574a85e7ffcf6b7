"""TCP conversations: packets grouped by connection, each classified by its TCP state.

Contract used by every analysis (resets, handshakes, hosts, plots, reports):
``build_conversations(table) -> list[Conversation]``.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last packet."""
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def ts(self) -> float:
        """Start time, seconds since the epoch (float), as Zeek's ``ts``."""
        return self.start_ns / 1e9
