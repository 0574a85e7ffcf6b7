"""Tunnels met on mirror ports, mobile cores and cloud taps: GRE (and ERSPAN I/II/III in it), and in
UDP: VXLAN (4789) and VXLAN-GPE (4790), Geneve (6081), GTP-U (2152), GRE-in-UDP (RFC 8086, 4754),
MPLS-in-UDP (RFC 7510, 6635), L2TPv2 (1701), CAPWAP data (5247), AYIYA (5072) and Teredo (3544).
IP-in-IP needs no header of its own and is handled by the decoder.

Each function looks at the payload of an outer IP packet and answers ``(encap, ethertype, offset)``
for the inner packet — ``ethertype`` is ``ETH_TEB`` (0x6558) when an Ethernet frame follows and
``WLAN`` (``WLAN_SWAPPED``) when an 802.11 frame does — or a string: "udp" for a UDP datagram that is
no tunnel, a protocol name for a tunnel's control messages ("gtp", "l2tp-control", ...), or a
problem reason. Ports are the IANA ones Wireshark and Zeek register; a tunnel on another port is
not guessed at (:func:`looks_like_ip` serves the summary's hint instead).
"""

from __future__ import annotations

import struct

from netreset.ingest.frames import (
    ENCAP_AYIYA,
    ENCAP_CAPWAP,
    ENCAP_ERSPAN,
    ENCAP_GENEVE,
    ENCAP_GRE,
    ENCAP_GTP,
    ENCAP_L2TP,
    ENCAP_MPLS_UDP,
    ENCAP_TEREDO,
    ENCAP_VXLAN,
)
from netreset.ingest.layers.link import ETH_IPV4, ETH_IPV6, ETH_TEB, ip_by_version, ppp_protocol

#: Pseudo-EtherTypes (outside the 16-bit range) for an 802.11 frame inside a tunnel (Aruba GRE), and
#: for one whose two frame-control bytes are swapped (CAPWAP from Cisco access points).
WLAN, WLAN_SWAPPED = 0x10000, 0x10001

PORT_VXLAN, PORT_GENEVE, PORT_AYIYA, PORT_TEREDO = 4789, 6081, 5072, 3544
PORT_VXLAN_GPE, PORT_GTP_U, PORT_GRE_UDP, PORT_MPLS_UDP, PORT_L2TP, PORT_CAPWAP_DATA = 4790, 2152, 4754, 6635, 1701, 5247
ETH_MPLS_UNICAST = 0x8847

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
    return _ppp_in(ENCAP_GRE, data, p, end)


def _ppp_in(encap: int, data: bytes, p: int, end: int):
    """A PPP frame inside a tunnel (PPTP's GRE, L2TP): optional FF 03, then the protocol field."""
    if p + 2 <= end and data[p] == 0xFF and data[p + 1] == 0x03:
        p += 2
    found = ppp_protocol(data, p, end)
    return found if found.__class__ is str else (encap, found[0], found[1])


def decap_udp(data: bytes, off: int, end: int):
    """A UDP datagram: a tunnel when its port says so.

    By destination port, as their senders pick the source port for entropy: VXLAN, VXLAN-GPE,
    Geneve, GRE-in-UDP, MPLS-in-UDP. By either port: GTP-U (both ends use 2152), L2TP, CAPWAP data,
    Teredo and AYIYA.
    """
    if off + 8 > end:
        return "truncated-udp"
    sport, dport = _HH.unpack_from(data, off)
    p = off + 8
    if dport == PORT_VXLAN:
        return "truncated-vxlan" if p + 8 > end else (ENCAP_VXLAN, ETH_TEB, p + 8)
    if dport == PORT_GENEVE:
        return _geneve(data, p, end)
    if sport == PORT_GTP_U or dport == PORT_GTP_U:
        return _gtp_u(data, p, end)
    if dport == PORT_VXLAN_GPE:
        return _vxlan_gpe(data, p, end)
    if dport == PORT_GRE_UDP:
        return decap_gre(data, p, end)
    if dport == PORT_MPLS_UDP:
        return ENCAP_MPLS_UDP, ETH_MPLS_UNICAST, p
    if sport == PORT_TEREDO or dport == PORT_TEREDO:
        return _teredo(data, p, end)
    if sport == PORT_AYIYA or dport == PORT_AYIYA:
        return _ayiya(data, p, end)
    if sport == PORT_L2TP or dport == PORT_L2TP:
        return _l2tp(data, p, end)
    if sport == PORT_CAPWAP_DATA or dport == PORT_CAPWAP_DATA:
        return _capwap(data, p, end)
    return "udp"


#: GTPv1 message type of a G-PDU (user data); every other type is signalling (echo, end marker, ...).
GTP_G_PDU = 0xFF


def _gtp_u(data: bytes, p: int, end: int):
    """GTP-U (3GPP TS 29.281): 8 bytes, 4 more when any of E/S/PN is set, then the extension header chain.

    Only a version-1 G-PDU carries a user packet (IPv4 or IPv6 by its version nibble, as Wireshark
    and Zeek read it); echo requests, error indications and end markers are named "gtp". A user
    packet that is itself fragmented is left to the IP layer: its first fragment gives the row,
    later ones count as non-first fragments, as outside the tunnel.
    """
    if p + 8 > end:
        return "truncated-gtp"
    flags, msg_type = data[p], data[p + 1]
    if flags >> 5 != 1 or not flags & 0x10:  # version 1, protocol type GTP (not GTP')
        return "gtp"
    if msg_type != GTP_G_PDU:
        return "gtp"
    q = p + 8
    if flags & 0x07:
        if q + 4 > end:
            return "truncated-gtp"
        next_type, q = data[q + 3], q + 4
        for _ in range(16):
            if not next_type:
                break
            if q + 1 > end or not data[q]:
                return "malformed-gtp-extension"
            length = data[q] * 4
            if q + length > end:
                return "truncated-gtp"
            next_type, q = data[q + length - 1], q + length
        else:
            return "malformed-gtp-extension"
    etype = ip_by_version(data, q, end)
    if etype.__class__ is str:
        return "truncated-gtp" if etype == "truncated-ip" else "unsupported-gtp-payload"
    return ENCAP_GTP, etype, q


