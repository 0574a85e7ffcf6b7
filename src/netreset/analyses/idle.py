"""The ``idle_timeout`` cause: a connection that went silent for longer than a device on the path keeps its
state, then failed on its next packet.

Two shapes, both checked against the packets:

- **reset**: a RST answers the first packet after ≥ :data:`IDLE_THRESHOLD_S` of silence (the device, having
  forgotten the connection, rejects the packet: conntrack INVALID → ``REJECT --reject-with tcp-reset``, Azure
  Firewall, AWS NAT Gateway);
- **silent** (``evidence.silent = true``): the first packet after the silence gets no answer at all — its
  sender retransmits it (backoff) into nothing until it gives up with a RST or the capture ends, and the
  other side never sends again (a device dropping the forgotten flow: PAN-OS, Check Point, Azure LB's
  default). At least :data:`SILENT_MIN_RETRANSMISSIONS` retransmissions (one when the sender's RST ends it), and
  the side that stays silent had not sent its FIN before (a half-closed connection is forgotten by other timers:
  PAN-OS and FortiGate 120 s, ASA 10 min).

Either way the cause states the idle time, the known defaults it matches (netreset.analyses.idle_defaults),
the longest silence the same connection survived (a lower bound on the timeout), and the keepalives
(netreset.analyses.keepalive): none seen ("enable TCP keepalives below N s"), or seen but sparser than the
timeout. A pause followed by a normal answer is no idle timeout, and a keepalive probe is not a retransmission.
"""

from __future__ import annotations

import numpy as np

from netreset.analyses.cause_record import cause
from netreset.analyses.idle_defaults import matching_defaults
from netreset.analyses.keepalive import keepalive_timing, keepalives
from netreset.packets.table import FIN, RST, SYN

#: Silence before the packet a RST answers (or that goes unanswered), from which it is an idle timeout (s).
IDLE_THRESHOLD_S = 10.0
#: Retransmissions of the first packet after the silence, unanswered, that make a silent death (one suffices
#: when its sender then gives up with a RST: the abort says it found no answer).
SILENT_MIN_RETRANSMISSIONS = 2


def _shorter_than_threshold(table, conv) -> bool:
    """No silence of :data:`IDLE_THRESHOLD_S` fits in the conversation (most of them: one look at its times,
    where the rules below walk its rows in Python; 21,825 RSTs of the 1M benchmark, 0.4 s of judging). The
    span of its timestamps, not first to last: a gap of the threshold between two packets lies within it
    even where the clock steps back."""
    ts = table.ts_ns[conv.rows]
    return not len(ts) or int(ts.max()) - int(ts.min()) < IDLE_THRESHOLD_S * 1e9


def _trigger_before_rst(table, conv, rst_frame: int) -> int | None:
    """Position (into ``conv.rows``) of the packet a RST answers: the last packet from the RST's destination
    before it."""
    rows = conv.rows
    at = np.flatnonzero(table.frame[rows] == rst_frame)
    if not len(at):
        return None
    i = int(at[0])
    flags = table.flags[rows]
    sender = conv.from_orig[i]
    j = i - 1
    while j >= 0 and (conv.from_orig[j] == sender or flags[j] & RST):
        j -= 1
    return j if j >= 1 else None


def _gap(ts: np.ndarray, j: int) -> float:
    return (int(ts[j]) - int(ts[j - 1])) / 1e9


def _long_gaps(ts: np.ndarray, before: int | None = None) -> np.ndarray:
    """Positions ``j`` (< ``before``) whose packet follows ≥ :data:`IDLE_THRESHOLD_S` of silence."""
    gaps = np.diff(ts[:before] if before is not None else ts) / 1e9
    return np.flatnonzero(gaps >= IDLE_THRESHOLD_S) + 1


