"""Writing frames back out as pcapng: what ``netreset watch --save`` hands a ticket.

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

from netreset.ingest.frames import Interface, RawFrame

SHB, IDB, EPB = 0x0A0D0D0A, 1, 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END, OPT_COMMENT, SHB_USERAPPL = 0, 1, 4
IF_NAME, IF_DESCRIPTION, IF_TSRESOL = 2, 3, 9


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _options(items: Iterable[tuple[int, bytes]]) -> bytes:
    body = b"".join(_option(code, value) for code, value in items)
    return body + struct.pack("<HH", OPT_END, 0) if body else b""


def _block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def section_header(application: str = "netreset") -> bytes:
    """A section header block (little-endian, version 1.0, section length unknown)."""
    body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options([(SHB_USERAPPL, application.encode())])
    return _block(SHB, body)


def interface_block(interface: Interface) -> bytes:
    """An interface description: its link type, snaplen and name, nanosecond timestamps."""
    options = [(IF_TSRESOL, bytes([9]))]
    if interface.name:
        options.insert(0, (IF_NAME, interface.name.encode("utf-8")))
    if interface.description:
        options.insert(1, (IF_DESCRIPTION, interface.description.encode("utf-8")))
    body = struct.pack("<HHI", interface.linktype & 0xFFFF, 0, max(interface.snaplen, 0) & 0xFFFFFFFF)
    return _block(IDB, body + _options(options))


def packet_block(frame: RawFrame, comment: str | None = None) -> bytes:
    """An enhanced packet block: interface id, nanosecond timestamp, captured and original length, bytes."""
    ts = frame.ts_ns & 0xFFFFFFFFFFFFFFFF
    body = struct.pack("<IIIII", frame.iface, ts >> 32, ts & 0xFFFFFFFF, len(frame.data), frame.wirelen)
    body += frame.data + b"\0" * (-len(frame.data) % 4)
    if comment:
        body += _options([(OPT_COMMENT, comment.encode("utf-8"))])
    return _block(EPB, body)


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
