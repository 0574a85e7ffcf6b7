"""The hop diagram of one reset: capture point → routers → the device that sent the RST → … → the peer.

TTLs only count routers, so a hop diagram is the honest picture of what a reset verdict claims: "the RST
left a device 3 routers from the capture point (traceroute hop 4), while the peer itself is 21 routers
away". Routers nobody named are anonymous numbered hops; an ICMP error quoting the conversation names the
device at its hop. :func:`hop_path` decides the nodes (pure data); :func:`draw_hops` draws them and
:func:`hops_text` writes the same path for a terminal or a ticket.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from matplotlib.artist import Artist
from matplotlib.axes import Axes

from netreset.flows.model import Conversation, endpoint
from netreset.packets.table import PacketTable
from netreset.plots import style
from netreset.plots.facts import host_ttl, icmp_named_hops
from netreset.report.causes import cause_line, short_cause
from netreset.analyses.ttl import TtlTable, guess_ttl

MAX_ANONYMOUS_RUN = 4  #: longer runs of unnamed routers are drawn as first two, "… N routers …", last one
PANEL_HEIGHT_IN = 3.0  #: figure height per reset panel
DID_WIDTH = 36  #: characters a line of what a device did takes under its box


@dataclass(frozen=True)
class HopNode:
    """One box or circle on the path."""

    hop: int  #: traceroute hop from the capture point (0 = the capture point itself)
    kind: str  #: capture | router | elided | resetter | peer
    title: str  #: e.g. "hop 4", "10.9.9.1", "20.1.2.3:443"
    lines: tuple[str, ...] = ()  #: details: TTL observed, initial TTL and family, routers between
    name: str | None = None  #: the service name beside the claimed peer's address (its conversation's server_name)
    did: tuple[str, ...] = ()  #: what this device did, from the reset's causes ("idle timeout after 21.8 s")


@dataclass(frozen=True)
class HopPath:
    """Everything one hop diagram shows, in text form (escaped by whoever renders it as markup)."""

    conversation: int
    frame: int
    verdict: str  #: peer | middlebox | undetermined
    confidence: float
    headline: str  #: one sentence: where the RST came from
    nodes: tuple[HopNode, ...]
    advice: str  #: what to ask the network team
    causes: tuple[str, ...] = ()  #: the reset's causes, one line each (code: sentence (frames))


def _ttl_lines(observed: int | None, ttl_table: TtlTable | None) -> tuple[str, ...]:
    if observed is None:
        return ("no packets of its own seen",)
    g = guess_ttl(observed, ttl_table)
    return (f"TTL {g.observed} observed", f"initial {g.initial} ({g.family})",
            f"{g.routers_between} routers from capture" + (" (ambiguous)" if g.ambiguous else ""))


def _routers(first: int, last: int, named: dict[int, str]) -> list[HopNode]:
    """Routers at hops first..last; long anonymous runs collapse to one elided node."""
    nodes: list[HopNode] = []
    run: list[int] = []

    def flush() -> None:
        if len(run) > MAX_ANONYMOUS_RUN:
            nodes.extend(HopNode(h, "router", f"hop {h}") for h in run[:2])
            nodes.append(HopNode(run[2], "elided", f"… {len(run) - 3} routers …",
                                 (f"hops {run[2]}-{run[-2]}",)))
            nodes.append(HopNode(run[-1], "router", f"hop {run[-1]}"))
        else:
            nodes.extend(HopNode(h, "router", f"hop {h}") for h in run)
        run.clear()

    for hop in range(first, last + 1):
        if hop in named:
            flush()
            nodes.append(HopNode(hop, "router", f"hop {hop}", (named[hop], "named by ICMP")))
        else:
            run.append(hop)
    flush()
    return nodes


def _headline(v: dict, peer_hop: int | None) -> str:
    src, hop = v.get("src"), v.get("traceroute_hop")
    if v.get("verdict") == "peer":
        return f"The reset is genuine: it came from {src} itself."
    peer = f"; {src}'s own packets come from hop {peer_hop}" if peer_hop is not None else ""
    if v.get("verdict") == "middlebox":
        return f"The RST claims to come from {src} but was sent at hop {hop}{peer}."
    return f"Undetermined: the RST arrived as if from hop {hop}{peer}."


def hop_path(verdict, table: PacketTable | None = None, conversation: Conversation | None = None,
             ttl_table: TtlTable | None = None) -> HopPath:
    """The nodes of one reset's hop diagram, from its verdict (object or dict) and the packets."""
    v = verdict if isinstance(verdict, dict) else verdict.to_dict()
    peer_ttl = host_ttl(table, v["src"]) if table is not None else None
    peer_routers = guess_ttl(peer_ttl, ttl_table).routers_between if peer_ttl is not None else \
        v.get("claimed_sender_routers_between")
    peer_hop = peer_routers + 1 if peer_routers is not None else None
    rst_hop = int(v.get("traceroute_hop") or 1)
    named = icmp_named_hops(table, conversation, ttl_table) if table is not None and conversation is not None else {}
    receiver_ttl = host_ttl(table, v["dst"]) if table is not None else None
    nodes = [HopNode(0, "capture", "capture point", (f"{v['dst']} receives the RST",)
                     + _ttl_lines(receiver_ttl, ttl_table)[:3])]
    peer_title = endpoint(v["src"], v["sport"])
    peer_lines = ("claimed sender",) + _ttl_lines(peer_ttl, ttl_table)[:3]
    did = tuple(short_cause(c) for c in v.get("causes") or [])
    # the server name belongs beside the claimed peer when the RST claims the server's address
    name = v.get("server_name") if v.get("server_name") and _claims_server(v) else None
    # a middlebox at the peer's own distance still gets its own box: other evidence told them apart
    separate = v.get("verdict") == "middlebox" or (v.get("verdict") == "undetermined" and rst_hop != peer_hop)
    if separate:
        rst_lines = (f"TTL {v.get('observed_ttl')} on the RST", f"initial {v.get('initial_ttl')} "
                     f"({guess_ttl(int(v['observed_ttl']), ttl_table).family})", f"{v.get('routers_between')} routers from capture")
        stops = sorted([(rst_hop, HopNode(rst_hop, "resetter", named.get(rst_hop, "RST sent here"), rst_lines,
                                          did=did)),
                        (peer_hop if peer_hop is not None else rst_hop + 1,
                         HopNode(peer_hop or rst_hop + 1, "peer", peer_title, peer_lines, name))], key=lambda s: s[0])
    else:
        hop = peer_hop or rst_hop
        said = "sent the RST" if v.get("verdict") == "peer" else "the RST came from this distance"
        stops = [(hop, HopNode(hop, "peer", peer_title, peer_lines + (said,), name, did))]
    previous = 0
    for hop, node in stops:
        nodes += _routers(previous + 1, hop - 1, named) + [node]
        previous = hop
    return HopPath(int(v.get("conversation", -1)), int(v.get("frame", 0)), str(v.get("verdict")),
                   float(v.get("confidence", 0.0)), _headline(v, peer_hop), tuple(nodes), str(v.get("advice", "")),
                   tuple(cause_line(c) for c in v.get("causes") or []))


