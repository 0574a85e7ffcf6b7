"""The classic libpcap container: a 24-byte file header, then ``record header + bytes`` to the end.

A pcap record carries nothing that frames it except its own length field, so a garbage length
cannot be stepped over safely: the reader stops there, keeps every frame before it and says why
in a warning. Lengths are judged against the file header's snaplen and the largest frame any
libpcap writer produces (Wireshark refuses records above 262144 bytes for the same reason).
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterator

from netreset.errors import CaptureError

from netreset.ingest.frames import Interface, RawFrame

#: Largest single record (or pcapng block) accepted; anything bigger is corruption, not a frame.
MAX_RECORD_BYTES = 256 * 1024 * 1024
#: Largest frame a real libpcap writer produces, whatever the header's snaplen says.
MAX_PLAUSIBLE_FRAME = 262144

#: magic as read little-endian -> (byte order, ns per fractional unit, record header size, format).
#: a1b2cd34 is Alexey Kuznetsov's "modified" pcap: 8 extra bytes per record header (ifindex, protocol,
#: packet type), microsecond timestamps.
PCAP_MAGICS: dict[bytes, tuple[str, int, int, str]] = {
    bytes.fromhex("d4c3b2a1"): ("<", 1000, 16, "pcap"),
    bytes.fromhex("a1b2c3d4"): (">", 1000, 16, "pcap"),
    bytes.fromhex("4d3cb2a1"): ("<", 1, 16, "pcap-ns"),
    bytes.fromhex("a1b23c4d"): (">", 1, 16, "pcap-ns"),
    bytes.fromhex("34cdb2a1"): ("<", 1000, 24, "pcap"),
    bytes.fromhex("a1b2cd34"): (">", 1000, 24, "pcap"),
}

_FILE_HEADER_LEN = 24


class PcapReader:
    """Walks a pcap stream positioned after nothing (reads the file header itself).

    ``file_size`` (uncompressed bytes, None when unknown e.g. for gzip) lets a record that claims to
    extend past the end be reported before any attempt to read it.
    """

    def __init__(self, path: str, stream: BinaryIO, file_size: int | None):
        self.path = path
        self.stream = stream
        self.file_size = file_size
        self.warnings: list[str] = []
        self.comments: list[str] = []
        header = stream.read(_FILE_HEADER_LEN)
        magic = header[:4]
        if magic not in PCAP_MAGICS:
            raise CaptureError(path, "not a pcap file (bad magic)")
        self.endian, self.frac_ns, self.record_len, self.file_format = PCAP_MAGICS[magic]
        if len(header) < _FILE_HEADER_LEN:
            raise CaptureError(path, f"truncated pcap file header ({len(header)} of {_FILE_HEADER_LEN} bytes)")
        major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(self.endian + "HHiIII", header[4:])
        if major != 2:
            raise CaptureError(path, f"garbage pcap file header (version {major}.{minor}, expected 2.x)")
        # The upper bits of the link-type field carry FCS-length flags (pcap-linktype(7)); the type is the low 16.
        self.interfaces = [Interface(id=0, linktype=network & 0xFFFF, snaplen=snaplen, ts_resolution_ns=float(self.frac_ns))]
        self.offset = _FILE_HEADER_LEN
        self.frame = 0  #: frames yielded so far
        self._max_caplen = min(MAX_RECORD_BYTES, max(snaplen, MAX_PLAUSIBLE_FRAME))

    def frames(self) -> Iterator[RawFrame]:
        """Yield every record in file order; stop with a warning at the first one that cannot be framed."""
        read = self.stream.read
        unpack = struct.Struct(self.endian + "IIII").unpack_from
        rec_len, frac_ns, linktype, snaplen = self.record_len, self.frac_ns, self.interfaces[0].linktype, self.interfaces[0].snaplen
        oversnap = 0
        while True:
            header = read(rec_len)
            if len(header) < rec_len:
                if header:
                    self._warn(f"truncated record header after frame {self.frame} ({len(header)} of {rec_len} bytes); ignored")
                break
            sec, frac, caplen, wirelen = unpack(header)
            if caplen > self._max_caplen:
                self._warn(f"record {self.frame + 1} at offset {self.offset} claims {caplen} captured bytes "
                           f"(snaplen {snaplen}): corrupt record header, stopped after frame {self.frame}")
                break
            if self.file_size is not None and self.offset + rec_len + caplen > self.file_size:
                self._warn(f"truncated last record: frame {self.frame + 1} needs {caplen} bytes, "
                           f"{self.file_size - self.offset - rec_len} left; ignored")
                break
            data = read(caplen)
            if len(data) < caplen:
                self._warn(f"truncated last record: frame {self.frame + 1} needs {caplen} bytes, {len(data)} left; ignored")
                break
            self.offset += rec_len + caplen
            self.frame += 1
            if caplen > snaplen > 0:
                oversnap += 1
            yield RawFrame(self.frame, sec * 1_000_000_000 + frac * frac_ns, 0, linktype, caplen, wirelen, data)
        if oversnap:
            self._warn(f"{oversnap} records are longer than the file's snaplen ({snaplen}); kept as they are")

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
