"""rule tune_classical: grid search of the cs / kttv / lps weights on validation subjects."""

from pathlib import Path

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config):
    stages.tune_classical(sm.params.subjects, sm.input, sm.params.tune, sm.params.classical,
                          "snakemake tune_classical", sm.output.table, sm.output.summary,
                          str(Path(sm.output.plot).with_suffix("")), sm.output.md)
