# Every input function of the workflow (named get_*), one section per stage, all derived from
# the typed settings (SETTINGS) and the study's registry (STUDY, clirbench.core.systems); the
# rule files hold only rules, as `snakemake --lint` asks.

from pathlib import Path

from snakemake.exceptions import IncompleteCheckpointException

from clirbench.core.intermediate import set_aside_damaged, set_aside_damaged_folders
from clirbench.core.settings import index_cache_folder
from clirbench.core.systems import LEXICAL, RERANKED, RunKey, hnsw_system_name
from clirbench.embed.language_coverage import without_coverage
from clirbench.provenance.source import source_commit
from clirbench.provenance.specs import model_specs
from clirbench.report.downloads import TABLE_CAPTIONS
from clirbench.rerank.specs import reranked_system_name
from clirbench.translate.rules import planned_chunks
from clirbench.translate.startup import translation_setup

# Which pilot systems run (a web service needs its key) and COMET's Python; start-up has
# already announced both (clirbench.startup_checks).
TRANSLATION = translation_setup(
    SETTINGS,
    use_conda=bool(workflow.deployment_settings.deployment_method),
    root=Path(workflow.basedir),
    check_languages=False,
)


def get_final_output(wildcards):
    """The targets of the default run: the report and every file it is made from.

    Listing the intermediate files too is what makes a run complete: Snakemake otherwise
    accepts a missing intermediate whenever the files made from it are newer than their
    inputs (so a file set aside as damaged, or deleted with a failed job, would never be
    rebuilt, and the run would end green without it).
    """
    return get_planned_outputs() + get_chunks_of_written_plans()


def get_chunks_of_written_plans():
    """The translation chunks of the plans (checkpoints) already written. A plan still to
    be written adds none here: its gather job asks for its chunks (so a dry run still plans
    every other job), and from the next run on they are targets like any other file."""
    chunks = []
    for dataset, translator in STUDY.corpus_translations():
        try:
            chunks += translation_chunk_files(dataset, translator)
        except IncompleteCheckpointException:
            continue
    return chunks


def get_planned_outputs():
    """Every target known before any job runs (all but the translation chunks)."""
    stages = (
        get_data_outputs,
        get_translate_outputs,
        get_fine_tuning_outputs,
        get_embed_outputs,
        get_ann_outputs,
        get_retrieve_outputs,
        get_reranking_outputs,
        get_evaluate_outputs,
        get_analyses_outputs,
        get_model_description_outputs,
    )
    return [path for list_outputs in stages for path in list_outputs()] + [
        f"{OUT}/report.html",
        f"{OUT}/export/mteb",
    ]


def set_aside_damaged_outputs():
    """Set damaged outputs aside before Snakemake decides what to run, so this very run
    rebuilds them (clirbench.core.intermediate); a dry run only names them."""
    if not workflow.is_main_process:
        return
    dry_run = workflow.output_settings.dryrun
    targets = get_planned_outputs() + get_chunk_files_on_disk()
    for message in set_aside_damaged(targets, dry_run=dry_run):
        logger.warning(f"clirbench: {message}")
    for message in set_aside_damaged_folders(get_model_folders(), dry_run=dry_run):
        logger.warning(f"clirbench: {message}")


def get_chunk_files_on_disk():
    """The translation chunk files there are, for the check above (which runs before
    Snakemake has planned anything, and must not trust a plan that may be damaged itself)."""
    return [
        str(chunk)
        for dataset, translator in STUDY.corpus_translations()
        for chunk in sorted(Path(f"{OUT}/translation/{dataset}/{translator}").glob("chunks/*/*.parquet"))
    ]


def get_dataset_params(wildcards):
    # Without candidate_pool, which changes no table: switching it re-prepares nothing.
    return canonical_json(SETTINGS.datasets[wildcards.dataset].table_options)


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
    """Every core Snakemake is given, for a job that measures speed (it must run alone); a
    callable, so commands that run no job (--unlock, --report, --cleanup-metadata) work
    without --cores."""
    return workflow.cores


def get_model_threads(wildcards):
    """Threads of a job that runs a neural model: `model_threads`, at most every core given
    (null: all of them). A callable for the reason above."""
    configured = SETTINGS.config["model_threads"]
    return workflow.cores if configured is None else min(configured, workflow.cores)


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
    "doc_groups.parquet",
    "query_groups.parquet",
)


def get_data_outputs():
    return [f"{OUT}/data/{dataset}/{table}" for dataset in STUDY.datasets for table in DATA_TABLES]


def get_data_benchmarks():
    return [
        f"{OUT}/benchmarks/{rule}/{dataset}.tsv"
        for rule in ("prepare_dataset", "split_queries")
        for dataset in STUDY.datasets
    ]



