"""tshark's field output → packet-table rows: one line of :data:`FIELDS` per frame, classified.

How nested headers map to rows: ``frame.protocols`` lists the layers (``eth:ethertype:ip:gre:ip:tcp``)
and a field such as ``ip.ttl`` lists one value per IPv4 layer, in the same order (``64,33``). The
position of a layer among its kind picks its value. The row uses the innermost IP header that carries
TCP; an ICMP error quoting TCP (``ip:icmp:ip:tcp``) becomes an ICMP row whose ``q_*`` columns come
from the quoted headers. Everything here is pure: text in, dicts out.
"""

from __future__ import annotations

from netreset.ingest.frames import (
    ENCAP_AYIYA,
    ENCAP_CAPWAP,
    ENCAP_ERSPAN,
    ENCAP_GENEVE,
    ENCAP_GRE,
    ENCAP_GTP,
    ENCAP_IPIP,
    ENCAP_L2TP,
    ENCAP_MPLS_UDP,
    ENCAP_NONE,
    ENCAP_TEREDO,
    ENCAP_VXLAN,
)
from netreset.ingest.layers.tcp import OPTION_LETTERS
from netreset.packets.table import (
    CHECKSUM_BAD, CHECKSUM_GOOD, CHECKSUM_UNCHECKED, PROTO_ICMP, PROTO_ICMP6, PROTO_TCP, SYN, AddressBook,
)

#: Fields asked from tshark, in output order.
FIELDS: tuple[str, ...] = (
    "frame.number", "frame.time_epoch", "frame.interface_id", "frame.protocols", "frame.len", "frame.cap_len",
    "ip.src", "ip.dst", "ip.ttl", "ip.id", "ip.flags.df", "ip.len", "ip.hdr_len", "ip.frag_offset",
    "ipv6.src", "ipv6.dst", "ipv6.hlim", "ipv6.plen", "ipv6.fraghdr.ident", "ipv6.fraghdr.offset",
    "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.seq", "tcp.seq_raw", "tcp.ack_raw", "tcp.window_size_value",
    "tcp.len", "tcp.hdr_len", "tcp.option_kind", "tcp.options.mss_val", "tcp.options.wscale.shift",
    "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr",
    "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code", "vlan.id",
    "ip.checksum.status", "tcp.checksum.status", "icmp.checksum.status", "icmpv6.checksum.status",
)
_I = {name: i for i, name in enumerate(FIELDS)}

#: ICMP / ICMPv6 types that are errors quoting the offending packet (RFC 792, RFC 4443).
ICMP_ERROR_TYPES = frozenset({3, 4, 5, 11, 12})
ICMP6_ERROR_TYPES = frozenset({1, 2, 3, 4})

#: frame.protocols names of tunnel layers → ``encap`` code; the last one before the inner IP wins.
TUNNEL_LAYERS = {
    "gre": ENCAP_GRE, "erspan": ENCAP_ERSPAN, "vxlan": ENCAP_VXLAN, "geneve": ENCAP_GENEVE,
    "ayiya": ENCAP_AYIYA, "teredo": ENCAP_TEREDO, "gtp": ENCAP_GTP, "l2tp": ENCAP_L2TP,
    "capwap.data": ENCAP_CAPWAP,
}

def epoch_ns(text: str) -> int:
    """``frame.time_epoch`` ("1630165473.690298000") to integer ns, exactly (no float on the way)."""
    seconds, _, fraction = text.partition(".")
    ns = int(seconds or "0") * 1_000_000_000
    value = int((fraction + "000000000")[:9])
    return ns - value if seconds.startswith("-") else ns + value


def _nth(text: str, index: int) -> str:
    """Value ``index`` of a comma list ("64,33"); "" when absent. Negative indices count from the end."""
    if "," not in text:  # the common case: one header of the kind
        return text if index in (0, -1) else ""
    parts = text.split(",")
    return parts[index] if -len(parts) <= index < len(parts) else ""


def parse_int(text: str, default: int = -1) -> int:
    """Decimal or 0x-hex integer; ``default`` for an absent field."""
    if not text:
        return default
    return int(text, 16) if text.startswith("0x") else int(text)


