"""Paper figures: Bland-Altman and identity grids, image-quality distributions, reconstruction panels,
parametric maps, segmentation overlays.

Every function draws with matplotlib (Agg backend, no display needed) and seaborn, saves the figure as
``<out_stem>.png`` and ``<out_stem>.pdf`` through :func:`cardiomm.atomic.atomic_path` (an interrupted
job leaves no half-written figure) and returns the two paths.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are rendered on cluster nodes without a display

import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen before pyplot is imported
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from cardiomm.atomic import atomic_path  # noqa: E402
from cardiomm.compare.agreement import (  # noqa: E402
    MIN_PAIRS,
    bland_altman,
    mask_sort_key,
    paired_values,
    validate_indicator_table,
)
from cardiomm.compare.audit import default_tolerances, glance_cell, method_label, verdict_matrix  # noqa: E402
from cardiomm.compare.verdict import INCONCLUSIVE, NOT_PRESERVED, PRESERVED, verdict  # noqa: E402
from cardiomm.conventions import INDICATORS, LV_BLOOD, LV_MYO, RV_BLOOD, unit  # noqa: E402
from cardiomm.methods import CONTROLS as CONTROL_METHODS  # noqa: E402
from cardiomm.methods import METHODS  # noqa: E402

FORMATS = ("png", "pdf")
DPI = 150
LABEL_COLOURS: dict[int, tuple[str, str]] = {
    LV_BLOOD: ("LV blood pool", "#e41a1c"),
    LV_MYO: ("LV myocardium", "#4daf4a"),
    RV_BLOOD: ("RV blood pool", "#377eb8"),
}
MAP_CMAPS = {"T1": "magma", "T2": "viridis", "T1rho": "plasma"}
def method_palette() -> dict[str, tuple]:
    """One colour per registered method, in registry order (a method registered later gets one too)."""
    return dict(zip(METHODS, sns.color_palette("colorblind", len(METHODS)), strict=True))
#: verdict colours (ColorBrewer RdYlGn ends, a neutral grey), each with the text colour legible on it; the mark
#: (✓ ✗ ?) is printed too, so the map does not rely on colour alone
VERDICT_STYLE: dict[str, tuple[str, str, str]] = {
    PRESERVED: ("✓", "#1a9850", "white"), NOT_PRESERVED: ("✗", "#d73027", "white"),
    INCONCLUSIVE: ("?", "#d9d9d9", "black"), "n/a": ("", "#f7f7f7", "0.45"),
}
#: font sizes (pt) of the Bland-Altman / identity grids, large enough to read at 1:1 on a screen
GRID_FONT = {"title": 10, "label": 9.5, "tick": 9, "suptitle": 14, "key": 10}
GRID_DPI = 110


def save_figure(fig: plt.Figure, out_stem: str | os.PathLike, *, tight: bool = True, dpi: int = DPI) -> list[Path]:
    """Save ``fig`` as ``<out_stem>.png`` and ``.pdf`` atomically, close it, return the paths.

    ``tight=False`` skips the bounding-box pass for figures laid out by hand (the large grids),
    which halves their rendering time.
    """
    paths = []
    try:
        for fmt in FORMATS:
            path = Path(f"{os.fspath(out_stem)}.{fmt}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight" if tight else None)
            os.chmod(path, 0o644)  # mkstemp creates 0600; figures are meant to be shared (report, web)
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def _grid_cells(df: pd.DataFrame, comparator: str, method: str) -> tuple[pd.DataFrame, list[str], list[str]]:
    data = validate_indicator_table(df)
    if not (data["method"] == comparator).any():
        raise ValueError(f"df: no rows with comparator method {comparator!r}")
    sel = data[data["method"] == method]
    if sel.empty:
        raise ValueError(f"df: no rows with method {method!r}; present: {sorted(data['method'].unique())}")
    indicators = [i for i in INDICATORS if i in set(sel["indicator"])]
    masks = sorted(sel["mask"].unique(), key=mask_sort_key)
    return data, indicators, masks


def _empty_panel(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=GRID_FONT["label"],
            color="0.4", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _pair_grid(
    df: pd.DataFrame, comparator: str, method: str, kind: str, tolerances: dict[str, float] | None
) -> plt.Figure:
    """Shared body of the Bland-Altman and identity grids: indicators (rows) x masks (columns)."""
    data, indicators, masks = _grid_cells(df, comparator, method)
    tol = default_tolerances()[0] if tolerances is None else tolerances
    nr, nc = len(indicators), len(masks)
    fig, axes = _grid_figure(nr, nc)
    colour = method_palette().get(method, "C0")
    m_lab, c_lab = method_label(method), method_label(comparator)
    for i, ind in enumerate(indicators):
        u = unit(ind)
        for j, mask in enumerate(masks):
            ax = axes[i, j]
            pairs, n_failed, n_nonfinite, _ = paired_values(data, ind, method, mask, comparator)
            if len(pairs) < MIN_PAIRS:  # same rule as agreement_table, so figure and table agree
                ax.set_title(f"{ind} · {mask}", fontsize=GRID_FONT["title"])
                _empty_panel(ax, f"not computable\n(n={len(pairs)}, {n_failed + n_nonfinite} QC-failed/NaN)")
                continue
            m, c = pairs["method"].to_numpy(), pairs["comparator"].to_numpy()
            if kind == "bland_altman":
                stats_txt, v = _bland_altman_axes(ax, m, c, tol.get(ind, np.nan), u, colour)
                ax.set_xlabel(f"mean of the pair ({u})", fontsize=GRID_FONT["label"])
                ax.set_ylabel(f"difference ({u})", fontsize=GRID_FONT["label"])
            else:
                stats_txt, v = _identity_axes(ax, m, c, colour), None
                ax.set_xlabel(f"{c_lab} ({u})", fontsize=GRID_FONT["label"])
                ax.set_ylabel(f"{m_lab} ({u})", fontsize=GRID_FONT["label"])
            # statistics go in the title, where they cannot hide data points; the verdict in its colour
            tol_i = tol.get(ind, np.nan)
            head = f"{ind} · {mask}" + (f" (tolerance ±{tol_i:g})" if kind == "bland_altman" and np.isfinite(tol_i)
                                        else "")
            title = ax.set_title(f"{head}\n{stats_txt}", fontsize=GRID_FONT["title"])
            if v is not None:
                title.set_color(VERDICT_STYLE[v][1] if v != INCONCLUSIVE else "0.25")
            ax.tick_params(labelsize=GRID_FONT["tick"])
    title = "Bland-Altman" if kind == "bland_altman" else "Agreement"
    h = fig.get_figheight()
    fig.suptitle(f"{title}: {m_lab} vs {c_lab}", fontsize=GRID_FONT["suptitle"], y=1 - 0.15 / h)
    key = (
        "difference = method − comparator; solid: bias; dashed: 95% limits of agreement;\n"
        "grey band: ± tolerance; second title line: verdict (✓ preserved, ✗ not preserved, ? inconclusive)"
        if kind == "bland_altman"
        else "dashed: identity line; r: Pearson correlation"
    )
    fig.text(0.5, 1 - 0.5 / h, key, ha="center", va="top", fontsize=GRID_FONT["key"] - (1 if nc == 1 else 0),
             color="0.3")
    return fig


def _grid_figure(nr: int, nc: int) -> tuple[plt.Figure, np.ndarray]:
    """A grid with fixed margins in inches; tight_layout on 40+ panels costs seconds and is not needed. Panels
    and gaps are sized for :data:`GRID_FONT` (two title lines, axis labels and ticks at 9-10 pt)."""
    pw, ph, left, right, top, bottom, gap_w, gap_h = 3.4, 2.2, 0.9, 0.25, 1.45, 0.7, 1.0, 1.15
    if nc == 1:  # a one-column grid (the null control: one "mask") would squeeze the key into its width
        pw = 5.2
    w = left + right + nc * pw + (nc - 1) * gap_w
    h = top + bottom + nr * ph + (nr - 1) * gap_h
    fig, axes = plt.subplots(nr, nc, figsize=(w, h), squeeze=False)
    fig.subplots_adjust(
        left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h, wspace=gap_w / pw, hspace=gap_h / ph
    )
    return fig, axes


def _bland_altman_axes(ax: plt.Axes, m: np.ndarray, c: np.ndarray, tol: float, u: str, colour: object
                       ) -> tuple[str, str]:
    """Draw one Bland-Altman panel; return its one-line statistics and its verdict."""
    ba = bland_altman(m, c)
    mean, diff = (m + c) / 2, m - c
    if np.isfinite(tol):
        ax.axhspan(-tol, tol, color="0.85", alpha=0.6, lw=0, label=f"tolerance ±{tol:g} {u}")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.scatter(mean, diff, s=22, color=colour, edgecolor="k", lw=0.4, zorder=3)
    ax.axhline(ba["bias"], color="k", lw=1.0, label=f"bias {ba['bias']:.3g}")
    for key in ("loa_low", "loa_high"):
        ax.axhline(ba[key], color="k", lw=0.8, ls="--")
    span = np.nanmax(np.abs([ba["loa_low"], ba["loa_high"], tol if np.isfinite(tol) else 0, *diff]))
    ax.set_ylim(-1.25 * span - 1e-12, 1.25 * span + 1e-12)
    v, need, _ = verdict(ba, m.size, tol)  # same rule as the audit, so figure and table agree
    n_txt = f"n={m.size}" + (f", ≥{int(need)} to decide" if v == INCONCLUSIVE and np.isfinite(need) else "")
    return f"{VERDICT_STYLE[v][0]} bias {ba['bias']:.3g}, LoA [{ba['loa_low']:.3g}, {ba['loa_high']:.3g}] ({n_txt})", v


def _identity_axes(ax: plt.Axes, m: np.ndarray, c: np.ndarray, colour: object) -> str:
    """Draw one method-vs-comparator panel with the identity line; return its one-line statistics."""
    lo, hi = float(min(m.min(), c.min())), float(max(m.max(), c.max()))
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.05
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=0.8, ls="--")
    ax.scatter(c, m, s=22, color=colour, edgecolor="k", lw=0.4, zorder=3)
    r = np.corrcoef(m, c)[0, 1] if np.ptp(m) > 0 and np.ptp(c) > 0 else np.nan
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    return f"n={m.size}, r={r:.3f}" if np.isfinite(r) else f"n={m.size}, r undefined"


def bland_altman_grid(
    df: pd.DataFrame,
    comparator: str,
    method: str,
    out_stem: str | os.PathLike,
    *,
    tolerances: dict[str, float] | None = None,
) -> list[Path]:
    """Bland-Altman plots, indicators (rows) x masks (columns), for one method against a comparator.

    Parameters
    ----------
    df : long indicator table (:data:`cardiomm.compare.agreement.INDICATOR_COLUMNS`).
    comparator : ``"reference"`` or ``"truth"``.
    method : the method drawn (one of :data:`cardiomm.conventions.METHODS`, or ``"reference"``
        against ``"truth"``).
    out_stem : output path without extension.
    tolerances : indicator -> tolerance (shaded band); default :func:`default_tolerances`.

    Each panel: x = mean of the pair, y = method - comparator (indicator's unit), bias (solid) and
    limits of agreement (dashed), tolerance band shaded. Panels with < 2 valid pairs say so.
    """
    fig = _pair_grid(df, comparator, method, "bland_altman", tolerances)
    return save_figure(fig, out_stem, tight=False, dpi=GRID_DPI)


def scatter_identity(df: pd.DataFrame, comparator: str, method: str, out_stem: str | os.PathLike) -> list[Path]:
    """Method vs comparator scatter with the identity line and Pearson r; same grid as :func:`bland_altman_grid`."""
    fig = _pair_grid(df, comparator, method, "identity", None)
    return save_figure(fig, out_stem, tight=False, dpi=GRID_DPI)


def verdict_heatmap(agreement: pd.DataFrame, tolerances: dict[str, float], out_stem: str | os.PathLike,
                    comparator: str | None = None) -> list[Path]:
    """The audit's verdict map: indicators (rows) x method x mask (columns), colour = verdict, text = bias.

    Parameters
    ----------
    agreement : agreement rows (:func:`cardiomm.compare.agreement.agreement_table`; several comparators allowed).
    tolerances : indicator -> tolerance; the verdicts are recomputed from them, as the audit's text does
        (:func:`cardiomm.compare.audit.verdict_matrix`, the same cells as the audit's text matrix).
    comparator : which comparator's cells (default: ``reference`` if present, else the first).
    out_stem : output path without extension.

    The null control's column comes first, set apart by a thick line; a cell without statistics is pale with
    "n/a". The title gives the comparator and the largest n.
    """
    comps = list(dict.fromkeys(agreement["comparator"]))
    if not comps:
        raise ValueError("agreement: no rows, nothing to draw")
    comp = comparator or ("reference" if "reference" in comps else comps[0])
    indicators, cols, cells = verdict_matrix(agreement[agreement["comparator"] == comp], tolerances)
    nr, nc = len(indicators), len(cols)
    cw, rh, left, top, bottom = 0.95, 0.42, 1.45, 1.3, 1.55
    # at least 6.5 in wide, so that the title and the legend fit above and below a run with few columns
    fig, ax = plt.subplots(figsize=(max(6.5, left + nc * cw + 0.3), top + nr * rh + bottom))
    fig.subplots_adjust(left=left / fig.get_figwidth(), right=1 - 0.3 / fig.get_figwidth(),
                        top=1 - top / fig.get_figheight(), bottom=bottom / fig.get_figheight())
    order = [PRESERVED, NOT_PRESERVED, INCONCLUSIVE, "n/a"]
    codes = np.full((nr, nc), order.index("n/a"))
    for i, ind in enumerate(indicators):
        for j, (m, k) in enumerate(cols):
            r = cells.get((ind, m, k))
            if r is None:
                continue
            v = r["verdict"] if np.isfinite(r["bias"]) else "n/a"
            codes[i, j] = order.index(v)
            fg = VERDICT_STYLE[v][2]
            ax.text(j, i, glance_cell(r).replace("-", "−"), ha="center", va="center", fontsize=8.5, color=fg)
    ax.imshow(codes, cmap=ListedColormap([VERDICT_STYLE[v][1] for v in order]), vmin=-0.5, vmax=len(order) - 0.5,
              aspect="auto", interpolation="nearest")
    ax.set_xticks(range(nc), [f"{method_label(m)}\n{k}" for m, k in cols], rotation=60, ha="right",
                  rotation_mode="anchor", fontsize=8.5)
    ax.set_yticks(range(nr), [f"{i} ({unit(i)})" for i in indicators], fontsize=9)
    ax.set_xticks(np.arange(nc + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(nr + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    methods = [m for m, _ in cols]
    for j in range(1, nc):  # a line between methods; a thick one after the null control
        if methods[j] != methods[j - 1]:
            thick = methods[j - 1] in CONTROL_METHODS and methods[j] not in CONTROL_METHODS
            ax.axvline(j - 0.5, color="k", lw=2.5 if thick else 0.9)
    n = int(max((r["n"] for r in cells.values()), default=0))
    ax.set_title(f"Verdicts against the {comp} (n ≤ {n} subjects per cell)\ntext: bias (method − {comp})",
                 fontsize=11, loc="left")
    handles = [Patch(facecolor=VERDICT_STYLE[v][1], edgecolor="0.6", label=f"{VERDICT_STYLE[v][0]} {v}".strip())
               for v in order]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=9, frameon=False)
    return save_figure(fig, out_stem)


IQ_COLUMNS = ("subject", "split", "modality", "slice", "frame", "method", "mask", "psnr", "ssim", "nmse")


def quality_distributions(iq_df: pd.DataFrame, out_stem: str | os.PathLike) -> list[Path]:
    """PSNR (dB) and SSIM distributions per mask (x) and method (hue) as box plots with points.

    Parameters
    ----------
    iq_df : image-quality table with :data:`IQ_COLUMNS`, one row per image (subject x modality x
        slice x frame x method x mask). Rows of the fully sampled reference (infinite PSNR) and
        non-finite values are left out.
    """
    missing = [c for c in IQ_COLUMNS if c not in iq_df.columns]
    if missing:
        raise ValueError(f"iq_df: missing columns {missing}; expected {list(IQ_COLUMNS)}")
    data = iq_df[iq_df["method"].isin(METHODS)].copy()
    if data.empty:
        raise ValueError(f"iq_df: no rows of the accelerated methods {list(METHODS)}")
    methods = [m for m in METHODS if m in set(data["method"])]
    masks = sorted(data["mask"].unique(), key=mask_sort_key)
    data["Method"] = data["method"].map(method_label)
    colours = method_palette()
    palette = {method_label(m): colours[m] for m in methods}
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 2.4 * len(masks) * 2), 4.0))
    for ax, col, ylabel in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ssim", "SSIM (unitless)")):
        sub = data[np.isfinite(data[col].astype(float))]
        kw = dict(x="mask", y=col, hue="Method", order=masks, hue_order=[method_label(m) for m in methods])
        with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11's deprecated `vert`
            warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
            sns.boxplot(data=sub, ax=ax, palette=palette, fliersize=0, linewidth=0.8, **kw)
        black = dict.fromkeys(palette, "k")
        sns.stripplot(data=sub, ax=ax, dodge=True, size=2, palette=black, alpha=0.35, legend=False, **kw)
        ax.set_xlabel("undersampling mask")
        ax.set_ylabel(ylabel)
        ax.set_title(ylabel.split(" ")[0])
        ax.grid(axis="y", lw=0.4, alpha=0.5)
    axes[1].get_legend().remove()
    axes[0].legend(title="method", fontsize=8, title_fontsize=8)
    fig.suptitle("Image quality against the fully sampled reference")
    fig.tight_layout()
    return save_figure(fig, out_stem)


def _check_2d(name: str, a: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2D array (ny, nx), got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name}: shape {a.shape} differs from the reference shape {shape}")
    return a


def recon_panel(
    images: dict[str, np.ndarray],
    ref: np.ndarray,
    metrics: dict[str, tuple[float, float]],
    title: str,
    out_stem: str | os.PathLike,
    *,
    error_scale: float = 5.0,
) -> list[Path]:
    """Reference and reconstructions in a row, absolute error maps below, PSNR / SSIM annotated.

    Parameters
    ----------
    images : label (e.g. ``"SENSE ktRadial24"``) -> magnitude image of shape (ny, nx), same
        intensity scale as ``ref`` (complex input is shown as its magnitude).
    ref : fully sampled reference magnitude, shape (ny, nx).
    metrics : label -> (PSNR in dB, SSIM); labels without metrics are drawn unannotated.
    title : figure title.
    out_stem : output path without extension.
    error_scale : error maps are shown on [0, max(ref) / error_scale] (so errors are visible), as is
        customary in reconstruction papers; the colour bar states the scale.
    """
    if not images:
        raise ValueError("images: need at least one reconstruction to show")
    ref = np.abs(_check_2d("ref", ref))
    imgs = {k: np.abs(_check_2d(f"images[{k!r}]", v, ref.shape)) for k, v in images.items()}
    vmax = float(np.percentile(ref, 99.5)) or 1.0
    emax = vmax / error_scale
    n = len(imgs) + 1
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n + 0.8, 5.6), squeeze=False)
    im = axes[0, 0].imshow(ref, cmap="gray", vmin=0, vmax=vmax)
    axes[0, 0].set_title("Reference", fontsize=9)
    axes[1, 0].axis("off")
    for j, (label, img) in enumerate(imgs.items(), start=1):
        axes[0, j].imshow(img, cmap="gray", vmin=0, vmax=vmax)
        axes[0, j].set_title(label, fontsize=9)
        err = axes[1, j].imshow(np.abs(img - ref), cmap="inferno", vmin=0, vmax=emax)
        axes[1, j].set_title(f"|error| ×{error_scale:g}", fontsize=8)
        if label in metrics:
            psnr, ssim = metrics[label]
            axes[0, j].text(
                0.03, 0.03, f"PSNR {psnr:.2f} dB\nSSIM {ssim:.3f}", transform=axes[0, j].transAxes,
                color="yellow", fontsize=8, va="bottom",
            )  # fmt: skip
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[0, :].tolist(), fraction=0.015, pad=0.01, label="magnitude (a.u.)")
    if n > 1:
        fig.colorbar(err, ax=axes[1, :].tolist(), fraction=0.015, pad=0.01, label="absolute error (a.u.)")
    fig.suptitle(title)
    return save_figure(fig, out_stem)


def _shared_windows(maps: dict[str, np.ndarray], myo: np.ndarray) -> dict[str, tuple[float, float]]:
    """Default display window per biomarker (first word of the map name), pooled over its maps."""
    pooled: dict[str, list[np.ndarray]] = {}
    for name, m in maps.items():
        sel = (myo if myo.any() else np.ones_like(myo)) & np.isfinite(m)
        pooled.setdefault(name.split()[0], []).append(m[sel])
    out = {}
    for key, parts in pooled.items():
        vals = np.concatenate(parts)
        if vals.size == 0:
            out[key] = (0.0, 1.0)
            continue
        p2, p98 = np.percentile(vals, [2, 98])
        pad = 0.5 * (p98 - p2) if p98 > p2 else max(abs(p98), 1.0) * 0.1
        out[key] = (max(0.0, float(p2 - pad)), float(p98 + pad))
    return out


def maps_panel(
    maps: dict[str, np.ndarray],
    myo_mask: np.ndarray,
    vmin_vmax: dict[str, tuple[float, float]],
    out_stem: str | os.PathLike,
    *,
    title: str | None = None,
) -> list[Path]:
    """Parametric maps (T1, T2, T1rho; ms) side by side, each with its colour bar and the myocardial contour.

    Parameters
    ----------
    maps : name -> map of shape (ny, nx) in ms. Names are biomarkers (``"T1"``, ``"T2"``,
        ``"T1rho"``), optionally with a suffix such as ``"T1 CardioMM"``; the first word picks
        the colour map and unit.
    myo_mask : boolean (or label) array (ny, nx); nonzero = myocardium, outlined in white.
    vmin_vmax : display window (ms) by map name or by biomarker (first word). Biomarkers without a
        window share one across all their maps, so e.g. "T1 reference" and "T1 cardiomm ktRadial24"
        are directly comparable: the 2nd-98th percentile of the myocardial values of all those maps,
        widened by half its width on both sides (never below 0).
    """
    if not maps:
        raise ValueError("maps: need at least one parametric map")
    name0, first = next(iter(maps.items()))
    myo = _check_2d("myo_mask", myo_mask, _check_2d(f"maps[{name0!r}]", first).shape) != 0
    arrays = {name: _check_2d(f"maps[{name!r}]", m, myo.shape).astype(float) for name, m in maps.items()}
    windows = _shared_windows(arrays, myo)
    n = len(arrays)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.6), squeeze=False)
    for ax, (name, m) in zip(axes[0], arrays.items(), strict=True):
        key = name.split()[0]
        u = unit(key) if key in INDICATORS else "ms"
        lo, hi = vmin_vmax.get(name, vmin_vmax.get(key, windows[key]))
        im = ax.imshow(m, cmap=MAP_CMAPS.get(key, "viridis"), vmin=lo, vmax=hi)
        if myo.any():
            ax.contour(myo.astype(float), levels=[0.5], colors="w", linewidths=0.8)
        inside = m[myo & np.isfinite(m)]
        sub = f"\nmyocardium {np.mean(inside):.0f} ± {np.std(inside):.0f} {u}" if inside.size else ""
        ax.set_title(f"{name}{sub}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label=f"{key} ({u})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_stem)


def segmentation_overlay(
    image: np.ndarray, labels: np.ndarray, title: str, out_stem: str | os.PathLike, *, alpha: float = 0.45
) -> list[Path]:
    """Magnitude image with the label map overlaid (1 LV blood, 2 LV myocardium, 3 RV blood) and a legend.

    Parameters
    ----------
    image : magnitude image (ny, nx); complex input is shown as its magnitude.
    labels : integer label map (ny, nx) with values in {0, 1, 2, 3} (:mod:`cardiomm.conventions`).
    """
    img = np.abs(_check_2d("image", image))
    lab = _check_2d("labels", labels, img.shape)
    values = set(np.unique(lab).tolist())
    bad = values - {0, *LABEL_COLOURS}
    if bad:
        raise ValueError(f"labels: unexpected values {sorted(bad)}; allowed 0 and {sorted(LABEL_COLOURS)}")
    cmap = ListedColormap([(0, 0, 0, 0)] + [LABEL_COLOURS[k][1] for k in sorted(LABEL_COLOURS)])
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 4.2))
    vmax = float(np.percentile(img, 99.5)) or 1.0
    for ax in axes:
        ax.imshow(img, cmap="gray", vmin=0, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
    masked = np.ma.masked_equal(lab.astype(int), 0)
    axes[1].imshow(masked, cmap=cmap, vmin=-0.5, vmax=len(LABEL_COLOURS) + 0.5, alpha=alpha, interpolation="nearest")
    axes[0].set_title("image", fontsize=9)
    axes[1].set_title("segmentation", fontsize=9)
    handles = [Patch(color=c, label=f"{k} {name}") for k, (name, c) in sorted(LABEL_COLOURS.items())]
    axes[1].legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.8)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_stem)
