# Stage 1, data: every dataset becomes validated docs / queries / qrels tables, and its
# queries are split once into the evaluated, training and validation sets.


rule prepare_dataset:
    input:
        get_local_files,
    output:
        docs=f"{OUT}/data/{{dataset}}/docs.parquet",
        reference_english=f"{OUT}/data/{{dataset}}/docs_reference_english.parquet",
        queries=f"{OUT}/data/{{dataset}}/queries.parquet",
        qrels=f"{OUT}/data/{{dataset}}/qrels.parquet",
        qrels_trec=f"{OUT}/data/{{dataset}}/qrels.trec",
        doc_groups=f"{OUT}/data/{{dataset}}/doc_groups.parquet",
        query_groups=f"{OUT}/data/{{dataset}}/query_groups.parquet",
    params:
        settings=get_dataset_params,
        download_folder=f"{SETTINGS.results_dir}/downloads/{{dataset}}",
    log:
        f"{OUT}/logs/prepare_dataset/{{dataset}}.log",
    benchmark:
        f"{OUT}/benchmarks/prepare_dataset/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/prepare_dataset.py"


rule split_queries:
    input:
        queries=f"{OUT}/data/{{dataset}}/queries.parquet",
        qrels=f"{OUT}/data/{{dataset}}/qrels.parquet",
    output:
        evaluated=f"{OUT}/data/{{dataset}}/queries_evaluated.parquet",
        train=f"{OUT}/data/{{dataset}}/queries_train.parquet",
        dev=f"{OUT}/data/{{dataset}}/queries_dev.parquet",
    params:
        query_split=SETTINGS.evaluation.query_split,
        relevance_threshold=get_relevance_threshold,
    log:
        f"{OUT}/logs/split_queries/{{dataset}}.log",
    benchmark:
        f"{OUT}/benchmarks/split_queries/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/split_queries.py"
