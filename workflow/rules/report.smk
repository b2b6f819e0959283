# Stage 5: one self-contained HTML report (tables, heatmaps, run metadata).


rule report:
    input:
        summary=f"{OUT}/metrics/summary.csv",
        run_coverage=f"{OUT}/metrics/run_coverage.csv",
        dataset_counts=get_dataset_count_files(),
        benchmarks=get_benchmark_files(),
        pilot=get_pilot_report_files(),
        translation_summaries=get_translation_summary_files(),
        ann_efficiency=get_ann_efficiency_files(),
        ann_overlap=get_ann_overlap_files(),
        fine_tuning=get_fine_tuning_records(),
        reranking=get_reranking_records(),
        reranked_metrics=get_reranked_metric_files(),
        first_stage_metrics=get_first_stage_metric_files(),
        reranked_queries=get_reranked_query_files(),
        injected=get_injected_tables(),
        significance=get_analysis_files("significance"),
        intervals=get_analysis_files("intervals"),
        own_language=get_analysis_files("own_language_share"),
        roles=get_analysis_files("retrieved_language_roles"),
        correlations=get_analysis_files("similarity_correlations"),
        feature_sets=get_analysis_files("feature_set_correlations"),
        models=get_model_description_outputs(),
    output:
        html=report(
            f"{OUT}/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
        # The page's tables as CSV (the page links the same bytes), captioned per kind.
        tables=report(
            directory(f"{OUT}/tables"),
            patterns=["{table}.csv"],
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}"},
        ),
    params:
        table_captions=TABLE_CAPTIONS,
        metadata=get_report_metadata(),
        translation_labels=get_translation_labels(),
        reranking=get_reranking_report_params(),
        significance=get_significance_params(),
    log:
        f"{OUT}/logs/report.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report.py"


# Every system's scores in MTEB's result layout (<system>/<revision>/<task>.json and
# model_meta.json), for tools that read MTEB results.
rule export_mteb:
    input:
        summary=f"{OUT}/metrics/summary.csv",
        models=f"{OUT}/provenance/models.json",
        # The pools' sizes: "map" is exported only where the runs hold the whole pool.
        dataset_counts=get_dataset_count_files(),
    output:
        directory(f"{OUT}/export/mteb"),
    params:
        systems=get_export_systems(),
        top_k=SETTINGS.top_k,
    log:
        f"{OUT}/logs/export_mteb.log",
    benchmark:
        f"{OUT}/benchmarks/export_mteb/all.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    # PyICU's ISO 639-3 table names the languages.
    conda:
        "../../envs/retrieval.yaml"
    script:
        "../scripts/export_mteb.py"
