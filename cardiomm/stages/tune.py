"""Stage of the classical baselines' tuning on the validation split (rules/tune.smk)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from cardiomm.atomic import write_csv
from cardiomm.cohort import Subject
from cardiomm.io import cmrxrecon as cio
from cardiomm.workflow import named

log = logging.getLogger("cardiomm")


def tune_classical(subjects: list[Subject], inputs: Mapping[str, str], tune_cfg: dict, classical_params: dict,
                   command: str, out_table: str, out_summary: str, out_plot_stem: str, out_md: str) -> None:
    """Grid search of the tunable classical methods' weights on validation subjects
    (:mod:`cardiomm.recon.classical.tune`).

    ``inputs``: ``key(subject, mod, mask, "mask" | "kus")`` -> undersampled files and ``key(subject, mod, "full",
    "ref")`` -> the reference ``.mat`` (:meth:`cardiomm.workflow.Plan.tune_inputs`); ``tune_cfg`` is the config
    block ``tune_classical:``.
    """
    from cardiomm.atomic import write_text
    from cardiomm.conventions import FULLY_SAMPLED
    from cardiomm.recon.classical.tune import Case, central_slices, choose, grid_search, method_params, plot, report

    bad = [s.id for s in subjects if s.split != "val"]
    if bad:
        raise ValueError(f"tune_classical: only validation subjects may be used for tuning, got {bad}")
    params = method_params(classical_params)
    files = named(inputs)
    modalities = list(dict.fromkeys(m for _, m, mk, _ in files if mk != FULLY_SAMPLED))
    masks = list(dict.fromkeys(mk for _, _, mk, _ in files if mk != FULLY_SAMPLED))
    cases = []
    for s in subjects:
        for mod in modalities:
            ref = cio.read_recon(files[(s.id, mod, FULLY_SAMPLED, "ref")])
            for mk in masks:
                kus = cio.read_kspace(files[(s.id, mod, mk, "kus")], key="kus")
                mask = cio.read_mask(files[(s.id, mod, mk, "mask")])
                for z in central_slices(kus.shape[1], int(tune_cfg["slices"])):
                    cases.append(Case(s.id, mod, mk, z, kus[:, z : z + 1], mask, ref[:, z : z + 1]))
    log.info("tuning on %d validation slices: %s", len(cases), ", ".join(s.id for s in subjects))
    table = grid_search(cases, tune_cfg["grid"], params)
    summary = choose(table)
    write_csv(table, out_table)
    write_csv(summary, out_summary)
    plot(summary, out_plot_stem)
    write_text(out_md, report(cases, summary, params, command))
