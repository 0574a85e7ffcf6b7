"""The whole pipeline in one screen: capture files → packets → conversations → analyses.

Every command of the CLI is a view of one :class:`Analysis`. Analyses that a command does not need are
never computed (they are cached properties), and a ``--filter``/``--stream`` narrows what is *shown*,
never what is used as evidence: a reset is judged against every packet its sender sent in the capture.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from netreset.flows.model import Conversation, with_outcome
from netreset.flows.conversations import build_conversations
from netreset.errors import CaptureError, UnsupportedFormat, UsageError
from netreset.packets.filters import compile_filter
from netreset.ingest.frames import IngestStats
from netreset.packets.table import PacketTable


@dataclass(frozen=True)
class Options:
    """What the user asked for, independent of the output format."""

    filter_text: str | None = None  #: tcpdump-style filter (see netreset.packets.filters)
    stream: int | None = None  #: show only the conversation with this id
    name_glob: str | None = None  #: show only conversations with a name matching this glob (--name)
    verify_checksums: bool = False  #: drop (and mark) packets with bad checksums, as Zeek does
    engine: str = "builtin"  #: "builtin" (netreset's own decoder) or "tshark" (Wireshark's, through tshark)
    ttl_table: Path | None = None  #: a TOML file overriding the shipped TTL table
    service_roots: Path | None = None  #: a TOML file of service roots consulted before the shipped ones
    idle_timeouts: Path | None = None  #: a TOML file adding to / overriding the shipped idle-timeout defaults
    #: processes for work that splits — several files decoded at once (ingest.parallel), a streamed
    #: capture's pieces judged at once (netreset.pipeline.streamed); the same answer either way. None: the machine's
    #: cores (up to 4) where the input is big enough to repay starting them (:func:`worker_count`).
    workers: int | None = None


def load_packets(paths: Sequence[Path], options: Options, progress=None) -> tuple[PacketTable, IngestStats]:
    """Read every capture into one table in capture order (each file in file order, several files merged
    by time as mergecap would), with merged statistics.

    A file in a format only Wireshark reads (snoop, ERF, …) is read through tshark when it is installed,
    the others as usual; a warning says which file went that way. Without tshark its error stands."""
    if options.engine == "tshark":
        from netreset.ingest.tshark.engine import read_capture_files_tshark

        return read_capture_files_tshark([str(p) for p in paths])
    if options.engine != "builtin":
        raise UsageError(f"unknown engine {options.engine!r} (choose builtin or tshark)")
    from netreset.ingest.files import read_capture_files

    big = sum(_size(p) for p in paths) >= PARALLEL_MIN_BYTES
    try:
        return read_capture_files([str(p) for p in paths], verify_checksums=options.verify_checksums,
                                  workers=worker_count(options.workers, big), progress=progress)
    except UnsupportedFormat as unsupported:
        return _load_with_tshark_for_the_rest(paths, options, unsupported)


def _load_with_tshark_for_the_rest(paths: Sequence[Path], options: Options,
                                   unsupported: UnsupportedFormat) -> tuple[PacketTable, IngestStats]:
    """Each file with the built-in reader, or through tshark when that reader does not know its format:
    the same merge as :func:`~netreset.ingest.files.read_capture_files` (file ids, one address book,
    capture order). Raises the first unsupported file's error when tshark is missing or cannot read it."""
    from netreset.ingest.files import capture_order
    from netreset.ingest.reader import read_capture
    from netreset.ingest.tshark.engine import find_tshark, read_capture_tshark
    from netreset.packets.table import AddressBook

    try:
        find_tshark(unsupported.path)
    except CaptureError:
        raise unsupported from None
    book = AddressBook()
    merged = IngestStats()  # each file's stats, its path included, are merged in below
    tables, formats, notes = [], [], []
    for file_id, path in enumerate(str(p) for p in paths):
        try:
            table, stats = read_capture(path, file_id=file_id, book=book, verify_checksums=options.verify_checksums)
        except UnsupportedFormat as error:
            table, stats = _through_tshark(read_capture_tshark, path, file_id, book, options, error)
            notes.append(f"{path}: {error.kind or 'a format netreset does not read itself'}, read through "
                         "tshark (as with --engine tshark)")
        tables.append(table)
        merged.merge(stats)
        formats += [stats.file_format] if stats.file_format not in formats else []
    merged.warnings[:0] = notes
    merged.file_format = ",".join(formats)
    table = PacketTable.concat(tables, book)
    return table.take(capture_order(table)), merged


def _through_tshark(read_capture_tshark, path: str, file_id: int, book, options: Options,
                    error: UnsupportedFormat) -> tuple[PacketTable, IngestStats]:
    """``path`` read by tshark; if tshark cannot read it either, the built-in reader's error, saying so."""
    try:
        return read_capture_tshark(path, file_id=file_id, book=book, verify_checksums=options.verify_checksums)
    except CaptureError:
        raise CaptureError(error.path, f"{error.what}; tshark cannot read it either") from None