class Layers:
    """Positions in ``frame.protocols``: which IP layer is innermost, which quoted, which tunnel."""

    def __init__(self, protocols: str):
        self.names = protocols.split(":")
        self.ip_at: list[int] = []  # indices of "ip"/"ipv6" names
        self.ordinal: dict[int, int] = {}  # layer index → position among layers of the same kind
        seen = {"ip": 0, "ipv6": 0, "tcp": 0}
        for i, name in enumerate(self.names):
            if name in seen:
                self.ordinal[i] = seen[name]
                seen[name] += 1
                if name != "tcp":
                    self.ip_at.append(i)
        self.tcp_count = seen["tcp"]
        self.fraghdr_count = self.names.count("ipv6.fraghdr")

    def first(self, name: str) -> int:
        """Index of the first layer called ``name``; -1 when absent."""
        return self.names.index(name) if name in self.names else -1

    def ip_before(self, index: int) -> int:
        """Index of the nearest IP layer before layer ``index``; -1 when none."""
        found = -1
        for i in self.ip_at:
            if i >= index:
                break
            found = i
        return found

    def tunnel_ip_before(self, index: int) -> int:
        """The IP layer that tunnels layer ``index``: the nearest earlier one not itself carrying TCP.

        Why the skip: one 802.11 A-MSDU frame (``ip:gre:wlan:llc:ip:tcp:tls:llc:ip:tcp``) holds several
        sibling IP packets; the first inner packet is not a tunnel around the second.
        """
        found = -1
        for i in self.ip_at:
            if i >= index:
                break
            above = [n for n in self.names[i + 1:index] if not n.startswith("ipv6.")]
            if not above or above[0] != "tcp":
                found = i
        return found

    def encap(self, outer: int, inner: int) -> int:
        """Tunnel code between the IP layers at ``outer`` and ``inner`` (IP-in-IP when nothing else).

        Two UDP tunnels leave no name of their own: MPLS in UDP (``udp:mpls``) and VXLAN-GPE, whose
        dissector (Wireshark 4.0) adds nothing to ``frame.protocols`` (``udp:ip`` or ``udp:eth``).
        """
        between = [n for n in self.names[outer + 1:inner] if not n.startswith("ipv6.")]
        code = ENCAP_NONE if between else ENCAP_IPIP
        for name in between:
            code = TUNNEL_LAYERS.get(name, code)
        if code == ENCAP_NONE and between and between[0] == "udp":
            rest = [n for n in between[1:] if n not in ("eth", "ethertype", "vlan")]
            if rest == ["mpls"]:
                code = ENCAP_MPLS_UDP
            elif not rest:
                code = ENCAP_VXLAN
        return code


def _ip_columns(values: list[str], layers: Layers, at: int, book: AddressBook) -> dict:
    """Columns of the IP header at layer index ``at`` (ttl, ids, addresses, lengths)."""
    k = layers.ordinal[at]
    if layers.names[at] == "ip":
        return {
            "ip_version": 4, "src": book.intern(_nth(values[_I["ip.src"]], k)),
            "dst": book.intern(_nth(values[_I["ip.dst"]], k)), "ttl": parse_int(_nth(values[_I["ip.ttl"]], k)),
            "ip_id": parse_int(_nth(values[_I["ip.id"]], k)),
            "df": _nth(values[_I["ip.flags.df"]], k) in ("1", "True"),
            "ip_len": parse_int(_nth(values[_I["ip.len"]], k), 0),
        }
    frag_id = values[_I["ipv6.fraghdr.ident"]] if layers.fraghdr_count == 1 else ""
    return {
        "ip_version": 6, "src": book.intern(_nth(values[_I["ipv6.src"]], k)),
        "dst": book.intern(_nth(values[_I["ipv6.dst"]], k)), "ttl": parse_int(_nth(values[_I["ipv6.hlim"]], k)),
        "ip_id": parse_int(frag_id), "ip_len": 40 + parse_int(_nth(values[_I["ipv6.plen"]], k), 0),
    }


def _non_first_fragment(values: list[str], layers: Layers, at: int) -> bool:
    """True when the IP header at ``at`` is a fragment after the first (it carries no TCP header)."""
    if layers.names[at] == "ip":
        return parse_int(_nth(values[_I["ip.frag_offset"]], layers.ordinal[at]), 0) > 0
    return layers.fraghdr_count == 1 and parse_int(values[_I["ipv6.fraghdr.offset"]], 0) > 0


def _payload_len(values: list[str], layers: Layers, inner: int, ip: dict, k: int) -> int:
    """TCP payload bytes from the IP length, as the column is defined (tshark's tcp.len instead trusts
    a shorter length of an outer layer such as PPPoE, and is empty on a first IP fragment)."""
    hdr_len = parse_int(_nth(values[_I["tcp.hdr_len"]], k), 20)
    if ip["ip_version"] == 4:
        payload = ip["ip_len"] - parse_int(_nth(values[_I["ip.hdr_len"]], layers.ordinal[inner]), 20) - hdr_len
    elif _nth(values[_I["tcp.len"]], k):
        payload = int(_nth(values[_I["tcp.len"]], k))
    else:  # IPv6 first fragment: only the fragment header's 8 bytes are known to sit before TCP
        payload = ip["ip_len"] - 40 - 8 * layers.fraghdr_count - hdr_len
    return max(payload, 0)


