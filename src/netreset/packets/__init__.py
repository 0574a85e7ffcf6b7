"""The columnar packet table every layer after ingest reads, and the tcpdump-style filters over it."""
