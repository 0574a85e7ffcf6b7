"""The TCP header and the options the analyses use (MSS, window scale, SACK-permitted, timestamps).

Options are parsed on every segment that has them, because reset attribution compares a sender's
timestamps across all its segments; the option-kind signature (p0f style, e.g. ``"M,S,T,N,W"``) is
only built for SYN and SYN-ACK segments, where it fingerprints the sender's TCP stack.
"""

from __future__ import annotations

import struct

from netreset.packets.table import SYN

_TCP = struct.Struct("!HHIIHH")
_II = struct.Struct("!II")
_H = struct.Struct("!H")

#: Letters of the option-kind signature; unknown kinds are written "?<kind>".
OPTION_LETTERS = {0: "E", 1: "N", 2: "M", 3: "W", 4: "S", 5: "K", 8: "T"}

#: The usual layout of timestamps on established connections: NOP, NOP, TS (kind 8, length 10).
_NOP_NOP_TS = b"\x01\x01\x08\x0a"


def parse_tcp(data: bytes, off: int, end: int, l4_len: int, row: dict, signature) -> str | None:
    """Fill the TCP columns of ``row``; None on success, else a reason.

    ``end`` is where captured bytes stop and ``l4_len`` the segment length the IP header claims, so
    a snaplen-truncated segment still yields its header with ``payload_len`` from the IP length.
    ``signature`` interns an option-kind string and returns its id. Only a segment without its
    20 fixed header bytes is refused ("truncated-tcp"); options cut by the snaplen are read as far as
    they go (tshark still counts such a segment as TCP).
    """
    if off + 20 > end:
        return "truncated-tcp"
    sport, dport, seq, ack, off_flags, win = _TCP.unpack_from(data, off)
    hlen = (off_flags >> 12) << 2
    if hlen < 20 or hlen > l4_len:
        return "bad-tcp-header"
    opt_end = off + hlen
    if opt_end > end:  # snaplen cut the options: keep the fixed header, read the options that are there
        opt_end = end
    flags = off_flags & 0x01FF
    row["proto"] = 6
    row["sport"] = sport
    row["dport"] = dport
    row["flags"] = flags
    row["seq"] = seq
    row["ack"] = ack
    row["win"] = win
    row["payload_len"] = l4_len - hlen
    row["captured_payload"] = end - opt_end
    if hlen > 20:
        if flags & SYN:
            row["options_sig"] = signature(parse_options(data, off + 20, opt_end, row))
        elif opt_end - off >= 32 and data[off + 20:off + 24] == _NOP_NOP_TS:
            row["ts_val"], row["ts_ecr"] = _II.unpack_from(data, off + 24)
        else:
            parse_options(data, off + 20, opt_end, row)
    return None


def parse_options(data: bytes, off: int, end: int, row: dict) -> str:
    """Walk the options, set mss/wscale/sack_perm/ts_val/ts_ecr, and return the kind signature.

    A malformed option (length < 2 or past the header) ends the walk, as in every TCP stack.
    """
    letters = []
    while off < end:
        kind = data[off]
        if kind == 1:
            letters.append("N")
            off += 1
            continue
        if kind == 0:
            letters.append("E")
            break
        length = data[off + 1] if off + 1 < end else 0
        if length < 2 or off + length > end:
            letters.append("?")
            break
        if kind == 2 and length == 4:
            row["mss"] = _H.unpack_from(data, off + 2)[0]
        elif kind == 3 and length == 3:
            row["wscale"] = data[off + 2]
        elif kind == 4:
            row["sack_perm"] = True
        elif kind == 8 and length == 10:
            row["ts_val"], row["ts_ecr"] = _II.unpack_from(data, off + 2)
        letters.append(OPTION_LETTERS.get(kind) or f"?{kind}")
        off += length
    return ",".join(letters)
