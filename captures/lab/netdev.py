"""Turn off transmit checksum offload on lab interfaces (run inside a namespace: ``netdev.py IFACE...``).

Why: a veth hands TCP segments to the next namespace with the checksum still *partial* (only the
pseudo-header sum filled in; the real sum is left to a NIC that does not exist). tcpdump/dumpcap
capture that partial value, so every segment in a lab capture would carry a wrong checksum, and
tools that validate checksums (Zeek by default) would drop the packets. With tx checksumming off,
the kernel computes the full checksum in software before the packet reaches the capture tap.
No ``ethtool`` binary is needed: this is the legacy ``ETHTOOL_STXCSUM`` ioctl, still honoured.
"""

from __future__ import annotations

import ctypes
import fcntl
import socket
import struct
import sys

SIOCETHTOOL = 0x8946
ETHTOOL_GTXCSUM = 0x16
ETHTOOL_STXCSUM = 0x17
IFNAMSIZ = 16


def _ethtool_value(sock: socket.socket, ifname: str, cmd: int, value: int = 0) -> int:
    """Issue one ``struct ethtool_value {u32 cmd; u32 data}`` ioctl; the kernel writes ``data`` back in place."""
    data = bytearray(struct.pack("II", cmd, value))
    address = ctypes.addressof((ctypes.c_char * len(data)).from_buffer(data))
    ifreq = struct.pack(f"{IFNAMSIZ}sP", ifname.encode(), address)
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    return struct.unpack("II", data)[1]


def disable_tx_checksum(ifname: str) -> int:
    """Switch tx checksumming off on ``ifname``; return the state read back (0 = off)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _ethtool_value(sock, ifname, ETHTOOL_STXCSUM, 0)
        return _ethtool_value(sock, ifname, ETHTOOL_GTXCSUM)


def main(argv: list[str]) -> int:
    for ifname in argv:
        if disable_tx_checksum(ifname) != 0:
            print(f"{ifname}: tx checksumming still on", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
