"""Every reset rule over all RSTs at once: the verdicts of :func:`~netreset.analyses.resets.locate.judge_reset`, from columns.

Judging RSTs one by one costs a few dozen small Python calls per RST (one context, nine rules, the
logistic combination, the record); a 1M-packet capture holds tens of thousands of RSTs. Here each rule
has a twin beside it (``ttl_batch`` next to ``ttl_observations``, ...) that decides with numpy over the
fact columns (:class:`~netreset.analyses.resets.context.ResetFacts`) which observation every RST gets, and builds
only those :class:`~netreset.analyses.resets.evidence.Observation` objects. The weights are summed, the evidence
sorted and the reasons picked over the columns too (:func:`~netreset.analyses.resets.verdict.decide_columns`).

Each rule owns a few *positions* (its width in :mod:`~netreset.analyses.resets.registry`): the places its
observations take in the list the per-RST rule returns (the TTL rule: the TTL observation, then the
family mismatch). Position order is that list order, so the sums, the strongest-first sort and "the
first largest weight" come out as the per-RST path makes them.
RSTs with ICMP errors quoting their conversation (rare) are judged by the per-RST path itself.
``tests/analyses/test_resets_batch.py`` compares both paths on captures and on random fact columns.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from netreset.analyses.resets.context import ResetFacts
from netreset.analyses.resets.evidence import Observation
from netreset.analyses.ttl import TtlGuess


class Batch:
    """The facts of many RSTs, what the batch rules read often, and the observations they put."""

    def __init__(self, facts: ResetFacts, positions: int) -> None:
        n = len(facts)
        self.facts = facts
        self.codes = np.full((n, positions), -1, dtype=np.int16)  #: index into :attr:`names`; -1: none
        self.weights = np.zeros((n, positions))
        self.names: list[str] = []  #: observation codes seen so far
        self.made: list[tuple[int, np.ndarray, list[Observation]]] = []  #: (position, RSTs, their observations)
        self._base, self._width = 0, positions
        self._cache: dict[str, object] = {}

    def rule(self, base: int, width: int) -> None:
        """The positions the next rule's :meth:`put` calls count from, and how many it owns (its
        width in :mod:`~netreset.analyses.resets.registry`)."""
        self._base, self._width = base, width

    def put(self, position: int, where: np.ndarray, code: str, weight: float | np.ndarray,
            build: Callable[[list[int]], list[Observation]]) -> None:
        """One kind of observation at one position of the current rule, for the RSTs ``where`` is True:
        ``build`` makes their observations (given their indices, in order). The kinds a rule puts at one
        position must exclude each other, as the branches of its per-RST twin do."""
        if not 0 <= position < self._width:
            raise ValueError(f"{code}: position {position} is beyond the rule's width {self._width}")
        at = np.flatnonzero(where)
        if not len(at):
            return
        if code not in self.names:
            self.names.append(code)
        k = self._base + position
        if (self.codes[at, k] >= 0).any():
            raise ValueError(f"{code}: a second observation at position {k} of one RST")
        self.codes[at, k] = self.names.index(code)
        self.weights[at, k] = weight[at] if isinstance(weight, np.ndarray) else weight
        self.made.append((k, at, build(at.tolist())))

    def _memo(self, key: str, make: Callable[[], object]):
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = make()
        return found

    @property
    def sender_names(self) -> list[str]:
        """Text address of each RST's claimed sender (:attr:`ResetContext.sender_name`)."""
        return self._memo("sender", lambda: [c.orig_h if o else c.resp_h for c, o in
                                             zip(self.facts.listed("conv"), self.facts.listed("from_orig"))])

    def receiver_name(self, i: int) -> str:
        """Text address of the side RST ``i`` was addressed to (:attr:`ResetContext.receiver_name`); the
        rules that say it are rare, so it is looked up RST by RST."""
        conv = self.facts.listed("conv")[i]
        return conv.resp_h if self.facts.listed("from_orig")[i] else conv.orig_h

    @property
    def rst_ttls(self) -> "TtlReadings":
        """Each RST's own TTL read with the run's table."""
        return self._memo("rst_ttls", lambda: self.ttl_guesses(self.facts.values("ttl")))

    @property
    def references(self):
        """Each RST's reference TTL (:class:`~netreset.analyses.resets.rules.ttl.References`)."""
        from netreset.analyses.resets.rules.ttl import References

        return self._memo("references", lambda: References(self))

    @property
    def own_ttls(self) -> np.ndarray:
        """Each RST's claimed sender's own TTL where a device terminated its connection in its name, -1 elsewhere
        (:func:`~netreset.analyses.resets.rules.terminated.own_ttl_column`)."""
        from netreset.analyses.resets.rules.terminated import own_ttl_column

        return self._memo("own_ttls", lambda: own_ttl_column(self.facts))

    def ttl_guesses(self, values: np.ndarray, where: np.ndarray | None = None) -> "TtlReadings":
        """The TTLs ``values`` read with the run's table (only where ``where``)."""
        return TtlReadings(self.facts.guess, values, where)

    def evidence(self) -> list[tuple[Observation, ...]]:
        """Each RST's observations, strongest first (stable: position order among equal weights)."""
        seen = self.codes >= 0
        rst, position = np.nonzero(seen)  # RST by RST, positions in order
        order = np.lexsort((-np.abs(self.weights[rst, position]), rst))
        place = np.empty(len(order), dtype=np.int64)
        place[order] = np.arange(len(order))
        flat_index = np.full(seen.shape, -1, dtype=np.int64)
        flat_index[rst, position] = np.arange(len(rst))
        flat: list = [None] * len(order)
        for k, at, observations in self.made:
            for p, o in zip(place[flat_index[at, k]].tolist(), observations):
                flat[p] = o
        ends = np.cumsum(seen.sum(axis=1)).tolist()
        return [tuple(flat[a:b]) for a, b in zip([0] + ends[:-1], ends)]


class TtlReadings:
    """TTLs read with the run's table (each distinct value once): per RST the reading, or None where it
    was not wanted, and any of its fields as a column."""

    def __init__(self, guess, values: np.ndarray, where: np.ndarray | None) -> None:
        n = len(values)
        self.wanted = np.arange(n) if where is None else np.flatnonzero(where)
        distinct, inverse = np.unique(values[self.wanted], return_inverse=True)
        self._read: list[TtlGuess] = [guess(v) for v in distinct.tolist()]
        self._inverse = inverse.ravel()
        picks = self._inverse.tolist()
        if where is None:
            self.guesses: list = [self._read[k] for k in picks]
        else:
            self.guesses = [None] * n
            for i, k in zip(self.wanted.tolist(), picks):
                self.guesses[i] = self._read[k]
        self._n = n

    def column(self, field: str) -> np.ndarray:
        """The readings' ``field`` (an int field of TtlGuess) per RST; 0 where not read."""
        found = np.zeros(self._n, dtype=np.int64)
        found[self.wanted] = np.array([getattr(g, field) for g in self._read], dtype=np.int64)[self._inverse]
        return found
