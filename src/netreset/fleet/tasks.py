"""The work of one capture, as a Dask task runs it (and ``netreset export`` in-process): analyse, write, summarise.

The task writes the capture's rows to the Parquet dataset itself (:func:`netreset.store.dataset.write_capture`,
idempotent) and returns only a small summary, so nothing big travels back to the client. A capture
that cannot be read returns its error in the summary instead of raising: one corrupt file among
hundreds is a line in ``failed``, not a failed run.
"""

from __future__ import annotations

import time

from netreset.errors import NetresetError
from netreset.fleet.devices import capture_devices
from netreset.pipeline.whole import Options
from netreset.store.capture import capture_records
from netreset.store.dataset import write_capture
from netreset.store.identity import compile_node_pattern


def analyse_capture(path: str, root: str, options: Options = Options(), node: str | None = None,
                    node_from: str | None = None) -> dict:
    """Analyse the capture at ``path``, write it under ``root``; its summary (``error`` set when it failed)."""
    started = time.perf_counter()
    try:
        records = capture_records(path, options, node=node, node_from=compile_node_pattern(node_from))
        written = write_capture(root, records)
    except NetresetError as err:
        return {"path": str(path), "error": str(err)}
    except (OSError, MemoryError) as err:
        return {"path": str(path), "error": f"{path}: {type(err).__name__}: {err}"}
    except Exception as err:  # noqa: BLE001 — one capture's bug must not end the run; said in one line
        return {"path": str(path), "error": f"{path}: internal error: {type(err).__name__}: {err}"}
    row = records.row
    return {"path": str(path), "error": None, "capture": records.capture, "node": records.node,
            "packets": row["packets"], "conversations": row["conversations"], "resets": row["resets"],
            "written": written, "seconds": time.perf_counter() - started,
            "devices": capture_devices(records.tables["resets"], records.node, records.service_of)}
