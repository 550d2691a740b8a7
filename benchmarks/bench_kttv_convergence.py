"""Convergence of the SigPy k-t TV solver (PDHG) against BART's ``pics -R T`` on the same frames and maps.

One slice of one synthetic test subject (default: P029, cine, mid slice, all frames), every mask of the config,
``kttv.lamda`` of the config. Both engines use the SigPy ESPIRiT maps (so only the solvers differ) and BART's open
(non-circular) temporal difference is matched by ``periodic=False`` on the SigPy side, so the two solve the same
objective ``1/2 ||A x - y||^2 + lamda ||D_t x||_1`` (on the scaled data). For each iteration count: PSNR
against the RSS reference, the objective, the relative distance to a long PDHG run (the best available
minimiser), CPU seconds (process + children). Also the circular difference (the method's choice for cine) and, on
the last mask, other PDHG step balances and SigPy's ADMM at a fixed budget.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_kttv_convergence.py [--subject P029] [--long 1000]

Writes ``benchmarks/results/kttv_convergence.md`` (machine, command, date, goal, met or not).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import sigpy as sp  # noqa: E402

from benchmarks.bench_classical import _cpu, load_slice  # noqa: E402
from cardiomm.atomic import write_text  # noqa: E402
from cardiomm.compare.image_quality import frame_metrics  # noqa: E402
from cardiomm.config import validate_config  # noqa: E402
from cardiomm.recon.classical.bart import bart_available, bart_slice  # noqa: E402
from cardiomm.recon.classical.cs import KTTV, PDHG_TAU, temporal_difference  # noqa: E402
from cardiomm.recon.classical.espirit import _espirit  # noqa: E402
from cardiomm.recon.classical.problem import scaled_problem  # noqa: E402
from cardiomm.recon.classical.zero_filled import zero_filled  # noqa: E402
from cardiomm.sampling.masks import acs_mask, make_mask, undersample  # noqa: E402

OUT = REPO / "benchmarks" / "results"
ITERS = (40, 100, 150, 300)
BART_ITERS = (40, 100)
#: goal: at the configured max_iter, SigPy within this many dB of BART on every mask (same objective, same maps)
GOAL_DB = 0.5


def pdhg(A, y, G, lamda: float, iters: int, tau: float = PDHG_TAU, sigma=None) -> np.ndarray:
    """SigPy PDHG as :func:`cardiomm.recon.classical.cs.kttv_slice` runs it, with the step balance as a parameter."""
    sigma = 1.0 / (5.0 * tau) if sigma is None else sigma
    return np.asarray(sp.app.LinearLeastSquares(A, y, x=A.H(y), proxg=sp.prox.L1Reg(G.oshape, lamda), G=G,
                                                solver="PrimalDualHybridGradient", tau=tau, sigma=sigma,
                                                max_iter=iters, show_pbar=False).run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=REPO / "config.yaml")
    ap.add_argument("--subject", default="P029")
    ap.add_argument("--long", type=int, default=1000, help="iterations of the reference PDHG run")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if not bart_available():
        raise SystemExit("bench_kttv_convergence: needs the bart binary on PATH (Debian: apt-get install -y bart)")

    cfg = validate_config(yaml.safe_load(args.config.read_text()))
    with tempfile.TemporaryDirectory(prefix="bench_kttv_") as tmp:
        k, z, split, _ = load_slice(cfg, args.subject, "cine", None, Path(tmp))
    nt, _, nc, ny, nx = k.shape
    ref = zero_filled(k)
    lam = float(cfg["kttv"]["lamda"])
    configured = int(cfg["kttv"]["max_iter"])
    iters = sorted({*ITERS, configured})

    def psnr(x: np.ndarray) -> float:
        return float(np.mean([r["psnr"] for r in frame_metrics(ref, np.abs(x)[:, None])]))

    rows, extra, gaps = [], [], {}
    for mk in cfg["masks"]:
        mask = make_mask(mk, nt, ny, nx, seed=cfg["mask_seed"]).astype(bool)
        y = undersample(k, mask)[:, 0]
        region = acs_mask(mk, ny, nx)
        maps = _espirit(y, region, calib_width=20)
        A, ys, s = scaled_problem(y, maps, mask)
        G = temporal_difference(A.ishape, periodic=False)

        def obj(x: np.ndarray, A=A, ys=ys, G=G) -> float:
            r = A(x) - ys
            return float(0.5 * np.vdot(r, r).real + lam * np.abs(G(x)).sum())

        c0 = _cpu()
        xs = pdhg(A, ys, G, lam, args.long)
        long_cpu = _cpu() - c0

        def dist(x: np.ndarray, xs=xs) -> float:
            return float(np.linalg.norm(x - xs) / np.linalg.norm(xs))

        rows.append((mk, "sigpy PDHG, open (reference run)", args.long, psnr(xs * s), obj(xs), 0.0, long_cpu))
        for it in iters:
            c0 = _cpu()
            x = pdhg(A, ys, G, lam, it)
            rows.append((mk, "sigpy PDHG, open", it, psnr(x * s), obj(x), dist(x), _cpu() - c0))
            print(f"[bench] {mk} sigpy open {it}: {rows[-1][3]:.2f} dB", flush=True)
        Gp = temporal_difference(A.ishape, periodic=True)
        for it in (40, configured):
            c0 = _cpu()
            x = pdhg(A, ys, Gp, lam, it)
            rows.append((mk, "sigpy PDHG, circular (the method, cine)", it, psnr(x * s), float("nan"),
                         float("nan"), _cpu() - c0))
        for it in sorted({*BART_ITERS, configured}):
            c0 = _cpu()
            xb, _ = bart_slice(KTTV.pics, y, mask, region, lam, it, 20, maps=maps)
            rows.append((mk, "bart pics -R T (ADMM)", it, psnr(xb), obj(xb / s), dist(xb / s), _cpu() - c0))
            print(f"[bench] {mk} bart {it}: {rows[-1][3]:.2f} dB", flush=True)
        sig = {r[2]: r[3] for r in rows if r[0] == mk and r[1] == "sigpy PDHG, open"}
        bart = {r[2]: r[3] for r in rows if r[0] == mk and r[1].startswith("bart")}
        gaps[mk] = {it: sig[it] - bart[it] for it in bart if it in sig}
        if mk == cfg["masks"][-1]:
            n_a = int(np.prod(A.oshape))
            for tau, sa, sg in ((1.0, 0.2, 0.2), (4.0, 0.05, 0.05), (4.0, 0.125, 0.03125), (10.0, 0.02, 0.02)):
                sigma = sa if sa == sg else np.concatenate([np.full(n_a, sa, np.float32),
                                                            np.full(int(np.prod(G.oshape)), sg, np.float32)])
                c0 = _cpu()
                x = pdhg(A, ys, G, lam, configured, tau=tau, sigma=sigma)
                extra.append((mk, f"PDHG tau={tau:g}, sigma_A={sa:g}, sigma_G={sg:g}", configured, psnr(x * s),
                              obj(x), dist(x), _cpu() - c0))
            for rho, cg, it in ((0.2, 5, 20), (0.3, 5, 40), (0.1, 10, 20)):
                c0 = _cpu()
                x = np.asarray(sp.app.LinearLeastSquares(A, ys, x=A.H(ys), proxg=sp.prox.L1Reg(G.oshape, lam), G=G,
                                                         solver="ADMM", rho=rho, max_cg_iter=cg, max_iter=it,
                                                         show_pbar=False).run())
                extra.append((mk, f"SigPy ADMM rho={rho:g}, {cg} CG steps", it, psnr(x * s), obj(x), dist(x),
                              _cpu() - c0))

    met = all(abs(g[configured]) <= GOAL_DB for g in gaps.values())
    env = " ".join(f"{v}={os.environ.get(v, 'unset')}" for v in ("OMP_NUM_THREADS",))
    cmd = f"{env} python {shlex.join(['benchmarks/bench_kttv_convergence.py', *sys.argv[1:]])}"
    head = "| mask | solver | iterations | PSNR (dB) | objective (open TV) | distance to reference run | CPU s |"
    lines = [
        "# k-t TV: SigPy PDHG convergence against BART",
        "",
        f"- date (UTC): {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M:%S')}",
        f"- command: `{cmd}`",
        f"- machine: {platform.platform()}, os.cpu_count()={os.cpu_count()}, load average at the end "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} (shared machine: other jobs were running, so CPU "
        "seconds are indicative)",
        f"- software: sigpy {sp.__version__}, bart: {bart_available()}",
        f"- data: synthetic subject {args.subject} ({split}), cine, slice {z}, {nt} frames, {nc} coils, {ny} x {nx}; "
        f"masks with mask_seed {cfg['mask_seed']}; kttv lamda {lam}; both engines on SigPy's ESPIRiT maps",
        "- objective: 1/2 ||A x - y||^2 + lamda ||D_t x||_1 with BART's open difference, on the data scaled as "
        "cardiomm.recon.classical.cs does; distance: ||x - x_ref|| / ||x_ref||, x_ref the long PDHG run",
        "",
        head,
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    fmt = "| {} | {} | {} | {:.2f} | {:.4f} | {:.4f} | {:.1f} |"
    lines += [fmt.format(*r) for r in rows]
    lines += ["", f"Other solvers at the configured budget (mask {cfg['masks'][-1]}):", "", head,
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [fmt.format(*r) for r in extra]
    lines += ["", "SigPy (open) minus BART, dB: " + "; ".join(
        f"{mk}: " + ", ".join(f"{it} it {g:+.2f}" for it, g in sorted(gs.items())) for mk, gs in gaps.items()),
        "", f"Goal (SigPy within {GOAL_DB} dB of BART on every mask at the configured max_iter = {configured}): "
        f"**{'met' if met else 'NOT met'}**."]
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "kttv_convergence.md", "\n".join(lines) + "\n")
    print(f"[bench] wrote {args.out / 'kttv_convergence.md'}")


if __name__ == "__main__":
    main()
