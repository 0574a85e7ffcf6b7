"""Names from the DNS answers in a capture, as Wireshark's "resolve network addresses from captured DNS".

Every A and AAAA answer names its address with the record's owner name (what Wireshark shows); the CNAME
chain that led there adds the aliases (the name the client asked for first among them). UDP answers come
from the payload store's DNS messages, TCP answers (2-byte length prefix) from kept segments.
"""

from __future__ import annotations

import socket
from typing import Iterable

import dpkt

_A, _CNAME, _AAAA = 1, 5, 28


def dns_answers(message: bytes) -> list[tuple[str, str]]:
    """(address, name) pairs one DNS response gives, the address's own record name first, then the
    aliases the CNAME chain gives for it; [] for anything that is not a readable response."""
    try:
        dns = dpkt.dns.DNS(message)
    except Exception:  # noqa: BLE001 — hostile or truncated bytes: no names
        return []
    if dns.qr != dpkt.dns.DNS_R:
        return []
    aliases: dict[str, str] = {}  # cname target -> owner (the name that points at it)
    found = []
    for rr in dns.an:
        try:
            name = _clean(rr.name)
            if rr.type == _CNAME:
                aliases[_clean(rr.cname).lower()] = name
            elif rr.type == _A and len(rr.ip) == 4:
                found.append((socket.inet_ntop(socket.AF_INET, rr.ip), name))
            elif rr.type == _AAAA and len(rr.ip6) == 16:
                found.append((socket.inet_ntop(socket.AF_INET6, rr.ip6), name))
        except Exception:  # noqa: BLE001 — a record dpkt left half-read
            continue
    out = []
    for address, name in found:
        out.append((address, name))
        seen, current = {name.lower()}, name.lower()
        while current in aliases and len(seen) < 16:  # walk the chain back to the name asked for
            owner = aliases[current]
            if owner.lower() in seen:
                break
            seen.add(owner.lower())
            out.append((address, owner))
            current = owner.lower()
    return out


def tcp_dns_messages(stream: bytes) -> list[bytes]:
    """The messages of a DNS-over-TCP byte stream (each after its 2-byte length), as far as complete."""
    out, pos = [], 0
    while pos + 2 <= len(stream) and len(out) < 64:
        length = int.from_bytes(stream[pos:pos + 2], "big")
        if not length or pos + 2 + length > len(stream):
            break
        out.append(stream[pos + 2:pos + 2 + length])
        pos += 2 + length
    return out


def names_by_address(messages: Iterable[bytes]) -> dict[str, list[str]]:
    """Address (text) → its names, in first-seen order, from DNS messages in capture order."""
    names: dict[str, list[str]] = {}
    for message in messages:
        for address, name in dns_answers(message):
            known = names.setdefault(address, [])
            if name and name not in known and len(known) < 32:
                known.append(name)
    return names


def _clean(name) -> str:
    """A DNS name as text, printable only (hostile labels must not reach a terminal)."""
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return "".join(ch if 32 < ord(ch) < 127 else "?" for ch in str(name)).rstrip(".")
