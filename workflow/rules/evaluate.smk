# Stage 4: metrics per query and per (query language, document language) pair.


rule evaluate_run:
    input:
        run=f"{OUT}/runs/{{dataset}}/{{condition}}/{{system}}.trec",
        qrels=dataset_table("qrels"),
        queries=dataset_table("queries"),
        # Pairs are keyed by the original document language, in both conditions.
        docs=dataset_table("docs"),
    output:
        per_query=f"{OUT}/metrics/{{dataset}}/{{condition}}/{{system}}.per_query.parquet",
        pairs=f"{OUT}/metrics/{{dataset}}/{{condition}}/{{system}}.pairs.parquet",
    params:
        relevance_threshold=lambda wildcards: relevance_threshold(config, wildcards.dataset),
        query_split=config["evaluation"]["query_split"],
    log:
        f"{OUT}/logs/evaluate_run/{{dataset}}/{{condition}}/{{system}}.log",
    benchmark:
        f"{OUT}/benchmarks/evaluate_run/{{dataset}}/{{condition}}/{{system}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/evaluate_run.py"


rule summarise_metrics:
    input:
        pair_metric_files(),
    output:
        report(
            f"{OUT}/metrics/summary.csv",
            caption="../report/summary.rst",
            category="Metrics",
        ),
    log:
        f"{OUT}/logs/summarise_metrics.log",
    benchmark:
        f"{OUT}/benchmarks/summarise_metrics/all.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/summarise_metrics.py"
