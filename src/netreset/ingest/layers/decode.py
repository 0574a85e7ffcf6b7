"""One frame → one packet-table row, or the reason it gives none.

The layers live in their own modules (link layer, IP, TCP, ICMP, tunnels); this one walks a frame
through them: link layer → IP → (tunnel → link layer → IP)* → TCP or an ICMP error. The innermost IP
header is the one in the row; the tunnel closest to it gives ``encap``/``outer_src``/``outer_dst``.
An 802.11 A-MSDU (on the link or inside a tunnel) carries several packets in one frame: each of its
subframes is walked on from there, and the frame gives a list of rows that share its frame number.

Every frame (every A-MSDU subframe) that gives no row is counted in :class:`IngestStats` at the point of decision: in
``problems`` by reason when it could not be decoded, in ``other_protocols`` by name when it was
decoded fine but is not TCP, or in ``non_first_fragments``. The hot path allocates nothing per
frame beyond the row dict and the address slices.
"""

from __future__ import annotations

from socket import AF_INET, AF_INET6, inet_ntop

from netreset.ingest.frames import ENCAP_IPIP, PRIVATE_LINKTYPE_BASE, IngestStats, RawFrame, private_linktype_reason
from netreset.ingest.layers.checksum import icmp4_ok, transport_ok
from netreset.ingest.layers.icmp import parse_icmp4, parse_icmp6
from netreset.ingest.layers.ip import parse_ipv4, parse_ipv6, proto_name
from netreset.ingest.layers.link import (
    ETH_IPV4, ETH_IPV6, ETH_TEB, ETHERTYPE_NAMES, ethernet, is_problem, link_payload, shims, wlan,
)
from netreset.ingest.layers.tcp import parse_tcp
from netreset.ingest.layers.tunnels import WLAN, WLAN_SWAPPED, decap_gre, decap_udp, looks_like_tunnel
from netreset.ingest.payloads import PayloadSelector
from netreset.packets.table import CHECKSUM_BAD, CHECKSUM_GOOD, SYN, AddressBook

#: Tunnels inside tunnels deeper than this are refused (crafted packets could nest without end).
MAX_NESTING = 8

NON_FIRST_FRAGMENT = "non-first-fragment"


