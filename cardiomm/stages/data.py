"""Stages of the synthetic cohort: its subject table and one subject's files (rules/data.smk)."""

from __future__ import annotations

import logging

from cardiomm.cohort import write_subjects_csv

log = logging.getLogger("cardiomm")


def cohort_table(phantom_cfg: dict, out_csv: str) -> None:
    """Write ``subjects.csv`` of the synthetic cohort defined by ``phantom_cfg``."""
    from cardiomm.phantom.generate import PhantomConfig, cohort_specs

    cfg = PhantomConfig.from_dict(phantom_cfg)
    write_subjects_csv(out_csv, [s.row(cfg) for s in cohort_specs(cfg)])


def synthesize(phantom_cfg: dict, subject: str, root: str, rescan: bool = False) -> None:
    """Generate one synthetic subject (k-space, timing, labels, truth) under ``root``; with ``rescan`` also the
    repeated acquisition of every series (the null control's k-space)."""
    from cardiomm.phantom.generate import PhantomConfig, spec_by_id, write_subject

    cfg = PhantomConfig.from_dict(phantom_cfg)
    spec = spec_by_id(cfg, subject)
    log.info("synthesising %s (%s, %s, %.2f T, %d raw coils%s)", subject, spec.split, spec.disease,
             spec.field_strength_T, spec.n_coils_raw, ", acquired twice" if rescan else "")
    write_subject(spec, cfg, root, rescan=rescan)
