"""ICMP and ICMPv6 errors that quote a TCP segment — the evidence that ties a router to a conversation.

An error quotes the offending packet's IP header and at least its first 8 transport bytes (RFC 792,
RFC 4443): for TCP that is the ports and the sequence number, enough to find the conversation and to
read the TTL the packet had left when it died (``q_ttl``). Errors quoting anything else, and ICMP
messages that are not errors, are counted by name and produce no row.
"""

from __future__ import annotations

import struct

from netreset.ingest.layers.ip import skip_extensions

#: Destination unreachable, source quench, redirect, time exceeded, parameter problem.
ICMP4_ERRORS = frozenset((3, 4, 5, 11, 12))
#: Destination unreachable, packet too big, time exceeded, parameter problem.
ICMP6_ERRORS = frozenset((1, 2, 3, 4))

_PORTS_SEQ = struct.Struct("!HHI")


def parse_icmp4(data: bytes, off: int, end: int, row: dict, addr) -> str | None:
    """ICMPv4 message at ``off``: fill the icmp_* and q_* columns when it is an error quoting TCP."""
    if off + 8 > end:
        return "truncated-icmp"
    if data[off] not in ICMP4_ERRORS:
        return "icmp"
    q = off + 8
    if q + 20 > end or data[q] >> 4 != 4:
        return "icmp"
    qhlen = (data[q] & 0x0F) << 2
    if data[q + 9] != 6 or qhlen < 20:
        return "icmp"
    if data[q + 6] & 0x1F or data[q + 7]:  # quotes a non-first fragment: no TCP header inside
        return "icmp"
    if q + qhlen + 8 > end:
        return "truncated-icmp-quote"
    _fill(row, 1, data, off, q + qhlen, data[q + 8], addr(data[q + 12:q + 16]), addr(data[q + 16:q + 20]))
    return None


def parse_icmp6(data: bytes, off: int, end: int, row: dict, addr) -> str | None:
    """ICMPv6 error at ``off``; the quoted IPv6 header's extension headers are walked to reach TCP."""
    if off + 8 > end:
        return "truncated-icmp"
    if data[off] not in ICMP6_ERRORS:
        return "icmpv6"
    q = off + 8
    if q + 40 > end or data[q] >> 4 != 6:
        return "icmpv6"
    found = skip_extensions(data, data[q + 6], q + 40, end)
    if found.__class__ is str or found[0] != 6:
        return "icmpv6"
    if found[1] + 8 > end:
        return "truncated-icmp-quote"
    _fill(row, 58, data, off, found[1], data[q + 7], addr(data[q + 8:q + 24]), addr(data[q + 24:q + 40]))
    return None


def _fill(row: dict, proto: int, data: bytes, off: int, tcp: int, q_ttl: int, q_src: int, q_dst: int) -> None:
    row["proto"] = proto
    row["icmp_type"] = data[off]
    row["icmp_code"] = data[off + 1]
    row["q_src"] = q_src
    row["q_dst"] = q_dst
    row["q_ttl"] = q_ttl
    row["q_sport"], row["q_dport"], row["q_seq"] = _PORTS_SEQ.unpack_from(data, tcp)
