"""The JSON contract: plain records (dicts with the documented field names) built from analysis results,
the schema version, and the encoder that writes them. Every output format starts from these records."""
