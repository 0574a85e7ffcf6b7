"""The command line: click commands that parse options, run a pipeline and hand its records to an output
format (:mod:`netreset.report.formats`). No analysis and no rendering of their own."""
