"""The columnar store: the JSON contract's records as Arrow tables and a hive-partitioned Parquet dataset."""
