"""Stages of the undersampling: masks and undersampled k-space, and the mask table (rules/undersample.smk)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from cardiomm.atomic import write_csv
from cardiomm.cohort import Subject
from cardiomm.io import cmrxrecon as cio
from cardiomm.workflow import named

log = logging.getLogger("cardiomm")


def undersample(subject: Subject, seed: int, outputs: Mapping[str, str], mask_source: str = "generate") -> None:
    """Write the challenge mask and the undersampled k-space of every modality x mask named in ``outputs``.

    ``outputs``: ``key(modality, mask, "mask" | "kus")`` -> file (:meth:`cardiomm.workflow.Plan.undersample_outputs`).
    One job per subject: the fully sampled k-space of a modality is read once for all its masks.
    ``mask_source``: ``official`` uses the release's own mask file where it has one (else generates), ``generate``
    always generates, with the release's ACS width (:mod:`cardiomm.sampling.release_masks`).
    """
    from cardiomm.io.releases import acs_lines
    from cardiomm.sampling.masks import mask_stats
    from cardiomm.sampling.masks import undersample as apply_mask
    from cardiomm.sampling.release_masks import subject_mask

    files = named(outputs)
    for mod in dict.fromkeys(m for m, _, _ in files):
        k = cio.read_kspace(subject.kspace_path(mod))
        for name in dict.fromkeys(mk for m, mk, _ in files if m == mod):
            m, origin = subject_mask(subject, mod, name, k.shape, seed, mask_source)
            st = mask_stats(m, name, acs_lines(subject.release))
            log.info("%s %s %s: %s, achieved R %.2f (nominal %d)", subject.id, mod, name, origin, st["achieved_R"],
                     st["nominal_R"])
            cio.write_mask(files[(mod, name, "mask")], m, source=origin)
            cio.write_kspace(files[(mod, name, "kus")], apply_mask(k, m), key="kus")


def mask_table(mask_files: Mapping[str, str], out_csv: str, acs: int | None = None) -> None:
    """One row per mask file: where it came from, nominal and achieved acceleration, sampled fraction outside the ACS.

    ``mask_files``: ``key(subject, modality, mask)`` -> mask file; ``acs``: the release's ACS width (default the
    synthetic cohort's).
    """
    import pandas as pd

    from cardiomm.conventions import ACS_LINES, MaskName
    from cardiomm.sampling.masks import mask_stats

    rows = []
    for (sid, _mod, name), f in named(mask_files).items():
        p = Path(f)
        st = mask_stats(cio.read_mask(p), name, acs or ACS_LINES)
        mn = MaskName.of(name)
        rows.append({"subject": sid, "file": p.name, "mask": name, "pattern": mn.pattern,
                     "source": cio.read_attr(p, "cardiomm_mask_source") or "generated", "acs": acs or ACS_LINES,
                     **{k: st[k] for k in ("nominal_R", "achieved_R", "outer_fraction", "acs_complete")}})
    write_csv(pd.DataFrame(rows), out_csv)
