"""Link layers: from a frame's bytes to the network-layer payload (an EtherType and an offset).

Every link type is reduced to the same answer, ``(ethertype, offset, vlan)``, so the IP layer never
needs to know how the frame was captured: raw IP, BSD loopback and PPP protocol numbers are mapped
onto the EtherType they stand for. Shims that sit between Ethernet and IP (802.1Q/QinQ tags, MPLS
label stacks, PPPoE sessions, 802.1ah PBB, Cisco VN-Tag, 802.1BR E-Tag, Cisco FabricPath) are peeled
off in one loop, in whatever order they are stacked (a VN-Tag between two VLAN tags, say).

One decoder per link type, all called alike, and one table from the LINKTYPE_* number
(:mod:`netreset.ingest.layers.linktypes`) to its decoder: :data:`LINK_DECODERS` is both the dispatch
and the list of what is supported, so the two cannot disagree.

When a frame carries no IP, the answer is a string: a protocol name ("arp", "stp", ...) for frames
understood but not analysed, or a problem reason ("truncated-ethernet", "unsupported-linktype-119",
...) — see :func:`is_problem`.
"""

from __future__ import annotations

import struct

from netreset.ingest.layers.linktypes import (
    DLT_RAW, DLT_RAW_OPENBSD, LINKTYPE_C_HDLC, LINKTYPE_ETHERNET, LINKTYPE_FDDI, LINKTYPE_IEEE802_11,
    LINKTYPE_IEEE802_11_RADIOTAP, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_LOOP,
    LINKTYPE_IPOIB, LINKTYPE_NFLOG, LINKTYPE_NULL, LINKTYPE_PPP, LINKTYPE_PPP_ETHER, LINKTYPE_PPP_HDLC, LINKTYPE_RAW,
)
from netreset.ingest.layers.wlan import AMSDU, amsdu_subframes, radiotap_payload, wlan_payload

ETH_IPV4, ETH_IPV6, ETH_TEB = 0x0800, 0x86DD, 0x6558
ETH_VLAN_TAGS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200))
ETH_MPLS = frozenset((0x8847, 0x8848))
ETH_PPPOE_SESSION, ETH_PBB, ETH_JUMBO_LLC = 0x8864, 0x88E7, 0x8870
#: Cisco VN-Tag (6 bytes with the next EtherType), IEEE 802.1BR E-Tag (8 bytes), Cisco FabricPath
#: (2 bytes of FTag/TTL after its outer addresses, then the customer's Ethernet header).
ETH_VNTAG, ETH_ETAG, ETH_FABRICPATH = 0x8926, 0x893F, 0x8903

#: EtherTypes that are understood but carry no TCP; anything else is "unsupported-ethertype".
ETHERTYPE_NAMES = {
    0x0806: "arp", 0x8035: "rarp", 0x88CC: "lldp", 0x888E: "eapol", 0x8863: "pppoe-discovery",
    0x88F7: "ptp", 0x8809: "slow-protocols", 0x9000: "loopback", 0x8137: "ipx", 0x8138: "ipx",
    0x0842: "wake-on-lan", 0x893A: "ieee1905", 0x88E5: "macsec", 0x80F3: "aarp", 0x809B: "appletalk",
    0x6002: "dec-mop", 0x6004: "dec-lat", 0x8899: "realtek", 0x88E1: "homeplug", 0x8902: "cfm",
    0x22F0: "avtp", 0x88B5: "local-experimental", 0x88B6: "local-experimental", 0x2000: "cdp",
}

#: PPP protocol numbers (RFC 1661 family) → the EtherType of the same payload.
PPP_TO_ETHERTYPE = {0x0021: ETH_IPV4, 0x0057: ETH_IPV6, 0x0281: 0x8847, 0x0283: 0x8848}

#: BSD loopback address families (they differ per OS for IPv6) → EtherType.
AF_TO_ETHERTYPE = {2: ETH_IPV4, 24: ETH_IPV6, 28: ETH_IPV6, 30: ETH_IPV6, 10: ETH_IPV6}

_H = struct.Struct("!H")
_HH = struct.Struct("!HH")
_LE_I = struct.Struct("<I")

_PROBLEM_PREFIXES = ("truncated", "unsupported", "bad", "malformed")


def is_problem(reason: str) -> bool:
    """True for reasons meaning "could not decode"; False for names of protocols decoded fine but not TCP."""
    return reason.startswith(_PROBLEM_PREFIXES)


def ip_by_version(data: bytes, off: int, end: int) -> int | str:
    """Guess IPv4/IPv6 from the version nibble: raw-IP link types and MPLS carry no type field."""
    if off >= end:
        return "truncated-ip"
    version = data[off] >> 4
    if version == 4:
        return ETH_IPV4
    if version == 6:
        return ETH_IPV6
    return "bad-ip-version"


