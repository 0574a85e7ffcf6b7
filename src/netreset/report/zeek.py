"""``conversations --format zeek``: Zeek's ``conn.log``, written as Zeek's ASCII writer writes it.

One row per Zeek connection (:func:`netreset.flows.conversations.build_conversations` with
``attempts=False``), including the splits Zeek's timers make of one connection attempt, with Zeek's
header (``#separator \\x09``, ``#set_separator``, ``#empty_field``, ``#unset_field``, ``#path``, ``#open``,
``#fields``, ``#types``), its 22 default columns, units and unset marks, and the ``#close`` footer, so
that ``zeek-cut`` and ``pandas.read_csv(path, sep="\\t", comment="#")`` read it as they read Zeek's.

Where it cannot be Zeek's (docs/tcp-states.md, "conn.log export"): ``uid`` is deterministic
(:func:`~netreset.records.conversations.zeek_uid`), ``service`` is unset (Zeek's protocol detection reads
payloads, netreset does not), ``missed_bytes`` is 0 (no reassembly), ``tunnel_parents`` is unset (the
outer tunnel connections are not logged), rows are in order of ``ts`` (Zeek writes a row when it removes
the connection) and only TCP connections are written. ``#open``/``#close`` are the capture's first and
last packet times (Zeek writes the wall-clock time; baselines mask both).
"""

from __future__ import annotations

import ipaddress
import time
from typing import Iterable, Iterator

from netreset.flows.model import Conversation
from netreset.records.conversations import zeek_uid

#: Zeek's default conn.log columns (Zeek 7, ``base/protocols/conn/main.zeek``) and their types.
FIELDS = (
    ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"), ("id.resp_h", "addr"),
    ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"), ("duration", "interval"),
    ("orig_bytes", "count"), ("resp_bytes", "count"), ("conn_state", "string"), ("local_orig", "bool"),
    ("local_resp", "bool"), ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"), ("ip_proto", "count"),
)
UNSET, EMPTY = "-", "(empty)"

#: Zeek's ``Site::private_address_space`` (``base/utils/site.zeek``, the IANA special-purpose registries,
#: with the IPv4 blocks' 6to4 forms); ``Site::private_address_space_is_local`` is T by default, so these are
#: what ``local_orig``/``local_resp`` call local when no ``Site::local_nets`` is given.
PRIVATE_ADDRESS_SPACE = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8", "2002::/24", "10.0.0.0/8", "2002:a00::/24", "100.64.0.0/10", "2002:6440::/26", "127.0.0.0/8",
    "2002:7f00::/24", "169.254.0.0/16", "2002:a9fe::/32", "172.16.0.0/12", "2002:ac10::/28", "192.0.0.0/24",
    "2002:c000::/40", "192.0.2.0/24", "2002:c000:200::/40", "192.168.0.0/16", "2002:c0a8::/32", "198.18.0.0/15",
    "2002:c612::/31", "198.51.100.0/24", "2002:c633:6400::/40", "203.0.113.0/24", "2002:cb00:7100::/40",
    "224.0.0.0/24", "2002:e000::/40", "239.0.0.0/8", "2002:ef00::/24", "240.0.0.0/4", "2002:f000::/20",
    "255.255.255.255/32", "2002:ffff:ffff::/48", "::/128", "::1/128", "64:ff9b:1::/48", "100::/64",
    "2001::/23", "2001:2::/48", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10",
))


def is_local(address: str, local_nets: Iterable = PRIVATE_ADDRESS_SPACE) -> bool:
    """``Site::is_local_addr``: the address lies in one of ``local_nets``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in local_nets)


def _bool(value: bool) -> str:
    return "T" if value else "F"


def conn_row(c: Conversation, local: dict[str, bool]) -> list[str]:
    """One conn.log row of Zeek connection ``c`` (a conversation built with ``attempts=False``).

    ``duration`` is Zeek's last activity time minus ``ts`` (a packet after both FINs does not extend it);
    Zeek sets ``duration``, ``orig_bytes`` and ``resp_bytes`` only when the duration is above 0, and its
    byte counts are by sequence numbers (``orig_seq_bytes``)."""
    last_ns = c.zeek_last_ns or c.end_ns
    duration_ns = last_ns - c.start_ns
    timed = duration_ns > 0
    for host in (c.orig_h, c.resp_h):
        if host not in local:
            local[host] = is_local(host)
    return [
        f"{c.start_ns / 1e9:.6f}", zeek_uid(c.orig_h, c.orig_p, c.resp_h, c.resp_p, c.start_ns),
        c.orig_h, str(c.orig_p), c.resp_h, str(c.resp_p), "tcp", UNSET,
        f"{duration_ns / 1e9:.6f}" if timed else UNSET,
        str(c.orig_seq_bytes) if timed else UNSET, str(c.resp_seq_bytes) if timed else UNSET,
        c.conn_state, _bool(local[c.orig_h]), _bool(local[c.resp_h]), "0", c.history or UNSET,
        str(c.orig_pkts), str(c.orig_ip_bytes), str(c.resp_pkts), str(c.resp_ip_bytes), UNSET, "6",
    ]


def _stamp(ns: int | None) -> str:
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime((ns or 0) // 1_000_000_000))


def conn_log_parts(connections: list[Conversation]) -> Iterator[str]:
    """The conn.log text, in pieces (header, rows in order of ts, footer)."""
    ordered = sorted(connections, key=lambda c: (c.start_ns, c.orig_h, c.orig_p, c.resp_h, c.resp_p))
    first = ordered[0].start_ns if ordered else None
    last = max((c.end_ns for c in ordered), default=None)
    yield ("#separator \\x09\n"
           "#set_separator\t,\n"
           f"#empty_field\t{EMPTY}\n"
           f"#unset_field\t{UNSET}\n"
           "#path\tconn\n"
           f"#open\t{_stamp(first)}\n"
           "#fields\t" + "\t".join(name for name, _ in FIELDS) + "\n"
           "#types\t" + "\t".join(kind for _, kind in FIELDS) + "\n")
    local: dict[str, bool] = {}
    block: list[str] = []
    for c in ordered:
        block.append("\t".join(conn_row(c, local)))
        if len(block) == 4096:
            yield "\n".join(block) + "\n"
            block = []
    if block:
        yield "\n".join(block) + "\n"
    yield f"#close\t{_stamp(last)}\n"
