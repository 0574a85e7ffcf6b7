"""The fleet summary as text, and the fleet page (``report --fleet DIR``).

The text names each device the way a network engineer says it: "the device at hop 4 (initial TTL 64)
reset 1,234 connections from 14 nodes to x.servicebus.windows.net between 02:00 and 03:00 UTC". The page
reads the Parquet dataset (:func:`netreset.store.dataset.read_table`): resets over time by device, a
node × service grid, the top devices with their hop diagram; self-contained like the single report
(inline SVG, inline styles, no script) and every string from a capture escaped.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timezone

from netreset import __version__
from netreset.fleet.devices import capture_devices, device_key, merge_devices, service_of
from netreset.flows.model import endpoint


MAX_SERVICES_SHOWN = 3  #: services named in a device's sentence; the rest are counted
TOP_DEVICES = 5  #: devices drawn with their hop diagram on the page
MAX_GRID_SERVICES = 30  #: columns of the node × service grid (the services with most resets)


def when(ts: float | None, with_day: bool = True) -> str:
    """Epoch seconds → ``2026-12-04 02:00 UTC`` (``02:00`` without the day)."""
    if ts is None:
        return "?"
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M" if with_day else "%H:%M")


def service_groups(services: list[str]) -> list[str]:
    """Services as a person names them: server names sharing a parent domain become ``*.parent``
    (``a.servicebus.windows.net``, ``b.servicebus.windows.net`` → ``*.servicebus.windows.net``), the most
    services first; addresses and lone names stay as they are."""
    parents: dict[str, list[str]] = defaultdict(list)
    for s in services:
        labels = s.split(".")
        if ":" not in s and len(labels) >= 3 and any(ch.isalpha() for ch in s):
            parents[".".join(labels[1:])].append(s)
    shown, grouped = [], set()
    for parent, names in sorted(parents.items(), key=lambda item: (-len(item[1]), item[0])):
        if len(names) > 1:
            shown.append(f"*.{parent}")
            grouped.update(names)
    return shown + [s for s in services if s not in grouped]


def device_sentence(d: dict) -> str:
    """One device in one sentence (see the module docstring)."""
    named = service_groups(d["services"])
    services = named[:MAX_SERVICES_SHOWN]
    more = len(named) - len(services)
    to = ", ".join(services) + (f" and {more} more" if more > 0 else "")
    same_day = when(d["first_ts"])[:10] == when(d["last_ts"])[:10]
    span = (f"on {when(d['first_ts'])[:10]} between {when(d['first_ts'], False)} and {when(d['last_ts'], False)} UTC"
            if same_day else f"between {when(d['first_ts'])} and {when(d['last_ts'])} UTC")
    nodes = len(d["nodes"])
    return (f"the device at hop {d['traceroute_hop']} (initial TTL {d['initial_ttl']}) reset {d['resets']:,} "
            f"connection{'s' if d['resets'] != 1 else ''} from {nodes} node{'s' if nodes != 1 else ''} to {to} {span}")


def fleet_text(document: dict) -> str:
    """``netreset fleet``/``export`` text: the counts, one sentence per device, the failed captures."""
    lines = [f"{document['captures']} captures from {len(document['nodes'])} nodes ({', '.join(document['nodes']) or '-'}): "
             f"{document['conversations_total']:,} conversations, {document['resets_total']:,} resets"]
    devices = document["devices"]
    if devices:
        lines.append("")
        lines.append("Devices that reset connections (a middlebox, not the peer):")
        for d in devices:
            lines.append(f"  {d['device']}: {device_sentence(d)}")
            lines.append(f"    claiming to be {', '.join(d['claimed_senders'])}; nodes {', '.join(d['nodes'])}")
    elif document["resets_total"]:
        lines.append("No reset was sent by a middlebox: every one came from its peer or stays undetermined.")
    if document["failed"]:
        lines.append("")
        lines.append(f"{len(document['failed'])} captures failed:")
        lines += [f"  {f['error']}" for f in document["failed"]]
    return "\n".join(lines) + "\n"


def render_fleet_html(root) -> str:
    """The fleet page of the dataset at ``root`` (written by ``netreset export``/``fleet``)."""
    from netreset.plots.figures import figure_svg, hops_figure
    from netreset.plots.fleet import resets_over_time_figure
    from netreset.plots.hops import hop_path
    from netreset.report.html import CSS, esc
    from netreset.store.dataset import read_table
    from netreset.store.schema import records_of

    captures = records_of(read_table(root, "captures"), drop=())
    resets = records_of(read_table(root, "resets"), drop=("day",))
    responders: dict[str, dict[int, str]] = defaultdict(dict)
    conversations = read_table(root, "conversations").select(["capture", "id", "resp_h", "resp_p"]).to_pylist()
    for c in conversations:
        responders[c["capture"]][c["id"]] = endpoint(c["resp_h"], c["resp_p"])
    by_capture = defaultdict(list)
    for r in resets:
        by_capture[(r["capture"], r["node"])].append(r)
    devices = merge_devices([capture_devices(rs, node, responders[capture]) for (capture, node), rs in by_capture.items()])
    series = {d["device"]: [r["ts"] for r in resets if device_key(r) == d["device"]] for d in devices}
    peer = [r["ts"] for r in resets if device_key(r) is None]
    grid = Counter((r["node"], service_of(r, responders[r["capture"]])) for r in resets if device_key(r) is not None)
    nodes = sorted({c["node"] for c in captures})
    per_service = Counter()
    for (_, service), count in grid.items():
        per_service[service] += count
    services = [s for s, _ in per_service.most_common(MAX_GRID_SERVICES)]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>netreset fleet report</title>"
             f"<style>{CSS}table.grid th{{font-size:.8em;max-width:9em;overflow-wrap:anywhere}}</style></head><body>",
             f"<h1>Fleet: {len(captures)} captures from {len(nodes)} nodes</h1>",
             f"<p class='muted'>netreset {esc(__version__)} · dataset {esc(root)} · {len(resets):,} resets, "
             f"{len(conversations):,} conversations</p>", "<h2>Devices</h2>"]
    if devices:
        parts.append("<ul>" + "".join(f"<li><b>{esc(d['device'])}</b>: {esc(device_sentence(d))}</li>" for d in devices)
                     + "</ul>")
    else:
        parts.append("<p>No reset was sent by a middlebox.</p>")
    parts.append("<h2>Resets over time by device</h2><figure>"
                 + figure_svg(resets_over_time_figure(series, peer), "fleet-time") + "</figure>")
    parts.append("<h2>Node × service: resets sent by a middlebox</h2>")
    if services:
        head = "<tr><th>node</th>" + "".join(f"<th>{esc(s)}</th>" for s in services) + "</tr>"
        body = "".join("<tr><td>" + esc(n) + "</td>" + "".join(
            f"<td class='num'>{grid.get((n, s), 0) or ''}</td>" for s in services) + "</tr>" for n in nodes)
        parts.append(f"<div style='overflow-x:auto'><table class='grid'>{head}{body}</table></div>")
    else:
        parts.append("<p>None.</p>")
    parts.append("<h2>Top devices</h2>" if devices else "")
    for number, d in enumerate(devices[:TOP_DEVICES]):
        example = next(r for r in resets if device_key(r) == d["device"])
        path = hop_path({k: v for k, v in example.items() if k not in ("node", "capture")})
        parts.append(f"<div class='reset'><h3>{esc(d['device'])}: hop {d['traceroute_hop']}, initial TTL "
                     f"{esc(d['initial_ttl'])}</h3><p>{esc(device_sentence(d))}.</p>"
                     f"<p>Claims to be {esc(', '.join(d['claimed_senders']))}; nodes {esc(', '.join(d['nodes']))}; "
                     f"IP ID evidence {esc(', '.join(d['ip_id']) or '-')}.</p>"
                     f"<p class='muted'>Hop diagram of one of its resets (node {esc(example['node'])}, frame "
                     f"{esc(example['frame'])}):</p><figure>{figure_svg(hops_figure([path]), f'fleet-hops-{number}')}"
                     "</figure></div>")
    warned = [c for c in captures if c.get("warnings")]
    if warned:
        parts.append("<h2>Capture warnings</h2><ul>" + "".join(
            f"<li>{esc(c['path'])}: {esc('; '.join(c['warnings']))}</li>" for c in warned) + "</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)