def ethernet(data: bytes, off: int, end: int, vlan: int = -1):
    """Ethernet II / 802.3 frame at ``off`` → ``(ethertype, offset, vlan)`` after every shim."""
    if off + 14 > end:
        return "truncated-ethernet"
    etype = _H.unpack_from(data, off + 12)[0]
    if etype == ETH_IPV4 or etype == ETH_IPV6:  # the common case skips the shim loop
        return etype, off + 14, vlan
    return shims(data, off + 14, end, etype, vlan)


def shims(data: bytes, off: int, end: int, etype: int, vlan: int):
    """Peel VLAN tags, LLC/SNAP, MPLS, PPPoE and PBB until a real network protocol remains."""
    for _ in range(16):
        if etype in ETH_VLAN_TAGS:
            if off + 4 > end:
                return "truncated-vlan"
            tci, etype = _HH.unpack_from(data, off)
            if vlan < 0:
                vlan = tci & 0x0FFF
            off += 4
        elif etype <= 1500 or etype == ETH_JUMBO_LLC:  # an 802.3 length field (or 0x8870): LLC follows
            found = llc(data, off, end)
            if found.__class__ is str:
                return found
            etype, off = found
        elif etype in ETH_MPLS:
            found = mpls(data, off, end)
            if found.__class__ is str:
                return found
            etype, off = found
        elif etype == ETH_PPPOE_SESSION:  # 6 header bytes, then the PPP protocol field
            found = ppp_protocol(data, off + 6, end)
            if found.__class__ is str:
                return "truncated-pppoe" if found == "truncated-ppp" else found
            etype, off = found
        elif etype == ETH_VNTAG:  # D/P bits, destination and source virtual interfaces; EtherType
            if off + 6 > end:
                return "truncated-vntag"
            etype = _H.unpack_from(data, off + 4)[0]
            off += 6
        elif etype == ETH_ETAG:  # E-PCP/DEI, ingress and E-CID fields (6 bytes); EtherType
            if off + 8 > end:
                return "truncated-etag"
            etype = _H.unpack_from(data, off + 6)[0]
            off += 8
        elif etype == ETH_FABRICPATH:  # FTag and TTL, then the inner (classical) Ethernet header
            if off + 16 > end:
                return "truncated-fabricpath"
            etype = _H.unpack_from(data, off + 14)[0]
            off += 16
        elif etype == ETH_PBB:  # I-TAG (4 bytes) + customer destination and source MAC
            if off + 18 > end:
                return "truncated-pbb"
            etype = _H.unpack_from(data, off + 16)[0]
            off += 18
        else:
            return etype, off, vlan
    return "malformed-shim-stack"


def llc(data: bytes, off: int, end: int):
    """802.2 LLC at ``off``: SNAP gives an EtherType; spanning tree and IPX are named, others "llc"."""
    if off + 3 > end:
        return "truncated-llc"
    dsap, ssap = data[off], data[off + 1]
    if dsap == 0xAA and ssap == 0xAA:
        if off + 8 > end:
            return "truncated-llc"
        return _H.unpack_from(data, off + 6)[0], off + 8
    if dsap == 0x42:
        return "stp"
    if dsap in (0xE0, 0xFF):
        return "ipx"
    return "llc"


def mpls(data: bytes, off: int, end: int):
    """Skip an MPLS label stack; the payload type is not signalled, so guess IPv4/IPv6 by nibble."""
    while True:
        if off + 4 > end:
            return "truncated-mpls"
        bottom = data[off + 2] & 0x01
        off += 4
        if bottom:
            break
    etype = ip_by_version(data, off, end)
    if etype.__class__ is str:
        return "unsupported-mpls-payload"
    return etype, off


def ppp_other(protocol: int) -> str:
    """Name a PPP frame that carries no IP: control protocols (LCP, IPCP, CHAP, ...) are >= 0x8000."""
    return "ppp-control" if protocol >= 0x8000 else "unsupported-ppp-protocol"


def ppp_protocol(data: bytes, off: int, end: int):
    """The PPP protocol field at ``off`` → ``(ethertype, offset after it)`` or a reason.

    Protocol-field compression (RFC 1661 6.5): a protocol number's low byte is odd and its high byte
    even, so an odd first byte is a 1-byte field (0x21 for IPv4) — PPPoE, L2TP and PPTP peers
    negotiate it as readily as serial links do.
    """
    if off >= end:
        return "truncated-ppp"
    if data[off] & 0x01:
        protocol, off = data[off], off + 1
    elif off + 2 > end:
        return "truncated-ppp"
    else:
        protocol, off = _H.unpack_from(data, off)[0], off + 2
    etype = PPP_TO_ETHERTYPE.get(protocol)
    if etype is None:
        return ppp_other(protocol)
    return etype, off


