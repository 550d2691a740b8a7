"""Stage functions called by the workflow scripts: file in, file out, no Snakemake needed; one module per stage.

Each function takes explicit paths and parameters, reads with :mod:`cardiomm.io`, calls the science of its own
domain, and writes atomically. The scripts under ``workflow_scripts/`` only unpack the ``snakemake`` object and
call one of these (``from cardiomm.stages import recon; recon.reconstruct(...)``); every job runs inside
:func:`cardiomm.stages.job.logged`. This package's face imports nothing, so a job imports only its own stage.
"""