# --- translate ----------------------------------------------------------------


def get_translate_outputs():
    """Each mt- condition's plan, documents and summary (its chunks are listed by the plan),
    and the pilot's files."""
    corpus = [
        f"{OUT}/translation/{dataset}/{translator}/{name}"
        for dataset, translator in STUDY.corpus_translations()
        for name in ("plan.json", "docs.parquet", "summary.json")
    ]
    return corpus + get_pilot_outputs()


def get_pilot_outputs():
    if not SETTINGS.pilot:
        return []
    files = ("scores.parquet", "documents.parquet", "summary.csv")
    summary = [f"{OUT}/translation_pilot/{name}" for name in files]
    sample = [f"{OUT}/translation_pilot/sample.parquet"]
    return sample + get_pilot_translation_files() + get_pilot_comet_files() + summary


def get_translate_benchmarks():
    corpus = [
        f"{OUT}/benchmarks/{rule}/{dataset}/{translator}.tsv"
        for rule in ("plan_translation", "gather_translation")
        for dataset, translator in STUDY.corpus_translations()
    ]
    if not SETTINGS.pilot:
        return corpus
    pilot_rules = ["pilot_translate"] + (["pilot_comet"] if get_comet_python() else [])
    per_system = [
        f"{OUT}/benchmarks/{rule}/{system}.tsv"
        for rule in pilot_rules
        for system in get_pilot_systems()
    ]
    once = [
        f"{OUT}/benchmarks/{rule}/all.tsv"
        for rule in ("pilot_sample", "pilot_score", "pilot_summary")
    ]
    return corpus + per_system + once


def get_translator_params(wildcards):
    return canonical_json(SETTINGS.translators[wildcards.translator])


def get_translator_gpus(wildcards):
    return gpus_for(SETTINGS.translators[wildcards.translator])


def gpus_for(settings):
    """1 for a model the settings put on a GPU (`device: cuda...`), else 0."""
    return int(str((settings or {}).get("device", "cpu")).startswith("cuda"))


def get_translation_chunks(wildcards):
    return translation_chunk_files(wildcards.dataset, wildcards.translator)


def translation_chunk_files(dataset, translator):
    """The chunk files the plan (a checkpoint) lists."""
    plan = checkpoints.plan_translation.get(dataset=dataset, translator=translator).output[0]
    folder = f"{OUT}/translation/{dataset}/{translator}/chunks"
    return [f"{folder}/{lang}/{chunk}.parquet" for lang, chunk in planned_chunks(plan)]


def get_pilot_systems():
    """The pilot's systems, less web services with no key or URL here (announced at start-up)."""
    return TRANSLATION.pilot_systems


def get_pilot_sample_inputs(wildcards):
    datasets = SETTINGS.pilot.get("datasets") or STUDY.datasets
    return {
        "docs": [f"{OUT}/data/{dataset}/docs.parquet" for dataset in datasets],
        "reference_english": [
            f"{OUT}/data/{dataset}/docs_reference_english.parquet" for dataset in datasets
        ],
    }


def get_pilot_translator_params(wildcards):
    """The translator's settings (null for the reference English)."""
    return canonical_json(SETTINGS.translators.get(wildcards.pilot_system))


def get_pilot_translator_gpus(wildcards):
    return gpus_for(SETTINGS.translators.get(wildcards.pilot_system))


def get_adequacy_encoder_params():
    name = SETTINGS.pilot.get("adequacy_encoder")
    return canonical_json(
        None if name is None else {"name": name, **without_coverage(SETTINGS.encoders[name])}
    )


def get_fluency_lm_gpus():
    return gpus_for(SETTINGS.pilot.get("fluency_lm"))


def get_comet_python():
    """The Python that runs COMET-Kiwi, or None when the pilot has no COMET scores."""
    return TRANSLATION.comet_python


def get_comet_gpus():
    return gpus_for(SETTINGS.pilot.get("comet"))


def get_pilot_translation_files():
    folder = f"{OUT}/translation_pilot/translations"
    return [f"{folder}/{system}.parquet" for system in get_pilot_systems()]


def get_pilot_comet_files():
    if not get_comet_python():
        return []
    return [f"{OUT}/translation_pilot/comet/{system}.parquet" for system in get_pilot_systems()]


# --- fine-tuning --------------------------------------------------------------


def get_fine_tuning_outputs():
    """Every fine-tuned model's pairs, folder and record."""
    return [
        f"{OUT}/fine_tuning/{model}/{scope}/{name}"
        for model, scope in STUDY.training_units()
        for name in ("train.parquet", "validation.parquet", "model", "training.json")
    ]


