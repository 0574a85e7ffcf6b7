"""Every weight and threshold of reset attribution, in one table: the numbers you may want to change.

Read it like a data file. Each entry says what it weighs or bounds and why it has that value; the
rule that reads it is named in the section heading (:mod:`netreset.analyses.resets.rules`), and
``docs/reset-attribution.md`` gives the reasoning at length, rule by rule, with these same numbers.

The scale. A weight (``W_*``) is the log-odds an observation adds in favour of "a middlebox forged
this RST" (positive) or "the claimed sender sent it" (negative). :mod:`.verdict` adds every weight of
one RST to :data:`PRIOR_LOG_ODDS` and reads the sum through the logistic function: −0.5 + 3.0 = 2.5 is
p(middlebox) ≈ 0.92. With :data:`DECIDE_AT` = 0.8 the weights must sum to at least +1.89 for
``middlebox`` and at most −0.89 for ``peer`` (ln 4 ≈ 1.39 either side of the prior); in between the
verdict is ``undetermined``. Weight 0 marks an observation that is reported but decides nothing (a
guard: the clue exists, and here it is known to mislead).

Changing a value changes verdicts: the golden outputs and frozen answers under ``tests/`` will say
which, and the tables in ``docs/reset-attribution.md`` must say the new number.
"""

from __future__ import annotations

# ── Decision (verdict.py) ─────────────────────────────────────────────────────────────────────────────

#: The log-odds with no evidence at all: p(middlebox) ≈ 0.38. Most RSTs are genuine, but not so
#: overwhelmingly that one strong clue (a TTL mismatch, +3.0) could not carry the verdict on its own.
PRIOR_LOG_ODDS = -0.5
#: The posterior needed to say ``middlebox``; 1 − it (0.2) to say ``peer``; between them the verdict is
#: ``undetermined``. Four to one: the telling clues decide alone (a TTL mismatch or match, an IP ID
#: reflection, a burst of changing seqs, data after the RST), the weaker ones only together.
DECIDE_AT = 0.8
#: |weight| from which an observation counts as *strong*: strong clues both ways make an undetermined
#: verdict's reason ``conflicting_evidence`` instead of ``weak_evidence``. 1.0 sits above every weak
#: clue (≤ 0.8) and at the smallest of the clear ones.
STRONG = 1.0

# ── TTL (rules/ttl.py) ────────────────────────────────────────────────────────────────────────────────

#: Hops a RST's TTL may differ from the sender's own packets and still count as the sender's: a route
#: change moves a host by one hop between packets, which is no evidence of forgery.
TTL_TOLERANCE_HOPS = 1
#: An address whose packets (TCP, not RSTs) arrive at more TTL clusters than this (TTLs more than
#: TTL_TOLERANCE_HOPS apart; TTLs applications set not counted) has no one hop of its own: different
#: machines behind one address (a NAT, a load-balanced VIP with mixed backends, anycast) or a stack that
#: varies its TTL. Its farthest TTL is then no reference that a nearer one is a device answering in its name
#: (the own-hop reading, :func:`~netreset.analyses.resets.pairs.own_hop_keys`, and the rule built on it stand
#: down). A server and one device answering for some of its ports make two clusters; generated captures
#: whose hosts take another TTL in every connection had 54 of 150 captures' verdicts turned to middlebox.
OWN_HOP_MAX_CLUSTERS = 2
#: The RST arrives two or more hops off the sender's own packets. Every router decrements the TTL, so
#: one host on one path arrives with one TTL: the clue the attribution rests on, enough alone for
#: ``middlebox`` (p ≈ 0.92).
W_TTL_MISMATCH = 3.0
#: Added to a mismatch when the RST's initial TTL is of another family (64 against 128): two
#: different network stacks, e.g. a Linux-based firewall speaking for a Windows server.
W_TTL_FAMILY_MISMATCH = 1.5
#: The RST arrives with exactly the sender's TTL: enough alone for ``peer`` (p ≈ 0.08). Less strong
#: than a mismatch, because a forger at the sender's own distance matches too.
W_TTL_MATCH = -2.0
#: The RST is one hop off, within :data:`TTL_TOLERANCE_HOPS`: consistent with the sender after a
#: route change, half as telling as an exact match.
W_TTL_ONE_HOP = -1.0
#: Factor on every TTL weight when the reference is the host's packets in *other* conversations of
#: the run: another path, or another backend behind a load balancer, may arrive with another TTL.
HOST_REFERENCE_FACTOR = 0.5
#: Seconds of round trip from which a sender that arrives with an untouched default TTL (0 routers
#: away) is taken to have had its TTL re-stamped by a device near the capture: a host with no router
#: in between answers well within 5 ms. A TTL match then proves nothing (``ttl_rewritten``, weight 0).
TTL_REWRITE_MIN_RTT_S = 0.005
#: TTLs that applications set on purpose, which say nothing about hops: eBGP sends with TTL 1 (RFC 4271:
#: one hop to a directly connected neighbour), GTSM (RFC 5082) with 255 so the receiver can refuse
#: anything that crossed a router, and the same host's kernel answers a closed port with its default
#: (64 on Linux). A packet that *arrives* with 1 or 255 crossed no router, so these read as 0 routers
#: away; the sender's other TTLs are preferred as its reference, and a reference made only of them
#: compares distances, never initial TTLs.
APPLICATION_TTLS = (1, 255)
#: A TTL mismatch when the claimed sender's only reference TTLs are set by an application
#: (:data:`APPLICATION_TTLS`): the distances still differ, but the host's kernel may answer from
#: another default, so alone it stays ``undetermined`` (p ≈ 0.73).
W_TTL_MISMATCH_APPLICATION = 1.5

