"""Compiled (numba) twins of :mod:`netreset.flows`: each module computes what its namesake one level up
computes, over whole arrays. Tests hold every twin equal to its reference; :mod:`netreset.runtime.compiled`
decides when a twin runs."""
