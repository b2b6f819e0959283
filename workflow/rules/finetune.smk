# Stage 2b, fine-tuning: contrastive training of encoders (the paper's Table 4). Each
# (model, scope) gets its training pairs and validation set, then a trained folder that the
# embedding rules load like any encoder's (scope: a dataset, or `shared` for word and phrase
# models, which every dataset uses).

rule fine_tuning_pairs:
    input:
        unpack(get_fine_tuning_pair_inputs),
    output:
        train=f"{OUT}/fine_tuning/{{model}}/{{scope}}/train.parquet",
        validation=f"{OUT}/fine_tuning/{{model}}/{{scope}}/validation.parquet",
        validation_pool=f"{OUT}/fine_tuning/{{model}}/{{scope}}/validation_pool.parquet",
        validation_qrels=f"{OUT}/fine_tuning/{{model}}/{{scope}}/validation_qrels.parquet",
    params:
        model=get_fine_tuned_model_params,
        training=get_fine_tuning_training_params(),
        tables=get_fine_tuning_source_tables,
        evaluated=get_fine_tuning_evaluated_tables,
        download_folder=f"{SETTINGS.results_dir}/downloads/fine_tuning",
    log:
        f"{OUT}/logs/fine_tuning_pairs/{{model}}/{{scope}}.log",
    benchmark:
        f"{OUT}/benchmarks/fine_tuning_pairs/{{model}}/{{scope}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/fine_tuning_pairs.py"

rule fine_tune:
    input:
        train=f"{OUT}/fine_tuning/{{model}}/{{scope}}/train.parquet",
        validation=f"{OUT}/fine_tuning/{{model}}/{{scope}}/validation.parquet",
        validation_pool=f"{OUT}/fine_tuning/{{model}}/{{scope}}/validation_pool.parquet",
        validation_qrels=f"{OUT}/fine_tuning/{{model}}/{{scope}}/validation_qrels.parquet",
    output:
        model=directory(f"{OUT}/fine_tuning/{{model}}/{{scope}}/model"),
        record=f"{OUT}/fine_tuning/{{model}}/{{scope}}/training.json",
    params:
        model=get_fine_tuned_model_params,
        training=get_fine_tuning_training_params(),
        base=get_fine_tuning_base_params,
        retrieval=get_fine_tuning_retrieval_params,  # the validation pool and qrels above
    log:
        f"{OUT}/logs/fine_tune/{{model}}/{{scope}}.log",
    benchmark:
        f"{OUT}/benchmarks/fine_tune/{{model}}/{{scope}}.tsv"
    threads: get_model_threads
    resources:
        mem_mb=16000,
        runtime=1440,
        gpu=get_fine_tuning_gpus(),
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/fine_tune.py"
