"""The findings of ``summary``: one record per reset verdict and handshake finding, and their order.

Built from the analyses' results (verdicts, handshake findings, outcomes), never from an Analysis, so
that both pipelines can call them (the streamed one piece by piece: :func:`encoded_findings`) while
records stays below the pipeline; the ``summary`` document of an Analysis is built above it
(:mod:`netreset.report.summary`).
"""

from __future__ import annotations

#: The fields of a finding, in order (``summary --format json``).
FINDING_FIELDS = ("kind", "conversation", "frames", "ts", "verdict", "confidence", "summary", "display_filter")


def finding_items(resets, handshakes, outcomes: dict[int, str]) -> list[dict]:
    """The findings of these reset verdicts and handshake findings, unsorted (:func:`finding_order`
    sorts them); ``outcomes``: conversation id → outcome, for every conversation with a verdict."""
    return [dict(zip(FINDING_FIELDS, values)) for values in _finding_values(resets, handshakes, outcomes)]


def encoded_findings(resets, handshakes, outcomes: dict[int, str]) -> list[tuple[tuple, str]]:
    """(:func:`finding_order` key, JSON text) of each of :func:`finding_items`, spelt from the values
    without building the dicts (:func:`~netreset.records.json.encode_leaves`): ``summary`` of a
    streamed capture encodes one per reset and handshake finding. The layout is fixed by the number of
    frames, which the number of leaves gives."""
    from netreset.records.json import encode_leaves

    encoded = []
    for values in _finding_values(resets, handshakes, outcomes):
        kind, conversation, frames, ts, *rest = values
        text = encode_leaves(FINDING_FIELDS, [kind, conversation, *frames, ts, *rest],
                             lambda values=values: dict(zip(FINDING_FIELDS, values)))
        encoded.append((_order(ts, conversation), text))
    return encoded


def _finding_values(resets, handshakes, outcomes: dict[int, str]):
    """Each finding's values in :data:`FINDING_FIELDS` order: every reset, then the handshake findings."""
    for r in resets:
        kind = "refused" if outcomes.get(r.conversation) == "refused" else "reset"
        yield kind, r.conversation, [r.frame], r.ts, r.verdict, r.confidence, r.advice, r.display_filter
    for h in handshakes:
        if h.kind == "refused" and h.refusal == "rst":
            continue  # the reset entry already says who refused, with its verdict (ICMP refusals stay)
        yield h.kind, h.conversation, list(h.frames), h.ts, h.verdict, h.confidence, h.summary, h.display_filter


def finding_order(f: dict) -> tuple:
    """Time order; findings without a time last."""
    return _order(f["ts"], f["conversation"])


def _order(ts: float | None, conversation: int | None) -> tuple:
    return ts is None, ts or 0.0, conversation or 0