def get_fine_tuning_benchmarks():
    return [
        f"{OUT}/benchmarks/{rule}/{model}/{scope}.tsv"
        for model, scope in STUDY.training_units()
        for rule in ("fine_tuning_pairs", "fine_tune")
    ]


def get_model_folders():
    """(model folder, its record) of every fine-tuned encoder and re-ranker: checked at
    start-up."""
    folders = [f"{OUT}/fine_tuning/{model}/{scope}" for model, scope in STUDY.training_units()]
    folders += [f"{OUT}/reranking/{name}/{dataset}" for name, dataset in STUDY.reranking_units()]
    return [(f"{folder}/model", f"{folder}/training.json") for folder in folders]


def get_fine_tuning_records():
    return [f"{OUT}/fine_tuning/{model}/{scope}/training.json" for model, scope in STUDY.training_units()]


def fine_tuning_source_dataset(wildcards):
    """The dataset a model's pairs come from: its scope (query-document), the configured
    dataset (parallel queries), or none (Tatoeba)."""
    model = STUDY.fine_tuned[wildcards.model]
    if model.level == "query-document":
        return wildcards.scope
    return model.data.get("dataset")


def dataset_tables(dataset, names):
    return {name: f"{OUT}/data/{dataset}/{name}.parquet" for name in names}


def get_fine_tuning_pair_inputs(wildcards):
    """The source dataset's tables, and the evaluated queries, qrels and documents of every
    dataset the model is evaluated on (for the leakage guard)."""
    inputs = {}
    source = fine_tuning_source_dataset(wildcards)
    if source is not None:
        inputs.update(dataset_tables(source, ("queries_train", "queries_dev", "qrels", "docs")))
    for dataset in STUDY.fine_tuned[wildcards.model].datasets:
        for name, path in dataset_tables(dataset, EVALUATED_TABLES).items():
            inputs[f"{dataset}_{name}"] = path
    return inputs


EVALUATED_TABLES = ("queries_evaluated", "qrels", "docs", "docs_reference_english")


def get_fine_tuning_source_tables(wildcards):
    source = fine_tuning_source_dataset(wildcards)
    if source is None:
        return canonical_json({})
    tables = dataset_tables(source, ("queries_train", "queries_dev", "qrels", "docs"))
    dataset = SETTINGS.datasets[source]
    # A query-document model rebuilding its queries from the collection needs the
    # dataset's settings (data.training_queries replaces some of them).
    return canonical_json(
        {**tables, "relevance_threshold": dataset.relevance_threshold, "options": dict(dataset.options)}
    )


def get_fine_tuning_evaluated_tables(wildcards):
    return canonical_json(
        [evaluated_tables(dataset) for dataset in STUDY.fine_tuned[wildcards.model].datasets]
    )


def evaluated_tables(dataset):
    """A dataset's evaluated queries, qrels and documents, for a leakage guard."""
    tables = dataset_tables(dataset, EVALUATED_TABLES)
    return {
        "queries": tables["queries_evaluated"],
        "qrels": tables["qrels"],
        "docs": [tables["docs"], tables["docs_reference_english"]],
        "relevance_threshold": SETTINGS.datasets[dataset].relevance_threshold,
    }


def get_fine_tuned_model_params(wildcards):
    model = STUDY.fine_tuned[wildcards.model]
    return canonical_json(
        {
            "name": model.name,
            "base": model.base,
            "level": model.level,
            "data": dict(model.data),
            "datasets": list(model.datasets),
            "source": model.source,
        }
    )


def get_fine_tuning_training_params():
    return canonical_json(dict(SETTINGS.fine_tuning.get("training", {})))


def get_fine_tuning_base_params(wildcards):
    base = STUDY.fine_tuned[wildcards.model].base
    return canonical_json(without_coverage(SETTINGS.encoders[base]))


def fine_tuning_validation_tables(wildcards):
    """The documents and qrels a query-document model's validation queries are searched
    and scored in, as its pairs job wrote them (empty at the other levels)."""
    folder = f"{OUT}/fine_tuning/{wildcards.model}/{wildcards.scope}"
    return {"docs": f"{folder}/validation_pool.parquet", "qrels": f"{folder}/validation_qrels.parquet"}


def get_fine_tuning_retrieval_params(wildcards):
    if STUDY.fine_tuned[wildcards.model].level != "query-document":
        return canonical_json(None)
    return canonical_json(
        {
            **fine_tuning_validation_tables(wildcards),
            "relevance_threshold": SETTINGS.datasets[wildcards.scope].relevance_threshold,
            # The best epoch is picked on the units the study scores (evaluation.unit).
            "unit": SETTINGS.evaluation.unit,
        }
    )


