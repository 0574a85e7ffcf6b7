"""File containers — pcap, pcapng, gzip around either — read into raw frames with no protocol knowledge."""
