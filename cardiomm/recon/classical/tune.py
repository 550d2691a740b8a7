"""Regularisation weights of the classical methods, chosen by a grid search on validation subjects.

For each validation case (subject x modality x mask x slice) the ESPIRiT maps are calibrated once and shared by
every method and weight; each ``(method, lamda)`` of the grid reconstructs the slice and is scored with the
workflow's image-quality metric (PSNR per frame against the fully sampled RSS reference, CMRxRecon
normalisation, :func:`cardiomm.compare.image_quality.frame_metrics`). The chosen weight of a method and series
kind (``cine`` or ``mapping``) maximises the mean PSNR over that kind's cases (every mask pooled: the config holds
one weight per method and kind). A method with a low-rank weight (``lps``: sparse ``lamda``, low-rank
``lamda_lowrank``) has a grid that is the product of two lists, and the chosen pair maximises the mean PSNR. The
tunable methods are those with a tuning grid in the registry (:attr:`cardiomm.methods.Method.tune`), each solved
by its :class:`~cardiomm.recon.classical.series.ClassicalSolver`. Test and external subjects are never used: the
caller passes only ``val``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cardiomm.compare.image_quality import frame_metrics
from cardiomm.conventions import MODALITIES
from cardiomm.methods import REGISTRY
from cardiomm.recon.classical.espirit import espirit_maps
from cardiomm.recon.classical.series import CSParams, solver
from cardiomm.sampling.masks import acs_mask, check_mask


def tuned() -> list[str]:
    """The registered methods with a tuning grid (``tune_classical.grid.<method>``), in table order."""
    return [n for n, m in REGISTRY.items() if m.tune is not None]


@dataclass(frozen=True)
class Case:
    """One validation slice.

    ``kus`` complex ``(nt, 1, nc, ny, nx)``, ``mask`` ``(nt, ny, nx)``, ``ref`` ``(nt, 1, ny, nx)``.
    """

    subject: str
    modality: str
    mask_name: str
    slice: int
    kus: np.ndarray
    mask: np.ndarray
    ref: np.ndarray


def central_slices(nz: int, n: int) -> list[int]:
    """``n`` slice indices spread around the middle of ``nz`` slices (the middle one first)."""
    n = max(1, min(n, nz))
    order = sorted(range(nz), key=lambda z: (abs(z - nz // 2), z))
    return sorted(order[:n])


def grid_points(method: str, weights: list[float] | dict[str, list[float]]) -> list[tuple[float, float | None]]:
    """``(lamda, lamda_lowrank)`` pairs to try: a list of weights (``lamda_lowrank`` None), or for a method with a
    low-rank weight (``lps``) the product of ``{"lamda": [...], "lamda_lowrank": [...]}``."""
    if method not in tuned():
        raise ValueError(f"config tune_classical.grid: unknown method {method!r}; tunable: {tuned()}")
    if solver(method).lowrank:
        if not isinstance(weights, dict) or set(weights) != {"lamda", "lamda_lowrank"}:
            raise ValueError(f"config tune_classical.grid.{method}: must be {{lamda: [...], lamda_lowrank: [...]}}")
        return [(float(a), float(b)) for b in weights["lamda_lowrank"] for a in weights["lamda"]]
    if isinstance(weights, dict):
        raise ValueError(f"config tune_classical.grid.{method}: must be a list of weights")
    return [(float(a), None) for a in weights]


def grid_search(cases: list[Case], grid: dict, params: dict[str, CSParams]) -> pd.DataFrame:
    """PSNR/SSIM of every case x method x weight.

    Parameters
    ----------
    cases: validation slices; grid: method -> weights to try (:func:`grid_points`); params: the methods' other
        parameters (``max_iter``).

    Returns
    -------
    long table: subject, modality, kind, mask, slice, method, lamda, lamda_lowrank (NaN but for ``lps``), psnr,
    ssim (means over frames).
    """
    points = {method: grid_points(method, weights) for method, weights in grid.items()}
    rows = []
    for c in cases:
        check_mask(c.mask, c.kus.shape, c.mask_name, source=f"tune: {c.subject} {c.modality} {c.mask_name}")
        m = np.broadcast_to(np.asarray(c.mask) != 0, (c.kus.shape[0], *c.kus.shape[-2:]))
        y = c.kus[:, 0]
        maps = espirit_maps(y, m, acs_mask(c.mask_name, *y.shape[-2:]))
        kind = MODALITIES[c.modality].kind
        for method, pts in points.items():
            solve = solver(method).solve
            for lam, lam_lr in pts:
                x = solve(y, maps, m, lam, lam_lr, params[method].max_iter, kind == "cine")
                fm = frame_metrics(c.ref, np.abs(x)[:, None])
                rows.append({"subject": c.subject, "modality": c.modality, "kind": kind, "mask": c.mask_name,
                             "slice": c.slice, "method": method, "lamda": lam,
                             "lamda_lowrank": np.nan if lam_lr is None else lam_lr,
                             "psnr": float(np.mean([r["psnr"] for r in fm])),
                             "ssim": float(np.mean([r["ssim"] for r in fm]))})
    return pd.DataFrame(rows)


def choose(table: pd.DataFrame) -> pd.DataFrame:
    """Per method and kind: mean PSNR/SSIM of each weight (pair) and the chosen one (``chosen`` = max mean PSNR)."""
    if table.empty:
        raise ValueError("tune: no validation cases (no val subjects, modalities or masks selected)")
    if "lamda_lowrank" not in table:
        table = table.assign(lamda_lowrank=np.nan)
    g = table.groupby(["method", "kind", "lamda", "lamda_lowrank"], as_index=False, dropna=False).agg(
        psnr=("psnr", "mean"), ssim=("ssim", "mean"), cases=("psnr", "size"))
    g["chosen"] = False
    g.loc[g.groupby(["method", "kind"])["psnr"].idxmax(), "chosen"] = True
    return g


def config_lines(summary: pd.DataFrame, params: dict[str, CSParams], command: str) -> str:
    """The config lines of the tuned methods (``cs:``, ``kttv:``, ...) that the choice implies (for the report)."""
    out = [f"# chosen by `{command}` (mean validation PSNR; see the table)"]
    for method in sorted(set(summary["method"])):
        ch = summary[(summary["method"] == method) & summary["chosen"]].set_index("kind")
        p = params[method]
        keys = [("lamda", "lamda", p.lamda)] + ([("lamda_lowrank", "lamda_lowrank", p.lamda_lowrank)]
                                                if solver(method).lowrank else [])
        parts = []
        for key, col, default in keys:
            parts.append(f"{key}: {ch[col].get('cine', default):g}")
            if "mapping" in ch.index:
                parts.append(f"{key}_mapping: {ch[col]['mapping']:g}")
        order = ["lamda", "lamda_lowrank", "lamda_mapping", "lamda_lowrank_mapping"]
        parts.sort(key=lambda t: order.index(t.split(":")[0]))
        out.append(f"{method}: {{{', '.join(parts)}, max_iter: {p.max_iter}}}")
    return "\n".join(out) + "\n"


def plot(summary: pd.DataFrame, out_stem: str) -> list:
    """Mean validation PSNR against ``lamda`` (log axis), one line per method x kind (x ``lamda_lowrank`` for a
    low-rank method), the choice circled."""
    from cardiomm.figures.plots import plt, save_figure

    fig, ax = plt.subplots(figsize=(8.0, 4.2))
    styles = {m: ("-", "--", ":", "-.")[i % 4] for i, m in enumerate(tuned())}
    for (method, kind, lam_lr), g in summary.groupby(["method", "kind", "lamda_lowrank"], dropna=False):
        g = g.sort_values("lamda")
        tag = "" if np.isnan(lam_lr) else f", lamda_lowrank {lam_lr:g}"
        (line,) = ax.plot(g["lamda"], g["psnr"], marker="o", linestyle=styles.get(method, "-"),
                          label=f"{method} ({kind}{tag})")
        ch = g[g["chosen"]]
        ax.scatter(ch["lamda"], ch["psnr"], s=160, facecolors="none", edgecolors=line.get_color(), linewidths=2)
    ax.set_xscale("log")
    ax.set_xlabel("lamda (relative to a unit-magnitude image)")
    ax.set_ylabel("mean validation PSNR (dB)")
    ax.set_title("Classical baselines: regularisation weight (val split)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    return save_figure(fig, out_stem)


def method_params(classical: Mapping[str, Mapping]) -> dict[str, CSParams]:
    """Each tunable method's parameters from its config block (``classical``: blocks by method name)."""
    return {m: CSParams.from_dict(m, classical.get(m, {})) for m in tuned()}


def report(cases: list[Case], summary: pd.DataFrame, params: dict[str, CSParams],
           command: str) -> str:
    """The tuning report (markdown): what was tuned on, the config lines to paste, the summary table."""
    subjects = list(dict.fromkeys(c.subject for c in cases))
    modalities = list(dict.fromkeys(c.modality for c in cases))
    masks = list(dict.fromkeys(c.mask_name for c in cases))
    lines = ["# Classical baselines: weights from the validation split", "",
             f"subjects: {', '.join(subjects)}; modalities: {', '.join(modalities)}; masks: "
             f"{', '.join(masks)}; {len(cases)} slices", "", "```yaml", config_lines(summary, params, command).rstrip(),
             "```", "", summary.to_markdown(index=False, floatfmt=".4g")]
    return "\n".join(lines) + "\n"
