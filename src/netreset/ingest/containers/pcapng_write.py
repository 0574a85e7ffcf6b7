"""pcapng blocks as bytes: what ``netreset annotate`` writes (the reader is :mod:`.pcapng`).

Pure functions from values to block bytes, in either byte order, so that a block copied from a
big-endian section can gain a comment in the order the section states. Two kinds of output:

* blocks made new, for a pcap or NetMon input turned into pcapng (:func:`section_header`,
  :func:`interface_description`, :func:`enhanced_packet`);
* a packet block of an existing pcapng file with comments added (:func:`with_comments`): every byte
  of the original block is kept (fixed fields, packet, options in their order) and the comments go
  after the last option, before ``opt_endofopt`` — the only change a reader can see is the new options.
"""

from __future__ import annotations

import struct

from netreset.ingest.containers.pcapng import EPB, IDB, IF_TSRESOL, OPT_COMMENT, OPT_END, PB_OBSOLETE, SHB, parse_options

#: shb_userappl: which program wrote a section netreset made.
SHB_USERAPPL = 4
#: Bytes before the packet data in an EPB and an obsolete PB (both 20: ids, timestamp, lengths).
PACKET_HEADER = 20
#: The largest option value (a 16-bit length); a longer comment is cut at a character boundary.
MAX_OPTION = 0xFFFF - 3


def option(code: int, value: bytes, endian: str = "<") -> bytes:
    """One option: code, length, value padded to 32 bits."""
    return struct.pack(endian + "HH", code, len(value)) + value + b"\0" * (-len(value) & 3)


def comment_option(text: str, endian: str = "<") -> bytes:
    """An ``opt_comment`` (UTF-8, not NUL-terminated, as the spec asks), cut to what a length field holds."""
    value = text.encode("utf-8")
    if len(value) > MAX_OPTION:
        value = value[:MAX_OPTION].decode("utf-8", errors="ignore").encode("utf-8")
    return option(OPT_COMMENT, value, endian)


def end_of_options(endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", OPT_END, 0)


def block(btype: int, body: bytes, endian: str = "<") -> bytes:
    """A whole block: type, total length, ``body`` (a multiple of 4 bytes), total length again."""
    length = 12 + len(body)
    return struct.pack(endian + "II", btype, length) + body + struct.pack(endian + "I", length)


def options_bytes(options: list[bytes], endian: str = "<") -> bytes:
    """An option list ending with ``opt_endofopt``; nothing at all when there are no options."""
    return b"".join(options) + end_of_options(endian) if options else b""


def section_header(application: str, endian: str = "<") -> bytes:
    """A section header, version 1.0, section length unknown (-1), naming the writing program."""
    body = struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    return block(SHB, body + options_bytes([option(SHB_USERAPPL, application.encode("utf-8"), endian)], endian), endian)


def interface_description(linktype: int, snaplen: int, tsresol: int, endian: str = "<") -> bytes:
    """An interface: link type, snaplen, and its timestamp resolution (``if_tsresol``: 10^-tsresol s)."""
    opts = [option(IF_TSRESOL, bytes([tsresol]), endian)]
    return block(IDB, struct.pack(endian + "HHI", linktype, 0, snaplen) + options_bytes(opts, endian), endian)


def enhanced_packet(interface: int, units: int, caplen: int, wirelen: int, data: bytes, comments=(), endian: str = "<") -> bytes:
    """An EPB: interface id, timestamp in the interface's units, lengths, the packet, and its comments."""
    head = struct.pack(endian + "IIIII", interface, (units >> 32) & 0xFFFFFFFF, units & 0xFFFFFFFF, caplen, wirelen)
    padded = data + b"\0" * (-len(data) & 3)
    return block(EPB, head + padded + options_bytes([comment_option(c, endian) for c in comments], endian), endian)


def block_type(raw: bytes, endian: str) -> int:
    return struct.unpack_from(endian + "I", raw)[0]


def with_comments(raw: bytes, comments, endian: str) -> bytes | None:
    """The EPB or obsolete PB ``raw`` (whole, header to trailer) with ``comments`` added, its fixed fields,
    packet and options kept byte for byte; None for another block, or when its option list is malformed
    (a comment cannot be placed after bytes that do not frame as options)."""
    btype, length = struct.unpack_from(endian + "II", raw)
    body = raw[8:length - 4]
    if btype not in (EPB, PB_OBSOLETE) or len(body) < PACKET_HEADER:
        return None
    caplen = struct.unpack_from(endian + "I", body, 12)[0]
    start = PACKET_HEADER + ((caplen + 3) & ~3)
    if start > len(body):
        return None
    existing = parse_options(body, start, len(body), endian)
    if existing is None:
        return None
    # Every option as the writer spelt it (padding bytes included), then the comments, then the end marker.
    kept = body[start:start + sum(4 + ((len(value) + 3) & ~3) for _code, value in existing)]
    added = b"".join(comment_option(c, endian) for c in comments)
    return block(btype, body[:start] + kept + added + end_of_options(endian), endian)