#: VXLAN-GPE next-protocol numbers (RFC draft-ietf-nvo3-vxlan-gpe) → EtherType of the payload.
_GPE_PROTOCOLS = {1: ETH_IPV4, 2: ETH_IPV6, 3: ETH_TEB, 5: ETH_MPLS_UNICAST}


def _vxlan_gpe(data: bytes, p: int, end: int):
    """VXLAN-GPE: 8 bytes (flags, reserved, next protocol, VNI); without the P flag, Ethernet follows."""
    if p + 8 > end:
        return "truncated-vxlan"
    if not data[p] & 0x04:
        return ENCAP_VXLAN, ETH_TEB, p + 8
    etype = _GPE_PROTOCOLS.get(data[p + 3])
    if etype is None:
        return "nsh" if data[p + 3] == 4 else "unsupported-vxlan-gpe-protocol"
    return ENCAP_VXLAN, etype, p + 8


_L2TP_TYPE, _L2TP_LENGTH, _L2TP_SEQUENCE, _L2TP_OFFSET = 0x8000, 0x4000, 0x0800, 0x0200


def _l2tp(data: bytes, p: int, end: int):
    """L2TPv2 (RFC 2661): flags/version, optional length, tunnel and session ids, optional Ns/Nr and
    offset pad, then a PPP frame. Control messages (T bit) are named "l2tp-control"."""
    if p + 6 > end:
        return "truncated-l2tp"
    flags = _H.unpack_from(data, p)[0]
    if flags & 0x0F != 2:
        return "l2tp" if flags & 0x0F == 3 else "udp"
    if flags & _L2TP_TYPE:
        return "l2tp-control"
    q = p + 2 + (2 if flags & _L2TP_LENGTH else 0) + 4 + (4 if flags & _L2TP_SEQUENCE else 0)
    if flags & _L2TP_OFFSET:
        if q + 2 > end:
            return "truncated-l2tp"
        q += 2 + _H.unpack_from(data, q)[0]
    if q > end:
        return "truncated-l2tp"
    return _ppp_in(ENCAP_L2TP, data, q, end)


def _capwap(data: bytes, p: int, end: int):
    """CAPWAP data channel (RFC 5415): header length in 4-byte words; the T bit with wireless binding 1
    says a native 802.11 frame follows, else an 802.3 frame. DTLS-encrypted data (preamble type 1)
    and fragments after the first are named, not guessed at."""
    if p + 8 > end:
        return "truncated-capwap"
    if data[p] >> 4:
        return "unsupported-capwap-version"
    if data[p] & 0x0F == 1:
        return "capwap-dtls"
    word = data[p + 1] << 16 | data[p + 2] << 8 | data[p + 3]
    hlen, wbid, native, fragment = (word >> 19) * 4, (word >> 9) & 0x1F, word & 0x100, word & 0x80
    if hlen < 8 or p + hlen > end:
        return "truncated-capwap"
    if fragment and _H.unpack_from(data, p + 6)[0] >> 3:
        return "capwap-fragment"
    if native:
        return (ENCAP_CAPWAP, WLAN_SWAPPED, p + hlen) if wbid == 1 else "unsupported-capwap-binding"
    return ENCAP_CAPWAP, ETH_TEB, p + hlen


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


#: UDP ports of tunnels that are not decoded (no IANA port says what they carry, or they need a
#: configuration): the summary names them when their datagrams are seen.
UNDECODED_TUNNEL_PORTS = {8472: "VXLAN on Linux's default port", 4341: "LISP data"}
#: Offsets into a UDP payload where a tunnel header of the usual sizes would end.
_HEADER_SIZES = (0, 4, 8, 12, 16)


def looks_like_tunnel(data: bytes, off: int, end: int) -> int:
    """The UDP port (destination, else source) of a datagram at ``off`` that looks like a tunnel
    nobody decoded, or 0: one on a port of :data:`UNDECODED_TUNNEL_PORTS`, or one whose payload, after
    a header of 0–16 bytes, holds an IP header whose length field is exactly the rest of the datagram."""
    if off + 8 > end:
        return 0
    sport, dport, length = struct.unpack_from("!HHH", data, off)
    if dport in UNDECODED_TUNNEL_PORTS or sport in UNDECODED_TUNNEL_PORTS:
        return dport if dport in UNDECODED_TUNNEL_PORTS else sport
    stop = min(off + length, end) if length >= 8 else end
    for size in _HEADER_SIZES:
        p = off + 8 + size
        if p + 20 > stop:
            return 0
        first = data[p]
        if first >> 4 == 4 and first & 0x0F >= 5:
            if _H.unpack_from(data, p + 2)[0] == off + length - p:
                return dport
        elif first >> 4 == 6 and p + 40 <= stop:
            if _H.unpack_from(data, p + 4)[0] + 40 == off + length - p:
                return dport
    return 0
