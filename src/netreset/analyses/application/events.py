"""Per conversation: its application events in order (with frame numbers), its names and its summary.

The bytes are those ingestion kept (:class:`netreset.ingest.payloads.PayloadStore`): each direction's
kept segments are put in sequence order from the first one (retransmissions and overlaps counted once, a
gap ends the stream), and the TLS, HTTP and DNS readers run over that. An event's frame is the frame of
the segment that completes it, as Wireshark shows a reassembled message.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import numpy as np

from netreset.analyses.application.dns import names_by_address, tcp_dns_messages
from netreset.analyses.application.http import http_head
from netreset.analyses.application.tls import tls_events
from netreset.ingest.payloads import PAYLOAD_BUDGET, starts_application

_MASK32 = 0xFFFFFFFF


@dataclass
class ApplicationSummary:
    """What the application layer of one conversation says."""

    events: list[dict] = field(default_factory=list)  #: {"frame", "from": orig|resp, "kind", …} in order
    server_name: str | None = None
    names: dict = field(default_factory=lambda: {"orig": [], "resp": []})
    tls: dict | None = None
    proxy: dict | None = None

    def all_names(self) -> list[str]:
        return self.names["orig"] + self.names["resp"]


def direction_stream(table, rows: np.ndarray, segments: dict) -> tuple[bytes, list[tuple[int, int]]]:
    """One direction's kept bytes in sequence order and (end offset, frame) per piece."""
    file_ids, frames, seqs = table.file_id[rows].tolist(), table.frame[rows].tolist(), table.seq[rows].tolist()
    pieces = [(seq, frame, segments[(f, frame)]) for f, frame, seq in zip(file_ids, frames, seqs) if (f, frame) in segments]
    if not pieces:
        return b"", []
    base = pieces[0][0]
    ordered = sorted(((seq - base) & _MASK32, i, frame, data) for i, (seq, frame, data) in enumerate(pieces))
    out, ends = bytearray(), []
    for rel, _, frame, data in ordered:
        if rel >= PAYLOAD_BUDGET or rel > len(out):
            break  # a gap (or a segment from before the start)
        tail = data[len(out) - rel:]
        if tail:
            out += tail
            ends.append((len(out), frame))
    return bytes(out), ends


def _frame_at(ends: list[tuple[int, int]], offset: int) -> int | None:
    for end, frame in ends:
        if end >= offset:
            return frame
    return ends[-1][1] if ends else None


def conversation_application(table, conv, segments: dict, dns_names: dict[str, list[str]]) -> ApplicationSummary:
    """The :class:`ApplicationSummary` of one conversation."""
    summary = ApplicationSummary()
    events = []
    rows, from_orig = conv.rows, conv.from_orig
    if segments and len(rows):
        has = table.captured_payload[rows] > 0
        for side, mask in (("orig", from_orig & has), ("resp", ~from_orig & has)):
            stream, ends = direction_stream(table, rows[mask], segments)
            if stream:
                events += _direction_events(stream, ends, side, conv)
    events.sort(key=lambda e: (e["frame"], e["order"]))
    for e in events:
        del e["order"]
    summary.events = events
    _summarise(summary, events, conv, dns_names)
    return summary


def _direction_events(stream: bytes, ends, side: str, conv) -> list[dict]:
    out = []
    port = conv.orig_p if side == "orig" else conv.resp_p
    other = conv.resp_p if side == "orig" else conv.orig_p
    if not starts_application(stream[:4], port, other):
        return out
    if port == 53 or other == 53:
        return out  # DNS over TCP: its answers name addresses (dns_messages), no events of its own
    if stream[0] in (21, 22):
        return _tls(stream, 0, ends, side, 0)
    head = http_head(stream)
    if head is not None:
        kind, end, fields = head
        out.append({"frame": _frame_at(ends, end), "order": 0, "from": side, "kind": "http_" + kind, **fields})
        if end < len(stream) and stream[end] in (21, 22):  # TLS through the tunnel a CONNECT opened
            out += _tls(stream, end, ends, side, 1)
    return out


