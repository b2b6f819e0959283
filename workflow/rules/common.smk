# Shared helpers: target lists, per-rule resources and the stable params of each job.


def run_grid():
    """(dataset, condition, system) of every run the config asks for."""
    return [
        (dataset, condition, system)
        for dataset in DATASETS
        for condition in conditions_of(config, dataset)
        for system in SYSTEMS
    ]


def pair_metric_files():
    return [
        f"{OUT}/metrics/{dataset}/{condition}/{system}.pairs.parquet"
        for dataset, condition, system in run_grid()
    ]


def dataset_params(wildcards):
    return canonical_json(dataset_settings(config, wildcards.dataset))


def encoder_params(wildcards):
    return canonical_json(config["encoders"][wildcards.encoder])


def encoder_gpus(wildcards):
    return int(uses_gpu(config["encoders"][wildcards.encoder]))


def dataset_table(name):
    return f"{OUT}/data/{{dataset}}/{name}.parquet"


def docs_of_condition(wildcards):
    table = "docs" if wildcards.condition == "original" else "docs_translated"
    return f"{OUT}/data/{wildcards.dataset}/{table}.parquet"


def names_regex(names):
    return "|".join(map(re.escape, names)) or "(?!)"


def all_cores(wildcards):
    """Encoders use every core they are given; a callable, so commands that run no job
    (--unlock, --report, --cleanup-metadata) work without --cores."""
    return workflow.cores


def local_inputs(wildcards):
    """A local collection's files are inputs, so editing them re-prepares the dataset."""
    settings = config["datasets"][wildcards.dataset]
    if settings["type"] != "local":
        return []
    keys = ("docs", "queries", "qrels", "translated_docs")
    return [settings[key] for key in keys if settings.get(key)]
