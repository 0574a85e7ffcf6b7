"""The link-layer header types netreset decodes, named as tcpdump's list of LINKTYPE_* values spells them.

A capture file says how its frames begin with one number per interface (the pcap header's network
field, a pcapng IDB's link type); these names are what the code says instead of that bare number.
Which of them are *supported* is not this module's business: that is the dispatch table
:data:`netreset.ingest.layers.link.LINK_DECODERS` (one decoder per link type), the single list every
"is this link type supported?" question reads.

Plain module-level ints on purpose, with no imports: the numba kernels of the compiled path
(:mod:`netreset.ingest.compiled.kernels`) import them too, and numba freezes a global int into the
machine code as a constant, so a name costs nothing there. The values are fixed by the registry and
never change (cached kernels would not notice if one did).
"""

LINKTYPE_NULL = 0  #: BSD loopback: a 4-byte address family in the capturing host's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_FDDI = 10
DLT_RAW = 12  #: raw IP as most systems number DLT_RAW; some writers put it in the file instead of LINKTYPE_RAW
DLT_RAW_OPENBSD = 14  #: raw IP as OpenBSD numbers DLT_RAW, found in files the same way
LINKTYPE_PPP_HDLC = 50  #: PPP in HDLC-like framing (RFC 1662)
LINKTYPE_PPP_ETHER = 51  #: PPPoE session frames without the Ethernet header
LINKTYPE_RAW = 101  #: raw IPv4 or IPv6, told apart by the version nibble
LINKTYPE_C_HDLC = 104  #: Cisco HDLC
LINKTYPE_IEEE802_11 = 105
LINKTYPE_LOOP = 108  #: OpenBSD loopback: like LINKTYPE_NULL
LINKTYPE_LINUX_SLL = 113  #: Linux cooked capture (``tcpdump -i any``), 16 header bytes
LINKTYPE_IEEE802_11_RADIOTAP = 127  #: a radiotap header, then an 802.11 frame
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_NFLOG = 239  #: Linux netfilter NFLOG (``tcpdump -i nflog:N``): a header, then TLVs holding the packet
LINKTYPE_IPOIB = 242  #: IP over InfiniBand (RFC 4391): a 4-byte header, EtherType first
LINKTYPE_LINUX_SLL2 = 276  #: Linux cooked capture v2, 20 header bytes
