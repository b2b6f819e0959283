# Stage 4, evaluation: metrics per evaluation unit (evaluation.unit) and language pair for
# every run, the summary table, the runs' coverage and the dataset counts the report shows.


rule evaluate_run:
    input:
        run=f"{OUT}/runs/{{dataset}}/{{condition}}/{{kind}}/{{system}}.trec",
        qrels=f"{OUT}/data/{{dataset}}/qrels.parquet",
        queries=get_evaluated_queries,
        # Pairs are keyed by the original document language, in every condition.
        docs=f"{OUT}/data/{{dataset}}/docs.parquet",
    output:
        per_query=f"{OUT}/metrics/{{dataset}}/{{condition}}/{{kind}}/{{system}}.per_query.parquet",
        pairs=f"{OUT}/metrics/{{dataset}}/{{condition}}/{{kind}}/{{system}}.pairs.parquet",
        # Queries the run left empty or without any relevant document (they score 0).
        coverage=f"{OUT}/metrics/{{dataset}}/{{condition}}/{{kind}}/{{system}}.coverage.json",
    params:
        relevance_threshold=get_relevance_threshold,
        unit=SETTINGS.evaluation.unit,
    log:
        f"{OUT}/logs/evaluate_run/{{dataset}}/{{condition}}/{{kind}}/{{system}}.log",
    benchmark:
        f"{OUT}/benchmarks/evaluate_run/{{dataset}}/{{condition}}/{{kind}}/{{system}}.tsv"
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
        pairs=get_pair_metric_files(),
        coverage=get_run_coverage_files(),
    output:
        summary=report(
            f"{OUT}/metrics/summary.csv",
            caption="../report/summary.rst",
            category="Metrics",
        ),
        coverage=f"{OUT}/metrics/run_coverage.csv",
    params:
        runs=get_run_labels(),
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


rule count_dataset:
    input:
        unpack(get_candidate_groups),
        docs=f"{OUT}/data/{{dataset}}/docs.parquet",
        qrels=f"{OUT}/data/{{dataset}}/qrels.parquet",
        queries=f"{OUT}/data/{{dataset}}/queries_evaluated.parquet",
    output:
        f"{OUT}/metrics/{{dataset}}/dataset_counts.json",
    params:
        kind=lambda wildcards: SETTINGS.datasets[wildcards.dataset].type,
        relevance_threshold=get_relevance_threshold,
        query_split=SETTINGS.evaluation.query_split,
        pool_min_relevance=get_pool_min_relevance,
    log:
        f"{OUT}/logs/count_dataset/{{dataset}}.log",
    benchmark:
        f"{OUT}/benchmarks/count_dataset/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/count_dataset.py"
