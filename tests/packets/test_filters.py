"""The tcpdump-style filter subset selects exactly the packets tcpdump would."""

import numpy as np
import pytest

from netreset.errors import UsageError
from netreset.packets.filters import compile_filter
from netreset.packets.table import PROTO_ICMP, PROTO_TCP, PacketTableBuilder


@pytest.fixture()
def table():
    b = PacketTableBuilder()
    book = b.book
    rows = [
        ("10.0.0.5", 40000, "8.8.8.8", 888, 4, PROTO_TCP),
        ("8.8.8.8", 888, "10.0.0.5", 40000, 4, PROTO_TCP),
        ("10.0.0.5", 40001, "192.0.2.10", 443, 4, PROTO_TCP),
        ("2001:db8::1", 5555, "2001:db8::2", 80, 6, PROTO_TCP),
        ("192.0.2.1", 0, "10.0.0.5", 0, 4, PROTO_ICMP),
    ]
    for src, sport, dst, dport, version, proto in rows:
        b.append({"src": book.intern(src), "dst": book.intern(dst), "sport": sport, "dport": dport,
                  "ip_version": version, "proto": proto})
    return b.build()


def selected(table, text):
    return np.flatnonzero(compile_filter(text)(table)).tolist()


def test_host_matches_either_direction(table):
    assert selected(table, "host 8.8.8.8") == [0, 1]


def test_src_and_dst_host_match_one_direction(table):
    assert selected(table, "src host 8.8.8.8") == [1]
    assert selected(table, "dst 8.8.8.8") == [0]


def test_port_and_host_combine_like_the_seed_guide(table):
    assert selected(table, "host 8.8.8.8 and port 888") == [0, 1]
    assert selected(table, "host 10.0.0.5 and not port 888") == [2, 4]


def test_net_cidr_and_ipv6(table):
    assert selected(table, "net 192.0.2.0/24") == [2, 4]
    assert selected(table, "net 2001:db8::/32") == [3]
    assert selected(table, "ip6") == [3]


def test_bare_value_repeats_previous_qualifier(table):
    assert selected(table, "host 8.8.8.8 or 192.0.2.10") == [0, 1, 2]
    assert selected(table, "dst port 443 or 80") == [2, 3]
    assert selected(table, "src port 5555 or 888") == [1, 3]


def test_parentheses_and_operators(table):
    assert selected(table, "(port 443 || port 80) && tcp") == [2, 3]
    assert selected(table, "! tcp") == [4]
    assert selected(table, "portrange 400-900") == [0, 1, 2]


def test_ports_only_match_tcp_rows(table):
    assert selected(table, "port 0") == []


@pytest.mark.parametrize("text", ["", "host", "host nothere", "port 70000", "(host 8.8.8.8", "host 8.8.8.8 )", "frob 1"])
def test_malformed_filters_raise_usage_errors(table, text):
    with pytest.raises(UsageError):
        compile_filter(text)(table)
