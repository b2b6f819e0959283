# Stage 5: one self-contained HTML report (tables, heatmaps, run metadata).


rule report:
    input:
        summary=f"{OUT}/metrics/summary.csv",
        datasets=expand(f"{OUT}/data/{{dataset}}/docs.parquet", dataset=DATASETS),
    output:
        report(
            f"{OUT}/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
    params:
        config=canonical_json(config),
        benchmarks=f"{OUT}/benchmarks",
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
