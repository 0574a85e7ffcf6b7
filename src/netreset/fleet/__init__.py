"""Many captures from many nodes: one task per capture on Dask, the devices merged across them."""
