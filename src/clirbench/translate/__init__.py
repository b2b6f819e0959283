"""Machine translation of documents into English: translators, their cache, chunk jobs, pilot."""
