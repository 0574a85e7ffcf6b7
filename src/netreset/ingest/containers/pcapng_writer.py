"""Writing frames back out as pcapng: what ``netreset watch --save`` hands a ticket (the blocks are
:mod:`.pcapng_write`'s, which ``netreset annotate`` writes too).

The inverse of :class:`~netreset.ingest.containers.pcapng.PcapngReader` for the frames netreset holds
(:class:`~netreset.ingest.frames.RawFrame`): one section header, one interface description per interface
of the source (same order, so every frame keeps its interface id, link type, snaplen and name), and one
enhanced packet block per frame. Timestamps are written in nanoseconds (``if_tsresol`` 9), which holds
any source resolution exactly; original lengths are kept. A frame may carry a comment (``opt_comment``),
which Wireshark shows in the packet list (``frame.comment``).
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterable, Sequence

from netreset.ingest.containers.pcapng import IDB, IF_TSRESOL
from netreset.ingest.containers.pcapng_write import block, enhanced_packet, option, options_bytes
from netreset.ingest.containers.pcapng_write import section_header as _section_header
from netreset.ingest.frames import Interface, RawFrame

IF_NAME, IF_DESCRIPTION = 2, 3


def section_header(application: str = "netreset") -> bytes:
    """A section header block (little-endian, version 1.0, section length unknown)."""
    return _section_header(application)


def interface_block(interface: Interface) -> bytes:
    """An interface description: its link type, snaplen and name, nanosecond timestamps."""
    options = []
    if interface.name:
        options.append(option(IF_NAME, interface.name.encode("utf-8")))
    if interface.description:
        options.append(option(IF_DESCRIPTION, interface.description.encode("utf-8")))
    options.append(option(IF_TSRESOL, bytes([9])))
    body = struct.pack("<HHI", interface.linktype & 0xFFFF, 0, max(interface.snaplen, 0) & 0xFFFFFFFF)
    return block(IDB, body + options_bytes(options))


def packet_block(frame: RawFrame, comment: str | None = None) -> bytes:
    """An enhanced packet block: interface id, nanosecond timestamp, captured and original length, bytes."""
    return enhanced_packet(frame.iface, frame.ts_ns & 0xFFFFFFFFFFFFFFFF, len(frame.data), frame.wirelen, frame.data,
                           (comment,) if comment else ())


def write_pcapng(out: BinaryIO, interfaces: Sequence[Interface], frames: Iterable[RawFrame],
                 comments: dict[int, str] | None = None) -> int:
    """Write ``frames`` (in the order given) as one pcapng section with ``interfaces``; ``comments``: frame
    number → comment. An interface the frames name but ``interfaces`` does not describe (a pcap source
    has one implicit interface) is written from the frames' own link type. Returns frames written."""
    described = list(interfaces)
    frames = list(frames)
    for frame in frames:
        while frame.iface >= len(described):
            described.append(Interface(id=len(described), linktype=frame.linktype, snaplen=0))
    out.write(section_header())
    for interface in described:
        out.write(interface_block(interface))
    comments = comments or {}
    for frame in frames:
        out.write(packet_block(frame, comments.get(frame.frame)))
    return len(frames)
