"""Protocol layers of one frame, outermost first: link types, 802.11, tunnels, IP, TCP, ICMP and checksums,
and :mod:`~netreset.ingest.layers.decode`, which walks them."""
