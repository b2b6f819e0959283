"""Contrastive fine-tuning of bi-encoders at word, phrase and query–document level."""