def _option_kinds(values: list[str], layers: Layers) -> list[int]:
    """Option kinds of the row's TCP header, up to the first End-of-List (tshark lists every EOL
    padding byte; a TCP stack stops reading at the first). Empty when several TCP headers share the
    frame, as tshark's list does not say where one header's options end."""
    if layers.tcp_count != 1:
        return []
    kinds = [int(k) for k in values[_I["tcp.option_kind"]].split(",") if k]
    return kinds[:kinds.index(0) + 1] if 0 in kinds else kinds


def _tcp_columns(values: list[str], layers: Layers, tcp_at: int, ip: dict, book: AddressBook) -> dict:
    """TCP header columns of the TCP layer at ``tcp_at`` (the k-th TCP header of the frame)."""
    k = layers.ordinal[tcp_at]
    payload = _payload_len(values, layers, layers.ip_before(tcp_at), ip, k)
    missing = parse_int(values[_I["frame.len"]], 0) - parse_int(values[_I["frame.cap_len"]], 0)
    flags = parse_int(_nth(values[_I["tcp.flags"]], k)) & 0x1FF
    kinds = _option_kinds(values, layers)
    row = {
        "proto": PROTO_TCP, "sport": parse_int(_nth(values[_I["tcp.srcport"]], k), 0),
        "dport": parse_int(_nth(values[_I["tcp.dstport"]], k), 0), "flags": flags,
        "seq": parse_int(_nth(values[_I["tcp.seq_raw"]] or values[_I["tcp.seq"]], k), 0),
        "ack": parse_int(_nth(values[_I["tcp.ack_raw"]], k), 0),
        "win": parse_int(_nth(values[_I["tcp.window_size_value"]], k), 0),
        "payload_len": payload, "captured_payload": max(payload - max(missing, 0), 0),
        "mss": parse_int(_nth(values[_I["tcp.options.mss_val"]], k)),
        "wscale": parse_int(_nth(values[_I["tcp.options.wscale.shift"]], k)), "sack_perm": 4 in kinds,
        "ts_val": parse_int(_nth(values[_I["tcp.options.timestamp.tsval"]], k)),
        "ts_ecr": parse_int(_nth(values[_I["tcp.options.timestamp.tsecr"]], k)),
    }
    if flags & SYN and kinds:  # the default engine's p0f-style letters, unknown kinds as "?<kind>"
        row["options_sig"] = book.intern_signature(",".join(OPTION_LETTERS.get(k) or f"?{k}" for k in kinds))
    return row


def _icmp_columns(values: list[str], layers: Layers, quoted_at: int, book: AddressBook) -> dict | None:
    """ICMP-error columns (type, code, quoted header) or None when the ICMP message is not an error."""
    v6 = layers.names[quoted_at - 1] == "icmpv6"
    kind = "icmpv6" if v6 else "icmp"
    icmp_type, code = parse_int(_nth(values[_I[kind + ".type"]], -1)), parse_int(_nth(values[_I[kind + ".code"]], -1))
    if icmp_type not in (ICMP6_ERROR_TYPES if v6 else ICMP_ERROR_TYPES):
        return None
    quoted = _ip_columns(values, layers, quoted_at, book)
    return {
        "proto": PROTO_ICMP6 if v6 else PROTO_ICMP, "icmp_type": icmp_type, "icmp_code": code,
        "q_src": quoted["src"], "q_dst": quoted["dst"], "q_ttl": quoted["ttl"],
        "q_sport": parse_int(_nth(values[_I["tcp.srcport"]], 0)), "q_dport": parse_int(_nth(values[_I["tcp.dstport"]], 0)),
        "q_seq": parse_int(_nth(values[_I["tcp.seq"]], 0)),
    }


def _tunnel(values: list[str], layers: Layers, inner: int, book: AddressBook) -> dict:
    """Outer-header columns: the tunnel code and the addresses of the IP header around ``inner``."""
    vlan = {"vlan": parse_int(_nth(values[_I["vlan.id"]], 0))} if values[_I["vlan.id"]] else {}
    outer = layers.tunnel_ip_before(inner)
    if outer < 0:
        return vlan
    ip = _ip_columns(values, layers, outer, book)
    return {**vlan, "encap": layers.encap(outer, inner), "outer_src": ip["src"], "outer_dst": ip["dst"]}


#: Wireshark's checksum status (``proto_checksum_enum_e``: 0 bad, 1 good, 2 unverified) → ``checksum``.
CHECKSUM_STATUS = {"0": CHECKSUM_BAD, "1": CHECKSUM_GOOD}


