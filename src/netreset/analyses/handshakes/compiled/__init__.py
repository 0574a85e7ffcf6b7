"""Compiled (numba) twins of :mod:`netreset.analyses.handshakes` modules, one per name."""
