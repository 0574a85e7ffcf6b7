"""Handshakes and teardowns: connections that never opened, were refused, or never closed cleanly.

For each conversation the analysis answers the questions an on-call engineer asks first: did the SYN
get an answer — and if not, how often and on which operating system's schedule did the client retry?
Who refused it, with a RST or an ICMP error, and from which device? Did the client complete the
handshake? Which side started closing, and did the other side ever answer its FIN? Each answer is a
frozen :class:`~.model.HandshakeFinding` with one sentence to paste into a ticket and a Wireshark filter.

Modules: :mod:`.opening` (3-way handshake rules), :mod:`.closing` (4-way teardown rules),
:mod:`.prepass` (the opening rules' first questions for all conversations at once),
:mod:`.schedules` (SYN retransmission schedules, ``data/syn_schedules.toml``), :mod:`.text` (sentences
and filters), :mod:`.model` (result types and the per-conversation packet view), :mod:`.screen` and
its compiled twin :mod:`.compiled.screen` (a pre-check that clears clean conversations before the rules
run), :mod:`.batch` (refusals and unanswered SYNs of many conversations at once, from vectorised
facts; the rules stay the reference: :func:`~.analyze.reference_findings`), and :mod:`.analyze`, which
runs them all (:func:`~.analyze.analyze_handshakes`). The rules, their order and their constants are
documented in ``docs/handshakes.md``.
"""
