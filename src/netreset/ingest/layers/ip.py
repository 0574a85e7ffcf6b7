"""IPv4 and IPv6 headers: fill the IP columns of a row and say where the transport header is.

Both parsers answer ``(proto, l4_off, l4_end, l4_len, pseudo)`` or a reason string:

* ``l4_end`` is where the *captured* transport bytes stop (snaplen, or the IP length when the frame
  carries Ethernet padding), ``l4_len`` what the IP header *claims* — their difference is the truncation.
* ``pseudo`` is the address part of the checksum pseudo-header, or None when the transport checksum
  cannot be checked (a fragment) or checking was not asked for.

Quirks worth knowing: an IPv4 total length of 0 is what TCP segmentation offload leaves in local
captures, so the captured length is used instead (as Wireshark does); the same goes for an IPv6
payload length of 0 without a jumbogram. Non-first fragments have no transport header and are
reported as ``"non-first-fragment"``. An IPv4 packet with a loose or strict source route (options 131,
137) whose route is not used up is going to the route's last address, not to the header's next hop:
Wireshark takes that final hop as ``ip.dst`` (and in the checksum's pseudo-header), and so the
conversation is keyed on it (:func:`ipv4_dst_offset`).
"""

from __future__ import annotations

import struct

from netreset.ingest.layers.checksum import ipv4_header_ok

_V4 = struct.Struct("!BxHHHBBx")
_V6 = struct.Struct("!IHBB")
_FRAG6 = struct.Struct("!BxHI")

#: IPv6 extension headers walked over to reach the transport header.
IPV6_EXTENSIONS = frozenset((0, 43, 44, 51, 60, 135, 139, 140))

#: Transport protocols counted by name when they are not TCP (and carry no tunnel).
IP_PROTO_NAMES = {
    1: "icmp", 2: "igmp", 17: "udp", 47: "gre", 50: "esp", 51: "ah", 58: "icmpv6", 59: "ipv6-no-next",
    89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp", 136: "udplite", 33: "dccp", 88: "eigrp",
}


def proto_name(proto: int) -> str:
    return IP_PROTO_NAMES.get(proto) or f"ip-proto-{proto}"


#: IPv4 options: end of list, no-operation, loose and strict source route.
IPOPT_EOOL, IPOPT_NOP, IPOPT_LSR, IPOPT_SSR = 0, 1, 131, 137


def ipv4_dst_offset(data: bytes, off: int, hlen: int) -> int:
    """Where the destination address of the IPv4 header at ``off`` is, from ``off``: 16, or the last
    address of a loose/strict source route still under way (Wireshark's ``get_dst_offset``: the first
    such option, when its pointer is valid and not past its end; malformed options end the search)."""
    at, left = off + 20, hlen - 20
    while left > 0:
        opt = data[at]
        left -= 1
        if opt == IPOPT_EOOL:
            return 16
        if opt == IPOPT_NOP:
            at += 1
            continue
        if left == 0:
            return 16
        length = data[at + 1]
        left -= 1
        if length < 2 or length - 2 > left:
            return 16
        if opt == IPOPT_LSR or opt == IPOPT_SSR:
            pointer = data[at + 2] if length > 2 else 0
            if pointer < 4 or pointer & 3 or pointer > length:
                return 16
            return at - off + length - 4
        at += length
        left -= length - 2
    return 16


def parse_ipv4(data: bytes, off: int, end: int, row: dict, addr, verify: bool):
    """IPv4 header at ``off`` (``end`` bounds the valid bytes); ``addr`` interns raw addresses."""
    if off + 20 > end:
        return "truncated-ip"
    vihl, total, ident, frag, ttl, proto = _V4.unpack_from(data, off)
    hlen = (vihl & 0x0F) << 2
    if vihl >> 4 != 4:
        return "bad-ip-version"
    if hlen < 20:
        return "bad-ip-header"
    if off + hlen > end:
        return "truncated-ip"
    if total == 0:  # TSO: the NIC fills the length in later
        total = end - off
    elif total < hlen:
        return "bad-ip-header"
    row["ip_version"] = 4
    dst = off + (16 if hlen == 20 else ipv4_dst_offset(data, off, hlen))
    row["src"] = addr(data[off + 12:off + 16])
    row["dst"] = addr(data[dst:dst + 4])
    row["ttl"] = ttl
    row["ip_id"] = ident
    row["df"] = bool(frag & 0x4000)
    row["ip_len"] = total
    if frag & 0x1FFF:
        return "non-first-fragment"
    if verify and not ipv4_header_ok(data, off, hlen):
        row["checksum"] = 2
    l4 = off + hlen
    if proto == 51:  # AH in IPv4: skip it the way IPv6 skips its extension headers
        found = skip_extensions(data, 51, l4, min(off + total, end))
        if found.__class__ is str:
            return found
        proto, l4 = found
    pseudo = data[off + 12:off + 16] + data[dst:dst + 4] if verify and not frag & 0x2000 else None
    return proto, l4, min(off + total, end), off + total - l4, pseudo


