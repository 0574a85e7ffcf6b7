"""Internet checksums (RFC 1071), verified with big-integer arithmetic instead of a word loop.

The ones'-complement sum of 16-bit words equals the value of the byte string modulo 0xFFFF (because
2**16 ≡ 1 mod 0xFFFF), so ``int.from_bytes(...) % 0xFFFF`` does the whole sum in C. A segment whose
stored checksum is right sums to 0xFFFF, i.e. to 0 modulo 0xFFFF. An odd length is padded with one
zero byte, which is a multiplication by 256.
"""

from __future__ import annotations

_MOD = 0xFFFF


def _value(data: bytes, off: int, end: int) -> int:
    value = int.from_bytes(data[off:end], "big")
    return value << 8 if (end - off) & 1 else value


def ipv4_header_ok(data: bytes, off: int, hlen: int) -> bool:
    """True when the IPv4 header checksum at ``data[off:off+hlen]`` is right."""
    return int.from_bytes(data[off:off + hlen], "big") % _MOD == 0


def transport_ok(pseudo: bytes, proto: int, data: bytes, off: int, end: int) -> bool:
    """TCP/ICMPv6 checksum with the pseudo-header (``pseudo`` = source + destination address bytes).

    IPv4 and IPv6 pseudo-headers differ only in field widths, which do not matter modulo 0xFFFF.
    """
    total = int.from_bytes(pseudo, "big") + proto + (end - off) + _value(data, off, end)
    return total % _MOD == 0


def icmp4_ok(data: bytes, off: int, end: int) -> bool:
    """ICMPv4 checksums cover the message only, no pseudo-header."""
    return _value(data, off, end) % _MOD == 0
