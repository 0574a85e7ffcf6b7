"""The comments ``annotate`` writes, from findings and causes as plain records (no capture needed)."""

from __future__ import annotations

from netreset.report.annotations import Note, comment, notes_of, plan

RESET = {"kind": "reset", "conversation": 0, "frames": [9], "verdict": "middlebox", "confidence": 0.984,
         "summary": "A device at hop 4 forged it.", "display_filter": "tcp.stream eq 0 and tcp.flags.reset == 1"}
REFUSED = {"kind": "refused", "conversation": 3, "frames": [20, 21], "verdict": "peer", "confidence": 0.9,
           "summary": "10.0.0.2 refused the connection from 10.0.0.1: RST/ACK (frame 21, TTL 64)"}
SYN = {"kind": "syn_unanswered", "conversation": 5, "frames": [30, 31], "verdict": None, "confidence": None,
       "summary": "3 SYNs, no answer."}


def test_a_finding_names_its_code_sentence_verdict_and_stream():
    [note] = notes_of([RESET], {})
    assert comment(note, 0) == "netreset: reset: A device at hop 4 forged it. — middlebox 0.98 — tcp.stream eq 0"
    assert comment(notes_of([SYN], {})[0], 7) == "netreset: syn_unanswered: 3 SYNs, no answer. — tcp.stream eq 7"


def test_causes_are_rendered_from_their_shape_and_a_cause_repeating_a_finding_is_said_once():
    causes = {5: [{"code": "syn_unanswered", "sentence": "3 SYNs, no answer.", "frames": [30, 31], "evidence": {}},
                  {"code": "some_future_code", "sentence": "something new", "frames": [31], "evidence": {"x": 1}},
                  {"code": "frameless", "sentence": "nothing to point at", "frames": [], "evidence": {}}]}
    notes = notes_of([SYN], causes)
    assert [(n.code, n.frames) for n in notes] == [("syn_unanswered", (30, 31)), ("some_future_code", (31,))]
    result = plan(notes, {5: 2})
    assert result.keep is None
    assert result.comments == {30: ["netreset: syn_unanswered: 3 SYNs, no answer. — tcp.stream eq 2"],
                               31: ["netreset: syn_unanswered: 3 SYNs, no answer. — tcp.stream eq 2",
                                    "netreset: some_future_code: something new — tcp.stream eq 2"]}


def test_only_failing_keeps_whole_streams_and_numbers_streams_and_frames_anew():
    """Streams 4 (frames 20-22) and 1 (frames 7-9, 30-31) fail, stream 0 does not: the output holds frames
    7, 8, 9, 20, 21, 22, 30, 31; stream 1 starts first there (frame 7), so it is 0 and stream 4 is 1."""
    notes = notes_of([REFUSED, SYN], {})
    stream_of = {0: 0, 3: 4, 5: 1, 6: 1}
    frames = {0: [1, 2, 3], 4: [20, 21, 22], 1: [7, 8, 9, 30, 31]}
    result = plan(notes, stream_of, frames)
    assert result.keep == {7, 8, 9, 20, 21, 22, 30, 31}
    refused = "netreset: refused: 10.0.0.2 refused the connection from 10.0.0.1: RST/ACK (frame 5, TTL 64) — peer 0.90"
    assert result.comments[20] == result.comments[21] == [refused + " — tcp.stream eq 1"]
    assert result.comments[30] == ["netreset: syn_unanswered: 3 SYNs, no answer. — tcp.stream eq 0"]


def test_a_frame_not_written_is_named_as_the_original_capture_s():
    note = Note(0, (9,), "reset", "it kept sending after the RST (first in frame 12)", "peer", 0.9)
    assert comment(note, 0, {9: 1}) == ("netreset: reset: it kept sending after the RST (first in frame 12 of the "
                                        "original capture) — peer 0.90 — tcp.stream eq 0")


def test_a_frame_carries_one_comment_per_code_and_conversation_the_finding_s_first():
    reset = dict(REFUSED, frames=[21], summary="who sent the RST")
    causes = {3: [{"code": "refused", "sentence": "SYN answered by a RST", "frames": [20, 21], "evidence": {}},
                  {"code": "idle_timeout", "sentence": "idle", "frames": [21], "evidence": {}}]}
    result = plan(notes_of([reset], causes), {3: 0})
    assert [t.split(":")[1].strip() for t in result.comments[21]] == ["refused", "idle_timeout"]
    assert "who sent the RST" in result.comments[21][0]
    assert result.comments[20] == ["netreset: refused: SYN answered by a RST — tcp.stream eq 0"]