def checksum_column(values: list[str], layers: Layers, ip_at: int, transport: str) -> int:
    """``checksum`` column as the default engine sets it: bad when any IPv4 header up to the row's IP
    header or the transport checksum is bad, good when the transport checksum was verified good, else
    unchecked (tshark cannot verify a segment cut by the snaplen or a first fragment)."""
    statuses = values[_I["ip.checksum.status"]].split(",")
    for i in layers.ip_at:
        k = layers.ordinal[i]
        if i <= ip_at and layers.names[i] == "ip" and k < len(statuses) and statuses[k] == "0":
            return CHECKSUM_BAD
    return CHECKSUM_STATUS.get(transport, CHECKSUM_UNCHECKED)


def _other_name(layers: Layers) -> str:
    """Protocol name a non-TCP frame is counted under: the layer above its innermost IP, else the last."""
    names = [n for n in layers.names if n and not n.startswith("_ws.")]
    if layers.ip_at:
        above = [n for n in layers.names[layers.ip_at[-1] + 1:] if not n.startswith(("ipv6.", "_ws."))]
        return above[0] if above else layers.names[layers.ip_at[-1]]
    return names[-1] if names else "unknown"


def classify_frame(values: list[str], book: AddressBook, verify: bool = False) -> tuple[str, dict | list | str]:
    """One frame's fields → ("tcp"|"icmp", row columns) or ("other"|"problem"|"fragment", name).

    An 802.11 A-MSDU holding several TCP segments (``wlan:llc:ip:tcp:…:llc:ip:tcp``) gives
    ("tcp", [row, …]), one row per segment, as the default engine does.
    ``verify``: fill the ``checksum`` column (tshark must have run with checksum checks enabled).
    """
    layers = Layers(values[_I["frame.protocols"]])
    if layers.tcp_count > 1 and "wlan" in layers.names:
        rows = _amsdu_rows(values, layers, book, verify)
        if rows:
            return "tcp", rows if len(rows) > 1 else rows[0]
    return _classify(values, layers, book, verify)


def _amsdu_rows(values: list[str], layers: Layers, book: AddressBook, verify: bool) -> list[dict]:
    """One row per TCP layer that sits in its own A-MSDU subframe (an ``llc`` layer after the ``wlan``)."""
    wlan = layers.names.index("wlan")
    rows = []
    for at, name in enumerate(layers.names):
        if name != "tcp" or at < wlan:
            continue
        inner = layers.ip_before(at)
        if inner <= wlan or layers.names[inner - 1] in ("icmp", "icmpv6") or not _nth(
                values[_I["tcp.flags"]], layers.ordinal[at]):
            continue
        ip = _ip_columns(values, layers, inner, book)
        row = {**ip, **_tunnel(values, layers, inner, book), **_tcp_columns(values, layers, at, ip, book)}
        if verify:
            row["checksum"] = checksum_column(values, layers, inner,
                                              _nth(values[_I["tcp.checksum.status"]], layers.ordinal[at]))
        rows.append(row)
    return rows if layers.names[wlan + 1:].count("llc") > 1 else []


def _classify(values: list[str], layers: Layers, book: AddressBook, verify: bool) -> tuple[str, dict | str]:
    """:func:`classify_frame` for a frame with one row at most."""
    tcp_at = layers.first("tcp")
    inner = layers.ip_before(tcp_at) if tcp_at >= 0 else -1
    if inner < 0:
        if layers.ip_at and _non_first_fragment(values, layers, layers.ip_at[-1]):
            return "fragment", "ip-fragment"
        if any(n in ("_ws.malformed", "_ws.short") for n in layers.names):
            return "problem", "malformed-" + _other_name(layers)
        return "other", _other_name(layers)
    if inner > 0 and layers.names[inner - 1] in ("icmp", "icmpv6"):
        return _icmp_row(values, layers, inner, book, verify)
    k = layers.ordinal[tcp_at]
    if not _nth(values[_I["tcp.flags"]], k) or not values[_I["tcp.srcport"]]:
        return "problem", "truncated-tcp"
    ip = _ip_columns(values, layers, inner, book)
    row = {**ip, **_tunnel(values, layers, inner, book), **_tcp_columns(values, layers, tcp_at, ip, book)}
    if verify:
        row["checksum"] = checksum_column(values, layers, inner, _nth(values[_I["tcp.checksum.status"]], k))
    return "tcp", row


def _icmp_row(values: list[str], layers: Layers, quoted_at: int, book: AddressBook,
              verify: bool) -> tuple[str, dict | str]:
    """An ICMP error quoting TCP becomes a row (carrier IP + quoted header); other ICMP is counted."""
    kind = layers.names[quoted_at - 1]
    carrier = layers.ip_before(quoted_at - 1)
    error = _icmp_columns(values, layers, quoted_at, book) if carrier >= 0 else None
    if error is None:
        return "other", kind
    row = {**_ip_columns(values, layers, carrier, book), **_tunnel(values, layers, carrier, book), **error}
    if verify:
        row["checksum"] = checksum_column(values, layers, carrier, _nth(values[_I[kind + ".checksum.status"]], -1))
    return "icmp", row
