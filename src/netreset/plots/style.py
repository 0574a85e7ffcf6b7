"""The shared visual vocabulary of every figure: colours, fonts, and the words used on arrows.

One place decides that "reset by a middlebox" is always the same dark red and a SYN always the same
blue, so a network team that has seen one netreset figure can read the next one without a legend.
Colours come from the colour-blind-safe Okabe–Ito palette, with outcome order fixed so legends agree.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless everywhere: figures are written to files, never shown

from netreset.packets.table import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG  # noqa: E402

FONT_SIZE = 9  #: base font size (points); labels on arrows use SMALL_FONT
SMALL_FONT = 8
TITLE_FONT = 11
MONO = "DejaVu Sans Mono"  #: numbers on arrows line up in a monospaced face

#: Outcome categories a person reads, in legend order: (key, label, colour).
CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("clean", "clean", "#009E73"),
    ("open", "open (no close seen)", "#56B4E9"),
    ("half_closed", "half closed", "#F0E442"),
    ("syn_unanswered", "SYN unanswered", "#E69F00"),
    ("refused", "refused", "#CC79A7"),
    ("reset_by_peer", "reset by peer", "#D55E00"),
    ("reset_by_middlebox", "reset by middlebox", "#7B0000"),
    ("partial", "partial (start not captured)", "#999999"),
)
CATEGORY_COLOURS = {key: colour for key, _, colour in CATEGORIES}
CATEGORY_LABELS = {key: label for key, label, _ in CATEGORIES}

#: Reset verdict → colour (a middlebox is the finding, so it is the loudest).
VERDICT_COLOURS = {"peer": "#D55E00", "middlebox": "#7B0000", "undetermined": "#6A3D9A"}

SYN_COLOUR = "#0072B2"
FIN_COLOUR = "#6A3D9A"
RST_COLOUR = "#C00000"
EVENT_COLOUR = "#004C80"  #: application events (ClientHello SNI=…, 403 Forbidden) under their arrows
DATA_COLOUR = "#222222"
ACK_COLOUR = "#777777"
ELISION_COLOUR = "#888888"
CAPTURE_COLOUR = "#009E73"

_FLAG_NAMES = ((SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"), (URG, "URG"), (ECE, "ECE"),
               (CWR, "CWR"))


def category(outcome: str) -> str:
    """The drawing category of a conversation outcome: both reset-by-peer outcomes share one colour."""
    return "reset_by_peer" if outcome in ("reset_by_orig", "reset_by_resp") else outcome


def flags_label(flags: int) -> str:
    """``SYN, ACK`` — flag names in the order Wireshark's Info column uses."""
    names = [name for bit, name in _FLAG_NAMES if flags & bit]
    return ", ".join(names) if names else "<none>"


def arrow_colour(flags: int, payload_len: int) -> str:
    """Colour of a packet arrow: what the packet does to the connection decides."""
    if flags & RST:
        return RST_COLOUR
    if flags & SYN:
        return SYN_COLOUR
    if flags & FIN:
        return FIN_COLOUR
    return DATA_COLOUR if payload_len else ACK_COLOUR

