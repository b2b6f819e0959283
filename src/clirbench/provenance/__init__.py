"""Provenance: what made the results, for the report to state exactly.

`specs` lists a study's models when the workflow starts; `models` describes each (the
describe_models rule, `rules`, which runs where the models are installed), counting
parameters and reading dimensions from the weight files' headers (`weights`), so no model
is loaded; `source` says which commit of the workflow ran, and on what hardware.
"""
