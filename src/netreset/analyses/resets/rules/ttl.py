"""TTL evidence: does the RST arrive from as far away as the claimed sender's own packets do?

Every router decrements the TTL, so packets from one host along one path arrive with one TTL. A device
that forges a RST in the sender's name starts from its own initial TTL at its own distance: the RST then
arrives with a different TTL, often from a different initial-TTL family (a Linux-based firewall's 64
against a Windows server's 128). A route change can move a host by one hop, so one hop is tolerated.

TTLs an application sets are no hop distance: eBGP sends with TTL 1 and GTSM (RFC 5082) with 255 while
the same host's kernel answers a closed port with its default (64). The reference is the sender's
kernel-made packets with a TTL no application sets (:mod:`netreset.analyses.resets.context`); where the RST or
the only reference has such a TTL (:data:`~netreset.analyses.resets.weights.APPLICATION_TTLS`), the two are
compared as distances (such a TTL arrived, so it crossed no router), never as initial TTLs, and a mismatch
against such a reference alone is not enough for ``middlebox``.
"""

from __future__ import annotations

import numpy as np

from netreset.analyses.resets.evidence import Observation, ResetContext, application_set
from netreset.analyses.resets.weights import (
    APPLICATION_TTLS,
    HOST_REFERENCE_FACTOR,
    TTL_REWRITE_MIN_RTT_S,
    TTL_TOLERANCE_HOPS,
    W_TTL_FAMILY_MISMATCH,
    W_TTL_MATCH,
    W_TTL_MISMATCH,
    W_TTL_MISMATCH_APPLICATION,
    W_TTL_ONE_HOP,
)
from netreset.analyses.ttl import TtlGuess


def reference_ttl(ctx: ResetContext) -> tuple[int | None, int | None, str]:
    """The TTL the claimed sender's packets arrive with, the smallest gap between any TTL it used and
    the RST's, and where they came from.

    Same conversation and direction first (the latest packet before the RST: the current route), then
    the host's packets in other conversations (its most common TTL), else nothing.
    """
    if ctx.sender_count:
        return ctx.sender_ttl, ctx.sender_ttl_gap, "conversation"
    if ctx.host_ttl is not None:
        return ctx.host_ttl, ctx.host_ttl_gap, "host"
    return None, None, "none"


def _scale(weight: float, source: str) -> float:
    return weight * (HOST_REFERENCE_FACTOR if source == "host" else 1.0)


def _where(source: str, name: str) -> str:
    if source == "conversation":
        return f"{name}'s other packets in this conversation"
    return f"{name}'s packets in other conversations"


def _rewritten(ctx: ResetContext, ref: TtlGuess) -> bool:
    """A remote sender arriving with an untouched default TTL was re-stamped by a device near the capture.

    (0 routers away yet a round trip of several ms.) Then every packet, forged or not, carries the
    re-stamper's TTL and a match proves nothing.
    """
    return ref.routers_between == 0 and ctx.rtt is not None and ctx.rtt >= TTL_REWRITE_MIN_RTT_S


def _no_reference_words(name: str, rst: TtlGuess) -> str:
    return (f"{name} sent no other packet in the capture, so only the RST's own {rst.describe()} "
            f"is known ({rst.family}); a TTL comparison is impossible.")


def _mismatch_words(rst: TtlGuess, source: str, name: str, ref: TtlGuess, gap: int) -> str:
    return (f"RST arrived with {rst.describe()} but {_where(source, name)} arrive with {ref.describe()}: "
            f"the TTLs differ by {gap} ({rst.routers_between} vs {ref.routers_between} routers away), "
            f"more than the {TTL_TOLERANCE_HOPS}-hop tolerance for route changes.")


def _application_ttls(rst: TtlGuess, ref: TtlGuess) -> str:
    which = " and ".join(f"TTL {t}" for t in sorted({g.observed for g in (rst, ref) if g.observed in APPLICATION_TTLS}))
    return (f"{which} is a value applications set on purpose (eBGP sends with TTL 1, GTSM — RFC 5082 — with 255, "
            "while the host's kernel answers with its default), not a hop count")


