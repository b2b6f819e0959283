# Stage 6, analyses: significance of the differences between systems per (dataset,
# condition), language bias of their runs, and the correlation of per-pair results with
# lang2vec language similarity (the paper's Table 8): analyses/...


rule significance:
    input:
        unpack(get_significance_inputs),
    output:
        comparisons=f"{OUT}/analyses/{{dataset}}/{{condition}}/significance.parquet",
        intervals=f"{OUT}/analyses/{{dataset}}/{{condition}}/intervals.parquet",
    params:
        systems=get_significance_systems,
        settings=get_significance_params(),
    log:
        f"{OUT}/logs/significance/{{dataset}}/{{condition}}.log",
    benchmark:
        f"{OUT}/benchmarks/significance/{{dataset}}/{{condition}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/analyses.yaml"
    script:
        "../scripts/significance.py"


rule language_bias:
    input:
        unpack(get_language_bias_inputs),
    output:
        shares=f"{OUT}/analyses/{{dataset}}/{{condition}}/own_language_share.parquet",
        roles=f"{OUT}/analyses/{{dataset}}/{{condition}}/retrieved_language_roles.parquet",
        languages=f"{OUT}/analyses/{{dataset}}/{{condition}}/retrieved_languages.parquet",
    params:
        systems=get_language_bias_systems,
        relevance_threshold=get_relevance_threshold,
    log:
        f"{OUT}/logs/language_bias/{{dataset}}/{{condition}}.log",
    benchmark:
        f"{OUT}/benchmarks/language_bias/{{dataset}}/{{condition}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/analyses.yaml"
    script:
        "../scripts/language_bias.py"


rule language_similarity:
    input:
        f"{OUT}/metrics/summary.csv",
    output:
        similarities=f"{OUT}/analyses/language_similarity.parquet",
        correlations=f"{OUT}/analyses/similarity_correlations.parquet",
        matrix=f"{OUT}/analyses/feature_set_correlations.parquet",
    params:
        settings=get_language_similarity_params(),
    log:
        f"{OUT}/logs/language_similarity.log",
    benchmark:
        f"{OUT}/benchmarks/language_similarity/all.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/analyses.yaml"
    script:
        "../scripts/language_similarity.py"
