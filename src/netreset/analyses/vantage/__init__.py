"""Two vantage points: join the captures of both ends (or of both sides of a middlebox) and prove where
a reset was forged or a packet was dropped.

A single capture can only infer who sent a RST; two captures prove it: a RST that reached the agent but
never passed a capture point nearer the server was injected in between. Modules, in pipeline order:
:mod:`.load` (files → capture points, split per interface), :mod:`.join` (the same connection in both,
without trusting the 5-tuple), :mod:`.clock` (offset and drift between the captures), :mod:`.diff`
(placement, one-sided packets, modifications), :mod:`.compare` (the whole comparison), :mod:`.choose`
(which capture points are compared), :mod:`.model` (the records; their JSON document is
:mod:`netreset.records.comparison`). ``docs/two-vantage-points.md`` explains the reasoning.
"""