def get_fine_tuning_gpus():
    device = SETTINGS.fine_tuning.get("training", {}).get("device", "cpu")
    return int(str(device).startswith("cuda"))


# --- embed --------------------------------------------------------------------


def embed_jobs():
    """(output, benchmark file) of every embedding job."""
    for dataset in STUDY.datasets:
        for encoder in STUDY.encoders_for(dataset):
            yield (
                f"{OUT}/embeddings/{dataset}/queries/{encoder}.npz",
                f"{OUT}/benchmarks/embed_queries/{dataset}/{encoder}.tsv",
            )
            for condition in STUDY.encoder_conditions(dataset, encoder):
                yield (
                    f"{OUT}/embeddings/{dataset}/docs/{condition.name}/{encoder}.npz",
                    f"{OUT}/benchmarks/embed_docs/{dataset}/{condition.name}/{encoder}.tsv",
                )


def get_embed_outputs():
    return [output for output, _ in embed_jobs()]


def get_embed_benchmarks():
    return [benchmark for _, benchmark in embed_jobs()]



def get_encoder_params(wildcards):
    # Without `languages`, which changes no vector: stating it re-runs no embedding.
    settings = STUDY.encoder_settings(wildcards.encoder, wildcards.dataset)
    return canonical_json(without_coverage(settings))


def get_fine_tuned_model(wildcards):
    """The trained folder a fine-tuned encoder loads and its record, whose manifest the
    embedding job checks it against (nothing for a configured encoder)."""
    model = STUDY.fine_tuned.get(wildcards.encoder)
    if model is None:
        return {}
    folder = f"{OUT}/fine_tuning/{model.name}/{model.scope_of(wildcards.dataset)}"
    return {"model": f"{folder}/model", "model_record": f"{folder}/training.json"}


def get_encoder_gpus(wildcards):
    return int(STUDY.systems[wildcards.encoder].gpu)


# --- approximate search -------------------------------------------------------


def get_ann_outputs():
    """Every HNSW index with its record, the efficiency records and the overlap tables (the
    HNSW runs are in the run grid)."""
    indexes = [
        f"{OUT}/ann/{dataset}/{condition}/{encoder}/{name}"
        for dataset, condition, encoder in STUDY.hnsw_pools()
        for name in ("hnsw.bin", "hnsw.json")
    ]
    return indexes + get_ann_efficiency_files() + get_ann_overlap_files()


def get_ann_efficiency_files():
    return [
        f"{OUT}/ann/{dataset}/efficiency/{encoder}.json"
        for dataset, _, encoder in STUDY.efficiency_pools()
    ]


def get_ann_datasets():
    return sorted({dataset for dataset, _, _ in STUDY.hnsw_pools()})


def get_ann_overlap_files():
    return [f"{OUT}/ann/{dataset}/overlap.parquet" for dataset in get_ann_datasets()]


def get_ann_benchmarks():
    indexes = [
        f"{OUT}/benchmarks/hnsw_index/{dataset}/{condition}/{encoder}.tsv"
        for dataset, condition, encoder in STUDY.hnsw_pools()
    ]
    efficiency = [
        f"{OUT}/benchmarks/ann_efficiency/{dataset}/{encoder}.tsv"
        for dataset, _, encoder in STUDY.efficiency_pools()
    ]
    overlap = [f"{OUT}/benchmarks/ann_overlap/{dataset}.tsv" for dataset in get_ann_datasets()]
    return indexes + efficiency + overlap


def get_ann_search_params():
    return canonical_json(dict(SETTINGS.ann_search))


def get_encoder_identity(wildcards):
    """The encoder's name and settings, for the index's record (which adds the fingerprint
    stored with the vectors; the index's own key hashes the vectors themselves)."""
    return canonical_json(
        {
            "name": wildcards.encoder,
            "settings": without_coverage(
                STUDY.encoder_settings(wildcards.encoder, wildcards.dataset)
            ),
        }
    )


def get_index_store():
    return str(index_cache_folder(SETTINGS.config["index_cache"]))


def get_hnsw_build_threads():
    return SETTINGS.ann_search.get("build_threads", 1)


def get_hnsw_search_threads():
    return SETTINGS.ann_search.get("search_threads", 1)


def get_hnsw_run_inputs(wildcards):
    """The index of the system's encoder over this condition, and its query vectors."""
    encoder = STUDY.systems[wildcards.system].encoder
    folder = f"{OUT}/ann/{wildcards.dataset}/{wildcards.condition}/{encoder}"
    return {
        "index": f"{folder}/hnsw.bin",
        "meta": f"{folder}/hnsw.json",
        "query_vectors": f"{OUT}/embeddings/{wildcards.dataset}/queries/{encoder}.npz",
    }


