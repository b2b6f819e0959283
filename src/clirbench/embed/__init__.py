"""Stage 2, embeddings: bi-encoders behind one interface and the shared, append-only
embedding cache that makes every text be encoded once per model."""
