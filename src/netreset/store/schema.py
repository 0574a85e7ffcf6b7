"""The Arrow schema of every exported table, derived from the JSON contract field by field.

Each table's columns are the fields of one command's JSON records (:mod:`netreset.records`), in the
contract's order, with an explicit *kind*:

- ``int``/``float``/``str``/``bool`` → int64 / float64 / string / bool (JSON ``null`` → Arrow null);
- ``ts`` → ``timestamp[ns, UTC]``: the JSON's epoch seconds, converted exactly (a float with at most
  six decimals, as every record spells its times, is taken as whole microseconds; any other float
  through its exact binary value), and back to the same float on reading;
- ``list<int>``/``list<float>``/``list<str>`` → Arrow lists;
- ``names`` → ``struct<orig: list<string>, resp: list<string>>`` (a fixed shape);
- ``json`` → string holding the value as compact JSON (:func:`netreset.records.json.compact_json`):
  the *open* parts of the contract, whose keys vary by code or kind (reset evidence, causes and their
  ``evidence`` dicts, ``tls``, ``proxy``, application events, host sightings and fingerprints). DuckDB
  reads them with ``json_extract``; ``null`` stays a null, never the text ``"null"``.

A field the table does not list (a newer record than this schema) is still exported, as a ``json``
column under its own name, so nothing is lost; ``tests/store/test_schema.py`` fails for every such
field of the sample captures' records, so a new field gets its proper kind here. Each Arrow field carries
its kind in its metadata (``netreset.kind``), which is how :func:`records_of` turns a row back into the
record it came from. Every row also carries ``capture`` (the capture's sha256); ``node`` and ``day`` are
the hive partitions (:mod:`netreset.store.dataset`). :data:`STORE_VERSION` is raised only when a column
changes meaning or disappears.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pyarrow as pa

from netreset.records.json import compact_json

#: Version of the exported tables' layout (``store_version`` in each file's metadata and in the captures table).
STORE_VERSION = 1

_FIXED = {
    "conversations": {
        "id": "int", "ts": "ts", "orig_h": "str", "orig_p": "int", "resp_h": "str", "resp_p": "int",
        "conn_state": "str", "history": "str", "completeness": "int", "outcome": "str", "orig_pkts": "int",
        "resp_pkts": "int", "syn_count": "int", "tcp_stream": "int", "ip_version": "int", "duration": "float",
        "orig_bytes": "int", "resp_bytes": "int", "orig_ip_bytes": "int", "resp_ip_bytes": "int",
        "syn_gaps_s": "list<float>", "retransmissions": "int", "partial": "bool", "file_id": "int",
        "first_frame": "int", "last_frame": "int", "zeek_connections": "int", "zeek_uids": "list<str>",
        "server_name": "str", "names": "names", "tls": "json", "proxy": "json", "app_events": "json",
        "idle_before_reset_s": "float", "causes": "json",
    },
    "resets": {
        "conversation": "int", "frame": "int", "ts": "ts", "src": "str", "dst": "str", "sport": "int",
        "dport": "int", "observed_ttl": "int", "initial_ttl": "int", "routers_between": "int",
        "traceroute_hop": "int", "claimed_sender_routers_between": "int", "verdict": "str",
        "confidence": "float", "reason": "str", "evidence": "json", "display_filter": "str", "advice": "str",
        "server_name": "str", "idle_before_s": "float", "causes": "json",
    },
    "findings": {
        "kind": "str", "conversation": "int", "frames": "list<int>", "ts": "ts", "verdict": "str",
        "confidence": "float", "summary": "str", "display_filter": "str",
    },
    "handshakes": {
        "kind": "str", "conversation": "int", "tcp_stream": "int", "file_id": "int", "ts": "ts",
        "orig_h": "str", "orig_p": "int", "resp_h": "str", "resp_p": "int", "frames": "list<int>",
        "summary": "str", "display_filter": "str", "syn_count": "int", "syn_gaps_s": "list<float>",
        "schedule": "str", "schedule_error_s": "float", "schedule_also_fits": "list<str>",
        "synack_count": "int", "syn_to_synack_s": "float", "synack_to_ack_s": "float", "capture_point": "str",
        "refused_by": "str", "refusal": "str", "icmp": "str", "verdict": "str", "confidence": "float",
        "closer": "str", "fin_answered": "bool", "fin_acked": "bool", "reset_after_fin": "str",
        "silent_side": "str",
    },
    "hosts": {
        "address": "str", "ip_version": "int", "packets": "int", "conversations": "int", "ttl": "int",
        "ttls": "list<int>", "initial_ttl": "int", "routers_between": "int", "traceroute_hop": "int",
        "family": "str", "ambiguous": "bool", "ttl_changes": "int", "sightings": "json", "fingerprints": "json",
        "device_ttls": "list<int>", "names": "list<str>",
    },
    # The application context, one row per item of a conversation's ``app_events`` / ``causes`` (the
    # same values as those JSON columns, queryable without unpacking them).
    "app_events": {"conversation": "int", "index": "int", "frame": "int", "from": "str", "kind": "str",
                   "event": "json"},
    "causes": {"conversation": "int", "index": "int", "code": "str", "sentence": "str", "frames": "list<int>",
               "evidence": "json"},
    # One row per capture file (netreset.store.capture.capture_row).
    "captures": {
        "path": "str", "sha256": "str", "bytes": "int", "file_format": "str", "node_source": "str",
        "capture_host": "str", "shb_hardware": "str", "shb_os": "str", "shb_userappl": "str",
        "first_ts": "ts", "last_ts": "ts", "packets": "int", "tcp_packets": "int", "decode_problems": "json",
        "warnings": "list<str>", "conversations": "int", "resets": "int", "streamed": "bool",
        "tables": "list<str>", "store_version": "int",
    },
}

#: Every table of the dataset, in the order they are written (captures last: its row says the capture is complete).
TABLES = ("conversations", "resets", "findings", "handshakes", "hosts", "app_events", "causes", "captures")

_ARROW = {
    "int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_(),
    "ts": pa.timestamp("ns", tz="UTC"), "json": pa.string(),
    "list<int>": pa.list_(pa.int64()), "list<float>": pa.list_(pa.float64()), "list<str>": pa.list_(pa.string()),
    "names": pa.struct([("orig", pa.list_(pa.string())), ("resp", pa.list_(pa.string()))]),
}
_KIND_KEY = b"netreset.kind"


def fields(table: str) -> dict[str, str]:
    """The JSON contract's fields of ``table`` and their kinds (module docstring), in order."""
    return _FIXED[table]


