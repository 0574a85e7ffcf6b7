"""What ``netreset annotate`` writes into a capture: one packet comment per finding or cause on each of its
key frames, worded so that it stays true in the file it is written to.

A comment reads ``netreset: <code>: <sentence> — <verdict> <confidence> — tcp.stream eq <N>``: the code
(``reset``, ``refused``, ``syn_unanswered``, ``sni_filtered``, ``proxy_auth_required``, ``tls_alert``, …) so
that ``frame.comment contains "netreset: sni_filtered"`` selects one kind, the sentence of the finding or
cause as ``summary`` and ``conversations`` give it, the verdict when there is one, and the conversation's
``tcp.stream``. Causes are rendered from their shape alone (``code``, ``sentence``, ``frames``), so a cause
code added later is annotated without a change here. A frame carries one comment per code and conversation,
the finding's first: a RST that refused a SYN carries the reset verdict's ``refused``, and the handshake's
``refused`` cause (same code) comments only the SYN it adds.

With ``--only-failing`` only the failing conversations' streams are written: every packet of each
``tcp.stream`` that holds a finding or a cause (a stream is kept whole, so Wireshark rebuilds the same
streams), plus every key frame (an ICMP error quoted by a refusal). Frames and streams are numbered anew
in that file, so the comments name the new numbers: ``tcp.stream`` is the rank of the stream's first
frame among the kept streams (Wireshark numbers streams in order of their first packet), and every
"frame N" in a sentence becomes the frame's new number (or "frame N of the original capture" for a frame
not written).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from netreset.records.schema import SCHEMA_VERSION

PREFIX = "netreset: "
#: Wireshark's display filter for every comment netreset wrote.
DISPLAY_FILTER = 'frame.comment contains "netreset"'
#: Comments the text output lists (the file holds them all; ``--format json`` lists them all).
TEXT_COMMENTS = 50
_FRAME_REFERENCE = re.compile(r"\bframe (\d+)\b")


@dataclass(frozen=True)
class Note:
    """One finding or cause: the frames it rests on and what to say on them."""

    conversation: int | None
    frames: tuple[int, ...]
    code: str
    sentence: str
    verdict: str | None = None
    confidence: float | None = None


def notes_of(findings: Iterable[dict], causes: dict[int, list[dict]]) -> list[Note]:
    """Every finding (``summary``'s: resets, refusals, handshake problems) and every cause of a conversation
    (issue 14's, each ``{code, sentence, frames, evidence}``), in that order. A cause that repeats a
    finding — a handshake finding is also its conversation's cause — is the finding's note already."""
    notes = [Note(f.get("conversation"), tuple(f.get("frames") or ()), str(f["kind"]), str(f.get("summary") or ""),
                  f.get("verdict"), f.get("confidence")) for f in findings]
    said = {(n.conversation, n.sentence) for n in notes}
    for conversation, found in sorted(causes.items()):
        for c in found:
            if (conversation, c["sentence"]) in said or not c.get("frames"):
                continue
            said.add((conversation, c["sentence"]))
            notes.append(Note(conversation, tuple(c["frames"]), str(c["code"]), str(c["sentence"])))
    return notes


@dataclass
class Plan:
    """What the copy writes: comments keyed by input frame number, and the frames kept (None: all)."""

    comments: dict[int, list[str]]
    keep: set[int] | None


def plan(notes: list[Note], stream_of: dict[int, int], stream_frames: dict[int, Iterable[int]] | None = None) -> Plan:
    """The comments of ``notes``; ``stream_of``: conversation id → ``tcp.stream``. With ``stream_frames``
    (``tcp.stream`` → every frame of that stream, for ``--only-failing``) only the failing streams and the
    key frames are kept, and the comments are numbered as in that smaller file."""
    keep = None
    streams = {s: s for s in stream_of.values()}
    frames: dict[int, int] | None = None
    if stream_frames is not None:
        keep = {f for n in notes for f in n.frames}
        firsts: dict[int, int] = {}  # failing stream -> its first frame in the output
        for n in notes:
            if n.conversation in stream_of and n.frames:
                stream = stream_of[n.conversation]
                firsts[stream] = min(firsts.get(stream, min(n.frames)), min(n.frames))
        for stream in firsts:
            kept = stream_frames.get(stream, ())
            keep.update(kept)
            firsts[stream] = min(firsts[stream], min(kept, default=firsts[stream]))
        streams = {stream: rank for rank, stream in enumerate(sorted(firsts, key=firsts.get))}
        frames = {frame: number for number, frame in enumerate(sorted(keep), 1)}
    comments: dict[int, list[str]] = {}
    said: set[tuple[int, int | None, str]] = set()  # (frame, conversation, code) already commented
    for n in notes:
        text = comment(n, streams.get(stream_of.get(n.conversation)), frames)
        for frame in n.frames:
            if (frame, n.conversation, n.code) not in said:
                said.add((frame, n.conversation, n.code))
                comments.setdefault(frame, []).append(text)
    return Plan(comments, keep)


def comment(note: Note, stream: int | None, frames: dict[int, int] | None = None) -> str:
    """The comment text of one note; ``frames`` renumbers "frame N" in its sentence (None: unchanged)."""
    sentence = note.sentence.strip()
    if frames is not None:
        sentence = _FRAME_REFERENCE.sub(lambda m: _renumbered(int(m.group(1)), frames), sentence)
    parts = [f"{PREFIX}{note.code}: {sentence}"]
    if note.verdict:
        parts.append(f"{note.verdict} {note.confidence:.2f}" if note.confidence is not None else note.verdict)
    if stream is not None:
        parts.append(f"tcp.stream eq {stream}")
    return " — ".join(parts)


def _renumbered(frame: int, frames: dict[int, int]) -> str:
    return f"frame {frames[frame]}" if frame in frames else f"frame {frame} of the original capture"


def annotate_record(capture: str, output: str, result, only_failing: bool) -> dict:
    """``annotate``'s record (``--format json``): what was read and written, and every comment placed,
    by its frame number in the output file."""
    return {
        "schema_version": SCHEMA_VERSION,
        "capture": capture,
        "output": output,
        "input_format": result.input_format,
        "only_failing": only_failing,
        "frames_read": result.frames_read,
        "frames_written": result.frames_written,
        "frames_commented": len(result.commented),
        "comments": [{"frame": frame, "comment": text} for frame, texts in sorted(result.commented.items())
                     for text in texts],
        "display_filter": DISPLAY_FILTER,
    }


def annotate_text(record: dict) -> str:
    """What the terminal shows: where the file went, the comments, and how to find them in Wireshark."""
    lines = [f"Wrote {record['output']}: {record['frames_written']} of {record['frames_read']} frames "
             f"({record['input_format']} → pcapng), {_count(record['frames_commented'], 'frame')} commented."]
    shown = record["comments"][:TEXT_COMMENTS]
    lines += [f"  frame {c['frame']}: {c['comment']}" for c in shown]
    if len(record["comments"]) > len(shown):
        lines.append(f"  … and {len(record['comments']) - len(shown)} more comments (--format json lists every one)")
    if record["comments"]:
        lines.append(f"In Wireshark: filter with  {DISPLAY_FILTER}  (or Analyze → Expert Information → Comments).")
    else:
        lines.append("No finding to annotate: the copy carries no netreset comment.")
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
