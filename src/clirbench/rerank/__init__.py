"""Cross-encoder re-ranking of first-stage runs, trained with easy or hard negatives."""
