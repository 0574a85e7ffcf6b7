"""The one entry every command calls: a capture streamed when it can be, read whole otherwise.

Which path is a question of cost, never of answer: both give the same records (tests/pipeline/test_stream.py holds
them equal). :func:`~netreset.pipeline.streamed.wanted` says when streaming is possible (one big file, no
``--filter``/``--stream``, no second capture); a file in a format only tshark reads is read whole after all
(:func:`~netreset.pipeline.whole.load_packets` hands it to tshark).
"""

from __future__ import annotations

from pathlib import Path

from netreset.errors import UnsupportedFormat

from netreset.pipeline.streamed import analyse_streamed, wanted
from netreset.pipeline.view import AnalysisView
from netreset.pipeline.whole import Analysis, Options


def analyse(paths, options: Options, progress=None, *, peer_capture=None) -> AnalysisView:
    """The analysis a command reads: streamed when :func:`wanted`, else the whole-table one."""
    if wanted(paths, options, peer_capture=peer_capture):
        try:
            return analyse_streamed(Path(paths[0]), options, progress)
        except UnsupportedFormat:  # the whole-table path has tshark read it
            pass
    return Analysis.of_files(paths, options, progress)
