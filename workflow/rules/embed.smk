# Stage 2: bi-encoder embeddings of queries and documents, through the shared cache.


wildcard_constraints:
    encoder=names_regex(sorted(config["encoders"])),


rule embed_queries:
    input:
        queries=dataset_table("queries"),
    output:
        f"{OUT}/embeddings/{{dataset}}/queries/{{encoder}}.npy",
    params:
        kind="query",
        encoder=encoder_params,
        query_split=config["evaluation"]["query_split"],
        cache=config["embedding_cache"],
    log:
        f"{OUT}/logs/embed_queries/{{dataset}}/{{encoder}}.log",
    benchmark:
        f"{OUT}/benchmarks/embed_queries/{{dataset}}/{{encoder}}.tsv"
    threads: all_cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=encoder_gpus,
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/embed.py"


rule embed_docs:
    input:
        docs=docs_of_condition,
    output:
        f"{OUT}/embeddings/{{dataset}}/{{condition}}/{{encoder}}.npy",
    params:
        kind="document",
        encoder=encoder_params,
        cache=config["embedding_cache"],
    log:
        f"{OUT}/logs/embed_docs/{{dataset}}/{{condition}}/{{encoder}}.log",
    benchmark:
        f"{OUT}/benchmarks/embed_docs/{{dataset}}/{{condition}}/{{encoder}}.tsv"
    threads: all_cores
    resources:
        mem_mb=8000,
        runtime=720,
        gpu=encoder_gpus,
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/embed.py"
