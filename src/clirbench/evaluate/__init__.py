"""Stage 4, evaluation: metrics per (query, document language) unit and per language pair,
the summary table, and the dataset counts the report shows."""
