"""IEEE 802.11 data frames (LINKTYPE 105) and the radiotap header (127) in front of them.

Only what leads to an LLC header is decoded: management and control frames, encrypted frames and
non-first fragments are named and counted, never guessed at. An A-MSDU aggregate (802.11n's
QoS-control bit 7) carries several MSDUs in one frame, each behind a 14-byte subframe header (DA,
SA, a big-endian length) and padded to 4 bytes except the last; :func:`amsdu_subframes` lists them
all, so every TCP segment of the aggregate becomes a row (Aruba controllers tunnel such frames in
GRE; Zeek counts each segment, Wireshark dissects each).
"""

from __future__ import annotations

import struct

_LE_H = struct.Struct("<H")
_H = struct.Struct("!H")
#: Pseudo offset flag: :func:`wlan_payload` ORs it into the answer when the frame is an A-MSDU.
AMSDU = 1 << 40

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


def wlan_payload(data: bytes, off: int, end: int, swapped: bool = False) -> int | str:
    """Offset of the LLC header carried by the 802.11 data frame at ``off``, or a reason.

    For an A-MSDU the answer is the offset of the first subframe header with :data:`AMSDU` set
    (``answer & ~AMSDU`` is the offset; :func:`amsdu_subframes` walks from there). ``swapped``: the
    two frame-control bytes come in the other order (CAPWAP from Cisco access points, which
    Wireshark's default for CAPWAP assumes).
    """
    if off + 24 > end:
        return "truncated-wlan"
    fc0, flags = (data[off + 1], data[off]) if swapped else (data[off], data[off + 1])
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
    if off > end:
        return "truncated-wlan"
    return off | AMSDU if amsdu else off


def amsdu_subframes(data: bytes, off: int, end: int) -> list[tuple[int, int]] | str:
    """(LLC offset, MSDU end) of every subframe of the A-MSDU whose first subframe header is at ``off``.

    A subframe whose length runs past the captured bytes is kept up to them (a snaplen cut); the
    walk stops there. No subframe at all is "truncated-wlan".
    """
    found = []
    base = off  # the padding aligns each subframe to 4 bytes from the start of the A-MSDU
    while off + 14 <= end and len(found) < 256:
        length = _H.unpack_from(data, off + 12)[0]
        start = off + 14
        stop = start + length
        found.append((start, min(stop, end)))
        off = base + ((stop - base + 3) & ~3)
    return found or "truncated-wlan"