def get_ann_efficiency_condition():
    return SETTINGS.ann_search["efficiency"]["condition"]


def get_ann_efficiency_inputs(wildcards):
    condition = get_ann_efficiency_condition()
    table = STUDY.condition(wildcards.dataset, condition).docs_table
    return {
        "docs": f"{OUT}/{table.format(dataset=wildcards.dataset)}",
        "doc_vectors": f"{OUT}/embeddings/{wildcards.dataset}/docs/{condition}/{wildcards.encoder}.npz",
        "query_vectors": f"{OUT}/embeddings/{wildcards.dataset}/queries/{wildcards.encoder}.npz",
    }


def get_ann_efficiency_labels(wildcards):
    return {
        "dataset": wildcards.dataset,
        "condition": get_ann_efficiency_condition(),
        "encoder": wildcards.encoder,
        "system": hnsw_system_name(wildcards.encoder),
        "exact_system": wildcards.encoder,
    }


def hnsw_run_pairs(dataset):
    """(exact RunKey, HNSW RunKey) of every HNSW run of the dataset."""
    runs = {
        (run.condition, run.system.name): run for run in STUDY.run_grid() if run.dataset == dataset
    }
    return [
        (runs[(condition, encoder)], runs[(condition, hnsw_system_name(encoder))])
        for pool_dataset, condition, encoder in STUDY.hnsw_pools()
        if pool_dataset == dataset
    ]


def get_ann_overlap_inputs(wildcards):
    pairs = hnsw_run_pairs(wildcards.dataset)
    return {
        "exact_runs": [exact.path(f"{OUT}/runs", ".trec") for exact, _ in pairs],
        "hnsw_runs": [hnsw.path(f"{OUT}/runs", ".trec") for _, hnsw in pairs],
        "exact_units": [exact.path(f"{OUT}/metrics", ".per_query.parquet") for exact, _ in pairs],
        # Pairs are keyed by the original document language, in every condition.
        "docs": f"{OUT}/data/{wildcards.dataset}/docs.parquet",
    }


def get_ann_overlap_labels(wildcards):
    return [
        {"condition": exact.condition, "encoder": exact.system.name, "system": hnsw.system.name}
        for exact, hnsw in hnsw_run_pairs(wildcards.dataset)
    ]


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


def get_candidate_groups(wildcards):
    """The dataset's candidate-group tables when each query searches only its group's
    documents (candidate_pool: group), else nothing: a search of the whole pool keeps
    exactly its inputs."""
    if SETTINGS.datasets[wildcards.dataset].candidate_pool != "group":
        return {}
    folder = f"{OUT}/data/{wildcards.dataset}"
    return {
        "doc_groups": f"{folder}/doc_groups.parquet",
        "query_groups": f"{folder}/query_groups.parquet",
    }


# --- re-ranking ---------------------------------------------------------------


def get_reranking_outputs():
    """Every re-ranker's pairs, folder and record, and the injected-documents table of
    every re-ranked run (the runs themselves are in the run grid)."""
    trained = [
        f"{OUT}/reranking/{name}/{dataset}/{file}"
        for name, dataset in STUDY.reranking_units()
        for file in ("pairs.parquet", "model", "training.json")
    ]
    return trained + get_injected_tables() + get_reranked_query_tables()


def reranked_datasets():
    return sorted({run.dataset for run in reranked_runs()})


def get_reranked_query_tables():
    return [f"{OUT}/reranking/queries/{dataset}.parquet" for dataset in reranked_datasets()]


def get_evaluated_queries(wildcards):
    """The queries a run is scored on: the evaluated queries, or for a re-ranked run those
    re-ranked (all of them, unless stages.reranking.queries_per_language samples some)."""
    if wildcards.kind == RERANKED.name:
        return f"{OUT}/reranking/queries/{wildcards.dataset}.parquet"
    return f"{OUT}/data/{wildcards.dataset}/queries_evaluated.parquet"


def reranked_runs():
    return [run for run in STUDY.run_grid() if run.system.reranker is not None]


def get_injected_tables():
    return [
        f"{OUT}/reranking/injected/{run.dataset}/{run.condition}/{run.system.name}.parquet"
        for run in reranked_runs()
    ]


def get_reranked_metric_files():
    return [run.path(f"{OUT}/metrics", ".per_query.parquet") for run in reranked_runs()]


def get_first_stage_metric_files():
    """The first stage's per-query metrics of each re-ranked run, the report's Table 6."""
    return [
        RunKey(run.dataset, run.condition, STUDY.systems[run.system.first_stage]).path(
            f"{OUT}/metrics", ".per_query.parquet"
        )
        for run in reranked_runs()
    ]