#: Inputs smaller than this are read in one process unless --workers says otherwise: starting a worker
#: (interpreter, imports) costs what decoding this much capture saves on a second core (the figures:
#: docs/performance.md, "Design figures").
PARALLEL_MIN_BYTES = 64 << 20


def forged_ids(verdicts) -> set[int]:
    """Ids of the conversations with a RST that a middlebox sent."""
    return {v.conversation for v in verdicts if v.verdict == "middlebox"}


def refined_outcome(conv: Conversation, forged: set[int]) -> str:
    """``reset_by_middlebox`` for a conversation reset by one side whose RST a middlebox forged."""
    if conv.id in forged and conv.outcome in ("reset_by_orig", "reset_by_resp"):
        return "reset_by_middlebox"
    return conv.outcome


def device_causes(conversations, application: dict, verdicts, findings, devices: dict, roots) -> dict:
    """Conversation id → its ``tls_interception`` / ``transparent_proxy`` (netreset.analyses.interception):
    a device answered for the server (``devices``: :func:`~netreset.analyses.interception.devices_by_conversation`,
    checked only where the capture shows one answering for that address) or a certificate from an issuer the
    service does not use (``roots``). Both pipelines call this (the streamed one piece by piece)."""
    from collections import defaultdict

    from netreset.analyses.interception import interception_causes

    resets, found = defaultdict(list), defaultdict(list)
    for v in verdicts:
        resets[v.conversation].append(v)
    for f in findings:
        found[f.conversation].append(f)
    out = {}
    for c in conversations:
        summary = application.get(c.id)
        if c.id in devices or (summary is not None and (summary.tls or {}).get("cert_issuer")):
            causes = interception_causes(c, summary, devices.get(c.id), roots, resets[c.id], found[c.id])
            if causes:
                out[c.id] = causes
    return out


def causes_by_conversation(conversations, application: dict, verdicts, findings, devices: dict | None = None,
                           context: dict | None = None) -> dict:
    """Conversation id → (``idle_before_reset_s``, ``causes``) (netreset.analyses.causes) of each of
    ``conversations``, from their application summaries (id → summary), reset verdicts, handshake
    findings and device causes (:func:`device_causes`); both pipelines call this (the streamed one piece by
    piece)."""
    from collections import defaultdict

    from netreset.analyses.causes import conversation_causes, idle_before_reset

    resets, found = defaultdict(list), defaultdict(list)
    for v in verdicts:
        resets[v.conversation].append(v)
    for f in findings:
        found[f.conversation].append(f)
    devices = devices or {}
    return {c.id: (idle_before_reset(resets[c.id]), conversation_causes(c, application.get(c.id), resets[c.id],
                                                                        found[c.id], devices.get(c.id, ()),
                                                                        **(context or {})))
            for c in conversations}


def count_causes(conversations, application: dict, verdicts, findings, devices: dict | None = None,
                 context: dict | None = None) -> Counter:
    """Code → how many of ``conversations`` have a cause of that code (``summary``'s ``by_cause``): a
    conversation reset twice after idling counts once, as ``by_outcome`` counts conversations.

    The codes are those of :func:`causes_by_conversation`, without building every finding's cause (its
    evidence dict costs more than the rest of the count on a big capture, and a finding's code is its kind,
    netreset.analyses.causes.finding_cause): a conversation's resets' and application layer's causes, then
    its findings' kinds. ``tests/pipeline/test_cause_counts.py`` holds the two equal."""
    from netreset.analyses.causes import conversation_causes
    from netreset.analyses.idle import long_enough

    resets: dict[int, list] = {}
    kinds: dict[int, list[str]] = {}
    for v in verdicts:
        resets.setdefault(v.conversation, []).append(v)
    for f in findings:
        kinds.setdefault(f.conversation, []).append(f.kind)
    devices = devices or {}
    long = long_enough(context["table"], conversations) if context else np.zeros(len(conversations), dtype=bool)
    counts: Counter = Counter()
    for c, may_idle in zip(conversations, long.tolist()):
        app = application.get(c.id)
        if may_idle or c.id in resets or c.id in devices or (app is not None and app.events):
            codes = [x["code"] for x in conversation_causes(c, app, resets.get(c.id, []), [], devices.get(c.id, ()),
                                                            **(context or {}))] + kinds.get(c.id, [])
            counts.update(list(dict.fromkeys(codes)))
        elif c.id in kinds:
            counts.update(list(dict.fromkeys(kinds[c.id])))
    return counts


