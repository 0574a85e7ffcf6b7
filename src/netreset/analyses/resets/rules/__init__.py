"""The evidence rules of reset attribution, one module per kind of evidence. Each rule is registered once,
with its batch twin and its width, in :mod:`netreset.analyses.resets.registry`."""