def get_reranked_query_files():
    return [f"{OUT}/reranking/queries/{run.dataset}.parquet" for run in reranked_runs()]


def get_reranking_report_params():
    """The labels of each re-ranked run (in the order of the files above) and the stage's
    settings the report states."""
    labels = [
        {
            "dataset": run.dataset,
            "condition": run.condition,
            "system": run.system.name,
            "first_stage": run.system.first_stage,
            "reranker": run.system.reranker.name,
            "negatives": run.system.reranker.negatives,
            "injected": run.system.injected,
        }
        for run in reranked_runs()
    ]
    stage = SETTINGS.reranking
    settings = {key: stage.get(key) for key in ("depth", "queries_per_language")}
    return canonical_json({"labels": labels, "settings": settings})


def get_reranking_records():
    return [f"{OUT}/reranking/{name}/{dataset}/training.json" for name, dataset in STUDY.reranking_units()]


def get_reranking_benchmarks():
    trained = [
        f"{OUT}/benchmarks/{rule}/{name}/{dataset}.tsv"
        for name, dataset in STUDY.reranking_units()
        for rule in ("reranker_pairs", "train_reranker")
    ]
    return trained + [f"{OUT}/benchmarks/rerank_queries/{d}.tsv" for d in reranked_datasets()]


def get_reranker_pair_inputs(wildcards):
    """The dataset's training queries, qrels and documents, and its evaluated tables (for
    the leakage guard)."""
    inputs = dataset_tables(wildcards.dataset, ("queries_train", "qrels", "docs"))
    for name, path in dataset_tables(wildcards.dataset, EVALUATED_TABLES).items():
        inputs[f"evaluated_{name}"] = path
    return inputs


def get_reranker_params(wildcards):
    return canonical_json(STUDY.rerankers[wildcards.reranker].as_params())


def get_reranking_training_params():
    return canonical_json(dict(SETTINGS.reranking.get("training", {})))


def get_reranker_source_tables(wildcards):
    tables = dataset_tables(wildcards.dataset, ("queries_train", "qrels", "docs"))
    dataset = SETTINGS.datasets[wildcards.dataset]
    return canonical_json(
        {**tables, "relevance_threshold": dataset.relevance_threshold, "options": dict(dataset.options)}
    )


def get_reranker_evaluated_tables(wildcards):
    return canonical_json([evaluated_tables(wildcards.dataset)])


def get_reranker_bm25_params(wildcards):
    """The settings of the BM25 system that mines hard negatives (None for the others)."""
    source = STUDY.rerankers[wildcards.reranker].hard_negatives_from
    return canonical_json(SETTINGS.bm25.get(source) if source else None)


def get_reranking_gpus():
    device = SETTINGS.reranking.get("training", {}).get("device", "cpu")
    return int(str(device).startswith("cuda"))


def get_rerank_run_inputs(wildcards):
    """The first stage's run on this condition, the texts it ranks, the qrels (for the
    injected variant) and the trained re-ranker for this dataset. The injected variant also
    waits for the plain one: that job scores the candidates of both (they differ by the
    injected documents only), so this one finds every score in the cache instead of loading
    the model and scoring the same pairs again at the same time."""
    system = STUDY.systems[wildcards.system]
    first = RunKey(wildcards.dataset, wildcards.condition, STUDY.systems[system.first_stage])
    folder = f"{OUT}/reranking/{system.reranker.name}/{wildcards.dataset}"
    inputs = {
        "run": first.path(f"{OUT}/runs", ".trec"),
        "docs": get_condition_docs(wildcards),
        "queries": f"{OUT}/reranking/queries/{wildcards.dataset}.parquet",
        "qrels": f"{OUT}/data/{wildcards.dataset}/qrels.parquet",
        "model": f"{folder}/model",
        "record": f"{folder}/training.json",
    }
    if system.injected:
        plain = reranked_system_name(system.first_stage, system.reranker.name, injected=False)
        inputs["plain_variant"] = RunKey(
            wildcards.dataset, wildcards.condition, STUDY.systems[plain]
        ).path(f"{OUT}/runs", ".trec")
    return inputs


def get_rerank_params(wildcards):
    system = STUDY.systems[wildcards.system]
    training = SETTINGS.reranking["training"]
    return canonical_json(
        {
            **system.settings,
            "reranker": f"{system.reranker.name} ({wildcards.dataset})",
            "max_length": training["max_length"],
            "device": training["device"],
            "trust_remote_code": system.reranker.trust_remote_code,
            "injected_twin": bool(SETTINGS.reranking["inject_relevant"]),
        }
    )


