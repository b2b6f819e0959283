# Stage 1b, translation: every document of an mt-<translator> condition machine translated
# into English, in chunk jobs (one language's documents each) that a cluster runs in
# parallel, gathered into the condition's documents table; and the MT pilot that scores the
# translators on a sample (the paper's Figure 2).


# The chunks depend on the documents (how many each language has), so the plan is a
# checkpoint: Snakemake lists the chunk jobs once it is written.
checkpoint plan_translation:
    input:
        docs=f"{OUT}/data/{{dataset}}/docs.parquet",
    output:
        f"{OUT}/translation/{{dataset}}/{{translator}}/plan.json",
    params:
        translator=get_translator_params,
        chunk_size=SETTINGS.translation.get("chunk_size"),
        untranslatable=SETTINGS.translation.get("untranslatable"),
    log:
        f"{OUT}/logs/plan_translation/{{dataset}}/{{translator}}.log",
    benchmark:
        f"{OUT}/benchmarks/plan_translation/{{dataset}}/{{translator}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/translate.yaml"
    script:
        "../scripts/plan_translation.py"


rule translate_chunk:
    input:
        docs=f"{OUT}/data/{{dataset}}/docs.parquet",
        plan=f"{OUT}/translation/{{dataset}}/{{translator}}/plan.json",
    output:
        f"{OUT}/translation/{{dataset}}/{{translator}}/chunks/{{lang}}/{{chunk}}.parquet",
    params:
        translator=get_translator_params,
        chunk_size=SETTINGS.translation.get("chunk_size"),
    log:
        f"{OUT}/logs/translate_chunk/{{dataset}}/{{translator}}/{{lang}}/{{chunk}}.log",
    benchmark:
        f"{OUT}/benchmarks/translate_chunk/{{dataset}}/{{translator}}/{{lang}}/{{chunk}}.tsv"
    threads: get_model_threads
    resources:
        mem_mb=16000,
        runtime=720,
        gpu=get_translator_gpus,
    conda:
        "../../envs/translate.yaml"
    script:
        "../scripts/translate_chunk.py"


rule gather_translation:
    input:
        docs=f"{OUT}/data/{{dataset}}/docs.parquet",
        plan=f"{OUT}/translation/{{dataset}}/{{translator}}/plan.json",
        chunks=get_translation_chunks,
    output:
        docs=f"{OUT}/translation/{{dataset}}/{{translator}}/docs.parquet",
        summary=f"{OUT}/translation/{{dataset}}/{{translator}}/summary.json",
    log:
        f"{OUT}/logs/gather_translation/{{dataset}}/{{translator}}.log",
    benchmark:
        f"{OUT}/benchmarks/gather_translation/{{dataset}}/{{translator}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/translate.yaml"
    script:
        "../scripts/gather_translation.py"


rule pilot_sample:
    input:
        unpack(get_pilot_sample_inputs),
    output:
        f"{OUT}/translation_pilot/sample.parquet",
    params:
        languages=SETTINGS.pilot.get("languages"),
        per_language=SETTINGS.pilot.get("documents_per_language"),
        seed=SETTINGS.pilot.get("seed"),
    log:
        f"{OUT}/logs/pilot_sample.log",
    benchmark:
        f"{OUT}/benchmarks/pilot_sample/all.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/translate.yaml"
    script:
        "../scripts/pilot_sample.py"


rule pilot_translate:
    input:
        f"{OUT}/translation_pilot/sample.parquet",
    output:
        f"{OUT}/translation_pilot/translations/{{pilot_system}}.parquet",
    params:
        translator=get_pilot_translator_params,
    log:
        f"{OUT}/logs/pilot_translate/{{pilot_system}}.log",
    benchmark:
        f"{OUT}/benchmarks/pilot_translate/{{pilot_system}}.tsv"
    threads: get_model_threads
    resources:
        mem_mb=16000,
        runtime=240,
        gpu=get_pilot_translator_gpus,
    conda:
        "../../envs/translate.yaml"
    script:
        "../scripts/pilot_translate.py"


# One job for every system's translations: the LM (Llama-3.1-8B in the paper's config) and
# the encoder load once.
rule pilot_score:
    input:
        get_pilot_translation_files(),
    output:
        f"{OUT}/translation_pilot/scores.parquet",
    params:
        fluency_lm=canonical_json(SETTINGS.pilot.get("fluency_lm")),
        adequacy_encoder=get_adequacy_encoder_params(),
    log:
        f"{OUT}/logs/pilot_score.log",
    benchmark:
        f"{OUT}/benchmarks/pilot_score/all.tsv"
    threads: get_model_threads
    resources:
        mem_mb=32000,
        runtime=240,
        gpu=get_fluency_lm_gpus(),
    conda:
        "../../envs/translate.yaml"
    script:
        "../scripts/pilot_score.py"


# unbabel-comet pins numpy<2 and transformers<5: COMET-Kiwi runs in its own environment,
# the rule's conda env under --use-conda, else the Python of stages.translation.pilot.comet.
rule pilot_comet:
    input:
        f"{OUT}/translation_pilot/translations/{{pilot_system}}.parquet",
    output:
        f"{OUT}/translation_pilot/comet/{{pilot_system}}.parquet",
    params:
        python=get_comet_python(),
        model=SETTINGS.pilot.get("comet", {}).get("model"),
        batch_size=SETTINGS.pilot.get("comet", {}).get("batch_size"),
        gpus=get_comet_gpus(),
    log:
        f"{OUT}/logs/pilot_comet/{{pilot_system}}.log",
    benchmark:
        f"{OUT}/benchmarks/pilot_comet/{{pilot_system}}.tsv"
    threads: get_model_threads
    resources:
        mem_mb=16000,
        runtime=240,
        gpu=get_comet_gpus(),
    conda:
        "../../envs/comet.yaml"
    shell:
        "{params.python:q} -m clirbench.translate.comet_kiwi --translations {input:q}"
        " --model {params.model:q} --batch-size {params.batch_size} --gpus {params.gpus}"
        " --output {output:q} --log {log:q}"


rule pilot_summary:
    input:
        scores=f"{OUT}/translation_pilot/scores.parquet",
        comet=get_pilot_comet_files(),
    output:
        documents=f"{OUT}/translation_pilot/documents.parquet",
        summary=f"{OUT}/translation_pilot/summary.csv",
    log:
        f"{OUT}/logs/pilot_summary.log",
    benchmark:
        f"{OUT}/benchmarks/pilot_summary/all.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/translate.yaml"
    script:
        "../scripts/pilot_summary.py"
