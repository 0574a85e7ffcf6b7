"""The Python API: ``netreset.analyze(...)`` for notebooks and scripts (docs/api.md).

The one public entry is :func:`analyze` (re-exported as ``netreset.analyze``); it returns an
:class:`Analyzed`, whose lists are the records the commands print with ``--format json`` and whose
:meth:`Analyzed.table` gives the rows the Parquet export writes, as a pyarrow Table. Everything else in
the package is internal and may change without notice.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path

__all__ = ["analyze", "Analyzed"]

#: Keyword arguments of :func:`analyze` → the analysis option they set (the CLI's option names).
_OPTIONS = {"filter": "filter_text", "stream": "stream", "name": "name_glob", "verify_checksums": "verify_checksums",
            "engine": "engine", "ttl_table": "ttl_table", "workers": "workers"}


def analyze(paths, *, node: str | None = None, node_from: str | None = None, **options) -> "Analyzed":
    """Analyse capture files as the commands do: one path, a list of paths, or a directory (the capture
    files directly inside it); several files are merged by time, as ``netreset summary a.pcap b.pcap``.

    Options are the commands' own: ``filter="host 10.0.0.1"``, ``stream=3``, ``name="*.example.com"``,
    ``verify_checksums=True``, ``engine="tshark"``, ``ttl_table="ttl.toml"``, ``workers=2``; ``node`` and
    ``node_from`` name the node as ``netreset export`` does. Raises
    :class:`netreset.errors.NetresetError` (one line) for a capture that cannot be read."""
    from netreset.ingest.paths import expand_captures
    from netreset.pipeline.whole import Analysis, Options

    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise TypeError(f"analyze() got unknown options {', '.join(unknown)} (known: {', '.join(_OPTIONS)})")
    given = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files = expand_captures(tuple(str(p) for p in given))
    settings = {_OPTIONS[k]: (Path(v) if k == "ttl_table" and v is not None else v) for k, v in options.items()}
    analysis = Analysis.of_files(files, Options(**settings))
    return Analyzed(analysis, [str(f) for f in files], node, node_from)


class Analyzed:
    """One analysis: ``conversations``, ``resets``, ``findings``, ``handshakes``, ``hosts`` (lists of the JSON
    records), ``summary`` (the ``summary --format json`` document) and :meth:`table`."""

    def __init__(self, analysis, paths: list[str], node: str | None, node_from: str | None) -> None:
        self._analysis, self._paths, self._node, self._node_from = analysis, paths, node, node_from

    @cached_property
    def _records(self):
        from netreset.ingest.containers.open import section_header
        from netreset.store.capture import records_of_analysis
        from netreset.store.identity import compile_node_pattern, file_sha256

        hashes = [file_sha256(p) for p in self._paths]
        if len(hashes) == 1:
            sha, size = hashes[0]
        else:  # several files merged: the capture is named by its files' hashes together
            sha = hashlib.sha256("\n".join(h for h, _ in hashes).encode()).hexdigest()
            size = sum(s for _, s in hashes)
        return records_of_analysis(self._analysis, ";".join(self._paths), sha, size, section_header(self._paths[0]),
                                   node=self._node, node_from=compile_node_pattern(self._node_from))

    @property
    def conversations(self) -> list[dict]:
        return self._records.tables["conversations"]

    @property
    def resets(self) -> list[dict]:
        return self._records.tables["resets"]

    @property
    def findings(self) -> list[dict]:
        return self._records.tables["findings"]

    @property
    def handshakes(self) -> list[dict]:
        return self._records.tables["handshakes"]

    @property
    def hosts(self) -> list[dict]:
        return self._records.tables["hosts"]

    @property
    def node(self) -> str:
        """The node the rows are filed under (docs/fleet.md, node identity)."""
        return self._records.node

    @cached_property
    def summary(self) -> dict:
        from netreset.report.summary import summary_document

        return summary_document(self._analysis)

    def table(self, name: str):
        """Table ``name`` (conversations, resets, findings, handshakes, hosts, app_events, causes, captures) as a
        pyarrow Table: the columns and rows ``netreset export`` writes, ``node`` and ``day`` included."""
        import pyarrow as pa

        from netreset.store.schema import TABLES, arrow_table

        if name not in TABLES:
            raise ValueError(f"no table {name!r} (tables: {', '.join(TABLES)})")
        records = self._records
        rows = records.tables.get(name, [])
        table = arrow_table(name, rows, records.capture)
        table = table.append_column("node", pa.array([records.node] * len(rows), pa.string()))
        return table.append_column("day", pa.array(records.days.get(name, []), pa.string()))