def _claims_server(v: dict) -> bool:
    """Does the RST claim to come from the server (the side the service name names)? The reset record
    does not say which side opened the connection; its causes' evidence and the ports do: a RST that
    answers a ClientHello or idles out a request comes from the server's side, else the lower port is
    the server's (a service port against an ephemeral one)."""
    codes = {c.get("code") for c in v.get("causes") or []}
    if codes & {"sni_filtered", "idle_timeout"}:
        return True
    return int(v.get("sport", 0)) < int(v.get("dport", 0))


_WEIGHTS = {"capture": 3.0, "resetter": 3.0, "peer": 3.0, "router": 1.0, "elided": 1.6}
_BOX_COLOURS = {"capture": style.CAPTURE_COLOUR, "resetter": style.VERDICT_COLOURS["middlebox"],
                "peer": "#0072B2", "router": "#666666", "elided": style.ELISION_COLOUR}


def node_positions(nodes: tuple[HopNode, ...]) -> list[float]:
    """x of each node's centre in 0..1: boxes with details get three times a router's room."""
    widths = [_WEIGHTS[n.kind] for n in nodes]
    total, x, centres = sum(widths), 0.0, []
    for w in widths:
        centres.append((x + w / 2) / total)
        x += w
    return centres


def _draw_node(ax: Axes, node: HopNode, x: float, genuine: bool) -> list[Artist]:
    colour = style.VERDICT_COLOURS["peer"] if node.kind == "peer" and genuine else _BOX_COLOURS[node.kind]
    if node.kind in ("router", "elided"):
        shape = "circle,pad=0.3" if node.kind == "router" else "round,pad=0.3"
        title = node.title.replace("hop ", "") if node.kind == "router" else node.title
        box = ax.text(x, 0.62, title, ha="center", va="center", fontsize=style.SMALL_FONT, color=colour,
                      bbox=dict(boxstyle=shape, fc="white", ec=colour, lw=1.2))
        extra = [ax.text(x, 0.40, "\n".join(node.lines), ha="center", va="top", fontsize=7, color=colour)] \
            if node.lines and node.kind == "router" else []
        return [box, *extra]
    title = node.title + (f"\n{node.name}" if node.name else "")
    box = ax.text(x, 0.62, title, ha="center", va="center", fontsize=style.FONT_SIZE, fontweight="bold",
                  color="white", linespacing=1.2, bbox=dict(boxstyle="round,pad=0.45", fc=colour, ec=colour),
                  parse_math=False)
    box.set_gid(f"node-{node.kind}")
    hop = "" if node.kind == "capture" else f"traceroute hop {node.hop}\n"
    top, artists = 0.44 if not node.name else 0.41, [box]
    if node.did:
        did = "\n".join(textwrap.fill(phrase, DID_WIDTH) for phrase in node.did)
        label = ax.text(x, top, did, ha="center", va="top", fontsize=style.SMALL_FONT, fontweight="bold",
                        linespacing=1.2, color=colour, parse_math=False)
        label.set_gid(f"did-{node.kind}")
        artists.append(label)
        top -= 0.07 * (did.count("\n") + 1)
    artists.append(ax.text(x, top, hop + "\n".join(node.lines), ha="center", va="top", fontsize=style.SMALL_FONT,
                           linespacing=1.3, color="#222222", parse_math=False))
    return artists


