"""A capture copied as pcapng, with comments on chosen frames and, if asked, only chosen frames kept.

``netreset annotate`` analyses a capture, then calls :func:`copy_as_pcapng` with the comments keyed by
frame number (the numbers the readers give, as Wireshark numbers frames). The copy streams: one block
(or one record) is held at a time, whatever the file's size.

* **pcapng** is copied block by block, byte for byte, through the same reader the analysis used
  (:class:`~netreset.ingest.containers.open.Tap` hands over the bytes it consumed), so "which block is
  frame N" is answered by the very code that numbered the frames. Section headers, interfaces, name
  resolution, statistics, decryption secrets, custom and unknown blocks pass unchanged, in their
  sections and byte orders; a frame that gains comments keeps its fixed fields, packet and options
  (:func:`~netreset.ingest.containers.pcapng_write.with_comments`); an obsolete packet block keeps its
  type and gains the comment among its options. A simple packet block has no options, so it cannot carry a
  comment: it is kept as it is, with a warning (made an EPB it would gain a timestamp it never had —
  Wireshark shows an SPB with none).
* **pcap** becomes one section with one interface: its link type, its snaplen and its
  timestamp resolution (``if_tsresol`` 6 for µs, 9 for ns), so each timestamp is the same number of the
  same unit.
* **NetMon** becomes one section with an interface per link type met (NetMon 2.x gives each frame its
  own), timestamps in ns (``if_tsresol`` 9): NetMon's ms, µs and 100-ns clocks are all whole ns.

With ``keep`` (a set of frame numbers) only those frames are written; every non-packet block of a
pcapng still is (interfaces must stay, so ids keep their meaning).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from netreset.errors import CaptureError

from netreset.ingest.containers.open import FrameSource, open_frames
from netreset.ingest.containers.pcapng import EPB, PB_OBSOLETE, SHB, SPB
from netreset.ingest.containers.pcapng_write import (block_type, enhanced_packet, interface_description, section_header,
                                                   with_comments)
from netreset.ingest.frames import PRIVATE_LINKTYPE_BASE

PACKET_BLOCKS = (EPB, SPB, PB_OBSOLETE)
#: The value of ``if_tsresol`` for a pcap's fraction unit in ns (µs pcap, ns pcap).
TSRESOL_OF_UNIT = {1000: 6, 1: 9}


@dataclass
class CopyResult:
    """What was written: frames read and written, comments placed, and what could not be kept."""

    input_format: str
    frames_read: int = 0
    frames_written: int = 0
    #: output frame number → the comments it carries (those netreset added)
    commented: dict[int, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def copy_as_pcapng(path: str, out: BinaryIO, comments: dict[int, list[str]], keep: set[int] | None = None,
                   application: str = "netreset") -> CopyResult:
    """Write the capture at ``path`` to ``out`` as pcapng, ``comments[frame]`` added to each frame's block."""
    with open_frames(path, tap=True) as source:
        result = CopyResult(source.file_format)
        if source.tap is not None:
            _copy_blocks(source, out, comments, keep, result)
        else:
            _convert_frames(source, out, comments, keep, result, application)
        result.warnings[:0] = source.warnings
    return result


def _copy_blocks(source: FrameSource, out: BinaryIO, comments, keep, result: CopyResult) -> None:
    """pcapng: every block the reader consumed, in order; each frame's own block commented or left out."""
    reader, tap = source.reader, source.tap
    unplaced: list[int] = []
    endian = "<"  # the byte order in force where the bytes taken next begin
    for frame in source.every_frame():
        result.frames_read += 1
        consumed = tap.take()
        length = struct.unpack_from(reader.endian + "I", consumed, len(consumed) - 4)[0]
        _write_other_blocks(consumed[:-length], endian, out, drop_packets=keep is not None)
        endian = reader.endian
        raw = consumed[-length:]
        if keep is not None and frame.frame not in keep:
            continue
        result.frames_written += 1
        texts = comments.get(frame.frame)
        if texts:
            commented = with_comments(raw, texts, endian)
            if commented is None:
                unplaced.append(frame.frame)
            else:
                raw = commented
                result.commented[result.frames_written] = list(texts)
        out.write(raw)
    # After the last frame: the blocks read whole (statistics, say), never a block the reader stopped in, nor
    # a section header it could not read (the section it starts is not copied: it would not open in Wireshark).
    whole = reader.offset - tap.taken
    _write_other_blocks(tap.take(whole), endian, out, drop_packets=keep is not None, last=True)
    if unplaced:
        result.warnings.append(f"{len(unplaced)} frames could not carry their comments and were left as they were "
                               f"(frames {', '.join(map(str, unplaced[:10]))}{' …' if len(unplaced) > 10 else ''}): "
                               "a simple packet block has no options, or the block's option list is malformed")


