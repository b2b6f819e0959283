"""The lang2vec (URIEL) feature sets of the paper's five views of a language, and their
names in the report; a module of its own so the report reads them without lang2vec or scipy."""

FEATURE_SETS = {
    "geo": "geographic",
    "syntax_average": "syntactic",
    "phonology_average": "phonological",
    "inventory_average": "inventory",
    "fam": "family",
}
