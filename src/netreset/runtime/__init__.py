"""Process-wide machinery every layer may use: the one gate for compiled (numba) paths and their shared
options, how cached kernels load, and the garbage-collector guard of big analyses. Imports nothing else of
netreset's, so any layer can import it."""
