"""The fleet summary as text, and the fleet page (``report --fleet DIR``).

The text names each device the way a network engineer says it: "the device at hop 4 (initial TTL 64)
reset 1,234 connections from 14 nodes to x.servicebus.windows.net between 02:00 and 03:00 UTC". The page
reads the Parquet dataset (:func:`netreset.store.dataset.read_table`): resets over time by device, a
node × service grid, the top devices with their hop diagram; self-contained like the single report
(inline SVG, inline styles, no script) and every string from a capture escaped.
"""

from __future__ import annotations

from datetime import datetime, timezone


MAX_SERVICES_SHOWN = 3  #: services named in a device's sentence; the rest are counted
TOP_DEVICES = 5  #: devices drawn with their hop diagram on the page
MAX_GRID_SERVICES = 30  #: columns of the node × service grid (the services with most resets)


def when(ts: float | None, with_day: bool = True) -> str:
    """Epoch seconds → ``2026-12-04 02:00 UTC`` (``02:00`` without the day)."""
    if ts is None:
        return "?"
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M" if with_day else "%H:%M")


def device_sentence(d: dict) -> str:
    """One device in one sentence (see the module docstring)."""
    services = d["services"][:MAX_SERVICES_SHOWN]
    more = len(d["services"]) - len(services)
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