def _write_other_blocks(raw: bytes, endian: str, out: BinaryIO, *, drop_packets: bool, last: bool = False) -> None:
    """Blocks that are not frames, copied as they are (``endian``: the byte order in force where ``raw``
    starts). Packet blocks the reader could not use as frames (a bad interface id or length) are left out
    of a selection of frames, kept in a full copy; ``last``: the bytes after the last frame, where an
    unreadable section header ended the reading."""
    if not drop_packets and not last:
        out.write(raw)
        return
    pos = 0
    while pos + 12 <= len(raw):
        if raw[pos:pos + 4] == struct.pack("<I", SHB):
            endian = "<" if raw[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            if struct.unpack_from(endian + "H", raw, pos + 12)[0] != 1:
                return
        length = struct.unpack_from(endian + "I", raw, pos + 4)[0]
        if length < 12:
            return
        if not drop_packets or block_type(raw[pos:pos + 4], endian) not in PACKET_BLOCKS:
            out.write(raw[pos:pos + length])
        pos += length


def _convert_frames(source: FrameSource, out: BinaryIO, comments, keep, result: CopyResult, application: str) -> None:
    """pcap and NetMon: a section of netreset's, an interface per link type, an EPB per frame."""
    reader = source.reader
    pcap = result.input_format.startswith("pcap")
    unit_ns = reader.frac_ns if pcap else 1
    out.write(section_header(application))
    interfaces: dict[int, int] = {}  # link type -> interface id written
    skipped: dict[int, int] = {}  # private link type -> frames left out
    for frame in source.every_frame():
        result.frames_read += 1
        if keep is not None and frame.frame not in keep:
            continue
        if frame.linktype >= PRIVATE_LINKTYPE_BASE:  # a NetMon record no link type describes
            skipped[frame.linktype] = skipped.get(frame.linktype, 0) + 1
            continue
        if frame.linktype not in interfaces:
            interfaces[frame.linktype] = len(interfaces)
            out.write(_interface(reader, frame.linktype, pcap))
        if frame.ts_ns < 0:
            raise CaptureError(source.path, f"frame {frame.frame} is timed before 1970, which pcapng cannot hold")
        result.frames_written += 1
        texts = comments.get(frame.frame) or ()
        if texts:
            result.commented[result.frames_written] = list(texts)
        out.write(enhanced_packet(interfaces[frame.linktype], frame.ts_ns // unit_ns, frame.caplen, frame.wirelen,
                                  frame.data, texts))
    if skipped:
        kinds = ", ".join(f"{linktype - PRIVATE_LINKTYPE_BASE:#06x}" for linktype in sorted(skipped))
        result.warnings.append(f"{sum(skipped.values())} NetMon frames of media types with no pcapng link type "
                               f"({kinds}) were left out: frame numbers after them shift")


def _interface(reader, linktype: int, pcap: bool) -> bytes:
    """The IDB for a pcap's single interface (its snaplen and unit) or for a NetMon link type (no snaplen)."""
    if not pcap:
        return interface_description(linktype, 0, 9)
    return interface_description(linktype, reader.interfaces[0].snaplen, TSRESOL_OF_UNIT[reader.frac_ns])