def _draw_evidence_arrows(ax: Axes, path: HopPath, xs: list[float]) -> list[Artist]:
    """Above the path, where each direction's evidence came from: the RST, and the peer's own packets."""
    kinds = [n.kind for n in path.nodes]
    genuine = "resetter" not in kinds
    artists = []
    for kind, level in (("resetter", 0.84), ("peer", 0.97)):
        if kind not in kinds:
            continue
        node, x = path.nodes[kinds.index(kind)], xs[kinds.index(kind)]
        ttl = next((line for line in node.lines if line.startswith("TTL")), "")
        if kind == "resetter":
            text, colour = f"RST, {ttl}", style.VERDICT_COLOURS["middlebox"]
        else:
            text = f"{'RST and ' if genuine else ''}peer's packets, {ttl}"
            colour = style.VERDICT_COLOURS.get(path.verdict, "#0072B2") if genuine else _BOX_COLOURS["peer"]
        arrow = ax.annotate("", xy=(xs[0], level), xytext=(x, level),
                            arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.6))
        arrow.set_gid(f"evidence-{kind}")
        label = ax.text((x + xs[0]) / 2, level + 0.015, text, ha="center", va="bottom", fontsize=style.SMALL_FONT,
                        color=colour)
        artists += [arrow, label]
    return artists


def draw_hops(ax: Axes, path: HopPath) -> list[Artist]:
    """Draw one reset's hop diagram on ``ax``; return the artists (node boxes carry gids ``node-<kind>``, what
    a device did ``did-<kind>``). Names and causes come from the capture: drawn with ``parse_math=False``."""
    xs = node_positions(path.nodes)
    line, = ax.plot(xs, [0.62] * len(xs), color="#AAAAAA", lw=1.5, zorder=0)
    artists: list[Artist] = [line]
    for node, x in zip(path.nodes, xs):
        artists += _draw_node(ax, node, x, genuine=path.verdict == "peer")
    artists += _draw_evidence_arrows(ax, path, xs)
    colour = style.VERDICT_COLOURS.get(path.verdict, "#333333")
    ax.set_title(f"RST frame {path.frame}, conversation {path.conversation}: {path.verdict.upper()} "
                 f"(confidence {path.confidence:.2f})\n{path.headline}", fontsize=style.FONT_SIZE + 1,
                 loc="left", color=colour, linespacing=1.4)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0.0, 1.08)
    ax.set_axis_off()
    return artists


def hops_text(path: HopPath) -> str:
    """The hop diagram as plain text lines (ASCII only, so it survives any ticket system)."""
    lines = [f"RST frame {path.frame}, conversation {path.conversation}: {path.verdict.upper()} "
             f"(confidence {path.confidence:.2f})", path.headline]
    lines += [f"Cause {line}" for line in path.causes] + [""]
    for node in path.nodes:
        if node.kind == "capture":
            lines.append(f"  [capture point]  {'; '.join(node.lines)}")
            lines.append("   |")
            continue
        hop = f"hop {node.hop}"
        if node.kind == "elided":
            lines.append(f"   :  {node.lines[0]:<9} {node.title.strip('… ')}, anonymous")
        elif node.kind == "router":
            lines.append(f"   +- {hop:<9} router {'; '.join(node.lines) if node.lines else '(anonymous)'}")
        else:
            mark = ">> RST SENT HERE <<" if node.kind == "resetter" else node.title
            mark += f" ({node.name})" if node.name else ""
            did = "".join(f" -- {phrase}" for phrase in node.did)
            lines.append(f"   +- {hop:<9} {mark}{did}  {'; '.join(node.lines)}")
    if path.advice:
        lines += ["", f"Ask: {path.advice}"]
    return "\n".join(lines) + "\n"
