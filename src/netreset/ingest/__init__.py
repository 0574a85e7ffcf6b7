"""Ingestion: capture files → :class:`~netreset.packets.table.PacketTable`.

Two layers, one concept each:

* :mod:`netreset.ingest.containers.open` reads the file container (pcap, pcapng, gzip) and yields
  :class:`RawFrame` records — bytes plus timestamp, interface and link type — with no protocol knowledge.
* :mod:`netreset.ingest.layers.decode` turns one frame's bytes into a packet-table row (link layer, tunnels,
  IPv4/IPv6, TCP, ICMP errors), or counts it by the reason it could not be decoded.

:func:`netreset.ingest.reader.read_capture` joins them for one file, and
:func:`netreset.ingest.files.read_capture_files` merges several files into one table;
:mod:`netreset.ingest.compiled` is the compiled twin of the common case. ``--engine tshark``
(:mod:`netreset.ingest.tshark.engine`) produces the same table from Wireshark's dissectors.
"""
