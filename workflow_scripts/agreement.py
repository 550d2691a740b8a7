"""rule agreement: agreement statistics and the preservation audit."""

from cardiomm.stages import compare, job

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    compare.agreement(sm.input.phenotypes, sm.input.biomarkers, sm.params.comparator, sm.params.tolerances,
                      sm.params.cohort, sm.output.agreement, sm.output.audit,
                      sm.output.audit_html, sm.output.heatmap, sm.params.null_control, sm.params.powered_n)