# ── A connection a device terminated (rules/terminated.py) ───────────────────────────────────────────

#: The claimed sender's packets in this connection, the RST included, come from a device nearer than the
#: address's own packets elsewhere in the capture (more than TTL_TOLERANCE_HOPS routers, and another TTL
#: family or another port answered from the address's own hop): a transparent proxy or inspector answered
#: for it. Every clue *within* the connection (TTL match −2.0, IP ID in sequence −1.0, exact seq −0.3,
#: timing −0.3: −3.6 at most) then only says the RST came from the device that made the connection's other
#: packets — which is the device. Decisive against all of them together: −0.5 − 3.6 + 6.0 = 1.9 is still
#: p ≈ 0.87, ``middlebox``.
W_TERMINATED_BY_DEVICE = 6.0

# ── IPv4 ID and DF (rules/ipid.py) ────────────────────────────────────────────────────────────────────

#: Non-zero IP IDs of the sender needed before their sequence counts as a pattern: fewer show none.
IPID_MIN_PACKETS = 3
#: The largest step between consecutive IP IDs still called "incrementing": a global counter
#: (Windows) also numbers the host's other traffic between two packets of this connection.
IPID_MAX_STEP = 2048
#: Backward IP ID steps up to this are packets reordered on the way, not a second counter.
IPID_REORDER = 16
#: How far ahead of the sender's last IP ID a genuine RST may be: :data:`IPID_MAX_STEP` plus this
#: multiple of the sender's measured IP ID rate times the time since its last packet (a global counter
#: keeps moving while the connection is quiet, and its rate is not steady).
IPID_RATE_SLACK = 3.0
#: The RST's IP ID is far from the sender's incrementing sequence. Not enough alone (p ≈ 0.73): a
#: stack may number some replies from another counter (see :data:`GLOBAL_COUNTER_TTLS`).
W_IPID_BREAK = 1.5
#: The RST's IP ID continues the sender's sequence.
W_IPID_IN_SEQUENCE = -1.0
#: IP IDs up to this may equal the other side's by chance (fresh counters start low), so they are
#: never taken as a reflection.
IPID_REFLECTION_MIN = 255
#: The RST's IP ID equals the IP ID of the other side's previous packet: firewalls that build their
#: RST from the packet they reject copy it. Enough alone for ``middlebox`` (p ≈ 0.82).
W_IPID_REFLECTION = 2.0
#: A shared IP ID counter: RSTs claiming at least :data:`SHARED_IPID_MIN_SENDERS` different hosts carry
#: consecutive IP IDs in time order — one counter, so one device built them all, and different hosts
#: do not share a counter. Enough alone for ``middlebox`` (p ≈ 0.88).
W_IPID_SHARED = 2.5
#: RSTs needed in one shared sequence (three: two consecutive steps that chance rarely makes).
SHARED_IPID_MIN_RSTS = 3
#: Different claimed senders needed in it.
SHARED_IPID_MIN_SENDERS = 2
#: Largest forward step from one RST's IP ID to the next one of the sequence, plus
#: :data:`SHARED_IPID_STEP_PER_S` per second between them (the device numbers its other packets too).
SHARED_IPID_MAX_STEP = 64
SHARED_IPID_STEP_PER_S = 64
#: Seconds within which a RST may continue another's IP ID sequence.
SHARED_IPID_WINDOW_S = 5.0
#: How many earlier RSTs (in time order) a RST is tried against: genuine RSTs of other hosts may come
#: between two of the shared device's.
SHARED_IPID_LOOKBACK = 4
#: The RST's DF bit differs from every other packet of the sender: a hint that another stack built
#: it, weak alone.
W_DF_MISMATCH = 0.8
#: Initial TTLs of the stacks with one global IP ID counter (Windows), which numbers stateless RSTs
#: too: for them an IP ID break stays evidence even when the RST looks like a stateless reply, while
#: Linux-like stacks (64, 255) number those from a separate counter.
GLOBAL_COUNTER_TTLS = (32, 128)

