"""Packets grouped into TCP conversations and classified: Zeek's state machine (``conn_state``,
``history``), Wireshark's streams (``tcp.stream``, ``tcp.completeness``) and the outcome every analysis reads.
:mod:`netreset.flows.compiled` holds the numba twins of these modules, one per name."""
