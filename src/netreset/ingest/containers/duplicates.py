"""pktmon's per-component duplicates in a converted pcapng: each packet counted once.

``pktmon`` (Windows' packet monitor) logs a packet at every networking component it crosses — the NIC,
filter drivers, virtual-switch ports, TCP/IP — and ``pktmon etl2pcap`` (like ``etl2pcapng``) writes every
sighting as a frame: one packet on the wire becomes several frames microseconds apart, with identical
bytes, told apart only by their interface (one per component) or by the ``Component N`` / ``Appearance
N`` in their packet comment. Read as they are, they look like retransmissions and duplicate ACKs.

The rule (constants below):

* the same packet is the same ``PktGroupId G, PktNumber N`` when the comments carry pktmon's ids, else
  the same bytes (and wire length);
* a frame is a duplicate when that packet was already seen less than a window earlier (measured from its
  latest sighting, so a chain of components counts) — at a *different* logging point (interface, and
  component from the comment) when only the bytes identify it. The same bytes twice at the same point
  stay: that is a real duplicate on that link, or a retransmission, and the analyses must see it;
* the file is judged once, early: only when its first :data:`PROBE_FRAMES` frames hold a duplicate is
  it treated as a multi-component log; otherwise the filter steps aside there (it had dropped nothing),
  so an ordinary multi-interface capture keeps every frame, and the compiled path can ask the same
  question (:func:`holds_duplicates`) before it takes a file.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Iterator

from netreset.ingest.frames import RawFrame

DUPLICATE_WINDOW_NS = 1_000_000  #: identical bytes at another logging point within 1 ms: the same packet
ID_WINDOW_NS = 1_000_000_000  #: pktmon's own packet ids are unique far longer; the window only bounds memory
PROBE_FRAMES = 10_000  #: a multi-component log shows duplicates within its first frames, or never
MAX_TRACKED = 100_000  #: packets remembered at most (timestamps that never advance must not grow memory)
PKTMON_CUT = 128  #: pktmon's default --pkt-size: bytes kept of each packet
PKTMON_IDS = re.compile(r"PktGroupId (\d+), PktNumber (\d+)")
PKTMON_POINT = re.compile(r"\b(Component|Appearance) (\d+)")


class ComponentDuplicates:
    """Decides frame by frame whether a frame is another component's sighting of a packet already kept."""

    def __init__(self) -> None:
        self.by_bytes = _Recent(DUPLICATE_WINDOW_NS)
        self.by_id = _Recent(ID_WINDOW_NS)
        self.dropped = 0
        self.cut_at_default = 0  #: kept frames cut at exactly pktmon's default 128 bytes

    def is_duplicate(self, frame: RawFrame, reader) -> bool:
        """``reader`` (a PcapngReader) tells the interfaces known so far and the frame's comment, if any."""
        ids = point = None
        numbered, comment = reader.last_comment
        if numbered == frame.frame:
            if found := PKTMON_IDS.search(comment):
                ids = found.groups()
            points = dict(PKTMON_POINT.findall(comment))
            point = points.get("Component") or points.get("Appearance")
        if ids is not None:
            duplicate = self.by_id.seen(ids, None, frame.ts_ns)
        elif point is None and len(reader.interfaces) < 2:
            return False  # nothing could tell two sightings apart
        else:
            duplicate = self.by_bytes.seen((frame.wirelen, frame.data), (frame.iface, point), frame.ts_ns)
        if duplicate:
            self.dropped += 1
        elif frame.caplen == PKTMON_CUT < frame.wirelen:
            self.cut_at_default += 1
        return duplicate

    def warning(self) -> str:
        text = (f"{self.dropped} frames are the same packet logged again by another network component within "
                f"{DUPLICATE_WINDOW_NS // 1000} µs (pktmon-style duplicates: identical bytes or pktmon packet id, "
                "another interface or component); each packet counted once (`pktmon etl2pcap --component-id "
                "<id>` keeps one logging point)")
        if self.cut_at_default:
            text += (f"; {self.cut_at_default} packets are cut at {PKTMON_CUT} bytes, pktmon's default: start it "
                     "with `--pkt-size 0` for whole packets")
        return text


def drop_component_duplicates(frames: Iterator[RawFrame], reader) -> Iterator[RawFrame]:
    """``frames`` of ``reader`` without pktmon-style duplicates; a warning on ``reader`` says how many went."""
    detector = ComponentDuplicates()
    for count, frame in enumerate(frames, 1):
        if detector.is_duplicate(frame, reader):
            continue
        yield frame
        if count >= PROBE_FRAMES and not detector.dropped:
            yield from frames  # not a multi-component log: every further frame as it is
            return
    if detector.dropped:
        reader.warnings.append(detector.warning())


def holds_duplicates(frames: Iterator[RawFrame], reader) -> bool:
    """Whether :func:`drop_component_duplicates` would drop anything from these frames (it decides early)."""
    detector = ComponentDuplicates()
    for count, frame in enumerate(frames, 1):
        if detector.is_duplicate(frame, reader):
            return True
        if count >= PROBE_FRAMES:
            return False
    return False


class _Recent:
    """Packets seen within the last ``window`` ns: key → (sighting number, logging points)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.latest: dict = {}
        self.order: deque = deque()  # (time, key, sighting number) in arrival order, for expiry
        self.sightings = 0

    def seen(self, key, point, ts_ns: int) -> bool:
        """Record a sighting; True if the key was seen recently at another point (``point`` None: any)."""
        self._expire(ts_ns)
        earlier = self.latest.get(key)
        duplicate = earlier is not None and (point is None or earlier[1] != {point})
        points = earlier[1] if earlier is not None else set()
        points.add(point)
        self.sightings += 1
        self.latest[key] = (self.sightings, points)
        self.order.append((ts_ns, key, self.sightings))
        return duplicate

    def _expire(self, now: int) -> None:
        """Forget packets last seen more than a window ago (or the oldest, past :data:`MAX_TRACKED`)."""
        order, latest = self.order, self.latest
        while order and (order[0][0] < now - self.window or len(order) > MAX_TRACKED):
            _ts, key, sighting = order.popleft()
            if latest[key][0] == sighting:  # not seen again since: gone
                del latest[key]
