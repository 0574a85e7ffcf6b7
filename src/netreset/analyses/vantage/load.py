"""Capture files → capture points (:class:`~netreset.analyses.vantage.model.Vantage`): the I/O edge of the comparison.

A capture taken on a middlebox with two interfaces holds every forwarded packet twice — once per interface,
the TTL one lower on the egress side — and pcapng writers often flush one block per interface, so the
frames are out of time order. Such a file is two capture points, not one: it is split per interface (and
each part ordered by time) before anything is joined. A file whose TCP packets all came in on one
interface stays one capture point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from netreset.flows.conversations import build_conversations
from netreset.ingest.files import read_capture_files
from netreset.packets.table import PROTO_TCP, PacketTable
from netreset.analyses.vantage.model import Vantage


def vantage_of(table: PacketTable, label: str, path: str, interface: str | None = None) -> Vantage:
    """A capture point from an already loaded, time-ordered table."""
    return Vantage(label, path, table, tuple(build_conversations(table)), interface)


def split_interfaces(table: PacketTable, path: str, names: dict[int, str]) -> list[Vantage]:
    """One capture point per interface that carries TCP; the whole table when only one does."""
    label = Path(path).name
    interfaces = np.unique(table.iface[table.proto == PROTO_TCP]).tolist()
    if len(interfaces) <= 1:
        return [vantage_of(table, label, path)]
    found = []
    for iface in interfaces:
        part = table.take(np.flatnonzero(table.iface == iface))
        name = names.get(iface) or str(iface)
        found.append(vantage_of(part, f"{label}#{name}", path, name))
    return found


def load_vantages(path: str | Path) -> list[Vantage]:
    """The capture points of one file (several when it was recorded on several interfaces)."""
    table, stats = read_capture_files([str(path)])
    names = {i.id: i.name for i in stats.interfaces}
    return split_interfaces(table, str(path), names)
