"""Stage 5, the report: one self-contained HTML page, one module and one template part per
section (table3, datasets, heatmaps, highlighted_pairs, run_metadata); `page` assembles and
renders them, `rules.report` is the workflow's entry point."""
