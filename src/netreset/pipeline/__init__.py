"""The analyses joined into one run over captures: whole (every packet in memory) or streamed (chunk by
chunk, bounded memory). Both satisfy :class:`~netreset.pipeline.view.AnalysisView`, which reports, plots and
the CLI read; nothing here renders output."""
