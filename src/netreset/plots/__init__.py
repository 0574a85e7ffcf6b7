"""Figures a network team reads at a glance: ladder, overview, time-sequence graph, hop diagram.

Each ``draw_*`` function takes a matplotlib Axes and returns the artists it drew; it never creates or
saves a figure. :mod:`netreset.plots.figures` builds whole figures (sized for their content) for the CLI
and the reports, and writes them in the format the file extension names.
"""