def survived_silence(table, conv, before: int) -> float | None:
    """The longest silence earlier in the conversation (between two of its packets before position
    ``before``) after which the other side still answered before ``before``: the connection lived through
    it, so a timeout on its path is longer. None when there was none of at least the threshold."""
    ts = table.ts_ns[conv.rows].astype(np.int64)
    orig = conv.from_orig
    sides = {True: np.flatnonzero(orig), False: np.flatnonzero(~orig)}
    best = None
    for j in _long_gaps(ts, before).tolist():
        others = sides[not bool(orig[j])]
        k = int(np.searchsorted(others, j, side="right"))
        if k < len(others) and others[k] < before:
            gap = _gap(ts, j)
            best = gap if best is None or gap > best else best
    return round(best, 6) if best is not None else None


def silent_death(table, conv) -> dict | None:
    """The silent shape (see the module docstring), or None: ``{"position", "idle_s", "retransmissions"
    (positions), "rst" (position or None), "gaps_s", "probe"}`` with positions into ``conv.rows``."""
    rows = conv.rows
    n = len(rows)
    if n < 3 or (conv.end_ns - conv.start_ns) / 1e9 < IDLE_THRESHOLD_S:
        return None  # from the first packet to the latest is shorter than the silence (cheap: most conversations)
    ts = table.ts_ns[rows].astype(np.int64)
    long = _long_gaps(ts)
    if not len(long):
        return None
    orig = conv.from_orig
    flags = table.flags[rows].astype(np.int64)
    sides = {True: np.flatnonzero(orig), False: np.flatnonzero(~orig)}
    fins = {side: positions[(flags[positions] & FIN) != 0] for side, positions in sides.items()}
    for j in long.tolist():
        side = bool(orig[j])
        others = sides[not side]
        if len(others) and others[-1] > j:
            continue  # the other side answered after the silence: it survived
        if not len(others) or others[0] > j or flags[j] & (SYN | RST):
            return None  # the other side never spoke (no connection to forget), or nothing to answer
        if len(fins[not side]) and fins[not side][0] < j:
            return None  # the other side had closed: a half-closed connection has timers of its own
        return _unanswered(table, conv, j, ts, flags)
    return None


def _unanswered(table, conv, j: int, ts: np.ndarray, flags: np.ndarray) -> dict | None:
    """Position ``j``'s packet sent again and again with no answer (the rest of :func:`silent_death`)."""
    rows = conv.rows
    n = len(rows)
    seq = table.seq[rows].astype(np.int64)
    length = table.payload_len[rows].astype(np.int64)
    probes = keepalives(table, conv).probe_set()
    is_probe = j in probes
    if not (is_probe or length[j] > 0 or flags[j] & FIN):
        return None  # a bare ACK asks for no answer
    again, rst = [], None
    for k in range(j + 1, n):
        if flags[k] & RST:
            rst = k
            break
        if is_probe and k in probes:
            again.append(k)  # further keepalive probes, unanswered (not data retransmissions)
        elif not is_probe and k not in probes and seq[k] == seq[j] and (length[k] > 0 or flags[k] & FIN):
            again.append(k)
    if len(again) < (1 if rst is not None else SILENT_MIN_RETRANSMISSIONS):
        return None
    sent = [j] + again
    gaps = [round((int(ts[b]) - int(ts[a])) / 1e9, 6) for a, b in zip(sent, sent[1:])]
    return {"position": j, "idle_s": round(_gap(ts, j), 6), "retransmissions": again, "rst": rst,
            "gaps_s": gaps, "probe": is_probe}


def idle_before(table, conv, rst_frame: int) -> float | None:
    """``idle_before_s`` of a RST: the silence before the packet it answers (a device's forged RST), or before
    the unanswered packet its sender gave up on (a silent death ended by the sender's RST); None below
    :data:`IDLE_THRESHOLD_S`."""
    if _shorter_than_threshold(table, conv):
        return None
    silent = silent_death(table, conv)
    if silent is not None and silent["rst"] is not None and int(table.frame[conv.rows[silent["rst"]]]) == rst_frame:
        return silent["idle_s"]
    j = _trigger_before_rst(table, conv, rst_frame)
    if j is None:
        return None
    silence = _gap(table.ts_ns[conv.rows], j)
    return round(silence, 6) if silence >= IDLE_THRESHOLD_S else None


