"""Compare the result tables of two workflow runs (used by tests/slurm/run_slurm_test.sh).

Usage: ``python tests/slurm/compare_tables.py DIR_A DIR_B``

Every ``*.csv`` of either folder must exist in both and be byte-identical. Prints one line per table and exits
non-zero on any difference; for a differing table it also prints the columns that differ and, for numeric
columns, the largest absolute difference, so that a difference can be explained rather than just reported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def describe_difference(a: Path, b: Path) -> list[str]:
    """Human-readable lines saying how two CSV tables differ (shape, columns, values)."""
    da, db = pd.read_csv(a), pd.read_csv(b)
    if list(da.columns) != list(db.columns):
        return [f"  columns differ: {sorted(set(da.columns) ^ set(db.columns))}"]
    if da.shape != db.shape:
        return [f"  shapes differ: {da.shape} vs {db.shape}"]
    lines = []
    for col in da.columns:
        x, y = da[col], db[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv, yv = x.to_numpy(float), y.to_numpy(float)
            both_nan = np.isnan(xv) & np.isnan(yv)
            diff = np.where(both_nan, 0.0, np.abs(xv - yv))
            if np.any(np.isnan(diff)) or np.any(diff > 0):
                n = int(np.sum((diff > 0) | np.isnan(diff)))
                lines.append(f"  {col}: {n} rows differ, max |diff| = {np.nanmax(diff):.3g}")
        elif not x.astype(str).equals(y.astype(str)):
            n = int((x.astype(str) != y.astype(str)).sum())
            lines.append(f"  {col}: {n} rows differ (text)")
    return lines or ["  same values, different bytes (formatting or row order)"]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    da, db = Path(argv[1]), Path(argv[2])
    for d in (da, db):
        if not d.is_dir():
            print(f"error: {d} is not a directory", file=sys.stderr)
            return 2
    names = sorted({p.name for p in da.glob("*.csv")} | {p.name for p in db.glob("*.csv")})
    if not names:
        print(f"error: no CSV tables in {da} or {db}", file=sys.stderr)
        return 2
    ok = True
    for name in names:
        a, b = da / name, db / name
        if not a.exists() or not b.exists():
            print(f"{name}: only in {b if not a.exists() else a}")
            ok = False
        elif a.read_bytes() == b.read_bytes():
            rows = sum(1 for _ in a.open()) - 1
            print(f"{name}: identical ({rows} rows)")
        else:
            print(f"{name}: DIFFERENT")
            print("\n".join(describe_difference(a, b)))
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
