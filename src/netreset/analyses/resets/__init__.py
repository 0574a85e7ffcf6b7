"""Reset attribution: for every RST, did the claimed sender send it, or a middlebox in its name?

:func:`~netreset.analyses.resets.locate.locate_resets` runs every evidence rule on every RST and
combines the observations (``docs/reset-attribution.md`` gives the reasoning). Where things are:

* :mod:`~netreset.analyses.resets.locate` — the entry point, the per-RST reference and the batch path;
* :mod:`~netreset.analyses.resets.registry` — the one list of rules, each with its batch twin and width;
* :mod:`~netreset.analyses.resets.weights` — every weight and threshold, documented;
* :mod:`~netreset.analyses.resets.verdict` — the weights summed onto the prior into a verdict;
* :mod:`~netreset.analyses.resets.evidence` — what a rule sees (ResetContext) and says (Observation);
* :mod:`~netreset.analyses.resets.context`, :mod:`~netreset.analyses.resets.pairs`,
  :mod:`~netreset.analyses.resets.index` — the facts of all RSTs at once, as columns;
* :mod:`~netreset.analyses.resets.batch` — the columns the batch twins read and the positions they fill;
* :mod:`~netreset.analyses.resets.record` — the ResetVerdict record and its sentences.

The rules, one module per family of evidence (:mod:`netreset.analyses.resets.rules`):

* :mod:`~netreset.analyses.resets.rules.ttl` — TTL / hop distance and initial-TTL family;
* :mod:`~netreset.analyses.resets.rules.ipid` — IPv4 ID sequence, ID reflection, DF bit;
* :mod:`~netreset.analyses.resets.rules.window` — window reflection, TCP timestamps missing;
* :mod:`~netreset.analyses.resets.rules.seq` — RFC 5961 plausibility, Weaver et al. injection bursts;
* :mod:`~netreset.analyses.resets.rules.timing` — data after the RST (race), answer faster than the RTT;
* :mod:`~netreset.analyses.resets.rules.icmp` — ICMP errors quoting the conversation.
"""
