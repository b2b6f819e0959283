# Stage 1: every dataset becomes validated docs / queries / qrels tables.


rule prepare_dataset:
    input:
        local_inputs,
    output:
        docs=f"{OUT}/data/{{dataset}}/docs.parquet",
        docs_translated=f"{OUT}/data/{{dataset}}/docs_translated.parquet",
        queries=f"{OUT}/data/{{dataset}}/queries.parquet",
        qrels=f"{OUT}/data/{{dataset}}/qrels.parquet",
        qrels_trec=f"{OUT}/data/{{dataset}}/qrels.trec",
    params:
        settings=dataset_params,
        download_folder=f"{config['results_dir']}/downloads/{{dataset}}",
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