def arrow_schema(table: str, extra: tuple[str, ...] = ()) -> pa.Schema:
    """The Arrow schema of ``table``: ``capture``, then the contract's fields, then ``extra`` fields
    this schema does not know (as ``json``)."""
    kinds = {"capture": "str", **_FIXED[table], **{name: "json" for name in extra}}
    return pa.schema([pa.field(name, _ARROW[kind], metadata={_KIND_KEY: kind.encode()})
                      for name, kind in kinds.items()],
                     metadata={b"netreset.table": table.encode(), b"netreset.store_version": str(STORE_VERSION).encode()})


def unknown_fields(table: str, records) -> list[str]:
    """Fields of ``records`` that ``table``'s schema does not list (exported as ``json``)."""
    known = _FIXED[table]
    return list(dict.fromkeys(k for r in records for k in r if k not in known and k != "capture"))


def arrow_table(table: str, records: list[dict], capture: str) -> pa.Table:
    """``records`` (dicts of the JSON contract) as an Arrow table with :func:`arrow_schema`'s columns."""
    schema = arrow_schema(table, tuple(unknown_fields(table, records)))
    columns = []
    for field in schema:
        kind = field.metadata[_KIND_KEY].decode()
        if field.name == "capture":
            values = [capture] * len(records)
        else:
            convert = _TO_ARROW.get(kind)
            values = [r.get(field.name) for r in records]
            if convert is not None:
                values = [None if v is None else convert(v) for v in values]
        columns.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def records_of(table: pa.Table, drop: tuple[str, ...] = ("capture", "node", "day")) -> list[dict]:
    """The JSON records of an exported table's rows (the inverse of :func:`arrow_table`): timestamps back
    to epoch seconds, JSON columns parsed, ``drop`` columns left out."""
    kinds = {f.name: (f.metadata or {}).get(_KIND_KEY, b"").decode() for f in table.schema}
    names = [n for n in table.column_names if n not in drop]
    picked = table.select(names)
    for i, name in enumerate(names):  # timestamps as integers: to_pylist would give µs datetimes
        if kinds.get(name) == "ts":
            picked = picked.set_column(i, name, picked.column(i).cast(pa.int64()))
    rows = picked.to_pylist()
    converters = {n: _FROM_ARROW[kinds[n]] for n in names if kinds.get(n) in _FROM_ARROW}
    for row in rows:
        for name, convert in converters.items():
            value = row[name]
            row[name] = None if value is None else convert(value)
    return rows


def ts_ns(seconds: float) -> int:
    """Epoch seconds as the JSON spells them → exact integer nanoseconds (see the module docstring)."""
    micro = round(seconds * 1_000_000)
    if micro / 1_000_000 == seconds:
        return micro * 1000
    return int((Decimal(seconds) * 1_000_000_000).to_integral_value())


def ns_seconds(ns: int) -> float:
    """Integer nanoseconds → the epoch seconds :func:`ts_ns` was given (correctly rounded division)."""
    return ns // 1000 / 1_000_000 if ns % 1000 == 0 else ns / 1_000_000_000


def _ts_value(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else ts_ns(value)


_TO_ARROW = {"ts": _ts_value, "json": compact_json}


_FROM_ARROW = {"json": json.loads, "ts": ns_seconds}
