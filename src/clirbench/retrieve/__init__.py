"""Stage 3, retrieval: BM25 (bm25s with ICU or whitespace analysis) and exact dense search,
each writing a TREC run per dataset, condition and system."""
