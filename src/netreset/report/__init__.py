"""Reports: plain records (dicts) built from analyses, and one small renderer per output format."""
