"""The handshake screen (:func:`netreset.analyses.handshakes.screen.needs_rules`), compiled (numba).

The same sufficient condition for "no rule can fire", walked conversation by conversation in one pass
over their packets instead of a dozen numpy passes over all of them. Only loaded for big inputs (see
:func:`~netreset.runtime.compiled.use_compiled`); the numpy screen stays the reference, and
``tests/analyses/test_handshakes.py`` checks that both answer alike.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from netreset.packets.table import ACK, FIN, PROTO_TCP, RST, SYN
from netreset.runtime.compiled import NUMBA_OPTIONS

_M32 = 0xFFFFFFFF
_HALF = 0x80000000


@nb.njit(**NUMBA_OPTIONS)
def _covered(fin_row, ack_row, seq, plen, ack) -> bool:
    """The packet ``ack_row`` acknowledges the FIN in ``fin_row`` (32-bit modular comparison)."""
    end = (np.int64(seq[fin_row]) + np.int64(plen[fin_row]) + 1) & _M32
    return ((np.int64(ack[ack_row]) - end) & _M32) < _HALF


@nb.njit(**NUMBA_OPTIONS)
def needs_rules_kernel(rows, orig, lengths, proto, flags, seq, ack, plen, out) -> None:
    """``out[i]``: conversation i needs the rules (False only when its handshake and teardown are
    certainly clean). Positions count the conversation's TCP packets only, as the numpy screen's do."""
    start = 0
    for i in range(len(lengths)):
        syns = synacks = 0
        first_synack = last_orig_ack = -1
        orig_fin = resp_fin = -1  # positions of each side's first FIN
        orig_fin_row = resp_fin_row = 0
        orig_last = resp_last = -1  # position and row of each side's last packet with ACK set
        orig_last_row = resp_last_row = 0
        k = 0
        for j in range(start, start + lengths[i]):
            r = rows[j]
            if proto[r] != PROTO_TCP:
                continue
            f = np.int64(flags[r])
            hs = f & (SYN | ACK | RST)
            if orig[j]:
                if hs == SYN:
                    syns += 1
                elif hs == ACK:
                    last_orig_ack = k
                if f & ACK:
                    orig_last, orig_last_row = k, r
                if f & FIN and orig_fin < 0:
                    orig_fin, orig_fin_row = k, r
            else:
                if hs == SYN | ACK:
                    synacks += 1
                    if first_synack < 0:
                        first_synack = k
                if f & ACK:
                    resp_last, resp_last_row = k, r
                if f & FIN and resp_fin < 0:
                    resp_fin, resp_fin_row = k, r
            k += 1
        start += lengths[i]
        completed = first_synack >= 0 and last_orig_ack > first_synack
        opening_ok = syns == 0 or (syns == 1 and synacks == 1 and completed)
        if orig_fin < 0 and resp_fin < 0:
            closing_ok = True
        else:
            orig_done = orig_fin >= 0 and resp_last > orig_fin and _covered(orig_fin_row, resp_last_row, seq, plen, ack)
            resp_done = resp_fin >= 0 and orig_last > resp_fin and _covered(resp_fin_row, orig_last_row, seq, plen, ack)
            closing_ok = orig_done and resp_done
        out[i] = not (opening_ok and closing_ok)
