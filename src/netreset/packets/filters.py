"""A tcpdump-style filter subset, evaluated as vectorised masks over the packet table.

Grammar (the part of pcap-filter(7) a network engineer types when narrowing a capture to one peer)::

    expr      := and_expr (("or" | "||") and_expr)*
    and_expr  := not_expr (("and" | "&&") not_expr)*
    not_expr  := ("not" | "!") not_expr | "(" expr ")" | primitive
    primitive := [src | dst] [host] ADDRESS | [src | dst] net CIDR | [src | dst] port N
               | [src | dst] portrange N-M | tcp | ip | ip6 | icmp | icmp6

As in tcpdump, a bare value after ``or``/``and`` repeats the previous qualifiers:
``host 10.0.0.1 or 10.0.0.2``. A conversation matches when any of its packets matches
(so ``src host A`` selects conversations in which A sent something).

The parser builds a tree of small closures; evaluating it costs a few numpy operations per primitive,
whatever the number of packets.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from netreset.errors import UsageError
from netreset.packets.table import PROTO_ICMP, PROTO_ICMP6, PROTO_TCP, PacketTable

Mask = Callable[[PacketTable], np.ndarray]

_TOKEN = re.compile(r"\s*(\(|\)|&&|\|\||!|[^\s()!]+)")
_DIRECTIONS = ("src", "dst")
_KINDS = ("host", "net", "port", "portrange")
_PROTOCOLS = ("tcp", "ip", "ip6", "icmp", "icmp6")


@dataclass(frozen=True)
class Filter:
    """A compiled filter: the text it came from and its mask function."""

    text: str
    mask: Mask

    def __call__(self, table: PacketTable) -> np.ndarray:
        return self.mask(table)


def compile_filter(text: str) -> Filter:
    """Parse ``text``; raise :class:`UsageError` with the position of the problem when it does not parse."""
    tokens = _tokenize(text)
    if not tokens:
        raise UsageError("empty filter expression")
    parser = _Parser(tokens, text)
    mask = parser.parse_or()
    if parser.pos != len(tokens):
        raise UsageError(f"filter {text!r}: unexpected {tokens[parser.pos]!r}")
    return Filter(text, mask)


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise UsageError(f"filter {text!r}: cannot read at {text[pos:]!r}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over the token list; remembers the last qualifiers for bare values."""

    def __init__(self, tokens: list[str], text: str) -> None:
        self.tokens, self.text, self.pos = tokens, text, 0
        self.last_qualifiers: tuple[str | None, str] | None = None

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise UsageError(f"filter {self.text!r}: unexpected end")
        self.pos += 1
        return token

    def parse_or(self) -> Mask:
        left = self.parse_and()
        while self.peek() in ("or", "||"):
            self.take()
            left = _either(left, self.parse_and())
        return left

    def parse_and(self) -> Mask:
        left = self.parse_not()
        while self.peek() in ("and", "&&"):
            self.take()
            left = _both(left, self.parse_not())
        return left

    def parse_not(self) -> Mask:
        token = self.peek()
        if token in ("not", "!"):
            self.take()
            inner = self.parse_not()
            return lambda t: ~inner(t)
        if token == "(":
            self.take()
            inner = self.parse_or()
            if self.take() != ")":
                raise UsageError(f"filter {self.text!r}: missing ')'")
            return inner
        return self.parse_primitive()

    def parse_primitive(self) -> Mask:
        token = self.take().lower()
        if token in _PROTOCOLS:
            return _protocol(token)
        direction = None
        if token in _DIRECTIONS:
            direction, token = token, self.take().lower()
        if token in _KINDS:
            kind, value = token, self.take()
        elif direction is not None:
            kind, value = "host", token  # "src 10.0.0.1" means "src host 10.0.0.1"
        elif self.last_qualifiers is not None:
            (direction, kind), value = self.last_qualifiers, token
        else:
            raise UsageError(f"filter {self.text!r}: expected host, net, port or a protocol, got {token!r}")
        self.last_qualifiers = (direction, kind)
        return _primitive(direction, kind, value, self.text)


def _either(a: Mask, b: Mask) -> Mask:
    return lambda t: a(t) | b(t)


def _both(a: Mask, b: Mask) -> Mask:
    return lambda t: a(t) & b(t)


def _protocol(name: str) -> Mask:
    if name == "tcp":
        return lambda t: t.proto == PROTO_TCP
    if name == "ip":
        return lambda t: t.ip_version == 4
    if name == "ip6":
        return lambda t: t.ip_version == 6
    if name == "icmp":
        return lambda t: t.proto == PROTO_ICMP
    return lambda t: t.proto == PROTO_ICMP6


def _primitive(direction: str | None, kind: str, value: str, text: str) -> Mask:
    if kind in ("host", "net"):
        network = _parse_network(value, kind, text)
        return _address_mask(direction, network)
    low, high = _parse_ports(value, kind, text)
    return _port_mask(direction, low, high)


def _parse_network(value: str, kind: str, text: str):
    try:
        if kind == "host":
            address = ipaddress.ip_address(value)
            return ipaddress.ip_network(address)
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise UsageError(f"filter {text!r}: {value!r} is not an IP {'address' if kind == 'host' else 'network'}") from None


def _parse_ports(value: str, kind: str, text: str) -> tuple[int, int]:
    parts = value.split("-") if kind == "portrange" else [value, value]
    try:
        low, high = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        raise UsageError(f"filter {text!r}: {value!r} is not a {kind}") from None
    if not (0 <= low <= high <= 65535):
        raise UsageError(f"filter {text!r}: {value!r} is not a valid {kind}")
    return low, high


def _address_mask(direction: str | None, network) -> Mask:
    def mask(table: PacketTable) -> np.ndarray:
        matching_ids = _matching_address_ids(table.book.addresses, network)
        src = np.isin(table.src, matching_ids)
        dst = np.isin(table.dst, matching_ids)
        return src if direction == "src" else dst if direction == "dst" else src | dst

    return mask


def _matching_address_ids(addresses: list[str], network) -> np.ndarray:
    ids = []
    for i, text in enumerate(addresses):
        try:
            if ipaddress.ip_address(text) in network:
                ids.append(i)
        except ValueError:
            continue
    return np.array(ids, dtype=np.int64)


def _port_mask(direction: str | None, low: int, high: int) -> Mask:
    def mask(table: PacketTable) -> np.ndarray:
        tcp = table.proto == PROTO_TCP
        src = tcp & (table.sport >= low) & (table.sport <= high)
        dst = tcp & (table.dport >= low) & (table.dport <= high)
        return src if direction == "src" else dst if direction == "dst" else src | dst

    return mask
