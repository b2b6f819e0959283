# Stage 3: ranked lists (TREC runs) of BM25 and of exact dense search over the whole pool.


rule bm25_run:
    input:
        docs=docs_of_condition,
        queries=dataset_table("queries"),
    output:
        f"{OUT}/runs/{{dataset}}/{{condition}}/{{system}}.trec",
    wildcard_constraints:
        system=names_regex(sorted(config["bm25"])),
    params:
        settings=lambda wildcards: canonical_json(config["bm25"][wildcards.system]),
        query_split=config["evaluation"]["query_split"],
        top_k=config["retrieval"]["top_k"],
    log:
        f"{OUT}/logs/bm25_run/{{dataset}}/{{condition}}/{{system}}.log",
    benchmark:
        f"{OUT}/benchmarks/bm25_run/{{dataset}}/{{condition}}/{{system}}.tsv"
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
        docs=docs_of_condition,
        queries=dataset_table("queries"),
        doc_vectors=f"{OUT}/embeddings/{{dataset}}/{{condition}}/{{encoder}}.npy",
        query_vectors=f"{OUT}/embeddings/{{dataset}}/queries/{{encoder}}.npy",
    output:
        f"{OUT}/runs/{{dataset}}/{{condition}}/{{encoder}}.trec",
    params:
        query_split=config["evaluation"]["query_split"],
        top_k=config["retrieval"]["top_k"],
    log:
        f"{OUT}/logs/dense_run/{{dataset}}/{{condition}}/{{encoder}}.log",
    benchmark:
        f"{OUT}/benchmarks/dense_run/{{dataset}}/{{condition}}/{{encoder}}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/retrieval.yaml"
    script:
        "../scripts/dense_run.py"