def parse_ipv6(data: bytes, off: int, end: int, row: dict, addr, verify: bool):
    """IPv6 header and extension headers at ``off``; the fragment header's id goes to ``ip_id``."""
    if off + 40 > end:
        return "truncated-ip"
    vtf, plen, nxt, hlim = _V6.unpack_from(data, off)
    if vtf >> 28 != 6:
        return "bad-ip-version"
    if plen == 0:  # jumbogram or offload: trust what was captured
        plen = end - off - 40
    row["ip_version"] = 6
    # an outer IPv4 tunnel header may have set these: IPv6 has no DF bit and no id outside a fragment header
    row["ip_id"] = -1
    row["df"] = False
    row["src"] = addr(data[off + 8:off + 24])
    row["dst"] = addr(data[off + 24:off + 40])
    row["ttl"] = hlim
    row["ip_len"] = 40 + plen
    ip_end = off + 40 + plen
    cap_end = min(ip_end, end)
    l4 = off + 40
    final_dst = None
    if nxt in IPV6_EXTENSIONS:
        found = _walk_ipv6(data, nxt, l4, cap_end, row)
        if found.__class__ is str:
            return found
        nxt, l4, final_dst = found
    pseudo = None
    if verify and final_dst is not False:
        pseudo = data[off + 8:off + 24] + (final_dst or data[off + 24:off + 40])
    return nxt, l4, cap_end, ip_end - l4, pseudo


def _walk_ipv6(data: bytes, nxt: int, off: int, end: int, row: dict):
    """Walk extension headers → ``(next, offset, final_dst)``; final_dst False marks a fragment.

    The routing header changes the destination the checksum pseudo-header uses (RFC 8200 8.1).
    """
    final_dst = None
    for _ in range(16):
        if nxt not in IPV6_EXTENSIONS:
            return nxt, off, final_dst
        if off + 8 > end:
            return "truncated-ip6-extension"
        if nxt == 44:
            nh, offset_flags, ident = _FRAG6.unpack_from(data, off)
            row["ip_id"] = ident
            if offset_flags & 0xFFF8:
                return "non-first-fragment"
            final_dst, nxt, off = False, nh, off + 8
            continue
        if nxt == 43 and final_dst is None:
            final_dst = _routing_final_dst(data, off, end)
        length = (data[off + 1] + 2) * 4 if nxt == 51 else (data[off + 1] + 1) * 8
        nxt, off = data[off], off + length
    return "malformed-ip6-extensions"


def _routing_final_dst(data: bytes, off: int, end: int) -> bytes | None:
    """Final destination named by a routing header with segments left (types 0, 2 and 4/SRH)."""
    rtype, left = data[off + 2], data[off + 3]
    if not left:
        return None
    if rtype in (0, 2):
        count = data[off + 1] // 2
        last = off + 8 + 16 * (count - 1)
        return data[last:last + 16] if count and last + 16 <= end else None
    if rtype == 4 and off + 24 <= end:  # SRH: segment list [0] is the final segment
        return data[off + 8:off + 24]
    return None


def skip_extensions(data: bytes, nxt: int, off: int, end: int):
    """Skip IPv6-style extension headers without touching a row (quoted headers, IPv4 AH)."""
    for _ in range(16):
        if nxt not in IPV6_EXTENSIONS:
            return nxt, off
        if off + 8 > end:
            return "truncated-ip6-extension"
        if nxt == 44 and _FRAG6.unpack_from(data, off)[1] & 0xFFF8:
            return "non-first-fragment"
        length = 8 if nxt == 44 else (data[off + 1] + 2) * 4 if nxt == 51 else (data[off + 1] + 1) * 8
        nxt, off = data[off], off + length
    return "malformed-ip6-extensions"