# --- evaluate -----------------------------------------------------------------


def get_evaluate_outputs():
    per_query = [run.path(f"{OUT}/metrics", ".per_query.parquet") for run in STUDY.run_grid()]
    summary = [f"{OUT}/metrics/summary.csv", f"{OUT}/metrics/run_coverage.csv"]
    per_run = per_query + get_pair_metric_files() + get_run_coverage_files()
    return per_run + get_dataset_count_files() + summary


def get_pair_metric_files():
    return [run.path(f"{OUT}/metrics", ".pairs.parquet") for run in STUDY.run_grid()]


def get_run_coverage_files():
    """Each run's coverage counts (queries it left empty...), aligned with get_run_labels."""
    return [run.path(f"{OUT}/metrics", ".coverage.json") for run in STUDY.run_grid()]


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


# --- analyses -----------------------------------------------------------------


def analysed_runs(dataset, condition):
    """The runs of one (dataset, condition), in summary.csv order."""
    return [run for run in STUDY.run_grid() if (run.dataset, run.condition) == (dataset, condition)]


def get_analyses_outputs():
    """Per (dataset, condition): the significance tables, and the language bias tables of
    the conditions `language_bias.conditions` names; once: the language similarity tables."""
    if not SETTINGS.analyses:
        return []
    return get_significance_files() + get_language_bias_files() + get_language_similarity_files()


def analysis_units():
    return [(dataset, condition.name) for dataset in STUDY.datasets for condition in STUDY.conditions(dataset)]


def get_significance_files():
    return [
        f"{OUT}/analyses/{dataset}/{condition}/{table}.parquet"
        for dataset, condition in analysis_units()
        for table in ("significance", "intervals")
    ]


def language_bias_units():
    wanted = SETTINGS.analyses["language_bias"]["conditions"] if SETTINGS.analyses else []
    return [
        (dataset, condition)
        for dataset, condition in analysis_units()
        if wanted is None or condition in wanted
    ]


def get_language_bias_files():
    return [
        f"{OUT}/analyses/{dataset}/{condition}/{table}.parquet"
        for dataset, condition in language_bias_units()
        for table in ("own_language_share", "retrieved_language_roles", "retrieved_languages")
    ]


def get_language_similarity_files():
    return [
        f"{OUT}/analyses/{table}.parquet"
        for table in ("language_similarity", "similarity_correlations", "feature_set_correlations")
    ]


def get_analysis_files(table):
    """The analysis files of one table name (see the rules in analyse.smk), for the report."""
    return [path for path in get_analyses_outputs() if Path(path).stem == table]


def get_significance_inputs(wildcards):
    runs = analysed_runs(wildcards.dataset, wildcards.condition)
    return {"per_query": [run.path(f"{OUT}/metrics", ".per_query.parquet") for run in runs]}


def get_significance_systems(wildcards):
    """The systems of the per-query files (in their order), each re-ranked system's first
    stage, each fine-tuned system's base encoder, and the BM25 baselines."""
    runs = analysed_runs(wildcards.dataset, wildcards.condition)
    return {
        "names": [run.system.name for run in runs],
        "first_stages": {
            run.system.name: run.system.first_stage for run in runs if run.system.kind is RERANKED
        },
        "bases": {
            run.system.name: run.system.fine_tuned.base
            for run in runs
            if run.system.fine_tuned is not None
        },
        "baselines": [run.system.name for run in runs if run.system.kind is LEXICAL],
    }


def get_significance_params():
    return canonical_json({"significance": SETTINGS.analyses.get("significance", {})})


def get_language_bias_inputs(wildcards):
    runs = analysed_runs(wildcards.dataset, wildcards.condition)
    return {
        "runs": [run.path(f"{OUT}/runs", ".trec") for run in runs],
        # Languages are the original documents' in every condition.
        "docs": f"{OUT}/data/{wildcards.dataset}/docs.parquet",
        "queries": f"{OUT}/data/{wildcards.dataset}/queries_evaluated.parquet",
        "qrels": f"{OUT}/data/{wildcards.dataset}/qrels.parquet",
        # The queries the re-ranked runs ran on (a sample, with queries_per_language).
        "sampled_queries": (
            [f"{OUT}/reranking/queries/{wildcards.dataset}.parquet"]
            if any(run.system.kind is RERANKED for run in runs)
            else []
        ),
    }


def get_language_bias_systems(wildcards):
    runs = analysed_runs(wildcards.dataset, wildcards.condition)
    return {
        "names": [run.system.name for run in runs],
        "sampled": [run.system.name for run in runs if run.system.kind is RERANKED],
    }


def get_language_similarity_params():
    return canonical_json(SETTINGS.analyses.get("language_similarity", {}))


