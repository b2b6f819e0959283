"""Stage 1, data: every dataset type becomes the canonical docs / queries / qrels tables.

`builders.build_dataset` dispatches on the dataset type; `rules` holds the workflow's entry
points (preparing a dataset, choosing the evaluated, training and validation queries).
"""
