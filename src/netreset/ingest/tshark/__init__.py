"""``--engine tshark``: the same packet table built from Wireshark's dissectors through tshark."""
