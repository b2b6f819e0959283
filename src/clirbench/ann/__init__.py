"""Approximate nearest-neighbour search (hnswlib HNSW) beside exact search, and what it costs."""
