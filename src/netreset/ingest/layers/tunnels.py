"""Tunnels met on mirror ports and cloud taps: GRE (and ERSPAN I/II/III in it), VXLAN, Geneve,
AYIYA and Teredo. IP-in-IP needs no header of its own and is handled by the decoder.

Each function looks at the payload of an outer IP packet and answers ``(encap, ethertype, offset)``
for the inner packet — ``ethertype`` is ``ETH_TEB`` (0x6558) when an Ethernet frame follows and
``WLAN`` when an 802.11 frame does — or a string: "udp" for a UDP datagram that is no tunnel, or a
problem reason.
"""

from __future__ import annotations

import struct

from netreset.ingest.frames import (
    ENCAP_AYIYA,
    ENCAP_ERSPAN,
    ENCAP_GENEVE,
    ENCAP_GRE,
    ENCAP_TEREDO,
    ENCAP_VXLAN,
)
from netreset.ingest.layers.link import ETH_IPV4, ETH_IPV6, ETH_TEB, PPP_TO_ETHERTYPE, ip_by_version, ppp_other

#: Pseudo-EtherType (outside the 16-bit range) for an 802.11 frame inside a tunnel (Aruba GRE).
WLAN = 0x10000

PORT_VXLAN, PORT_GENEVE, PORT_AYIYA, PORT_TEREDO = 4789, 6081, 5072, 3544

_HH = struct.Struct("!HH")
_H = struct.Struct("!H")
_GRE_CSUM, _GRE_ROUTING, _GRE_KEY, _GRE_SEQ, _GRE_ACK = 0x8000, 0x4000, 0x2000, 0x1000, 0x0080


def decap_gre(data: bytes, off: int, end: int):
    """GRE (RFC 2784/2890, and version 1 as PPTP uses it); ERSPAN is told apart by protocol type."""
    if off + 4 > end:
        return "truncated-gre"
    flags, proto = _HH.unpack_from(data, off)
    version = flags & 0x07
    if version > 1 or flags & _GRE_ROUTING:
        return "unsupported-gre"
    p = off + 4 + (4 if flags & (_GRE_CSUM | _GRE_ROUTING) else 0)
    p += (4 if flags & _GRE_KEY else 0) + (4 if flags & _GRE_SEQ else 0)
    if version == 1 and flags & _GRE_ACK:
        p += 4
    if p > end:
        return "truncated-gre"
    if proto == 0x88BE:  # ERSPAN type I has no header; type II (sequence bit set) has 8 bytes
        return ENCAP_ERSPAN, ETH_TEB, p + 8 if flags & _GRE_SEQ else p
    if proto == 0x22EB:
        return _erspan3(data, p, end)
    if proto == 0x880B:
        return _gre_ppp(data, p, end)
    if 0x8200 <= proto <= 0x82FF:  # Aruba controllers: an 802.11 frame follows
        return ENCAP_GRE, WLAN, p
    return ENCAP_GRE, proto, p


def _erspan3(data: bytes, p: int, end: int):
    """ERSPAN type III: 12 header bytes, +8 for the platform subheader (O flag); frame type 0 = Ethernet."""
    if p + 12 > end:
        return "truncated-erspan"
    frame_type = (data[p + 10] >> 2) & 0x1F
    p += 20 if data[p + 11] & 0x01 else 12
    if frame_type == 0:
        return ENCAP_ERSPAN, ETH_TEB, p
    etype = ip_by_version(data, p, end) if frame_type == 2 else "unsupported-erspan-frame-type"
    return etype if etype.__class__ is str else (ENCAP_ERSPAN, etype, p)


def _gre_ppp(data: bytes, p: int, end: int):
    """PPP in GRE version 1 (PPTP): address/control and protocol fields may be compressed."""
    if p + 2 <= end and data[p] == 0xFF and data[p + 1] == 0x03:
        p += 2
    if p + 2 > end:
        return "truncated-ppp"
    if data[p] & 0x01:
        protocol, p = data[p], p + 1
    else:
        protocol, p = _H.unpack_from(data, p)[0], p + 2
    etype = PPP_TO_ETHERTYPE.get(protocol)
    return ppp_other(protocol) if etype is None else (ENCAP_GRE, etype, p)


def decap_udp(data: bytes, off: int, end: int):
    """A UDP datagram: a tunnel when its port says so (VXLAN/Geneve by destination, AYIYA/Teredo by either)."""
    if off + 8 > end:
        return "truncated-udp"
    sport, dport = _HH.unpack_from(data, off)
    p = off + 8
    if dport == PORT_VXLAN:
        return "truncated-vxlan" if p + 8 > end else (ENCAP_VXLAN, ETH_TEB, p + 8)
    if dport == PORT_GENEVE:
        return _geneve(data, p, end)
    if sport == PORT_TEREDO or dport == PORT_TEREDO:
        return _teredo(data, p, end)
    if sport == PORT_AYIYA or dport == PORT_AYIYA:
        return _ayiya(data, p, end)
    return "udp"


def _geneve(data: bytes, p: int, end: int):
    """Geneve (RFC 8926): 8 bytes + options (length in 4-byte words), protocol type as an EtherType."""
    if p + 8 > end:
        return "truncated-geneve"
    if data[p] >> 6:
        return "unsupported-geneve-version"
    return ENCAP_GENEVE, _H.unpack_from(data, p + 2)[0], p + 8 + ((data[p] & 0x3F) << 2)


def _teredo(data: bytes, p: int, end: int):
    """Teredo (RFC 4380): optional authentication and origin-indication headers, then IPv6.

    Teredo shares its port with nothing else by standard, but only a valid-looking IPv6 header is
    taken as a tunnel; anything else stays plain UDP (as Zeek does).
    """
    if p + 2 <= end and data[p] == 0 and data[p + 1] == 1:  # authentication header
        if p + 4 > end:
            return "udp"
        p += 13 + data[p + 2] + data[p + 3]
    if p + 2 <= end and data[p] == 0 and data[p + 1] == 0:  # origin indication
        p += 8
    if p + 40 > end or data[p] >> 4 != 6:
        return "udp"
    return ENCAP_TEREDO, ETH_IPV6, p


def _ayiya(data: bytes, p: int, end: int):
    """AYIYA: identity (2**idlen bytes) and signature (4*siglen bytes) after 8 fixed bytes; opcode 1 forwards."""
    if p + 8 > end:
        return "truncated-ayiya"
    if data[p + 2] & 0x0F != 1:
        return "ayiya"
    etype = {41: ETH_IPV6, 4: ETH_IPV4}.get(data[p + 3])
    if etype is None:
        return "ayiya"
    return ENCAP_AYIYA, etype, p + 8 + (1 << (data[p] >> 4)) + 4 * (data[p + 1] >> 4)
