# Every input function of the workflow (named get_*), one section per stage, all derived from
# the typed settings (SETTINGS) and the study's registry (STUDY, clirbench.core.systems); the
# rule files hold only rules, as `snakemake --lint` asks.

from clirbench.core.intermediate import set_aside_damaged


def get_final_output():
    """The targets of the default run: the report and every file it is made from.

    Listing the intermediate files too is what makes a run complete: Snakemake otherwise
    accepts a missing intermediate whenever the files made from it are newer than their
    inputs (so a file set aside as damaged, or deleted with a failed job, would never be
    rebuilt, and the run would end green without it).
    """
    stages = (get_data_outputs, get_embed_outputs, get_retrieve_outputs, get_evaluate_outputs)
    return [path for list_outputs in stages for path in list_outputs()] + [f"{OUT}/report.html"]


def set_aside_damaged_outputs():
    """Set damaged outputs aside before Snakemake decides what to run, so this very run
    rebuilds them (clirbench.core.intermediate); a dry run only names them."""
    if not workflow.is_main_process:
        return
    dry_run = workflow.output_settings.dryrun
    for message in set_aside_damaged(get_final_output(), dry_run=dry_run):
        logger.warning(f"clirbench: {message}")


def get_dataset_params(wildcards):
    return canonical_json(dict(SETTINGS.datasets[wildcards.dataset].options))


def get_relevance_threshold(wildcards):
    return SETTINGS.datasets[wildcards.dataset].relevance_threshold


def get_local_files(wildcards):
    """A local collection's files are inputs, so editing them re-prepares the dataset."""
    return SETTINGS.datasets[wildcards.dataset].local_files


def get_condition_docs(wildcards):
    """The documents table of one condition of a dataset."""
    table = STUDY.condition(wildcards.dataset, wildcards.condition).docs_table
    return f"{OUT}/{table.format(dataset=wildcards.dataset)}"


def get_all_cores(wildcards):
    """Encoders use every core they are given; a callable, so commands that run no job
    (--unlock, --report, --cleanup-metadata) work without --cores."""
    return workflow.cores


# --- data ---------------------------------------------------------------------


DATA_TABLES = (
    "docs.parquet",
    "docs_reference_english.parquet",
    "queries.parquet",
    "qrels.parquet",
    "qrels.trec",
    "queries_evaluated.parquet",
    "queries_train.parquet",
    "queries_dev.parquet",
)


def get_data_outputs():
    return [f"{OUT}/data/{dataset}/{table}" for dataset in STUDY.datasets for table in DATA_TABLES]


def get_data_benchmarks():
    return [
        f"{OUT}/benchmarks/{rule}/{dataset}.tsv"
        for rule in ("prepare_dataset", "split_queries")
        for dataset in STUDY.datasets
    ]



# --- embed --------------------------------------------------------------------


def embed_jobs():
    """(output, benchmark file) of every embedding job."""
    for dataset in STUDY.datasets:
        for encoder in STUDY.encoders_in_use():
            yield (
                f"{OUT}/embeddings/{dataset}/queries/{encoder}.npz",
                f"{OUT}/benchmarks/embed_queries/{dataset}/{encoder}.tsv",
            )
            for condition in STUDY.conditions(dataset):
                yield (
                    f"{OUT}/embeddings/{dataset}/docs/{condition.name}/{encoder}.npz",
                    f"{OUT}/benchmarks/embed_docs/{dataset}/{condition.name}/{encoder}.tsv",
                )


def get_embed_outputs():
    return [output for output, _ in embed_jobs()]


def get_embed_benchmarks():
    return [benchmark for _, benchmark in embed_jobs()]



def get_encoder_params(wildcards):
    return canonical_json(SETTINGS.encoders[wildcards.encoder])


def get_encoder_gpus(wildcards):
    return int(STUDY.systems[wildcards.encoder].gpu)


# --- retrieve -----------------------------------------------------------------


def get_retrieve_outputs():
    return [run.path(f"{OUT}/runs", ".trec") for run in STUDY.run_grid()]


def get_retrieve_benchmarks():
    return [
        run.path(f"{OUT}/benchmarks/{run.system.kind.rule}", ".tsv")
        for run in STUDY.run_grid()
    ]



def get_bm25_params(wildcards):
    return canonical_json(SETTINGS.bm25[wildcards.system])


# --- evaluate -----------------------------------------------------------------


def get_evaluate_outputs():
    per_query = [run.path(f"{OUT}/metrics", ".per_query.parquet") for run in STUDY.run_grid()]
    summary = [f"{OUT}/metrics/summary.csv"]
    return per_query + get_pair_metric_files() + get_dataset_count_files() + summary


def get_pair_metric_files():
    return [run.path(f"{OUT}/metrics", ".pairs.parquet") for run in STUDY.run_grid()]


def get_run_labels():
    """(dataset, condition, system) of each pair metrics file, the rows of summary.csv."""
    return [(run.dataset, run.condition, run.system.name) for run in STUDY.run_grid()]


def get_dataset_count_files():
    return [f"{OUT}/metrics/{dataset}/dataset_counts.json" for dataset in STUDY.datasets]


def get_evaluate_benchmarks():
    runs = [run.path(f"{OUT}/benchmarks/evaluate_run", ".tsv") for run in STUDY.run_grid()]
    counts = [f"{OUT}/benchmarks/count_dataset/{dataset}.tsv" for dataset in STUDY.datasets]
    return runs + counts + [f"{OUT}/benchmarks/summarise_metrics/all.tsv"]



def get_pool_min_relevance(wildcards):
    return SETTINGS.datasets[wildcards.dataset].options.get("pool_min_relevance")


# --- report -------------------------------------------------------------------


def get_benchmark_files():
    """Every job's benchmark file, for the report's stage times (declared, so stale files of
    earlier configs in the same folder are never counted)."""
    stages = (
        get_data_benchmarks,
        get_embed_benchmarks,
        get_retrieve_benchmarks,
        get_evaluate_benchmarks,
    )
    return sorted(path for list_benchmarks in stages for path in list_benchmarks())


def get_report_metadata():
    return canonical_json(
        {
            "experiment": SETTINGS.experiment,
            "config_hash": SETTINGS.hash,
            "models": STUDY.descriptions(),
            "highlighted_pairs": [list(pair) for pair in SETTINGS.evaluation.highlighted_pairs],
        }
    )
