"""Reports: what each command writes in each output format (:mod:`.formats`, the one table of them),
the text tables and CSV, the ``summary`` document, and the one-page HTML and Markdown reports."""
