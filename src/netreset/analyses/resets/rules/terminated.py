"""A connection a device terminated in the claimed sender's name: its RST is that device's.

A transparent proxy, a TLS inspector or a firewall that completes the handshake itself answers for the
server's address: the SYN-ACK, the data and finally the RST all come from the device, so every comparison
*within* the connection (TTL, IP ID, sequence numbers) finds the RST consistent with "the peer" — the peer
the client talked to was the device. Only the same address elsewhere in the capture tells them apart: a
device sits between the capture point and the address it answers for, so its packets arrive from fewer
routers away than the address's own (:func:`~netreset.analyses.resets.pairs.own_hop_keys`).

The premise, checked against the packets: the claimed sender's kernel-TTL packets in this conversation,
and the RST, arrive more than :data:`~netreset.analyses.resets.weights.TTL_TOLERANCE_HOPS` routers nearer
than the address's own packets elsewhere in the capture — read every plausible way
(:func:`~netreset.analyses.resets.pairs.ttl_reach`: TTL 30 may be 2 routers from a 32 or 34 from a 64, so it
is nearer than nothing 34 or fewer routers away; a TTL no default explains within ``max_routers`` nowhere), *and*
the address itself answered handshakes (SYN-ACKs) from its own, farther hop in the capture: the server's
stack is seen answering as a server from there, so the nearer answers in its name are another device's (a
proxy takes some ports or some connections). Packets the address sent as a client, another initial-TTL
family or other SYN-ACK options are not enough alone: one address with several machines behind it (a NAT,
a VIP with mixed backends) shows all of those, and generated captures whose hosts take another TTL in
every connection turned dozens of verdicts to middlebox on them. An address whose TTLs form more than two
clusters has no own hop at all (:data:`~netreset.analyses.resets.weights.OWN_HOP_MAX_CLUSTERS`). Not
claimed: a route change of two or more hops between two connections to the same port and from the same TTL
family, or anycast and unequal-cost paths — those look alike and are left to the other rules.
"""

from __future__ import annotations

import numpy as np

from netreset.analyses.resets.evidence import Observation, ResetContext, application_set
from netreset.analyses.resets.pairs import ttl_reach
from netreset.analyses.resets.weights import APPLICATION_TTLS, TTL_TOLERANCE_HOPS, W_TERMINATED_BY_DEVICE


def own_ttl(ctx: ResetContext) -> int | None:
    """The claimed sender's own TTL when a device terminated this connection in its name (the premise
    above), else None."""
    if ctx.host_own_ttl is None or ctx.sender_routers_max is None or application_set(ctx.ttl):
        return None
    fewest, most = ttl_reach(ctx.guess)
    own = ctx.guess(ctx.host_own_ttl)
    nearest = max(ctx.sender_routers_max, int(most[ctx.ttl]))
    if int(fewest[ctx.host_own_ttl]) - nearest <= TTL_TOLERANCE_HOPS:
        return None
    return ctx.host_own_ttl if ctx.host_own_ports else None


def _words(name: str, seen, own, ports: tuple[int, ...]) -> str:
    answering = (f", answering port{'s' if len(ports) > 1 else ''} {', '.join(map(str, ports))} that way"
                 if ports else "")
    return (f"{name}'s packets in this connection, the RST included, arrive with {seen.describe()}, but {name}'s own "
            f"packets elsewhere in the capture arrive with {own.describe()}{answering}: a device "
            f"{own.routers_between - seen.routers_between} routers nearer (traceroute hop {seen.traceroute_hop}) "
            f"terminated the connection in {name}'s name (a transparent proxy, a TLS inspector or a firewall "
            f"answering for it), so the RST, consistent with the connection's own packets, is that device's.")


def terminated_observations(ctx: ResetContext) -> list[Observation]:
    """``terminated_by_device`` when the premise holds (see the module docstring)."""
    own = own_ttl(ctx)
    if own is None:
        return []
    seen = ctx.guess(ctx.ttl)
    return [Observation("terminated_by_device", ctx.ttl, own, W_TERMINATED_BY_DEVICE,
                        (_words, ctx.sender_name, seen, ctx.guess(own), ctx.host_own_ports))]


def own_ttl_column(facts) -> np.ndarray:
    """:func:`own_ttl` for every RST of a :class:`~netreset.analyses.resets.context.ResetFacts` (-1: none)."""
    n = len(facts)
    out = np.full(n, -1, dtype=np.int64)
    wanted = facts.has("host_own_ttl") & facts.has("sender_routers_max") & ~np.isin(facts.values("ttl"), APPLICATION_TTLS)
    if not wanted.any():
        return out
    guess = facts.guess
    fewest, most = ttl_reach(guess)
    initial = np.vectorize(lambda t: guess(int(t)).initial, otypes=[np.int64])
    at = np.flatnonzero(wanted)
    own = facts.values("host_own_ttl")[at]
    nearest = np.maximum(facts.values("sender_routers_max")[at], most[facts.values("ttl")[at]])
    far = fewest[own] - nearest > TTL_TOLERANCE_HOPS
    ports = np.array([bool(facts.listed("host_own_ports")[i]) for i in at.tolist()], dtype=bool)
    hit = far & ports
    out[at[hit]] = own[hit]
    return out


def terminated_batch(b) -> None:
    """:func:`terminated_observations` for every RST (one position)."""
    f = b.facts
    own = b.own_ttls
    seen, names, ports = b.rst_ttls.guesses, b.sender_names, f.listed("host_own_ports")
    owns = own.tolist()
    guess = f.guess
    b.put(0, own >= 0, "terminated_by_device", W_TERMINATED_BY_DEVICE, lambda ix: [Observation(
        "terminated_by_device", seen[i].observed, owns[i], W_TERMINATED_BY_DEVICE,
        (_words, names[i], seen[i], guess(owns[i]), ports[i])) for i in ix])
