"""A capture copied as pcapng with comments (``netreset annotate``'s copy), on crafted files.

pcapng: a copy without comments is the file byte for byte (every sample, and crafted files with every block
kind, several sections, both byte orders); a commented block keeps its fixed fields, packet and options, the
comments after them; an SPB that gains a comment becomes an EPB at time 0, an obsolete PB keeps its type; a
malformed option list is left alone with a warning; the copy ends where reading stopped. pcap and NetMon
become pcapng read back to the same frames (timestamps, link types, lengths, bytes). tshark, when installed,
reads the crafted copies to the same frames and comments.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess

import pytest

from netreset.ingest.containers.copy import copy_as_pcapng
from netreset.ingest.containers.open import open_frames
from netreset.ingest.containers.pcapng import parse_options
from netreset.ingest.containers.pcapng_write import with_comments
from tests.conftest import CAPTURES
from test_container import (PCAP_NSEC, PCAP_USEC, block, epb, frame_bytes, idb, multi_interface_pcapng, obsolete_pb,
                            options, pcap_bytes, shb, spb, write)

requires_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
SAMPLES = sorted(p for folder in (CAPTURES, CAPTURES / "peer") for p in folder.iterdir() if p.suffix == ".pcapng")


def copied(path, comments=None, keep=None):
    out = io.BytesIO()
    result = copy_as_pcapng(str(path), out, comments or {}, keep)
    return out.getvalue(), result


def frames_of(content: bytes, tmp_path, name="copy.pcapng"):
    with open_frames(write(tmp_path, content, name)) as source:
        return list(source.every_frame()), source


def blocks(content: bytes) -> list[tuple[int, bytes]]:
    """(type, whole block) of a pcapng file, following each section's byte order."""
    out, pos, endian = [], 0, "<"
    while pos < len(content):
        if content[pos:pos + 4] == b"\x0a\x0d\x0d\x0a":
            endian = "<" if content[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, length = struct.unpack_from(endian + "II", content, pos)
        out.append((btype, content[pos:pos + length]))
        pos += length
    return out


def two_sections() -> bytes:
    """A little-endian section, then a big-endian one with its own interfaces and other blocks."""
    secrets = block(0x0A, struct.pack(">II", 0x544C534B, 8) + b"secrets!", ">")  # TLS key log
    return multi_interface_pcapng("<") + multi_interface_pcapng(">") + secrets


@pytest.mark.parametrize("capture", SAMPLES, ids=lambda p: str(p.relative_to(CAPTURES)))
def test_a_copy_without_comments_is_the_sample_byte_for_byte(capture):
    content, result = copied(capture)
    assert content == capture.read_bytes()
    assert result.frames_read == result.frames_written and result.warnings == []


@pytest.mark.parametrize("content", [multi_interface_pcapng("<"), multi_interface_pcapng(">"), two_sections()],
                         ids=["little-endian", "big-endian", "two-sections"])
def test_every_block_kind_and_section_is_copied_exactly(tmp_path, content):
    copy, result = copied(write(tmp_path, content))
    assert copy == content
    assert result.frames_read == 4 * content.count(b"\x0a\x0d\x0d\x0a")


def test_comments_go_after_the_existing_options_and_nothing_else_changes(tmp_path):
    """Frame 1 has a comment already, frame 2 has epb_flags and a custom option; both gain comments."""
    flagged = block(6, struct.pack("<IIIII", 0, 0, 2000, 3, 3) + b"abc\x00"
                    + options([(2, struct.pack("<I", 0x1)), (2988, b"\x00\x00\x7e\x8b custom")]))
    content = shb() + idb(tsresol=9) + epb(0, 1000, frame_bytes(1), comment=b"analyst: look here") + flagged
    copy, result = copied(write(tmp_path, content), {1: ["netreset: one"], 2: ["netreset: two", "netreset: three"]})
    old, new = blocks(content), blocks(copy)
    assert [b for b in new[:2]] == old[:2]
    for (t_old, b_old), (t_new, b_new) in zip(old[2:], new[2:]):
        assert t_new == t_old == 6
        body_old = b_old[8:-4]
        assert b_new[8:8 + len(body_old) - 4] == body_old[:-4]  # every byte up to the old end-of-options
    frames, source = frames_of(copy, tmp_path)
    assert [f.ts_ns for f in frames] == [1000, 2000] and [f.data for f in frames] == [frame_bytes(1), b"abc"]
    assert source.comments == ["frame 1: analyst: look here", "frame 1: netreset: one",
                               "frame 2: netreset: two", "frame 2: netreset: three"]
    assert result.commented == {1: ["netreset: one"], 2: ["netreset: two", "netreset: three"]}
    opts = parse_options(blocks(copy)[3][1], 32, len(blocks(copy)[3][1]) - 4, "<")
    assert [code for code, _ in opts] == [2, 2988, 1, 1]


def test_big_endian_and_second_section_frames_are_commented_in_their_byte_order(tmp_path):
    content = two_sections()
    comments = {n: [f"netreset: frame {n}"] for n in range(1, 9)}
    copy, result = copied(write(tmp_path, content), comments)
    frames, source = frames_of(copy, tmp_path)
    original, _ = frames_of(content, tmp_path, "original.pcapng")
    assert [(f.frame, f.ts_ns, f.iface, f.linktype, f.caplen, f.wirelen, f.data) for f in frames] == \
           [(f.frame, f.ts_ns, f.iface, f.linktype, f.caplen, f.wirelen, f.data) for f in original]
    spbs = (4, 8)  # a simple packet block has no options: no comment
    assert [c for c in source.comments if "netreset" in c] == [f"frame {n}: netreset: frame {n}" for n in range(1, 9)
                                                                 if n not in spbs]
    kinds = [t for t, _ in blocks(copy)]
    assert kinds.count(3) == 2 and kinds.count(2) == 2  # SPBs stay SPBs, obsolete PBs stay PBs
    assert [w for w in source.warnings if "simple packet blocks carry no timestamp" not in w] == []
    assert len(result.commented) == 6
    assert any("frames 4, 8" in w and "simple packet block" in w for w in result.warnings)


def test_an_spb_is_kept_as_it_is_even_when_it_is_a_key_frame(tmp_path):
    content = shb() + idb(snaplen=64) + spb(frame_bytes(1, 100)) + epb(0, 7, frame_bytes(2, 30))
    copy, result = copied(write(tmp_path, content), {1: ["netreset: x"], 2: ["netreset: y"]})
    assert blocks(copy)[2] == blocks(content)[2]
    assert result.commented == {2: ["netreset: y"]} and any("(frames 1)" in w for w in result.warnings)


def test_a_malformed_option_list_is_left_alone_with_a_warning(tmp_path):
    bad = block(6, struct.pack("<IIIII", 0, 0, 5, 4, 4) + b"abcd" + struct.pack("<HH", 1, 200) + b"short")
    content = shb() + idb() + bad + epb(0, 6, frame_bytes(2))
    copy, result = copied(write(tmp_path, content), {1: ["netreset: a"], 2: ["netreset: b"]})
    assert blocks(copy)[2][1] == blocks(content)[2][1]
    assert result.commented == {2: ["netreset: b"]}
    assert any("malformed option list" in w for w in result.warnings)
    assert with_comments(blocks(content)[2][1], ["x"], "<") is None


def test_the_copy_ends_where_reading_stopped(tmp_path):
    content = shb() + idb() + epb(0, 1, frame_bytes(1)) + block(5, b"\x00" * 20) + epb(0, 2, frame_bytes(2))[:-10]
    copy, result = copied(write(tmp_path, content), {1: ["netreset: a"]})
    frames, source = frames_of(copy, tmp_path)
    assert [f.frame for f in frames] == [1] and source.warnings == []
    assert [t for t, _ in blocks(copy)] == [0x0A0D0D0A, 1, 6, 5]  # the statistics block was whole: kept
    assert any("truncated last block" in w for w in result.warnings)


def test_keep_writes_only_those_frames_and_every_other_block(tmp_path):
    content = multi_interface_pcapng(">")
    copy, result = copied(write(tmp_path, content), {3: ["netreset: c"]}, keep={1, 3})
    assert [t for t, _ in blocks(copy)] == [0x0A0D0D0A, 1, 0x0BAD_C0DE, 1, 6, 5, 2]
    frames, _ = frames_of(copy, tmp_path)
    original, _ = frames_of(content, tmp_path, "original.pcapng")
    assert [(f.ts_ns, f.data) for f in frames] == [(original[i].ts_ns, original[i].data) for i in (0, 2)]
    assert result.frames_written == 2 and result.commented == {2: ["netreset: c"]}


@pytest.mark.parametrize("magic,tsresol", [(PCAP_USEC, 6), (PCAP_NSEC, 9)])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcap_becomes_one_interface_with_its_link_type_snaplen_and_unit(tmp_path, magic, tsresol, endian):
    records = [(1_700_000_000, 999_999, frame_bytes(1)), (1_700_000_001, 5, frame_bytes(2, 100), 1500)]
    path = write(tmp_path, pcap_bytes(records, endian=endian, magic=magic, linktype=101, snaplen=100), "in.pcap")
    copy, result = copied(path, {2: ["netreset: b"]})
    kinds = blocks(copy)
    assert [t for t, _ in kinds] == [0x0A0D0D0A, 1, 6, 6]
    linktype, _, snaplen = struct.unpack_from("<HHI", kinds[1][1], 8)
    assert (linktype, snaplen) == (101, 100)
    assert parse_options(kinds[1][1], 16, len(kinds[1][1]) - 4, "<") == [(9, bytes([tsresol]))]
    frames, source = frames_of(copy, tmp_path)
    with open_frames(path) as src:
        original = list(src)
    assert [(f.ts_ns, f.linktype, f.caplen, f.wirelen, f.data) for f in frames] == \
           [(f.ts_ns, f.linktype, f.caplen, f.wirelen, f.data) for f in original]
    assert source.comments == ["frame 2: netreset: b"] and result.input_format.startswith("pcap")


def test_netmon_becomes_pcapng_with_an_interface_per_link_type(tmp_path):
    from test_netmon import netmon_bytes

    records = [dict(delta=0, data=frame_bytes(1), media=1), dict(delta=1500, data=frame_bytes(2, 40), media=9),
               dict(delta=3000, data=frame_bytes(3), media=1)]
    path = write(tmp_path, netmon_bytes(records, minor=2), "in.cap")
    copy, result = copied(path, {3: ["netreset: c"]})
    with open_frames(path) as src:
        original = list(src)
    frames, source = frames_of(copy, tmp_path)
    assert [(f.ts_ns, f.linktype, f.caplen, f.wirelen, f.data) for f in frames] == \
           [(f.ts_ns, f.linktype, f.caplen, f.wirelen, f.data) for f in original]
    assert [i.linktype for i in source.interfaces] == [original[0].linktype, original[1].linktype]
    assert [f.iface for f in frames] == [0, 1, 0]
    assert source.comments == ["frame 3: netreset: c"] and result.input_format == "netmon2"


def test_netmon_records_with_no_link_type_are_left_out_with_a_warning(tmp_path):
    from test_netmon import netmon_bytes

    records = [dict(delta=0, data=frame_bytes(1), media=1), dict(delta=10, data=frame_bytes(2, 40), media=6)]
    copy, result = copied(write(tmp_path, netmon_bytes(records, minor=2), "in.cap"))
    assert (result.frames_read, result.frames_written) == (2, 1)
    assert any("no pcapng link type" in w for w in result.warnings)


@requires_tshark
def test_tshark_reads_the_crafted_copies_with_every_comment(tmp_path):
    content = two_sections()
    before = write(tmp_path, content, "before.pcapng")
    after = write(tmp_path, copied(before, {n: [f"netreset: n{n}"] for n in range(1, 9)})[0], "after.pcapng")

    def fields(path):
        out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
                              "-e", "frame.number", "-e", "frame.time_epoch", "-e", "frame.interface_id",
                              "-e", "frame.len", "-e", "frame.comment"], capture_output=True, text=True, check=True)
        return [line.split("\t") for line in out.stdout.splitlines()]

    old, new = fields(before), fields(after)
    assert [r[:4] for r in new] == [r[:4] for r in old] and len(new) == 8
    for o, n in zip(old, new):
        added = [] if o[0] in ("4", "8") else [f"netreset: n{o[0]}"]  # the SPBs carry none
        assert n[4] == "|".join(filter(None, [o[4], *added]))


