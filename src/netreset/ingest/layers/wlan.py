"""IEEE 802.11 data frames (LINKTYPE 105) and the radiotap header (127) in front of them.

Only what leads to an LLC header is decoded: management and control frames, encrypted frames and
non-first fragments are named and counted, never guessed at. A-MSDU aggregates are followed into
their first subframe (Aruba controllers tunnel such frames in GRE).
"""

from __future__ import annotations

import struct

_LE_H = struct.Struct("<H")

_FROM_TO_DS, _PROTECTED, _ORDER = 0x03, 0x40, 0x80


def radiotap_payload(data: bytes, off: int, end: int) -> int | str:
    """Offset of the 802.11 frame after the radiotap header at ``off`` (its length is a little-endian field)."""
    if off + 8 > end:
        return "truncated-radiotap"
    if data[off] != 0:
        return "bad-radiotap-version"
    length = _LE_H.unpack_from(data, off + 2)[0]
    if length < 8 or off + length > end:
        return "truncated-radiotap"
    return off + length


def wlan_payload(data: bytes, off: int, end: int) -> int | str:
    """Offset of the LLC header carried by the 802.11 data frame at ``off``, or a reason."""
    if off + 24 > end:
        return "truncated-wlan"
    fc0, flags = data[off], data[off + 1]
    ftype, subtype = (fc0 >> 2) & 0x03, fc0 >> 4
    if ftype == 0:
        return "wlan-management"
    if ftype != 2:
        return "wlan-control"
    if subtype & 0x04:  # Null / QoS Null: no payload by definition
        return "wlan-null"
    if flags & _PROTECTED:
        return "wlan-protected"
    if data[off + 22] & 0x0F:  # fragment number: only the first fragment holds the LLC header
        return "wlan-fragment"
    hdr = 30 if (flags & _FROM_TO_DS) == _FROM_TO_DS else 24
    amsdu = False
    if subtype & 0x08:  # QoS data: 2 bytes of QoS control, +4 HT control when Order is set
        if off + hdr + 2 > end:
            return "truncated-wlan"
        amsdu = bool(data[off + hdr] & 0x80)
        hdr += 6 if flags & _ORDER else 2
    off += hdr
    if amsdu:  # first A-MSDU subframe: DA, SA, length, then its LLC header
        off += 14
    if off > end:
        return "truncated-wlan"
    return off