def ppp(data: bytes, off: int, end: int):
    """PPP (RFC 1661/1662): optional FF 03 address/control, then a 1- or 2-byte protocol field.

    A link declared PPP that carries Cisco HDLC framing instead (address 0x0F unicast or 0x8F
    broadcast, control 0, then an EtherType: what Cisco routers' PPP captures often hold) is read as
    Cisco HDLC, as Wireshark's PPP dissector does.
    """
    if off + 2 <= end and data[off] == 0xFF and data[off + 1] == 0x03:
        off += 2
    elif off + 4 <= end and data[off] in (0x0F, 0x8F) and data[off + 1] == 0:
        return cisco_hdlc(data, off, end)
    found = ppp_protocol(data, off, end)
    if found.__class__ is str:
        return found
    return shims(data, found[1], end, found[0], -1)


def bsd_loopback(data: bytes, off: int, end: int):
    """LINKTYPE_NULL / LINKTYPE_LOOP: a 4-byte address family in whichever byte order the capturing host used."""
    if off + 4 > end:
        return "truncated-loopback"
    family = _LE_I.unpack_from(data, off)[0]
    if family & 0xFFFF0000:
        family = int.from_bytes(data[off:off + 4], "big")
    etype = AF_TO_ETHERTYPE.get(family)
    if etype is None:
        return "unsupported-address-family"
    return etype, off + 4, -1


def linux_sll(data: bytes, off: int, end: int):
    """Linux cooked capture (``tcpdump -i any``): 16 header bytes, the protocol in the last two."""
    if off + 16 > end:
        return "truncated-sll"
    return _sll_protocol(data, off + 16, end, _H.unpack_from(data, off + 14)[0])


def linux_sll2(data: bytes, off: int, end: int):
    """Linux cooked capture v2: 20 header bytes, the protocol in the first two."""
    if off + 20 > end:
        return "truncated-sll"
    return _sll_protocol(data, off + 20, end, _H.unpack_from(data, off)[0])


def _sll_protocol(data: bytes, off: int, end: int, etype: int):
    """What follows a cooked header: an EtherType, or Linux's ETH_P_802_2 (an LLC header follows)."""
    if etype == 0x0004:
        found = llc(data, off, end)
        if found.__class__ is str:
            return found
        etype, off = found
    elif etype < 0x0600:
        return "unsupported-sll-protocol"
    return shims(data, off, end, etype, -1)


def raw_ip(data: bytes, off: int, end: int):
    """Raw IP with no type field (LINKTYPE_RAW and the DLT_RAW numbers): the version nibble decides."""
    etype = ip_by_version(data, off, end)
    return etype if etype.__class__ is str else (etype, off, -1)


def raw_ipv4(data: bytes, off: int, end: int):
    """LINKTYPE_IPV4: the frame is an IPv4 packet (the IP layer checks it)."""
    return ETH_IPV4, off, -1


def raw_ipv6(data: bytes, off: int, end: int):
    """LINKTYPE_IPV6: the frame is an IPv6 packet (the IP layer checks it)."""
    return ETH_IPV6, off, -1


def pppoe(data: bytes, off: int, end: int):
    """LINKTYPE_PPP_ETHER: a PPPoE session header without the Ethernet header in front of it."""
    return shims(data, off, end, ETH_PPPOE_SESSION, -1)


def fddi(data: bytes, off: int, end: int):
    """FDDI: frame control + two 6-byte addresses, then LLC (SNAP for IP)."""
    found = llc(data, off + 13, end)
    if found.__class__ is str:
        return found
    return shims(data, found[1], end, found[0], -1)


def cisco_hdlc(data: bytes, off: int, end: int):
    """Cisco HDLC: address, control, then an EtherType."""
    if off + 4 > end:
        return "truncated-chdlc"
    return shims(data, off + 4, end, _H.unpack_from(data, off + 2)[0], -1)


def ipoib(data: bytes, off: int, end: int):
    """LINKTYPE_IPOIB: IP over InfiniBand as Linux captures it: a 40-byte pseudo header (the InfiniBand
    global route header, or zeros and the destination address for unicast), then RFC 4391's 4-byte
    header of EtherType + reserved (Wireshark's WTAP_ENCAP_IP_OVER_IB_PCAP layout)."""
    if off + 44 > end:
        return "truncated-ipoib"
    return shims(data, off + 44, end, _H.unpack_from(data, off + 40)[0], -1)


#: NFLOG TLV types (linux/netfilter/nfnetlink_log.h): the logged packet, from its network header on.
NFULA_PAYLOAD = 9
#: NFLOG address families: AF_INET, AF_INET6 (AF_UNSPEC and bridge families: the version nibble decides).
_NFLOG_FAMILIES = {2: ETH_IPV4, 10: ETH_IPV6}
_LE_HH = struct.Struct("<HH")


