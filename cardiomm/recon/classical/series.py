"""A whole series with one iterative classical method, on SigPy or BART, one ESPIRiT calibration per slice.

Each classical method (``sense``, ``cs``, ``kttv``, ``lps``, and any added one) is one :class:`ClassicalSolver`
in its own module, named by the method's registry entry (:data:`cardiomm.methods.REGISTRY`): how it solves one
slice on SigPy, and its BART ``pics`` regularisation if BART has one. The solver object is the entry point itself
(``solver(name, params) -> Reconstructor``), so nothing here or elsewhere dispatches on a method's name; the
parameters of every method are one :class:`CSParams`, read from the method's config block with the registry's
defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from cardiomm.acquisition import Acquisition
from cardiomm.conventions import MODALITIES
from cardiomm.methods import ReconParams, Reconstructor, load
from cardiomm.methods import method as registered
from cardiomm.recon.classical.espirit import MIN_CALIB_WIDTH, slice_maps

#: the config keys of the low-rank weight (methods whose config block has them)
LOWRANK_KEYS = {"lamda_lowrank", "lamda_lowrank_mapping"}


@dataclass(frozen=True)
class CSParams:
    """Parameters of one regularised reconstruction (the config blocks ``sense:`` / ``cs:`` / ``kttv:`` / ``lps:``).

    lamda: regularisation weight relative to a unit-magnitude image (:mod:`cardiomm.recon.classical.problem`); for a
        mapping series ``lamda_mapping`` is used instead when given (cine and weighting series differ in temporal
        redundancy, so the tuning chooses them separately).
    max_iter: solver iterations per slice (per frame for SENSE).
    engine: ``sigpy`` (default) or ``bart`` (:mod:`cardiomm.recon.classical.bart`, needs the ``bart`` binary).
    lamda_lowrank, lamda_lowrank_mapping: the nuclear-norm weight of a low-rank part (``lps``,
        :mod:`cardiomm.recon.classical.lps`), for cine and (when given) for mapping series.
    """

    lamda: float
    max_iter: int
    lamda_mapping: float | None = None
    engine: str = "sigpy"
    lamda_lowrank: float | None = None
    lamda_lowrank_mapping: float | None = None

    @classmethod
    def from_dict(cls, method: str, cfg: Mapping | None) -> CSParams:
        """The parameters of registered ``method`` from its config block ``cfg`` (absent keys: the registry's
        defaults, :attr:`cardiomm.methods.Method.defaults`); a key outside the block raises ``ValueError``."""
        cfg = dict(cfg or {})
        block = registered(method).config or {}
        defaults = registered(method).defaults
        unknown = set(cfg) - set(block.get("properties", {}))
        if unknown:
            raise ValueError(f"config {method}: unknown keys {sorted(unknown)}")

        def opt(k: str) -> float | None:
            v = cfg.get(k, defaults.get(k))
            return None if v is None else float(v)

        p = cls(
            lamda=float(cfg.get("lamda", defaults["lamda"])),
            max_iter=int(cfg.get("max_iter", defaults["max_iter"])),
            lamda_mapping=opt("lamda_mapping"),
            engine=str(cfg.get("engine", defaults.get("engine", "sigpy"))),
            lamda_lowrank=opt("lamda_lowrank"),
            lamda_lowrank_mapping=opt("lamda_lowrank_mapping"),
        )
        weights = (p.lamda, p.lamda_mapping, p.lamda_lowrank, p.lamda_lowrank_mapping)
        if any(w is not None and w < 0 for w in weights):
            raise ValueError(f"config {method}: weights must be >= 0, got lamda {p.lamda} / {p.lamda_mapping}"
                             + (f", lamda_lowrank {p.lamda_lowrank} / {p.lamda_lowrank_mapping}"
                                if p.lamda_lowrank is not None else ""))
        if p.max_iter < 1:
            raise ValueError(f"config {method}.max_iter: must be >= 1, got {p.max_iter}")
        engine = block.get("properties", {}).get("engine", {"enum": ["sigpy", "bart"]})
        if p.engine not in engine["enum"]:
            raise ValueError(f"config {method}.engine: {p.engine!r} is not one of {engine['enum']}"
                             + (f" ({engine['description']})" if "description" in engine else ""))
        return p

    def lamda_for(self, kind: str) -> float:
        """The weight for a series of ``kind`` ``"cine"`` or ``"mapping"``."""
        return self.lamda_mapping if kind == "mapping" and self.lamda_mapping is not None else self.lamda

    def lamda_lowrank_for(self, kind: str) -> float | None:
        """The nuclear-norm weight for a series of ``kind`` ``"cine"`` or ``"mapping"`` (``None``: no low-rank part)."""
        if kind == "mapping" and self.lamda_lowrank_mapping is not None:
            return self.lamda_lowrank_mapping
        return self.lamda_lowrank


#: ``solve(y, maps, mask, lamda, lamda_lowrank, max_iter, periodic)``: complex ``(nt, nc, ny, nx)`` k-space of one
#: slice, maps ``(nc, ny, nx)``, bool mask ``(nt, ny, nx)`` -> complex64 ``(nt, ny, nx)`` on the RSS reference's scale
SliceSolver = Callable[[np.ndarray, np.ndarray, np.ndarray, float, "float | None", int, bool], np.ndarray]


@dataclass(frozen=True)
class ClassicalSolver:
    """One iterative classical method: its SigPy slice solver and its BART equivalent.

    Attributes
    ----------
    solve: the slice solver (:data:`SliceSolver`); periodic = cine (circular temporal transforms) or mapping.
    pics: BART ``pics`` regularisation with a ``{lamda}`` field (e.g. ``"-R W:3:0:{lamda}"``), or ``None`` when BART
        has no equivalent (``engine: bart`` is then refused).
    lowrank: the method has a low-rank weight (``lamda_lowrank``; its tuning grid is a product of two lists).
    """

    solve: SliceSolver
    pics: str | None = None
    lowrank: bool = False

    def __call__(self, name: str, params: ReconParams) -> Reconstructor:
        """The registry's entry point: the method's parameters from its config block, a per-series callable."""
        p = CSParams.from_dict(name, params.config)
        if p.engine == "bart" and self.pics is None:
            raise ValueError(f"config {name}.engine: 'bart' has no equivalent of {name} (see its module); "
                             "use engine: sigpy")

        def rec(acq: Acquisition) -> np.ndarray:
            return recon_series(self, acq, p, MODALITIES[acq.meta["modality"]].kind)

        return rec

    def slice(self, y: np.ndarray, maps: np.ndarray, mask: np.ndarray, params: CSParams, kind: str) -> np.ndarray:
        """One slice, all frames: complex ``(nt, nc, ny, nx)`` -> complex64 ``(nt, ny, nx)``."""
        return self.solve(y, maps, mask, params.lamda_for(kind), params.lamda_lowrank_for(kind) if self.lowrank
                          else None, params.max_iter, kind == "cine")


def solver(name: str) -> ClassicalSolver:
    """The :class:`ClassicalSolver` of registered method ``name`` (its registry entry); ``ValueError`` otherwise."""
    try:
        entry = load(registered(name).entry)
    except KeyError as err:
        raise ValueError(err.args[0]) from None
    if not isinstance(entry, ClassicalSolver):
        raise ValueError(f"method {name!r} is not an iterative classical method (entry {registered(name).entry})")
    return entry


def recon_series(method: ClassicalSolver | str, acq: Acquisition, params: CSParams, kind: str = "cine") -> np.ndarray:
    """A whole series with one classical method, one ESPIRiT calibration per slice.

    Parameters
    ----------
    method: the :class:`ClassicalSolver` (or the name of a registered classical method).
    acq: the validated acquisition (:class:`cardiomm.acquisition.Acquisition`): k-space ``(nt, nz, nc, ny, nx)``,
        mask, ACS region and width, and its coil-maps job's maps if any (:func:`~.espirit.slice_maps`).
    params: :class:`CSParams`; kind: ``"cine"`` or ``"mapping"`` (temporal transforms circular or not, and which
        ``lamda``).

    Returns
    -------
    float32 ``(nt, nz, ny, nx)`` magnitude on the scale of the RSS reference.
    """
    s = solver(method) if isinstance(method, str) else method
    if kind not in ("cine", "mapping"):
        raise ValueError(f"recon_series: kind must be 'cine' or 'mapping', got {kind!r}")
    k, m, region, acs = acq.kspace, acq.mask != 0, acq.acs, acq.acs_width
    if acs < MIN_CALIB_WIDTH:
        raise ValueError(f"recon_series: {acq.source}: acs={acs}, ESPIRiT needs at least {MIN_CALIB_WIDTH} "
                         "fully sampled")
    if s.lowrank and params.lamda_lowrank_for(kind) is None:
        raise ValueError("recon_series: a low-rank method needs lamda_lowrank")
    if params.engine == "bart":
        from cardiomm.recon.classical.bart import bart_recon_series

        if s.pics is None:
            raise ValueError("recon_series: this method has no bart engine (see its module)")
        return bart_recon_series(s.pics, k, m, region, params.lamda_for(kind), params.max_iter,
                                 periodic=kind == "cine", acs=acs)
    nt, nz = k.shape[:2]
    out = np.zeros((nt, nz, *k.shape[-2:]), dtype=np.float32)
    for z in range(nz):
        out[:, z] = np.abs(s.slice(k[:, z], slice_maps(acq, z), m, params, kind))
    return out
