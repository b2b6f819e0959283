# Stage 3b, approximate search: an HNSW index per (dataset, condition, encoder) pool, the
# `<encoder>+hnsw` systems' runs, and what approximation costs (timings, overlap with exact).
from clirbench.core.systems import DENSE_HNSW, wildcard_regex

rule hnsw_index:
    input:
        doc_vectors=f"{OUT}/embeddings/{{dataset}}/docs/{{condition}}/{{encoder}}.npz",
    output:
        index=f"{OUT}/ann/{{dataset}}/{{condition}}/{{encoder}}/hnsw.bin",
        meta=f"{OUT}/ann/{{dataset}}/{{condition}}/{{encoder}}/hnsw.json",
    params:
        encoder=get_encoder_identity,
        stage=get_ann_search_params(),
        store=get_index_store(),
    log:
        f"{OUT}/logs/hnsw_index/{{dataset}}/{{condition}}/{{encoder}}.log",
    benchmark:
        f"{OUT}/benchmarks/hnsw_index/{{dataset}}/{{condition}}/{{encoder}}.tsv"
    threads: get_hnsw_build_threads()
    resources:
        mem_mb=16000,
        runtime=720,
    conda:
        "../../envs/retrieval.yaml"
    script:
        "../scripts/hnsw_index.py"

rule hnsw_run:
    input:
        unpack(get_hnsw_run_inputs),
        unpack(get_candidate_groups),
        docs=get_condition_docs,
        queries=f"{OUT}/data/{{dataset}}/queries_evaluated.parquet",
    output:
        f"{OUT}/runs/{{dataset}}/{{condition}}/{DENSE_HNSW.name}/{{system}}.trec",
    wildcard_constraints:
        system=wildcard_regex(s.name for s in STUDY.systems_of(DENSE_HNSW)),
    params:
        stage=get_ann_search_params(),
        top_k=SETTINGS.top_k,
    log:
        f"{OUT}/logs/hnsw_run/{{dataset}}/{{condition}}/{DENSE_HNSW.name}/{{system}}.log",
    benchmark:
        f"{OUT}/benchmarks/hnsw_run/{{dataset}}/{{condition}}/{DENSE_HNSW.name}/{{system}}.tsv"
    threads: get_hnsw_search_threads()
    resources:
        mem_mb=16000,
        runtime=60,
    conda:
        "../../envs/retrieval.yaml"
    script:
        "../scripts/hnsw_run.py"

# Timings of both engines, interleaved in one job, so both see the same machine. The job
# claims every core, so that in a local run no other job competes with what it measures.
rule ann_efficiency:
    input:
        unpack(get_ann_efficiency_inputs),
        queries=f"{OUT}/data/{{dataset}}/queries_evaluated.parquet",
    output:
        f"{OUT}/ann/{{dataset}}/efficiency/{{encoder}}.json",
    params:
        labels=get_ann_efficiency_labels,
        stage=get_ann_search_params(),
        top_k=SETTINGS.top_k,
    log:
        f"{OUT}/logs/ann_efficiency/{{dataset}}/{{encoder}}.log",
    benchmark:
        f"{OUT}/benchmarks/ann_efficiency/{{dataset}}/{{encoder}}.tsv"
    threads: get_all_cores
    resources:
        mem_mb=16000,
        runtime=240,
    conda:
        "../../envs/retrieval.yaml"
    script:
        "../scripts/ann_efficiency.py"

rule ann_overlap:
    input:
        unpack(get_ann_overlap_inputs),
    output:
        f"{OUT}/ann/{{dataset}}/overlap.parquet",
    params:
        pairs=get_ann_overlap_labels,
    log:
        f"{OUT}/logs/ann_overlap/{{dataset}}.log",
    benchmark:
        f"{OUT}/benchmarks/ann_overlap/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/retrieval.yaml"
    script:
        "../scripts/ann_overlap.py"