def _tls(stream: bytes, start: int, ends, side: str, first: int) -> list[dict]:
    return [{"frame": _frame_at(ends, start + ev.end), "order": first + i, "from": side, "kind": ev.kind, **ev.fields}
            for i, ev in enumerate(tls_events(stream[start:]))]


def _summarise(summary: ApplicationSummary, events: list[dict], conv, dns_names) -> None:
    names_orig = list(dns_names.get(conv.orig_h, ()))
    names_resp = list(dns_names.get(conv.resp_h, ()))
    tls: dict = {}
    proxy = None
    sni = host = target = None
    for e in events:
        kind = e["kind"]
        if kind == "client_hello" and e["from"] == "orig":
            sni = sni or e.get("sni")
            tls.setdefault("sni", e.get("sni"))
            tls.setdefault("versions_offered", e.get("versions_offered"))
            tls.setdefault("alpn", e.get("alpn") or None)
        elif kind == "server_hello" and e["from"] == "resp":
            tls.setdefault("version", e.get("version"))
            if e.get("alpn"):
                tls["alpn_chosen"] = e["alpn"]
        elif kind == "certificate" and e["from"] == "resp" and e.get("certificates") and "cert_subject" not in tls:
            leaf = e["certificates"][0]
            tls.update(cert_subject=leaf.get("subject"), cert_issuer=leaf.get("issuer"), cert_san=leaf.get("san"),
                       cert_not_before=leaf.get("not_before"), cert_not_after=leaf.get("not_after"))
        elif kind == "alert" and "alert" not in tls and e.get("level") != "warning":
            tls["alert"] = {"from": e["from"], "description": e.get("description"), "level": e.get("level"),
                            "frame": e["frame"]}
        elif kind == "http_request" and e["from"] == "orig":
            if e.get("method") == "CONNECT" and proxy is None:
                target = e.get("target")
                proxy = {"kind": "explicit", "target": target, "status": None, "reason": None,
                         "proxy_authenticate": None, "frame": e["frame"]}
            elif host is None:
                host = e.get("host")
        elif kind == "http_response" and e["from"] == "resp" and proxy is not None and proxy["status"] is None:
            proxy.update(status=e.get("status"), reason=e.get("reason"),
                         proxy_authenticate=e.get("proxy_authenticate"), status_frame=e["frame"])
    if tls:
        summary.tls = {key: tls.get(key) for key in ("version", "sni", "alpn", "cert_subject", "cert_issuer", "alert")}
        summary.tls.update({k: v for k, v in tls.items() if k not in summary.tls})
    summary.proxy = proxy
    service = [h for h in (_host_of(n) for n in (sni, target, host) if n) if h and not _is_address(h)]
    summary.server_name = service[0] if service else (names_resp[0] if names_resp else None)
    for name in service:
        if name not in names_resp:
            names_resp.append(name)
    summary.names = {"orig": names_orig, "resp": names_resp}


def _is_address(name: str) -> bool:
    """An IP literal (an HTTP Host or CONNECT target by address names nothing)."""
    import ipaddress

    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def _host_of(name: str | None) -> str | None:
    """``host`` of ``host:port`` / ``[v6]:port`` (an HTTP Host or CONNECT target)."""
    if not name:
        return None
    if name.startswith("["):
        return name[1:].split("]", 1)[0] or None
    if name.count(":") == 1:
        return name.split(":", 1)[0] or None
    return name


