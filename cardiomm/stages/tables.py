"""Stage that concatenates per-subject long tables into one (rules/compare.smk, rules/segment.smk)."""

from __future__ import annotations

import logging

from cardiomm.atomic import write_csv

log = logging.getLogger("cardiomm")


def concat_tables(inputs: list[str], out_csv: str) -> None:
    """Concatenate long CSV tables (same columns) into one."""
    import pandas as pd

    frames = [pd.read_csv(f) for f in inputs]
    write_csv(pd.concat(frames, ignore_index=True), out_csv)