class Decoder:
    """Decodes frames of one capture file into row dicts, counting everything else in ``stats``."""

    def __init__(self, book: AddressBook, stats: IngestStats, *, file_id: int = 0,
                 verify_checksums: bool = False) -> None:
        self.book = book
        self.stats = stats
        self.file_id = file_id
        self.verify = verify_checksums
        self._addr_ids: dict[bytes, int] = {}
        self.signature = book.intern_signature
        self.selector = PayloadSelector(stats.payloads, file_id)  #: which payload bytes to keep

    def addr(self, raw: bytes) -> int:
        """Address id of raw IPv4/IPv6 bytes; the cache spares an ``inet_ntop`` per packet."""
        found = self._addr_ids.get(raw)
        if found is None:
            text = inet_ntop(AF_INET if len(raw) == 4 else AF_INET6, raw)
            found = self._addr_ids[raw] = self.book.intern(text)
        return found

    def decode(self, frame: RawFrame) -> dict | list | str:
        """The row for ``frame``, or the reason string it produced none (already counted).

        An A-MSDU frame whose subframes give several rows answers the list of them, in subframe order.
        """
        data = frame.data
        found = link_payload(frame.linktype, data)
        if found.__class__ is str:
            if frame.linktype >= PRIVATE_LINKTYPE_BASE:  # a container's own media type (NetMon): its name
                found = private_linktype_reason(frame.linktype)
            return self.skip(found)
        row = {"file_id": self.file_id, "frame": frame.frame, "ts_ns": frame.ts_ns, "iface": frame.iface}
        if found.__class__ is list:
            return self._subframes(found, data, row, MAX_NESTING)
        etype, off, vlan = found
        if vlan >= 0:
            row["vlan"] = vlan
        return self._walk(etype, data, off, len(data), row, MAX_NESTING)

    def _walk(self, etype: int, data: bytes, off: int, end: int, row: dict, depth: int):
        """From a network-layer header through every tunnel to the row (or a counted reason)."""
        for left in range(depth, 0, -1):
            found = self._network(etype, data, off, end, row)
            cls = found.__class__
            if cls is tuple:
                etype, off, end = found
            elif cls is dict:
                return found
            elif cls is list:
                return self._subframes(found, data, row, left - 1)
            else:
                return self.skip(found)
        return self.skip("malformed-tunnel-nesting")

    def _subframes(self, subframes: list, data: bytes, row: dict, depth: int):
        """Every A-MSDU subframe from the columns gathered so far: a row, a list of rows, or the last reason."""
        rows, reason = [], "truncated-wlan"
        for sub in subframes:
            if sub.__class__ is str:
                reason = self.skip(sub)
                continue
            etype, off, vlan, end = sub
            copy = dict(row)
            if vlan >= 0 and "vlan" not in copy:
                copy["vlan"] = vlan
            found = self._walk(etype, data, off, end, copy, depth)
            if found.__class__ is dict:
                rows.append(found)
            elif found.__class__ is list:
                rows.extend(found)
            else:
                reason = found
        if not rows:
            return reason
        return rows[0] if len(rows) == 1 else rows

    def skip(self, reason: str) -> str:
        """Count a frame that gives no row under ``reason`` and return the reason."""
        stats = self.stats
        if reason == NON_FIRST_FRAGMENT:
            stats.non_first_fragments += 1
        elif is_problem(reason):
            stats.problems[reason] += 1
        else:
            stats.other_protocols[reason] += 1
        return reason

    def _network(self, etype: int, data: bytes, off: int, end: int, row: dict):
        """IP layer and what it carries → row, reason, or ``(etype, off, end)`` of a tunnelled packet."""
        if etype == ETH_IPV4:
            found = parse_ipv4(data, off, end, row, self.addr, self.verify)
        elif etype == ETH_IPV6:
            found = parse_ipv6(data, off, end, row, self.addr, self.verify)
        else:
            return ETHERTYPE_NAMES.get(etype, "unsupported-ethertype")
        if found.__class__ is str:
            return found
        proto, l4, l4_end, l4_len, pseudo = found
        if proto == 6:
            return self._tcp(data, l4, l4_end, l4_len, pseudo, row)
        if proto == 1 or proto == 58:
            return self._icmp(proto, data, l4, l4_end, l4_len, pseudo, row)
        if proto == 47:
            found = decap_gre(data, l4, l4_end)
        elif proto == 17:
            found = decap_udp(data, l4, l4_end)
            if found == "udp" and l4 + 8 < l4_end and data[l4] == 0 and data[l4 + 1] == 53:
                # a UDP DNS answer (source port 53): kept for the names it gives (netreset.ingest.payloads)
                self.stats.payloads.add_dns(self.file_id, row["frame"], data[l4 + 8:l4_end])
            if found == "udp":
                port = looks_like_tunnel(data, l4, l4_end)
                if port:
                    self.stats.undecoded_tunnels[f"udp/{port}"] += 1
        elif proto == 4 or proto == 41:
            found = ENCAP_IPIP, ETH_IPV4 if proto == 4 else ETH_IPV6, l4
        else:
            return proto_name(proto)
        if found.__class__ is str:
            return found
        return self._enter_tunnel(found, data, l4_end, row)

    def _enter_tunnel(self, tunnel: tuple, data: bytes, end: int, row: dict):
        """Remember the outer addresses and peel the inner link layer, if any, down to IP."""
        encap, etype, off = tunnel
        row["encap"] = encap
        row["outer_src"] = row["src"]
        row["outer_dst"] = row["dst"]
        if etype == ETH_TEB:
            found = ethernet(data, off, end)
        elif etype == WLAN or etype == WLAN_SWAPPED:
            found = wlan(data, off, end, etype == WLAN_SWAPPED)
        else:
            found = shims(data, off, end, etype, -1)
        if found.__class__ is str or found.__class__ is list:
            return found
        if "vlan" not in row and found[2] >= 0:
            row["vlan"] = found[2]
        return found[0], found[1], end

    def _tcp(self, data: bytes, off: int, end: int, l4_len: int, pseudo, row: dict):
        reason = parse_tcp(data, off, end, l4_len, row, self.signature)
        if reason is not None:
            return reason
        if pseudo is not None and end - off == l4_len:
            good = transport_ok(pseudo, 6, data, off, end) and row.get("checksum") != CHECKSUM_BAD
            row["checksum"] = CHECKSUM_GOOD if good else CHECKSUM_BAD
        self.stats.tcp_packets += 1
        captured, flags = row["captured_payload"], row["flags"]
        if captured or flags & SYN:
            self.selector.offer((row["src"], row["dst"], row["sport"], row["dport"]), row["frame"], row["seq"], flags,
                                captured, data, end - captured)
        return row

    def _icmp(self, proto: int, data: bytes, off: int, end: int, l4_len: int, pseudo, row: dict):
        if proto == 1:
            reason = parse_icmp4(data, off, end, row, self.addr)
        else:
            reason = parse_icmp6(data, off, end, row, self.addr)
        if reason is not None:
            return reason
        if pseudo is not None and end - off == l4_len:
            ok = icmp4_ok(data, off, end) if proto == 1 else transport_ok(pseudo, 58, data, off, end)
            good = ok and row.get("checksum") != CHECKSUM_BAD
            row["checksum"] = CHECKSUM_GOOD if good else CHECKSUM_BAD
        self.stats.icmp_errors += 1
        return row

