"""Stages of the run's records: its provenance manifest and its cost per stage (rules/report.smk)."""

from __future__ import annotations

import logging
from pathlib import Path

from cardiomm.atomic import write_csv

log = logging.getLogger("cardiomm")


def provenance_manifest(config: dict, models: dict[str, str], out_json: str) -> None:
    """``provenance.json``: code version, config hash, software versions, checkpoint hashes, the config."""
    import json

    from cardiomm.atomic import write_text
    from cardiomm.provenance import manifest

    write_text(out_json, json.dumps(manifest(config, models), indent=2, default=str) + "\n")


def stage_costs(runs_dir: str, reference_niftis: list[str], n_masks: int, cores: int, out_csv: str,
                out_md: str) -> None:
    """The run's cost per stage x method (:func:`cardiomm.costs.stage_cost_table`), as CSV and markdown.

    ``reference_niftis`` are ``.../recon/reference/full/<subject>/<modality>.nii.gz``: their headers give the
    2D frames per subject.
    """
    from cardiomm import costs
    from cardiomm.atomic import write_text

    frames: dict[str, int] = {}
    for f in reference_niftis:
        sid = Path(f).parent.name
        frames[sid] = frames.get(sid, 0) + costs.frames_in_nifti(f)
    table = costs.stage_cost_table(costs.read_benchmarks(runs_dir), frames, n_masks)
    write_csv(table, out_csv)
    write_text(out_md, costs.markdown(table, cores, f"# Stage costs of this run ({runs_dir})\n"))
