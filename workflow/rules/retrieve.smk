# Stage 3, retrieval: a TREC run per dataset, condition and system, in a folder per system
# kind (runs/{dataset}/{condition}/{kind}/{system}.trec), so no two rules share a pattern.
# A dataset searched per candidate group (candidate_pool: group) adds its group tables.
from clirbench.core.systems import DENSE_EXACT, LEXICAL, wildcard_regex

rule bm25_run:
    input:
        unpack(get_candidate_groups),
        docs=get_condition_docs,
        queries=f"{OUT}/data/{{dataset}}/queries_evaluated.parquet",
    output:
        f"{OUT}/runs/{{dataset}}/{{condition}}/{LEXICAL.name}/{{system}}.trec",
    wildcard_constraints:
        system=wildcard_regex(s.name for s in STUDY.systems_of(LEXICAL)),
    params:
        settings=get_bm25_params,
        top_k=SETTINGS.top_k,
    log:
        f"{OUT}/logs/bm25_run/{{dataset}}/{{condition}}/{LEXICAL.name}/{{system}}.log",
    benchmark:
        f"{OUT}/benchmarks/bm25_run/{{dataset}}/{{condition}}/{LEXICAL.name}/{{system}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/retrieval.yaml"
    script:
        "../scripts/bm25_run.py"

rule dense_run:
    input:
        unpack(get_candidate_groups),
        docs=get_condition_docs,
        queries=f"{OUT}/data/{{dataset}}/queries_evaluated.parquet",
        doc_vectors=f"{OUT}/embeddings/{{dataset}}/docs/{{condition}}/{{system}}.npz",
        query_vectors=f"{OUT}/embeddings/{{dataset}}/queries/{{system}}.npz",
    output:
        f"{OUT}/runs/{{dataset}}/{{condition}}/{DENSE_EXACT.name}/{{system}}.trec",
    wildcard_constraints:
        system=wildcard_regex(s.name for s in STUDY.systems_of(DENSE_EXACT)),
    params:
        top_k=SETTINGS.top_k,
    log:
        f"{OUT}/logs/dense_run/{{dataset}}/{{condition}}/{DENSE_EXACT.name}/{{system}}.log",
    benchmark:
        f"{OUT}/benchmarks/dense_run/{{dataset}}/{{condition}}/{DENSE_EXACT.name}/{{system}}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/retrieval.yaml"
    script:
        "../scripts/dense_run.py"
