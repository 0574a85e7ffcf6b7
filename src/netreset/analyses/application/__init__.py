"""Application events and names: what the first bytes of each conversation say (DNS, TLS, HTTP).

Reads only the bytes ingestion kept (:mod:`netreset.ingest.payloads`); every decoder here takes hostile
bytes and answers what it could read, never an exception.
"""