def _keepalive_facts(table, conv, trigger: int) -> dict:
    found = keepalives(table, conv)
    before = type(found)(tuple(p for p in found.probes if p <= trigger), tuple(a for a in found.acks if a <= trigger))
    first_after, interval = keepalive_timing(table, conv, before)
    return {"seen": bool(before.probes), "probes": len(before.probes), "acks": len(before.acks),
            "first_after_s": first_after, "interval_s": interval, "trigger_is_probe": trigger in before.probe_set()}


def _seconds(x: float) -> str:
    return f"{x:.0f} s" if x >= 100 else f"{x:.1f} s"


def _advice(idle: float, matched: list, survived: float | None, keep: dict, peer: bool = False) -> tuple[str, float]:
    """The sentence's keepalive part, and the keepalive time it advises staying below. ``peer``: the RST came from
    the peer itself (its application's idle timer, or a load balancer answering for it): TCP keepalives satisfy a
    device on the path, not an application's own timer."""
    if matched:
        below = min(e.timeout_s for e in matched)
    elif survived is not None:
        below = survived
    else:
        below = idle
    limit = _seconds(below)
    if not keep["seen"] and peer:
        return (f"no keepalives were seen: keep the connection busy more often than every {limit} (application-"
                f"level keepalives; TCP keepalives only satisfy a load balancer in front of it) or raise its idle "
                f"timeout", below)
    if not keep["seen"]:
        return (f"no keepalives were seen: enable TCP keepalives with a keepalive time below {limit} (or raise the "
                f"device's timeout)", below)
    every = f" every {_seconds(keep['interval_s'])}" if keep["interval_s"] is not None else ""
    if keep["trigger_is_probe"] and not every:
        return (f"keepalives started only after {_seconds(keep['first_after_s'])} of silence — too late for this "
                f"timeout: set the keepalive time below {limit}", below)
    if keep["trigger_is_probe"]:
        return (f"keepalives were seen{every} — too sparse for this timeout: keep the keepalive time and interval "
                f"below {limit}", below)
    return (f"keepalives were seen earlier{every} but none in this silence: keep the keepalive time below {limit}",
            below)


def _match_text(idle: float, matched: list, survived: float | None) -> str:
    bound = f"; the connection survived {_seconds(survived)} of silence before, so the timeout lies between" \
            f" {_seconds(survived)} and {_seconds(idle)}" if survived is not None else ""
    if matched:
        named = ", ".join(f"{e.device} {e.setting.split(' (')[0]} ({_seconds(e.timeout_s)})" for e in matched)
        return f"just above the idle timeout of {named}{bound}"
    return f"no known default idle timeout matches (a timeout configured at or below {_seconds(idle)}){bound}"


def _evidence(idle: float, matched: list, survived, keep: dict, below: float) -> dict:
    return {"idle_s": idle, "matched_defaults": [e.to_dict() for e in matched], "survived_silence_s": survived,
            "keepalives": keep, "keepalive_below_s": round(below, 6)}


def idle_reset_cause(table, conv, verdict, idle_table=None) -> dict | None:
    """``idle_timeout`` of one RST: the reset shape (a RST answering the first packet after the silence) or a
    silent death the RST's sender gave up on."""
    if _shorter_than_threshold(table, conv):
        return None
    silent = silent_death(table, conv)
    if silent is not None and silent["rst"] is not None and int(table.frame[conv.rows[silent["rst"]]]) == verdict.frame:
        return silent_cause(table, conv, silent, idle_table)
    j = _trigger_before_rst(table, conv, verdict.frame)
    if j is None:
        return None
    idle = round(_gap(table.ts_ns[conv.rows], j), 6)
    if idle < IDLE_THRESHOLD_S:
        return None
    survived = survived_silence(table, conv, j)
    matched = matching_defaults(idle, idle_table, survived)
    keep = _keepalive_facts(table, conv, j)
    peer = verdict.verdict == "peer"
    advice, below = _advice(idle, matched, survived, keep, peer)
    where = (f"the device at hop {verdict.traceroute_hop}" if verdict.verdict == "middlebox"
             else f"{verdict.src} itself (its idle timeout, or a load balancer answering for it)" if peer
             else "a device on the path")
    sentence = (f"{where} reset the connection on its first packet after {idle:.1f} s of silence — "
                f"{_match_text(idle, matched, survived)}; {advice}")
    evidence = _evidence(idle, matched, survived, keep, below)
    evidence.update(silent=False, verdict=verdict.verdict, traceroute_hop=verdict.traceroute_hop)
    return cause("idle_timeout", sentence, (int(table.frame[conv.rows[j]]), verdict.frame), evidence)


