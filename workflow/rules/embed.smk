# Stage 2, embeddings: bi-encoder vectors of queries and documents, through the shared cache.

rule embed_queries:
    input:
        unpack(get_fine_tuned_model),
        table=f"{OUT}/data/{{dataset}}/queries_evaluated.parquet",
    output:
        f"{OUT}/embeddings/{{dataset}}/queries/{{encoder}}.npz",
    params:
        kind="query",
        encoder=get_encoder_params,
    log:
        f"{OUT}/logs/embed_queries/{{dataset}}/{{encoder}}.log",
    benchmark:
        f"{OUT}/benchmarks/embed_queries/{{dataset}}/{{encoder}}.tsv"
    threads: get_model_threads
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=get_encoder_gpus,
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/embed.py"

rule embed_docs:
    input:
        unpack(get_fine_tuned_model),
        table=get_condition_docs,
    output:
        f"{OUT}/embeddings/{{dataset}}/docs/{{condition}}/{{encoder}}.npz",
    params:
        kind="document",
        encoder=get_encoder_params,
    log:
        f"{OUT}/logs/embed_docs/{{dataset}}/{{condition}}/{{encoder}}.log",
    benchmark:
        f"{OUT}/benchmarks/embed_docs/{{dataset}}/{{condition}}/{{encoder}}.tsv"
    threads: get_model_threads
    resources:
        mem_mb=8000,
        runtime=720,
        gpu=get_encoder_gpus,
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/embed.py"