def _application_words(rst: TtlGuess, source: str, name: str, ref: TtlGuess) -> str:
    return (f"RST arrived with {rst.describe()}, {_where(source, name)} with {ref.describe()}: "
            f"{_application_ttls(rst, ref)}. Compared as distances ({rst.routers_between} vs {ref.routers_between} "
            f"routers away) they agree within the {TTL_TOLERANCE_HOPS}-hop tolerance: no evidence either way.")


def _application_mismatch_words(rst: TtlGuess, source: str, name: str, ref: TtlGuess, hops: int) -> str:
    return (f"RST arrived with {rst.describe()} but {_where(source, name)} arrive with {ref.describe()}; "
            f"{_application_ttls(rst, ref)}, so they are compared as distances: {rst.routers_between} vs "
            f"{ref.routers_between} routers away, {hops} hops apart.")


def _family_words(rst: TtlGuess, name: str, ref: TtlGuess) -> str:
    return (f"The RST starts from initial TTL {rst.initial} ({rst.family}), {name} from "
            f"{ref.initial} ({ref.family}): two different network stacks.")


def _rewritten_words(name: str, expected: int) -> str:
    return (f"{name} is a round trip of several ms away yet arrives with an untouched default "
            f"TTL {expected}: a device near the capture re-stamps TTLs, so the RST's matching TTL proves nothing.")


def _match_words(rst: TtlGuess, source: str, name: str) -> str:
    return f"RST arrived with {rst.describe()}, the same TTL as {_where(source, name)}."


def _route_change_words(rst: TtlGuess, source: str, name: str, ref: TtlGuess) -> str:
    return (f"RST arrived with {rst.describe()}, one hop off {_where(source, name)} ({ref.describe()}): within the "
            f"{TTL_TOLERANCE_HOPS}-hop tolerance for a route change, so consistent with {name}.")


def ttl_observations(ctx: ResetContext) -> list[Observation]:
    """TTL match / one-hop route change / mismatch, plus initial-TTL family mismatch (sentences worded
    on demand, see :class:`~netreset.analyses.resets.evidence.Observation`)."""
    rst = ctx.guess(ctx.ttl)
    expected, gap, source = reference_ttl(ctx)
    name = ctx.sender_name
    if expected is None:
        return [Observation("ttl_no_reference", rst.observed, None, 0.0, (_no_reference_words, name, rst))]
    ref = ctx.guess(expected)
    if gap > TTL_TOLERANCE_HOPS and (application_set(ctx.ttl) or application_set(expected)):
        hops = abs(rst.routers_between - ref.routers_between)
        if hops <= TTL_TOLERANCE_HOPS:
            return [Observation("ttl_application_set", rst.observed, expected, 0.0,
                                (_application_words, rst, source, name, ref))]
        weight = W_TTL_MISMATCH_APPLICATION if application_set(expected) else W_TTL_MISMATCH
        return [Observation("ttl_mismatch", rst.observed, expected, _scale(weight, source),
                            (_application_mismatch_words, rst, source, name, ref, hops))]
    if gap > TTL_TOLERANCE_HOPS:
        found = [Observation("ttl_mismatch", rst.observed, expected, _scale(W_TTL_MISMATCH, source),
                             (_mismatch_words, rst, source, name, ref, gap))]
        if rst.initial != ref.initial:
            found.append(Observation("ttl_family_mismatch", rst.initial, ref.initial,
                                     _scale(W_TTL_FAMILY_MISMATCH, source), (_family_words, rst, name, ref)))
        return found
    if _rewritten(ctx, ref):
        return [Observation("ttl_rewritten", rst.observed, expected, 0.0, (_rewritten_words, name, expected))]
    if gap == 0:
        return [Observation("ttl_match", rst.observed, expected, _scale(W_TTL_MATCH, source),
                            (_match_words, rst, source, name))]
    return [Observation("ttl_route_change", rst.observed, expected, _scale(W_TTL_ONE_HOP, source),
                        (_route_change_words, rst, source, name, ref))]


# ── All RSTs at once (netreset.analyses.resets.batch): the same observations from the fact columns ──────────────

class References:
    """:func:`reference_ttl` for every RST: the reference TTL, its gap and source, and its reading."""

    def __init__(self, b) -> None:
        f = b.facts
        self.conversation = f.values("sender_count") > 0
        self.host = ~self.conversation & f.has("host_ttl")
        self.known = self.conversation | self.host
        self.expected = np.where(self.conversation, f.values("sender_ttl"), f.values("host_ttl"))
        self.gap = np.where(self.conversation, f.values("sender_ttl_gap"), f.values("host_ttl_gap"))
        read = b.ttl_guesses(self.expected, self.known)
        self.guess, self.initial, self.routers = read.guesses, read.column("initial"), read.column("routers_between")


