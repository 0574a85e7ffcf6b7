"""The shape of one cause (issue 14): ``{"code", "sentence", "frames", "evidence"}``, shared by the modules
that find causes (netreset.analyses.causes, .idle, .sni) so none of them imports another to build one."""

from __future__ import annotations


def cause(code: str, sentence: str, frames, evidence: dict | None = None) -> dict:
    """One cause: its code, the sentence for a ticket, the frames it rests on (1-based, as Wireshark numbers
    them) and ``evidence``, the measured values behind the sentence (plain JSON scalars/lists), so a script can
    check the premise without parsing the sentence."""
    return {"code": code, "sentence": sentence, "frames": sorted({int(f) for f in frames}),
            "evidence": dict(evidence or {})}