def worker_count(requested: int | None, big: bool) -> int:
    """``requested`` processes, or (None) the machine's cores up to 4 for a big input, else 1."""
    if requested:
        return requested
    return min(os.cpu_count() or 1, 4) if big else 1


def _size(path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Analysis:
    """Lazily computed results for one set of captures; each property is computed at most once."""

    def __init__(self, table: PacketTable, stats: IngestStats, options: Options = Options()) -> None:
        self.table = table
        self.stats = stats
        self.options = options
        self._filter = compile_filter(options.filter_text) if options.filter_text else None

    @classmethod
    def of_files(cls, paths: Sequence[Path], options: Options = Options(), progress=None) -> "Analysis":
        """``progress(file_id, bytes_read, packets)`` is called while the files are read (for the CLI's bar)."""
        table, stats = load_packets(paths, options, progress)
        return cls(table, stats, options)

    @cached_property
    def raw_conversations(self) -> list[Conversation]:
        """Every conversation as the TCP state machine classified it."""
        return build_conversations(self.table, verify_checksums=self.options.verify_checksums)

    @cached_property
    def all_resets(self) -> list:
        """A verdict for every RST in the capture (evidence may come from any conversation)."""
        from netreset.analyses.resets.locate import locate_resets

        from netreset.analyses.application.events import name_resets

        from netreset.analyses.resets.evidence import TtlReader

        verdicts = locate_resets(self.table, self.raw_conversations, ttl_table=self.ttl_table, host_ttls=self.capture_wide)
        name_resets(verdicts, self.table, self.raw_conversations, self.stats.payloads, wide=self.capture_wide,
                    guess=TtlReader(self.ttl_table), roots=self.service_roots, passing=self.passing_names,
                    idle_table=self.idle_timeouts)
        return verdicts

    @cached_property
    def capture_wide(self):
        """Every host's TTL counts and handshake answers over the capture
        (:func:`~netreset.analyses.resets.pairs.host_ttl_counts`), which reset attribution and the causes read."""
        from netreset.analyses.resets.pairs import host_ttl_counts

        return host_ttl_counts(self.table)

    @cached_property
    def service_roots(self):
        """The shipped service roots, after the user's --service-roots entries (netreset.analyses.interception)."""
        from netreset.analyses.interception import load_service_roots

        return load_service_roots(self.options.service_roots)
    @cached_property
    def passing_names(self) -> dict:
        """Server address → the TLS names that passed to it, over the whole capture (netreset.analyses.names_passing)."""
        from netreset.analyses.names_passing import names_passing

        return names_passing(self.table, self.stats.payloads)

    @cached_property
    def application(self) -> dict:
        """Conversation id → its application summary: events, names, TLS, proxy (netreset.analyses.application)."""
        from netreset.analyses.application.events import application_summaries
        from netreset.analyses.interception import mark_transparent

        summaries = application_summaries(self.table, self.raw_conversations, self.stats.payloads)
        mark_transparent(summaries, self.devices)
        return summaries

    @cached_property
    def devices(self) -> dict:
        """Conversation id → the device that answered for its responder (netreset.analyses.interception)."""
        from netreset.analyses.interception import devices_by_conversation
        from netreset.analyses.resets.evidence import TtlReader

        return devices_by_conversation(self.table, self.raw_conversations, self.capture_wide, TtlReader(self.ttl_table))

    @cached_property
    def causes(self) -> dict:
        """Selected conversation id → (``idle_before_reset_s``, ``causes``) (netreset.analyses.causes)."""
        return causes_by_conversation(self.conversations, self.application, self.resets, self.handshakes,
                                      self._device_causes, self._cause_context)

    @cached_property
    def _cause_context(self) -> dict:
        """What conversation causes read beyond the conversation (netreset.analyses.causes.conversation_causes):
        its packets, the names that pass per address, the idle-timeout defaults."""
        return {"table": self.table, "passing": self.passing_names, "idle_table": self.idle_timeouts}

    @cached_property
    def _device_causes(self) -> dict:
        return device_causes(self.conversations, self.application, self.resets, self.handshakes, self.devices,
                             self.service_roots)

    def cause_counts(self) -> Counter:
        """Cause code → selected conversations with a cause of that code (``summary``'s ``by_cause``)."""
        return count_causes(self.conversations, self.application, self.resets, self.handshakes, self._device_causes,
                            self._cause_context)

    @cached_property
    def all_conversations(self) -> list[Conversation]:
        """Every conversation, its outcome refined by the reset verdicts (``reset_by_middlebox``)."""
        forged = forged_ids(self.all_resets)
        return [with_outcome(c, outcome) if (outcome := refined_outcome(c, forged)) != c.outcome else c
                for c in self.raw_conversations]

    @cached_property
    def ttl_table(self):
        """The shipped TTL table, or the user's --ttl-table override (None = shipped)."""
        if self.options.ttl_table is None:
            return None
        from netreset.analyses.ttl import load_ttl_table

        return load_ttl_table(self.options.ttl_table)

    @cached_property
    def idle_timeouts(self):
        """The shipped idle-timeout defaults, or with the user's --idle-timeouts file applied (None = shipped)."""
        if self.options.idle_timeouts is None:
            return None
        from netreset.analyses.idle_defaults import load_idle_timeouts

        return load_idle_timeouts(self.options.idle_timeouts)

    @cached_property
    def selected_ids(self) -> set[int]:
        """Ids of the conversations that pass --filter and --stream."""
        conversations = self.all_conversations
        keep = {c.id for c in conversations}
        if self.options.stream is not None:
            keep &= {self.options.stream}
        if self._filter is not None:
            mask = self._filter(self.table)
            keep &= {c.id for c in conversations if bool(np.any(mask[c.rows]))}
        if self.options.name_glob:
            from netreset.analyses.application.events import matches_name

            app = self.application
            keep &= {i for i in keep if matches_name(app.get(i), self.options.name_glob)}
        return keep

    @cached_property
    def conversations(self) -> list[Conversation]:
        return [c for c in self.all_conversations if c.id in self.selected_ids]

    @cached_property
    def resets(self) -> list:
        """Reset verdicts of the selected conversations."""
        return [r for r in self.all_resets if r.conversation in self.selected_ids]

    @cached_property
    def handshakes(self) -> list:
        from netreset.analyses.handshakes.analyze import analyze_handshakes

        selected = self.conversations
        return analyze_handshakes(self.table, selected, resets=self.resets)

    @cached_property
    def hosts(self) -> list:
        from netreset.analyses.hosts import profile_hosts

        return profile_hosts(self.table, self.conversations, ttl_table=self.ttl_table)

    def reset_rows(self) -> list[dict]:
        """``locate-reset``'s records: every selected verdict as its JSON contract dict."""
        return [r.to_dict() for r in self.resets]

    def host_rows(self) -> list[dict]:
        """``hosts``' records: each profile with ``names``, the names the capture gives its address."""
        names = self.names_by_address()
        return [dict(h.to_dict(), names=names.get(h.address, [])) for h in self.hosts]

    def names_by_address(self) -> dict[str, list[str]]:
        """Address → its names (DNS answers, and the service names of the conversations it answered), each
        once, in the order the selected conversations name them."""
        out: dict[str, dict] = {}
        app = self.application
        for c in self.conversations:
            summary = app.get(c.id)
            if summary is not None:
                for address, names in ((c.orig_h, summary.names["orig"]), (c.resp_h, summary.names["resp"])):
                    out.setdefault(address, {}).update(dict.fromkeys(names))
        return {address: list(names) for address, names in out.items() if names}

    def handshake_rows(self) -> list[dict]:
        """``handshakes``' records."""
        return [h.to_dict() for h in self.handshakes]

    def finding_rows(self) -> list[dict]:
        """``summary``'s findings: every reset, then handshake problems, in time order."""
        from netreset.records.findings import finding_items, finding_order

        return sorted(finding_items(self.resets, self.handshakes, self.outcomes_by_id()), key=finding_order)

    def outcomes_by_id(self) -> dict[int, str]:
        """Conversation id → outcome (refined by the reset verdicts)."""
        return {c.id: c.outcome for c in self.conversations}

    def conversation_count(self) -> int:
        return len(self.conversations)

    def time_span(self) -> tuple[int | None, int | None]:
        """The earliest and the newest timestamp (ns) of the capture's packets (the table's rows)."""
        ts = self.table.ts_ns
        return (int(ts.min()), int(ts.max())) if len(ts) else (None, None)

    def zeek_connection_count(self) -> int:
        """Rows of Zeek's conn.log the selected conversations are (several for one attempt Zeek's timers split)."""
        return sum(c.zeek_connections for c in self.conversations)

    @cached_property
    def zeek_connections(self) -> list[Conversation]:
        """Zeek's connections, one per conn.log row (attempts left split as its timers split them), of the
        selected conversations (``conversations --format zeek``)."""
        joined = self.conversations
        starts = {(c.orig_h, c.orig_p, c.resp_h, c.resp_p, start) for c in joined for start in c.zeek_starts_ns or (c.start_ns,)}
        zeek = build_conversations(self.table, verify_checksums=self.options.verify_checksums, attempts=False)
        if len(joined) == len(self.raw_conversations):
            return zeek
        return [c for c in zeek if (c.orig_h, c.orig_p, c.resp_h, c.resp_p, c.start_ns) in starts]

    def outcome_counts(self) -> Counter:
        return Counter(c.outcome for c in self.conversations)

    def conn_state_counts(self) -> Counter:
        return Counter(c.conn_state for c in self.conversations)
