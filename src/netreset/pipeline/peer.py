"""A second capture joined to the first: what ``locate-reset --peer-capture`` and ``handshakes --peer-capture``
print instead of the single-capture records.

Each is one capture's analysis (:class:`~netreset.pipeline.whole.Analysis`, read whole: the join needs every
conversation) compared with every capture point of the peer file
(:func:`~netreset.analyses.vantage.choose.peer_comparisons`); the vantage analysis is imported only here,
when a second capture is given.
"""

from __future__ import annotations


def peer_reset_rows(analysis, peer_path: str) -> list[dict]:
    """``locate-reset --peer-capture`` rows: verdicts judged again with the second capture's evidence."""
    from netreset.analyses.vantage.choose import peer_comparisons
    from netreset.analyses.vantage.peer_evidence import apply_peer_evidence

    return apply_peer_evidence(analysis.resets, peer_comparisons(analysis, peer_path))


def peer_handshake_rows(analysis, peer_path: str) -> list[dict]:
    """``handshakes --peer-capture`` rows: each finding with what the other capture saw of the connection."""
    from netreset.analyses.vantage.choose import peer_comparisons

    comparisons = peer_comparisons(analysis, peer_path)
    rows = []
    for finding in analysis.handshakes:
        row = finding.to_dict()
        joined = [j for c in comparisons if (j := c.joined_for(finding.conversation)) is not None]
        notes = list(dict.fromkeys(n for j in joined for n in j.notes))
        row["seen_in_peer_capture"] = any(j.b is not None for j in joined)
        row["peer_capture_notes"] = notes
        if notes:
            row["summary"] = f"{row['summary']} Second capture: {' '.join(notes)}"
        rows.append(row)
    return rows