def get_analyses_benchmarks():
    if not SETTINGS.analyses:
        return []
    significance = [
        f"{OUT}/benchmarks/significance/{dataset}/{condition}.tsv"
        for dataset, condition in analysis_units()
    ]
    bias = [
        f"{OUT}/benchmarks/language_bias/{dataset}/{condition}.tsv"
        for dataset, condition in language_bias_units()
    ]
    return significance + bias + [f"{OUT}/benchmarks/language_similarity/all.tsv"]


# --- provenance ---------------------------------------------------------------


# The workflow's commit, and whether its checkout had uncommitted changes, as this run
# starts: the report names the code that made it ("unknown" outside a git checkout).
SOURCE = source_commit(Path(workflow.basedir))


def get_model_description_outputs():
    return [f"{OUT}/provenance/models.json"]


def get_model_description_benchmarks():
    return [f"{OUT}/benchmarks/describe_models/all.tsv"]


def get_described_models():
    """Every model describe_models identifies (clirbench.provenance.specs)."""
    return canonical_json({"models": model_specs(STUDY)})


def get_trained_model_folders():
    """The fine-tuned encoders' and re-rankers' folders describe_models reads."""
    return [folder for folder, _ in get_model_folders()]


# --- report -------------------------------------------------------------------


def get_benchmark_files():
    """Every job's benchmark file, for the report's stage times (declared, so stale files of
    earlier configs in the same folder are never counted)."""
    stages = (
        get_data_benchmarks,
        get_translate_benchmarks,
        get_fine_tuning_benchmarks,
        get_embed_benchmarks,
        get_ann_benchmarks,
        get_retrieve_benchmarks,
        get_reranking_benchmarks,
        get_evaluate_benchmarks,
        get_analyses_benchmarks,
        get_model_description_benchmarks,
    )
    return sorted(path for list_benchmarks in stages for path in list_benchmarks())


def get_report_metadata():
    metadata = {
        "experiment": SETTINGS.experiment,
        "config_hash": SETTINGS.hash,
        "models": STUDY.descriptions(),
        "highlighted_pairs": [list(pair) for pair in SETTINGS.evaluation.highlighted_pairs],
        # The subtitle calls the run a reproduction only on the paper's datasets.
        "dataset_types": {name: SETTINGS.datasets[name].type for name in STUDY.datasets},
        "source": SOURCE,
        # The evaluation protocol note: the unit scored and the run depth that cuts metrics.
        "evaluation": {"unit": SETTINGS.evaluation.unit, "top_k": SETTINGS.top_k},
    }
    if SETTINGS.translation:
        metadata["translation"] = get_translation_metadata()
    return canonical_json(metadata)


def get_export_systems():
    """Per system: its description and the name of its model in provenance/models.json (an
    HNSW system's is its encoder's, a re-ranked system's its re-ranker's)."""
    systems = {}
    for system in STUDY.systems.values():
        if system.reranker is not None:
            model = system.reranker.name
        else:
            model = system.encoder or system.name
        systems[system.name] = {"model": model, "description": system.description}
        if system.first_stage:
            systems[system.name]["first_stage"] = system.first_stage
    return canonical_json(systems)


def get_translation_metadata():
    """What the report says of the pilot's settings, and of what start-up skipped."""
    pilot = SETTINGS.pilot
    if not pilot:
        return {"skipped": TRANSLATION.notices}
    fluency = pilot["fluency_lm"]
    comet = pilot["comet"]["model"] if get_comet_python() else None
    encoder = pilot.get("adequacy_encoder")
    adequacy = [f"COMET-Kiwi ({comet})"] if comet else []
    adequacy += [f"cosine of source and translation under {encoder}"] if encoder else []
    return {
        "chosen": pilot.get("chosen"),
        "fluency_lm": " ".join(filter(None, [fluency["model"], fluency.get("gguf_file")])),
        "adequacy": "; ".join(adequacy) or "none",
        "documents_per_language": pilot["documents_per_language"],
        "seed": pilot["seed"],
        "skipped": TRANSLATION.notices,
    }


def get_pilot_report_files():
    """The pilot's summary and per-document table, in that order (none without a pilot)."""
    if not SETTINGS.pilot:
        return []
    return [f"{OUT}/translation_pilot/summary.csv", f"{OUT}/translation_pilot/documents.parquet"]


def get_translation_labels():
    return [[dataset, f"mt-{translator}"] for dataset, translator in STUDY.corpus_translations()]


def get_translation_summary_files():
    return [
        f"{OUT}/translation/{dataset}/{translator}/summary.json"
        for dataset, translator in STUDY.corpus_translations()
    ]
