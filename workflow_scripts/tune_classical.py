"""rule tune_classical: grid search of the classical methods' weights on validation subjects."""

from pathlib import Path

from cardiomm.stages import job, tune

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config):
    tune.tune_classical(sm.params.subjects, sm.input, sm.params.tune, sm.params.classical,
                        "snakemake tune_classical", sm.output.table, sm.output.summary,
                        str(Path(sm.output.plot).with_suffix("")), sm.output.md)
