"""rule synthesize: render one synthetic subject in the CMRxRecon layout with its ground truth."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0]):
    stages.synthesize(sm.params.phantom, sm.wildcards.subject, sm.params.root)