# ── TCP window and timestamps (rules/window.py) ───────────────────────────────────────────────────────

#: The RST's window equals the other side's last window, not the sender's own: the RST was built from
#: the other side's packet.
W_WINDOW_REFLECTION = 1.0
#: The sender put TCP timestamps on every segment, the RST has none. Weak by design: Linux and Windows
#: answer from a closed socket with a bare RST (after the sender's own FIN it is reported with weight 0).
W_TIMESTAMPS_MISSING = 0.4
#: Sender segments needed before "it always used timestamps" is believed.
TIMESTAMPS_MIN_PACKETS = 2

# ── Sequence numbers (rules/seq.py) ───────────────────────────────────────────────────────────────────

#: Tolerated seq difference (Weaver et al.): stacks account for SYN and FIN differently by a little.
SEQ_SLACK = 2
#: Seconds within which RSTs claiming one sender belong to one injection burst (Weaver et al.).
SEQ_CHANGE_WINDOW_S = 2.0
#: The RST's seq is exactly the sender's next sequence number: weak, on-path forgers see it too.
W_SEQ_EXACT = -0.3
#: The RST's seq lies outside [receiver's last ack, sender's next seq + receive window): the sender
#: knows its own sequence numbers, a blind forger guesses (RFC 5961 §3).
W_SEQ_OUT_OF_WINDOW = 1.0
#: Weaver RST_SEQ_CHANGE: a burst of RSTs whose seqs jump beyond anything sent or acknowledged, an
#: injector spraying the window.
W_SEQ_CHANGE = 2.0
#: Weaver RST_ACK_CHANGE: RSTs whose ack changes with no new data to acknowledge.
W_ACK_CHANGE = 1.0

# ── Timing (rules/timing.py) ──────────────────────────────────────────────────────────────────────────

#: The claimed sender sent new data after its own RST: a stack never does, so another device raced it.
#: Decisive against anything else the RST shows (with a TTL match still p ≈ 0.92).
W_DATA_AFTER_RESET = 5.0
#: :data:`W_DATA_AFTER_RESET` where the capture point sits next to the claimed sender: it arrives 0
#: routers away (untouched default TTL) and the RST carries exactly that TTL. No router stands between
#: them where a forger could hide, so the race alone (reordering at the capture host, a reused port)
#: weighs no more than :data:`W_PACKETS_AFTER_RESET`; positive evidence (a TTL mismatch, a reflection
#: checked against the sender's own packets, a shared IP ID counter, a burst) must say middlebox.
W_DATA_AFTER_RESET_NEARBY = 1.0
#: The claimed sender sent only ACKs or retransmissions after its RST: could be reordering.
W_PACKETS_AFTER_RESET = 1.0
#: An answer faster than this fraction of the sender's round trip cannot come from the sender.
RTT_FRACTION = 0.5
#: Handshake round trips below this (seconds; a capture on the sender itself, the same LAN) are too
#: noisy to compare an answer time with.
RTT_MIN_S = 0.001
#: The RST answered a packet sooner than the sender's round trip allows: a device closer than it.
W_FASTER_THAN_RTT = 1.5
#: The RST came at least one sender round trip after the packet it answers: weak, a slow answer is
#: the sender's, but a distant forger's too.
W_TIMING_CONSISTENT = -0.3

# ── ICMP (rules/icmp.py) ──────────────────────────────────────────────────────────────────────────────

#: Seconds before and after the conversation in which an ICMP error quoting it still counts.
ICMP_WINDOW_S = 5.0
#: "Administratively prohibited" from a device quoting this conversation: a filter says it refused.
W_ICMP_PROHIBITED = 1.0
#: Any other ICMP error quoting this conversation: it names a device on the path, little more.
W_ICMP_OTHER = 0.3