def test_keep_follows_each_section_s_byte_order(tmp_path):
    """Frames 1-4 in a little-endian section, 5-8 in a big-endian one: the second section's blocks between
    frames are walked in its own byte order."""
    content = two_sections()
    copy, result = copied(write(tmp_path, content), {6: ["netreset: f"]}, keep={1, 6})
    shb_le, idb_le = 0x0A0D0D0A, 1
    assert [t for t, _ in blocks(copy)] == [shb_le, idb_le, 0x0BAD_C0DE, 1, 6, 5,
                                            shb_le, idb_le, 0x0BAD_C0DE, 1, 6, 5, 0x0A]
    frames, source = frames_of(copy, tmp_path)
    original, _ = frames_of(content, tmp_path, "original.pcapng")
    assert [(f.ts_ns, f.iface, f.data) for f in frames] == [(original[i].ts_ns, original[i].iface, original[i].data)
                                                           for i in (0, 5)]
    assert source.comments[-1] == "frame 2: netreset: f"


def test_a_section_the_reader_cannot_read_is_not_copied(tmp_path):
    version_2 = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 2, 0, -1))
    content = shb() + idb() + epb(0, 1, frame_bytes(1)) + version_2 + idb() + epb(0, 2, frame_bytes(2))
    copy, result = copied(write(tmp_path, content))
    assert copy == content[:len(shb() + idb() + epb(0, 1, frame_bytes(1)))]
    assert result.frames_written == 1 and any("version 2.0" in w for w in result.warnings)
