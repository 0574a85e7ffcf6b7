"""Compiled kernels of the fast ingest path: walk container records and decode the common frame.

Compiled with numba (``cache=True``: the machine code is kept beside this file, so only the first
run on a machine pays the compile). They do what :mod:`netreset.ingest.containers.pcap`,
:mod:`~netreset.ingest.containers.pcapng` and :mod:`~netreset.ingest.layers.decode` do, but only for the shapes that
make up nearly every busy-node capture: well-framed records; Ethernet (with 802.1Q tags), Linux
cooked (SLL/SLL2) or raw IP; IPv4 without fragmentation or AH; IPv6 with TCP as the first next
header; TCP with its options. Everything else is listed for the general decoder (``fallback``), and
a container the walkers cannot frame with certainty makes :mod:`netreset.ingest.compiled.reader` use the plain
path for the whole file, so warnings and answers stay exactly those of the plain path.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from netreset.ingest.layers.linktypes import (
    DLT_RAW, DLT_RAW_OPENBSD, LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
)
from netreset.ingest.layers.ip import ipv4_dst_offset as _python_ipv4_dst_offset
from netreset.runtime.compiled import NUMBA_OPTIONS
from netreset.runtime.numba_loading import install as _quick_cache_loading

#: Token for a malformed option in the option-kind signature (kinds are 0..255).
TOKEN_MALFORMED = 256
MAX_TOKENS = 40
#: The link types :func:`_link` decodes itself (the rest of link.LINK_DECODERS goes to the general decoder).
COMPILED_LINKTYPES = (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, DLT_RAW,
                      DLT_RAW_OPENBSD, LINKTYPE_IPV4, LINKTYPE_IPV6)
_quick_cache_loading()  # cached kernels load without numba's compiler registries


@nb.njit(**NUMBA_OPTIONS)
def _u16(buf, pos, big):
    return (np.int64(buf[pos]) << 8 | buf[pos + 1]) if big else (np.int64(buf[pos + 1]) << 8 | buf[pos])


#: The very function the general decoder uses, compiled: where a source-routed packet is going.
ipv4_dst_offset = nb.njit(**NUMBA_OPTIONS)(_python_ipv4_dst_offset)


@nb.njit(**NUMBA_OPTIONS)
def _u32(buf, pos, big):
    if big:
        return np.int64(buf[pos]) << 24 | np.int64(buf[pos + 1]) << 16 | np.int64(buf[pos + 2]) << 8 | buf[pos + 3]
    return np.int64(buf[pos + 3]) << 24 | np.int64(buf[pos + 2]) << 16 | np.int64(buf[pos + 1]) << 8 | buf[pos]


@nb.njit(**NUMBA_OPTIONS)
def walk_pcap(buf, pos, end, big, rec_len, frac_ns, max_caplen, snaplen, limit, off, cap, wire, ts):
    """Frame up to ``limit`` records from ``buf[pos:end]``; returns (next pos, frames, status).

    status 0: stopped at ``end`` or ``limit`` (the rest may be in the next buffer); 1: a record
    claims more than ``max_caplen`` bytes (corrupt), or more than the snaplen (the plain reader warns
    about it): either way the plain reader must describe the file.
    ``len(off) == 0`` walks without storing (a validating pre-scan).
    """
    n = 0
    store = len(off) > 0
    while n < limit and pos + rec_len <= end:
        caplen = _u32(buf, pos + 8, big)
        if caplen > max_caplen or caplen > snaplen > 0:
            return pos, n, 1
        if pos + rec_len + caplen > end:
            break
        if store:
            off[n] = pos + rec_len
            cap[n] = caplen
            wire[n] = _u32(buf, pos + 12, big)
            ts[n] = _u32(buf, pos, big) * 1_000_000_000 + _u32(buf, pos + 4, big) * frac_ns
        pos += rec_len + caplen
        n += 1
    return pos, n, 0


@nb.njit(**NUMBA_OPTIONS)
def walk_pcapng(buf, pos, end, limit, n_ifaces, mult, offset_ns, max_units, off, cap, wire, ts, iface):
    """Frame up to ``limit`` enhanced packet blocks (little-endian section); returns (pos, frames, status).

    status 0 as for :func:`walk_pcap`; 2: a block other than a plain EPB (another block type,
    packet options, an unknown interface, a doubtful length, a timestamp beyond ``max_units`` of its
    interface, which int64 nanoseconds cannot hold) — the plain reader must handle the file.
    """
    n = 0
    store = len(off) > 0
    while n < limit and pos + 8 <= end:
        btype = _u32(buf, pos, False)
        length = _u32(buf, pos + 4, False)
        if btype != 6 or length < 32 or length & 3 or length > 268435456:
            return pos, n, 2
        if pos + length > end:
            break
        if _u32(buf, pos + length - 4, False) != length:
            return pos, n, 2
        local = _u32(buf, pos + 8, False)
        caplen = _u32(buf, pos + 20, False)
        if local >= n_ifaces or 28 + ((caplen + 3) & ~3) != length - 4:
            return pos, n, 2  # unknown interface, bad caplen, or options (comments) to read
        units = _u32(buf, pos + 12, False) << 32 | _u32(buf, pos + 16, False)
        if units < 0 or units > max_units[local]:  # past 2**63 units, or past the int64 ns limit
            return pos, n, 2
        if store:
            off[n] = pos + 28
            cap[n] = caplen
            wire[n] = _u32(buf, pos + 24, False)
            ts[n] = units * mult[local] + offset_ns[local]
            iface[n] = local
        pos += length
        n += 1
    return pos, n, 0


@nb.njit(**NUMBA_OPTIONS)
def _link(buf, o, c, linktype):
    """(ethertype, IP offset from o, vlan) for the fast link layers; ethertype -1 = fallback.

    The compiled twin of :data:`netreset.ingest.layers.link.LINK_DECODERS` for the link types of busy
    nodes; any other link type falls back to the table's decoder. The LINKTYPE_* names are globals that
    numba compiles in as constants.
    """
    vlan = -1
    if linktype == LINKTYPE_ETHERNET:
        if c < 14:
            return -1, 0, vlan
        et, p = _u16(buf, o + 12, True), 14
    elif linktype == LINKTYPE_LINUX_SLL:
        if c < 16:
            return -1, 0, vlan
        et, p = _u16(buf, o + 14, True), 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        if c < 20:
            return -1, 0, vlan
        et, p = _u16(buf, o, True), 20
    elif linktype == LINKTYPE_RAW or linktype == DLT_RAW or linktype == DLT_RAW_OPENBSD:
        if c < 1:
            return -1, 0, vlan
        version = buf[o] >> 4
        et = 0x0800 if version == 4 else 0x86DD if version == 6 else -1
        p = 0
    elif linktype == LINKTYPE_IPV4:
        et, p = 0x0800, 0
    elif linktype == LINKTYPE_IPV6:
        et, p = 0x86DD, 0
    else:
        return -1, 0, vlan
    if linktype == LINKTYPE_ETHERNET or linktype == LINKTYPE_LINUX_SLL or linktype == LINKTYPE_LINUX_SLL2:
        for _ in range(8):  # 802.1Q / QinQ tags; anything deeper goes to the general decoder
            if et != 0x8100 and et != 0x88A8 and et != 0x9100 and et != 0x9200:
                break
            if p + 4 > c:
                return -1, 0, vlan
            if vlan < 0:
                vlan = _u16(buf, o + p, True) & 0x0FFF
            et = _u16(buf, o + p + 2, True)
            p += 4
    if et != 0x0800 and et != 0x86DD:
        return -1, 0, vlan
    return et, p, vlan


@nb.njit(**NUMBA_OPTIONS)
def _options(buf, o, opt_end, i, t, mss, wscale, sack, ts_val, ts_ecr, tokens, ntok):
    """netreset.ingest.layers.tcp.parse_options: fill the option columns of row i, its kind tokens into token row t."""
    k = 0
    while o < opt_end:
        kind = buf[o]
        if kind == 1:
            tokens[t, k] = 1
            k += 1
            o += 1
            continue
        if kind == 0:
            tokens[t, k] = 0
            k += 1
            break
        length = np.int64(buf[o + 1]) if o + 1 < opt_end else 0
        if length < 2 or o + length > opt_end:
            tokens[t, k] = TOKEN_MALFORMED
            k += 1
            break
        if kind == 2 and length == 4:
            mss[i] = _u16(buf, o + 2, True)
        elif kind == 3 and length == 3:
            wscale[i] = buf[o + 2]
        elif kind == 4:
            sack[i] = True
        elif kind == 8 and length == 10:
            ts_val[i] = _u32(buf, o + 2, True)
            ts_ecr[i] = _u32(buf, o + 6, True)
        tokens[t, k] = kind
        k += 1
        o += length
    ntok[t] = k


@nb.njit(**NUMBA_OPTIONS)
def decode_frames(buf, off, cap, ts, iface, linktypes, first_frame, n, fallback, frame, ts_ns, iface_out, ver,
                  src_hi, src_lo, dst_hi, dst_lo, ttl, ip_id, df, ip_len, sport, dport, flags, seq, ack, win,
                  payload_len, captured_payload, mss, wscale, sack, ts_val, ts_ecr, vlan, sig_rows, tokens, ntok, pay_off):
    """Decode frames 0..n-1; returns (fast rows, fallback frames, SYN rows with options).

    Fast rows are written packed, in frame order, straight into columns of the table's dtypes (row k
    is the k-th frame the kernel decodes), so no gather or cast follows; ``fallback`` lists the
    indices of the frames left to the general decoder. ``iface`` is ignored when ``linktypes`` has
    one entry (pcap: one interface, the walker leaves ``iface`` unset). Only SYN rows carry an option
    signature: the j-th such row is ``sig_rows[j]``, its kind tokens ``tokens[j, :ntok[j]]`` (packed
    too, so the signature lookup reads them in order; the rest of a token row is stale). ``pay_off[k]``
    is where row k's captured TCP payload starts in ``buf`` (for netreset.ingest.payloads).
    """
    k = nf = nsig = 0
    single = len(linktypes) == 1
    for i in range(n):
        o, c = off[i], cap[i]
        ifc = 0 if single else iface[i]
        fallback[nf] = i  # taken back below when the kernel decodes the frame
        nf += 1
        et, p, vl = _link(buf, o, c, linktypes[ifc])
        if et < 0:
            continue
        if et == 0x0800:
            if p + 20 > c or buf[o + p] >> 4 != 4:
                continue
            hlen = np.int64(buf[o + p] & 0x0F) << 2
            if hlen < 20 or p + hlen > c:
                continue
            total = _u16(buf, o + p + 2, True)
            if total == 0:
                total = c - p
            elif total < hlen:
                continue
            frag = _u16(buf, o + p + 6, True)
            if frag & 0x1FFF or buf[o + p + 9] != 6:
                continue  # fragments and non-TCP (also AH) are the general decoder's business
            ver[k] = 4
            src_hi[k], dst_hi[k] = 0, 0
            src_lo[k] = _u32(buf, o + p + 12, True)
            dst_lo[k] = _u32(buf, o + p + (16 if hlen == 20 else ipv4_dst_offset(buf, o + p, hlen)), True)
            ttl[k] = buf[o + p + 8]
            ip_id[k] = _u16(buf, o + p + 4, True)
            df[k] = (frag & 0x4000) != 0
            ip_len[k] = total
            l4 = p + hlen
            l4_end = min(p + total, c)
            l4_len = p + total - l4
        else:
            if p + 40 > c or buf[o + p] >> 4 != 6:
                continue
            plen = _u16(buf, o + p + 4, True)
            if buf[o + p + 6] != 6:
                continue  # extension headers: general decoder
            if plen == 0:
                plen = c - p - 40
            ver[k] = 6
            hi, lo = np.uint64(0), np.uint64(0)
            for j in range(8):
                hi = hi << np.uint64(8) | np.uint64(buf[o + p + 8 + j])
                lo = lo << np.uint64(8) | np.uint64(buf[o + p + 16 + j])
            src_hi[k], src_lo[k] = hi, lo
            hi, lo = np.uint64(0), np.uint64(0)
            for j in range(8):
                hi = hi << np.uint64(8) | np.uint64(buf[o + p + 24 + j])
                lo = lo << np.uint64(8) | np.uint64(buf[o + p + 32 + j])
            dst_hi[k], dst_lo[k] = hi, lo
            ttl[k] = buf[o + p + 7]
            ip_id[k] = -1
            df[k] = False
            ip_len[k] = 40 + plen
            l4 = p + 40
            l4_end = min(p + 40 + plen, c)
            l4_len = plen
        if l4 + 20 > l4_end:
            continue
        off_flags = _u16(buf, o + l4 + 12, True)
        thlen = (off_flags >> 12) << 2
        if thlen < 20 or thlen > l4_len:
            continue
        opt_end = min(l4 + thlen, l4_end)
        fl = off_flags & 0x01FF
        sport[k] = _u16(buf, o + l4, True)
        dport[k] = _u16(buf, o + l4 + 2, True)
        seq[k] = _u32(buf, o + l4 + 4, True)
        ack[k] = _u32(buf, o + l4 + 8, True)
        win[k] = _u16(buf, o + l4 + 14, True)
        flags[k] = fl
        payload_len[k] = l4_len - thlen
        captured_payload[k] = l4_end - opt_end
        pay_off[k] = o + opt_end
        mss[k], wscale[k], sack[k], ts_val[k], ts_ecr[k] = -1, -1, False, -1, -1
        if thlen > 20:
            a = o + l4 + 20
            if fl & 0x02:
                _options(buf, a, o + opt_end, k, nsig, mss, wscale, sack, ts_val, ts_ecr, tokens, ntok)
                sig_rows[nsig] = k
                nsig += 1
            elif opt_end - l4 >= 32 and buf[a] == 1 and buf[a + 1] == 1 and buf[a + 2] == 8 and buf[a + 3] == 10:
                ts_val[k] = _u32(buf, a + 4, True)
                ts_ecr[k] = _u32(buf, a + 8, True)
            else:  # token row nsig as scratch: the next SYN overwrites it
                _options(buf, a, o + opt_end, k, nsig, mss, wscale, sack, ts_val, ts_ecr, tokens, ntok)
        nf -= 1
        frame[k] = first_frame + i
        ts_ns[k] = ts[i]
        iface_out[k] = ifc
        vlan[k] = vl
        k += 1
    return k, nf, nsig