def dns_messages(store) -> list[bytes]:
    """Every DNS answer the store holds: UDP messages in capture order, then the DNS-over-TCP answer
    streams (each reassembled from its kept segments) in the order they started."""
    if store is None:
        return []
    messages = [store.dns[k] for k in sorted(store.dns)]
    streams: dict[tuple, list] = {}
    for where, (file_id, serial, rel) in store.dns_tcp.items():
        streams.setdefault((file_id, serial), []).append((rel, where, store.segments.get(where, b"")))
    for key in sorted(streams):
        out = bytearray()
        for rel, _, data in sorted(streams[key]):
            if rel > len(out):
                break
            out += data[len(out) - rel:]
        messages += tcp_dns_messages(bytes(out))
    return messages


def application_summaries(table, conversations, store, only: set[int] | None = None) -> dict[int, ApplicationSummary]:
    """Conversation id → its :class:`ApplicationSummary` (of the ids in ``only``, default every one)."""
    segments = store.segments if store is not None else {}
    dns_names = names_by_address(dns_messages(store))
    return {conv.id: conversation_application(table, conv, segments, dns_names)
            for conv in conversations if only is None or conv.id in only}


def matches_name(summary: ApplicationSummary | None, pattern: str) -> bool:
    """Does any name of the conversation match the shell glob ``pattern`` (case-insensitive)?"""
    if summary is None:
        return False
    pattern = pattern.lower()
    return any(fnmatch.fnmatchcase(n.lower(), pattern) for n in summary.all_names())


def name_resets(verdicts, table, conversations, store, wide=None, guess=None, roots=None, *,
                passing: dict | None = None, idle_table=None) -> None:
    """Give each reset verdict its conversation's ``server_name``, ``idle_before_s`` and ``causes`` (in place;
    both pipelines call this). ``wide``: the whole capture's host counts
    (:func:`~netreset.analyses.resets.pairs.host_ttl_counts`) when ``table`` is only part of it; ``guess``: the
    run's TTL reader; ``roots``: the service roots (netreset.analyses.interception); ``passing``: the
    capture's names per server address; ``idle_table``: the idle-timeout defaults (see
    netreset.analyses.causes.reset_causes)."""
    from netreset.analyses.causes import idle_before, reset_causes
    from netreset.analyses.idle import long_enough
    from netreset.analyses.interception import devices_by_conversation, interception_causes
    from netreset.analyses.resets.pairs import host_ttl_counts

    if not verdicts:
        return
    by_id = {c.id: c for c in conversations}
    summaries = {}
    if store is not None and (store.segments or store.dns):
        ids = {v.conversation for v in verdicts}
        summaries = application_summaries(table, conversations, store, only=ids)
    judged = [by_id[i] for i in sorted({v.conversation for v in verdicts}) if i in by_id]
    devices = devices_by_conversation(table, judged, wide if wide is not None else host_ttl_counts(table),
                                      guess if guess is not None else _reader())
    of_conversation: dict[int, list] = {}
    for v in verdicts:
        of_conversation.setdefault(v.conversation, []).append(v)
    roots = roots if roots is not None else _roots()
    shared = {}  # conversation id -> its tls_interception / transparent_proxy, which each of its RSTs carries
    for conv in judged:
        summary = summaries.get(conv.id)
        if conv.id in devices or (summary is not None and (summary.tls or {}).get("cert_issuer")):
            shared[conv.id] = interception_causes(conv, summary, devices.get(conv.id), roots, of_conversation[conv.id])
    long = dict(zip((c.id for c in judged), long_enough(table, judged).tolist()))
    for v in verdicts:
        summary = summaries.get(v.conversation)
        v.server_name = summary.server_name if summary is not None else None
        conv = by_id.get(v.conversation)
        if conv is not None:
            may_idle = long.get(conv.id, True)
            v.idle_before_s = idle_before(table, conv, v.frame) if may_idle else None
            v.causes = reset_causes(table, conv, summary, v, shared.get(v.conversation, ()), passing=passing,
                                    idle_table=idle_table, may_idle=may_idle)


def _reader():
    from netreset.analyses.resets.evidence import TtlReader

    return TtlReader()


def _roots():
    from netreset.analyses.interception import default_service_roots

    return default_service_roots()
