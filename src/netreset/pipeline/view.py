"""What every reader of an analysis may rely on, whether the capture was read whole or streamed.

Reports, plots and the commands are written against this protocol, not against either class, so that a
command that reads only these members streams a big capture for free (``summary``, ``locate-reset`` and
``handshakes`` do). :class:`~netreset.pipeline.whole.Analysis` offers much more (every conversation, host
profiles, the packet table) for the commands that need it; a command that asks for those must take the
whole path (:func:`netreset.pipeline.run.analyse` decides).

Record sequences are iterables of the JSON contract's records (:mod:`netreset.records`): a list of dicts
(whole) or the merged on-disk runs of a streamed analysis, which iterate the same records and offer them
already encoded (``json_items``); :func:`netreset.records.json.write_json` writes either to the same bytes.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterable, Protocol, runtime_checkable

from netreset.ingest.frames import IngestStats

if TYPE_CHECKING:
    from netreset.pipeline.whole import Options


@runtime_checkable
class AnalysisView(Protocol):
    """The members that ``summary``, ``locate-reset`` and ``handshakes`` read, in either pipeline."""

    stats: IngestStats  #: what ingestion saw (files, formats, frames, decode problems)
    options: "Options"  #: what the user asked for (see :class:`~netreset.pipeline.whole.Options`)

    def time_span(self) -> tuple[int | None, int | None]:
        """The earliest and the newest timestamp (ns) of the TCP and ICMP-error packets read; (None, None) when none."""

    def conversation_count(self) -> int:
        """Conversations in the capture (after ``--filter``/``--stream``)."""

    def zeek_connection_count(self) -> int:
        """Rows of Zeek's conn.log those conversations are (an attempt Zeek's timers split is several)."""

    def conn_state_counts(self) -> Counter:
        """Zeek ``conn_state`` → conversations, states that occur only."""

    def outcome_counts(self) -> Counter:
        """Outcome → conversations, refined by the reset verdicts (``reset_by_middlebox``)."""

    def cause_counts(self) -> Counter:
        """Cause code → conversations with a cause of that code (netreset.analyses.causes)."""

    def reset_rows(self) -> Iterable:
        """``locate-reset``'s records, in capture order."""

    def handshake_rows(self) -> Iterable:
        """``handshakes``' records, in capture order."""

    def finding_rows(self) -> Iterable:
        """``summary``'s findings: resets and handshake problems, in time order."""