def nflog(data: bytes, off: int, end: int):
    """LINKTYPE_NFLOG (``tcpdump -i nflog:N``): family, version, resource id, then TLVs to NFULA_PAYLOAD.

    TLV length and type are in the byte order of the host that captured (little-endian on nearly
    every Linux box); the length counts the 4 TLV header bytes, and each TLV is padded to 4 bytes.
    A little-endian length that cannot be right is read big-endian instead (Wireshark reads them in
    its own host's order, so it decodes a big-endian host's NFLOG capture only on such a host).
    """
    if off + 4 > end:
        return "truncated-nflog"
    family = data[off]
    p = off + 4
    for _ in range(64):
        if p + 4 > end:
            return "nflog-no-payload"
        length, tlv_type = _LE_HH.unpack_from(data, p)
        if length < 4 or p + length > end:
            length, tlv_type = _HH.unpack_from(data, p)
            if length < 4:
                return "malformed-nflog"
        if tlv_type & 0x7FFF == NFULA_PAYLOAD:
            payload_end = min(p + length, end)
            etype = _NFLOG_FAMILIES.get(family) or ip_by_version(data, p + 4, payload_end)
            if etype.__class__ is str:
                return "unsupported-nflog-payload"
            return etype, p + 4, -1
        p += (length + 3) & ~3
    return "malformed-nflog"


def wlan(data: bytes, off: int, end: int, swapped: bool = False):
    """802.11 data frame → LLC/SNAP payload (names management/control/protected frames).

    An A-MSDU answers a *list*, one ``(ethertype, offset, vlan, end)`` per subframe (``end`` bounds
    its MSDU; a subframe that carries no IP is its reason string instead), so every segment of the
    aggregate can become a row.
    """
    off = wlan_payload(data, off, end, swapped)
    if off.__class__ is str:
        return off
    if off & AMSDU:
        subframes = amsdu_subframes(data, off & ~AMSDU, end)
        if subframes.__class__ is str:
            return subframes
        return [_msdu(data, start, stop) for start, stop in subframes]
    found = llc(data, off, end)
    if found.__class__ is str:
        return found
    return shims(data, found[1], end, found[0], -1)


def _msdu(data: bytes, start: int, stop: int):
    """One A-MSDU subframe's MSDU (an LLC header first) → ``(ethertype, offset, vlan, end)`` or a reason."""
    found = llc(data, start, stop)
    if found.__class__ is str:
        return found
    found = shims(data, found[1], stop, found[0], -1)
    return found if found.__class__ is str else (*found, stop)


def radiotap(data: bytes, off: int, end: int):
    """A radiotap header (what the radio saw), then an 802.11 frame."""
    off = radiotap_payload(data, off, end)
    return off if off.__class__ is str else wlan(data, off, end)


#: The one list of supported link types: LINKTYPE_* → its decoder. Every decoder is called as
#: ``decoder(data, off, end)`` and answers ``(ethertype, offset, vlan)`` or a reason string (802.11
#: decoders answer a list of subframes for an A-MSDU, see :func:`wlan`); a link
#: type missing here is ``unsupported-linktype-N``. Adding one is a decoder above plus an entry here
#: (and ``_link`` in :mod:`netreset.ingest.compiled.kernels` if the compiled path should take it too).
LINK_DECODERS = {
    LINKTYPE_NULL: bsd_loopback,
    LINKTYPE_ETHERNET: ethernet,
    LINKTYPE_PPP: ppp,
    LINKTYPE_FDDI: fddi,
    DLT_RAW: raw_ip,
    DLT_RAW_OPENBSD: raw_ip,
    LINKTYPE_PPP_HDLC: ppp,
    LINKTYPE_PPP_ETHER: pppoe,
    LINKTYPE_RAW: raw_ip,
    LINKTYPE_C_HDLC: cisco_hdlc,
    LINKTYPE_IEEE802_11: wlan,
    LINKTYPE_LOOP: bsd_loopback,
    LINKTYPE_LINUX_SLL: linux_sll,
    LINKTYPE_IEEE802_11_RADIOTAP: radiotap,
    LINKTYPE_IPV4: raw_ipv4,
    LINKTYPE_IPV6: raw_ipv6,
    LINKTYPE_NFLOG: nflog,
    LINKTYPE_IPOIB: ipoib,
    LINKTYPE_LINUX_SLL2: linux_sll2,
}


def link_payload(linktype: int, data: bytes):
    """The frame's network-layer payload by its link type → ``(ethertype, offset, vlan)`` or a reason string."""
    decoder = LINK_DECODERS.get(linktype)
    if decoder is None:
        return f"unsupported-linktype-{linktype}"
    return decoder(data, 0, len(data))