def silent_cause(table, conv, silent: dict | None = None, idle_table=None) -> dict | None:
    """``idle_timeout`` (``evidence.silent = true``) of a conversation whose first packet after the silence
    went unanswered (:func:`silent_death`)."""
    silent = silent if silent is not None else silent_death(table, conv)
    if silent is None:
        return None
    frames = table.frame[conv.rows]
    j, idle = silent["position"], silent["idle_s"]
    survived = survived_silence(table, conv, j)
    matched = matching_defaults(idle, idle_table, survived)
    keep = _keepalive_facts(table, conv, j)
    advice, below = _advice(idle, matched, survived, keep)
    who = conv.orig_h if conv.from_orig[j] else conv.resp_h
    what = "keepalive probe" if silent["probe"] else "packet"
    n = len(silent["retransmissions"])
    again = "repeated" if silent["probe"] else "retransmitted"
    end = (f"then {who} gave up with a RST" if silent["rst"] is not None else "until the capture ends")
    sentence = (f"after {idle:.1f} s of silence {who}'s next {what} was {again} {n} time{'s' if n != 1 else ''} "
                f"with no answer, {end}: a device on the path dropped the connection's state silently (or the "
                f"peer is gone) — {_match_text(idle, matched, survived)}; {advice}")
    positions = [j] + silent["retransmissions"] + ([silent["rst"]] if silent["rst"] is not None else [])
    evidence = _evidence(idle, matched, survived, keep, below)
    evidence.update(silent=True, retransmissions=n, retransmission_gaps_s=silent["gaps_s"],
                    gave_up_with_rst=silent["rst"] is not None)
    return cause("idle_timeout", sentence, (int(frames[p]) for p in positions), evidence)


def long_enough(table, conversations) -> np.ndarray:
    """Per conversation: its timestamps span at least :data:`IDLE_THRESHOLD_S`, so it may hold an idle timeout
    (every rule here needs one such silence). In one pass for many conversations: asked per RST it cost
    5 µs each (0.24 s of judging on the 1M benchmark); summary's ``by_cause`` also reads it, a silent death
    being the one cause that needs neither a RST, a finding nor application bytes."""
    lengths = np.array([len(c.rows) for c in conversations], dtype=np.int64)
    out = np.zeros(len(conversations), dtype=bool)
    nonempty = lengths > 0
    if not nonempty.any():
        return out
    ts = table.ts_ns[np.concatenate([c.rows for c in conversations if len(c.rows)])].astype(np.int64)
    starts = np.r_[0, np.cumsum(lengths[nonempty])[:-1]]
    out[nonempty] = np.maximum.reduceat(ts, starts) - np.minimum.reduceat(ts, starts) >= IDLE_THRESHOLD_S * 1e9
    return out


def groups_with_silence(ts_ns: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Per group of consecutive positions (``group_start``: each group's first position, then the end): two
    neighbouring packets of the group lie at least :data:`IDLE_THRESHOLD_S` apart. A conversation is a run of
    its tuple's positions, so a tuple without such a silence holds no idle timeout of either shape; the
    streamed path keeps the others for judging, a silent death that the capture's end cuts off being the one
    cause with neither a RST, a finding nor application bytes."""
    groups = np.zeros(max(len(group_start) - 1, 0), dtype=bool)
    if len(ts_ns) < 2 or not len(groups):
        return groups
    silence = np.diff(ts_ns.astype(np.int64)) >= IDLE_THRESHOLD_S * 1e9  # [j]: before position j + 1
    silence[group_start[1:-1] - 1] = False  # a gap between two groups belongs to neither
    after = np.flatnonzero(silence) + 1
    groups[np.searchsorted(group_start, after, side="right") - 1] = True
    return groups