def ttl_batch(b) -> None:
    """:func:`ttl_observations` for every RST (one position; a mismatch adds the family at the second)."""
    f, ref = b.facts, b.references
    rst, rst_initial = b.rst_ttls.guesses, b.rst_ttls.column("initial")
    names, observed = b.sender_names, f.listed("ttl")
    expected, gaps = ref.expected.tolist(), ref.gap.tolist()
    source = np.where(ref.host, "host", "conversation").tolist()

    def scaled(weight: float) -> tuple[np.ndarray, list[float]]:
        column = np.where(ref.host, _scale(weight, "host"), _scale(weight, "conversation"))
        return column, column.tolist()

    b.put(0, ~ref.known, "ttl_no_reference", 0.0, lambda ix: [Observation(
        "ttl_no_reference", observed[i], None, 0.0, (_no_reference_words, names[i], rst[i])) for i in ix])
    far = ref.known & (ref.gap > TTL_TOLERANCE_HOPS)
    app_ref = ref.known & np.isin(ref.expected, APPLICATION_TTLS)
    app = far & (np.isin(f.values("ttl"), APPLICATION_TTLS) | app_ref)
    hops = np.abs(b.rst_ttls.column("routers_between") - ref.routers)
    hop_list = hops.tolist()
    b.put(0, app & (hops <= TTL_TOLERANCE_HOPS), "ttl_application_set", 0.0, lambda ix: [Observation(
        "ttl_application_set", observed[i], expected[i], 0.0, (_application_words, rst[i], source[i], names[i], ref.guess[i]))
        for i in ix])
    wa = np.where(app_ref, W_TTL_MISMATCH_APPLICATION, W_TTL_MISMATCH) * np.where(ref.host, HOST_REFERENCE_FACTOR, 1.0)
    wal = wa.tolist()
    b.put(0, app & (hops > TTL_TOLERANCE_HOPS), "ttl_mismatch", wa, lambda ix: [Observation(
        "ttl_mismatch", observed[i], expected[i], wal[i],
        (_application_mismatch_words, rst[i], source[i], names[i], ref.guess[i], hop_list[i])) for i in ix])
    mismatch = far & ~app
    w, wl = scaled(W_TTL_MISMATCH)
    b.put(0, mismatch, "ttl_mismatch", w, lambda ix: [Observation(
        "ttl_mismatch", observed[i], expected[i], wl[i], (_mismatch_words, rst[i], source[i], names[i], ref.guess[i], gaps[i]))
        for i in ix])
    w2, wl2 = scaled(W_TTL_FAMILY_MISMATCH)
    b.put(1, mismatch & (rst_initial != ref.initial), "ttl_family_mismatch", w2, lambda ix: [Observation(
        "ttl_family_mismatch", rst[i].initial, ref.guess[i].initial, wl2[i], (_family_words, rst[i], names[i], ref.guess[i]))
        for i in ix])
    rtt = f.values("rtt")
    rewritten = ref.known & ~far & (ref.routers == 0) & f.has("rtt") & (rtt >= TTL_REWRITE_MIN_RTT_S)
    b.put(0, rewritten, "ttl_rewritten", 0.0, lambda ix: [Observation(
        "ttl_rewritten", observed[i], expected[i], 0.0, (_rewritten_words, names[i], expected[i])) for i in ix])
    close = ref.known & ~far & ~rewritten
    w3, wl3 = scaled(W_TTL_MATCH)
    b.put(0, close & (ref.gap == 0), "ttl_match", w3, lambda ix: [Observation(
        "ttl_match", observed[i], expected[i], wl3[i], (_match_words, rst[i], source[i], names[i])) for i in ix])
    w4, wl4 = scaled(W_TTL_ONE_HOP)
    b.put(0, close & (ref.gap != 0), "ttl_route_change", w4, lambda ix: [Observation(
        "ttl_route_change", observed[i], expected[i], wl4[i], (_route_change_words, rst[i], source[i], names[i], ref.guess[i]))
        for i in ix])
