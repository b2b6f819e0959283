# Stage 3b, re-ranking: a cross-encoder per (re-ranker, dataset) trained on the dataset's
# training split (the paper's Table 6), then every first-stage run it is given re-ordered
# by it: runs/{dataset}/{condition}/reranked/<first stage>><re-ranker>[+injected].trec.
from clirbench.core.systems import RERANKED, wildcard_regex

rule reranker_pairs:
    input:
        unpack(get_reranker_pair_inputs),
    output:
        f"{OUT}/reranking/{{reranker}}/{{dataset}}/pairs.parquet",
    params:
        reranker=get_reranker_params,
        training=get_reranking_training_params(),
        tables=get_reranker_source_tables,
        evaluated=get_reranker_evaluated_tables,
        bm25=get_reranker_bm25_params,
        download_folder=f"{SETTINGS.results_dir}/downloads/{{dataset}}",  # the data stage's
    log:
        f"{OUT}/logs/reranker_pairs/{{reranker}}/{{dataset}}.log",
    benchmark:
        f"{OUT}/benchmarks/reranker_pairs/{{reranker}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/reranker_pairs.py"

rule train_reranker:
    input:
        f"{OUT}/reranking/{{reranker}}/{{dataset}}/pairs.parquet",
    output:
        model=directory(f"{OUT}/reranking/{{reranker}}/{{dataset}}/model"),
        record=f"{OUT}/reranking/{{reranker}}/{{dataset}}/training.json",
    params:
        reranker=get_reranker_params,
        training=get_reranking_training_params(),
    log:
        f"{OUT}/logs/train_reranker/{{reranker}}/{{dataset}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_reranker/{{reranker}}/{{dataset}}.tsv"
    threads: get_model_threads
    resources:
        mem_mb=16000,
        runtime=1440,
        gpu=get_reranking_gpus(),
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/train_reranker.py"

rule rerank_queries:
    input:
        f"{OUT}/data/{{dataset}}/queries_evaluated.parquet",
    output:
        f"{OUT}/reranking/queries/{{dataset}}.parquet",
    params:
        per_language=SETTINGS.reranking.get("queries_per_language"),
        seed=SETTINGS.reranking.get("training", {}).get("seed"),
    log:
        f"{OUT}/logs/rerank_queries/{{dataset}}.log",
    benchmark:
        f"{OUT}/benchmarks/rerank_queries/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/rerank_queries.py"

rule rerank_run:
    input:
        unpack(get_rerank_run_inputs),
    output:
        run=f"{OUT}/runs/{{dataset}}/{{condition}}/{RERANKED.name}/{{system}}.trec",
        injected=f"{OUT}/reranking/injected/{{dataset}}/{{condition}}/{{system}}.parquet",
    wildcard_constraints:
        system=wildcard_regex(s.name for s in STUDY.systems_of(RERANKED)),
    params:
        settings=get_rerank_params,
        relevance_threshold=get_relevance_threshold,
    log:
        f"{OUT}/logs/rerank_run/{{dataset}}/{{condition}}/{RERANKED.name}/{{system}}.log",
    benchmark:
        f"{OUT}/benchmarks/rerank_run/{{dataset}}/{{condition}}/{RERANKED.name}/{{system}}.tsv"
    threads: get_model_threads
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=get_reranking_gpus(),
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/rerank_run.py"
