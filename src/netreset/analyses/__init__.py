"""What the conversations say: reset attribution, handshakes and teardowns, host profiles, two vantage
points, and the TTL knowledge they share. Each analysis reads packets and conversations and returns plain
results; none of them formats output."""
