"""The small core every stage shares: the data model, TREC files, atomic writes, language
codes, the typed settings and the registry of systems and conditions.

It imports no stage's libraries (no torch, bm25s, ICU, matplotlib), so any stage can use it.
"""
