"""The compiled (numba) twin of :mod:`netreset.ingest.reader` for the common frame: its driver
(:mod:`~netreset.ingest.compiled.reader`), kernels and interning tables."""
