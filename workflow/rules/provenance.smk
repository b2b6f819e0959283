# Provenance: every model of the study identified exactly (reference, Hub commit or content
# hash, packages, dimension, parameter count), for the report's run metadata. Read from the
# weight files' headers, so the job loads no model unless one has no readable header.


rule describe_models:
    input:
        trained=get_trained_model_folders(),
    output:
        f"{OUT}/provenance/models.json",
    params:
        models=get_described_models(),
    log:
        f"{OUT}/logs/describe_models.log",
    benchmark:
        f"{OUT}/benchmarks/describe_models/all.tsv"
    threads: get_model_threads
    resources:
        # As an embedding job, for a model that has to be loaded to be measured.
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/describe_models.py"
