"""``sni_filtered`` for a dropped ClientHello, and the names that pass to the same address.

A device filtering by SNI either resets the connection right after the ClientHello (netreset.analyses.causes
``sni_filtered``) or drops the ClientHello: the TCP handshake completed — so the server's kernel is there and
would acknowledge any byte that reached it — yet the ClientHello is retransmitted and never acknowledged (no
ACK of its bytes, no ServerHello, nothing from the server at all), until the client gives up (RST or FIN) or
the capture ends. :func:`sni_dropped` checks exactly that.

"Other names to the same address pass": the pipelines gather the names that passed per server address over
the whole capture (netreset.analyses.names_passing) and hand them in as ``passing``.
"""

from __future__ import annotations

import numpy as np

from netreset.analyses.cause_record import cause
from netreset.packets.table import FIN, RST, SYN, ACK

_MASK = 0xFFFFFFFF
#: Retransmissions of the ClientHello, unacknowledged, that make it dropped (one suffices when the client then
#: gives up with a RST or FIN: it found no answer).
DROP_MIN_RETRANSMISSIONS = 2


def other_names(passing: dict | None, address: str, name: str) -> list[str]:
    """Names other than ``name`` that passed to ``address``."""
    return [n for n in (passing or {}).get(address, []) if n.lower() != name.lower()]


def same_name_passed(passing: dict | None, address: str, name: str) -> bool:
    """``name`` itself passed to ``address`` in another connection (the filter is not the whole story)."""
    return any(n.lower() == name.lower() for n in (passing or {}).get(address, []))


def names_note(passing: dict | None, address: str, name: str) -> tuple[str, dict]:
    """The sentence's tail about the names that passed to ``address``, and its evidence."""
    others, same = other_names(passing, address, name), same_name_passed(passing, address, name)
    tail = f"; {', '.join(others)} to the same address pass{'es' if len(others) == 1 else ''}" if others else ""
    if same:
        tail += (f"; but {name} itself passed to the same address in another connection (a filter on only some "
                 f"paths or members, or a policy that changed during the capture)")
    return tail, {"other_names_pass": others, "same_name_passed": same}


def _after(a: int, b: int) -> bool:
    return a != b and ((a - b) & _MASK) < 0x80000000


def sni_dropped(table, conv, app, passing: dict | None = None) -> dict | None:
    """``sni_filtered`` (``evidence.dropped = true``) when the ClientHello was dropped (see the module
    docstring), or None."""
    events = app.events if app is not None else []
    hello = next((e for e in events if e["kind"] == "client_hello" and e["from"] == "orig"), None)
    if hello is None or not hello.get("sni"):
        return None
    if any(e["from"] == "resp" for e in events):
        return None  # the server said something at the application layer
    rows = conv.rows
    frames = table.frame[rows].tolist()
    flags = table.flags[rows].astype(np.int64).tolist()
    seq = table.seq[rows].astype(np.int64).tolist()
    ack = table.ack[rows].astype(np.int64).tolist()
    length = table.payload_len[rows].astype(np.int64).tolist()
    ts = table.ts_ns[rows].astype(np.int64).tolist()
    orig = conv.from_orig.tolist()
    if hello["frame"] not in frames:
        return None
    end_at = frames.index(hello["frame"])
    first = next((i for i in range(end_at + 1) if orig[i] and length[i] > 0), None)
    if first is None:
        return None
    synack = any(not orig[i] and flags[i] & (SYN | ACK) == SYN | ACK for i in range(first))
    acked = any(orig[i] and flags[i] & ACK and not flags[i] & SYN for i in range(first))
    if not (synack and acked):
        return None  # the TCP handshake did not complete: no proof the server's kernel was reachable
    start, end = seq[first], (seq[end_at] + length[end_at]) & _MASK
    again, close = [], None
    for i in range(first + 1, len(rows)):
        if not orig[i]:
            if length[i] > 0 or flags[i] & (SYN | FIN) or _after(ack[i], start):
                return None  # the server answered, or acknowledged bytes of the hello
            continue
        if flags[i] & (RST | FIN):
            close = i
            break
        if length[i] > 0 and not _after(start, seq[i]) and _after(end, seq[i]):
            again.append(i)  # the hello's bytes sent again
    if len(again) < (1 if close is not None else DROP_MIN_RETRANSMISSIONS):
        return None
    if close is None and any(orig[i] and length[i] > 0 and i not in again for i in range(again[-1] + 1, len(rows))):
        return None
    name = hello["sni"]
    tail, names = names_note(passing, conv.resp_h, name)
    n = len(again)
    how = ("then the client gave up with a RST" if close is not None and flags[close] & RST else
           "then the client closed" if close is not None else "until the capture ends")
    sentence = (f"a device on the path drops connections to {name} after the ClientHello: the TCP handshake "
                f"completed, but the ClientHello was retransmitted {n} time{'s' if n != 1 else ''} and never "
                f"acknowledged, {how} — check its URL/SNI filtering for that name{tail}")
    positions = [end_at] + again + ([close] if close is not None else [])
    evidence = {"sni": name, "dropped": True, "retransmissions": n,
                "seconds_unanswered": round((ts[again[-1]] - ts[first]) / 1e9, 6),
                "gave_up_with": ("rst" if flags[close] & RST else "fin") if close is not None else None, **names}
    return cause("sni_filtered", sentence, (frames[p] for p in positions), evidence)
