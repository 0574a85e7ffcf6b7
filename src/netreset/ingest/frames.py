"""What ingestion hands on besides rows: raw frames, interfaces, statistics and tunnel codes.

Shared by every container reader, layer decoder and engine, so it imports nothing of theirs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from netreset.ingest.payloads import PayloadStore

# Tunnel codes for the ``encap`` column of the packet table.
ENCAP_NONE, ENCAP_GRE, ENCAP_ERSPAN, ENCAP_VXLAN, ENCAP_GENEVE, ENCAP_IPIP, ENCAP_AYIYA, ENCAP_TEREDO = range(8)
#: Later additions (codes are never renumbered): GTP-U, L2TP, CAPWAP data, MPLS in UDP.
ENCAP_GTP, ENCAP_L2TP, ENCAP_CAPWAP, ENCAP_MPLS_UDP = range(8, 12)
ENCAP_NAMES = {
    ENCAP_NONE: "",
    ENCAP_GRE: "gre",
    ENCAP_ERSPAN: "erspan",
    ENCAP_VXLAN: "vxlan",
    ENCAP_GENEVE: "geneve",
    ENCAP_IPIP: "ip-in-ip",
    ENCAP_AYIYA: "ayiya",
    ENCAP_TEREDO: "teredo",
    ENCAP_GTP: "gtp",
    ENCAP_L2TP: "l2tp",
    ENCAP_CAPWAP: "capwap",
    ENCAP_MPLS_UDP: "mpls-in-udp",
}

#: Link types above the 16-bit LINKTYPE_* space, for records no LINKTYPE value describes: a container
#: format's own media types and metadata records (so far Network Monitor's: ``PRIVATE_LINKTYPE_BASE`` +
#: its media type number). The decoder counts such frames under :func:`private_linktype_reason`.
PRIVATE_LINKTYPE_BASE = 0x10000
#: A NetMon 802.11 frame whose NetMon radio header is cut or claims more bytes than the frame holds.
LINKTYPE_BAD_NETMON_WLAN = PRIVATE_LINKTYPE_BASE + 0x10000
#: NetMon records that are not packets (Wireshark shows them as frames): not problems, other protocols.
NETMON_METADATA_NAMES = {0xFFE0: "netmon-event", 0xFFFB: "netmon-network-info", 0xFFFF: "netmon-filter"}


def private_linktype_reason(linktype: int) -> str:
    """What a frame with a private link type is counted as, e.g. ``unsupported-netmon-media-0x4``."""
    if linktype == LINKTYPE_BAD_NETMON_WLAN:
        return "truncated-netmon-wlan-header"
    media = linktype - PRIVATE_LINKTYPE_BASE
    return NETMON_METADATA_NAMES.get(media) or f"unsupported-netmon-media-{media:#x}"


class RawFrame(NamedTuple):
    """One captured frame as the container holds it, before any protocol decoding.

    A NamedTuple, not a dataclass: one is made per frame, and a tuple is much cheaper to make.
    """

    frame: int  #: 1-based frame number in the file, as Wireshark numbers it
    ts_ns: int  #: timestamp, ns since the Unix epoch (if_tsresol and if_tsoffset applied)
    iface: int  #: pcapng interface id (0 for pcap)
    linktype: int  #: LINKTYPE_* of the frame (its interface's, or its own in NetMon 2.1+); or a private one
    caplen: int  #: bytes captured (len(data))
    wirelen: int  #: bytes on the wire
    data: bytes  #: the captured bytes


@dataclass(frozen=True)
class Interface:
    """A capture interface (pcapng IDB; the single implicit interface of a pcap file)."""

    id: int
    linktype: int
    snaplen: int
    name: str = ""  #: if_name — untrusted text from the capture
    description: str = ""  #: if_description — untrusted text
    ts_resolution_ns: float = 1000.0  #: nanoseconds per timestamp unit (from if_tsresol)
    ts_offset_s: int = 0  #: if_tsoffset, seconds added to every timestamp


@dataclass
class IngestStats:
    """What ingestion saw besides the rows of the table: counts, reasons and warnings."""

    paths: list[str] = field(default_factory=list)  #: the capture files read, in file_id order
    file_format: str = ""  #: "pcap", "pcap-ns", "pcapng", "netmon1", "netmon2" (+ "+gzip")
    frames_total: int = 0  #: every frame record read from the file
    tcp_packets: int = 0  #: frames that produced a TCP row
    icmp_errors: int = 0  #: ICMP/ICMPv6 errors that produced a row (they quote a TCP header)
    other_protocols: Counter = field(default_factory=Counter)  #: decoded fine but not TCP ("udp", "arp", ...)
    problems: Counter = field(default_factory=Counter)  #: frames not decoded, by reason ("truncated-ip", ...)
    warnings: list[str] = field(default_factory=list)  #: one-line messages (e.g. "truncated last record")
    interfaces: list[Interface] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)  #: pcapng/NetMon comments, NetMon processes (untrusted text)
    non_first_fragments: int = 0  #: IP fragments after the first: they carry no TCP header
    #: UDP datagrams that look like a tunnel netreset does not decode, by ``udp/<port>``: the payload
    #: parses as an IP header, or the port is a tunnel's that is not decoded (see layers/tunnels.py)
    undecoded_tunnels: Counter = field(default_factory=Counter)
    #: the first payload bytes of each application direction and the DNS answers (netreset.ingest.payloads)
    payloads: PayloadStore = field(default_factory=PayloadStore, compare=False, repr=False)

    def merge(self, other: "IngestStats") -> None:
        """Add another file's counts (and its path) to these (for multi-file runs)."""
        self.paths.extend(other.paths)
        self.frames_total += other.frames_total
        self.tcp_packets += other.tcp_packets
        self.icmp_errors += other.icmp_errors
        self.other_protocols.update(other.other_protocols)
        self.problems.update(other.problems)
        self.warnings.extend(other.warnings)
        self.interfaces.extend(other.interfaces)
        self.comments.extend(other.comments)
        self.non_first_fragments += other.non_first_fragments
        self.undecoded_tunnels.update(other.undecoded_tunnels)
        self.payloads.merge(other.payloads)
