"""The per-method entry points of :data:`cardiomm.methods.REGISTRY`: ``(name, params) -> Reconstructor``.

Each loads what its method needs once (a model, the parameter dataclass) and returns a callable that
reconstructs one series (:class:`cardiomm.methods.Reconstructor`). They are thin: the science is in
:mod:`cardiomm.recon.zero_filled`, :mod:`~cardiomm.recon.sense`, :mod:`~cardiomm.recon.cs`,
:mod:`~cardiomm.recon.infer` and :mod:`~cardiomm.recon.infer_published`, imported here on first use so that
a classical job never imports the networks.
"""

from __future__ import annotations

import numpy as np

from cardiomm.acquisition import Acquisition
from cardiomm.conventions import MODALITIES
from cardiomm.methods import ReconParams, Reconstructor


def zero_filled_method(name: str, params: ReconParams) -> Reconstructor:
    """RSS of the inverse FFT of the undersampled k-space (the reference's function on masked data)."""
    from cardiomm.recon.zero_filled import zero_filled

    def rec(acq: Acquisition) -> np.ndarray:
        return zero_filled(acq.kspace)

    return rec


def rescan_method(name: str, params: ReconParams) -> Reconstructor:
    """The null control: RSS of a second, fully sampled acquisition, made exactly as the reference is
    (:func:`cardiomm.recon.zero_filled.zero_filled` of the full k-space). A mask with an unsampled point raises:
    a control is never undersampled."""
    from cardiomm.recon.zero_filled import zero_filled

    def rec(acq: Acquisition) -> np.ndarray:
        if not acq.mask.all():
            raise ValueError(f"{acq.source}: method {name!r} needs a fully sampled acquisition; the mask samples "
                             f"{acq.mask.mean():.1%} of k-space")
        return zero_filled(acq.kspace)

    return rec


def classical_method(name: str, params: ReconParams) -> Reconstructor:
    """SENSE (SigPy frame by frame, or BART with ``sense.engine: bart``), ``cs`` and ``kttv`` (SigPy or BART),
    ``lps`` (SigPy only)."""
    sense = dict(params.sense or {})
    if name == "sense" and sense.get("engine", "sigpy") == "sigpy":
        from cardiomm.recon.sense import sense_recon_series

        kw = {k: v for k, v in sense.items() if k != "engine"}

        def rec_sense(acq: Acquisition) -> np.ndarray:
            return sense_recon_series(acq, **kw)

        return rec_sense
    from cardiomm.recon.classical import recon_series
    from cardiomm.recon.cs import CSParams

    cs_params = CSParams.from_dict(name, sense if name == "sense" else (params.classical or {}).get(name, {}))

    def rec(acq: Acquisition) -> np.ndarray:
        return recon_series(name, acq, cs_params, MODALITIES[acq.meta["modality"]].kind)

    return rec


def trained_method(name: str, params: ReconParams) -> Reconstructor:
    """A network trained by this pipeline (``cardiomm``, ``varnet``): its checkpoint loaded once."""
    from cardiomm.recon.checkpoint import load_model
    from cardiomm.recon.infer import reconstruct_series

    model, _ = load_model(params.model_path, arch=name)

    def rec(acq: Acquisition) -> np.ndarray:
        return reconstruct_series(model, acq)

    return rec


def published_method(name: str, params: ReconParams) -> Reconstructor:
    """A published architecture (``cardiomm_official``, ``promptmr``), loaded once, with released weights or ours;
    the ACS width is the acquisition's (the release's, like the other methods); the intensity normalisation is
    the checkpoint's (:func:`cardiomm.recon.infer_published.input_normalised`)."""
    from cardiomm.recon.checkpoint import load_any
    from cardiomm.recon.infer_published import input_normalised, reconstruct_series_published

    pub = dict(params.published or {})
    own = pub.get(name) or {}
    model, meta = load_any(params.model_path, name, own.get("model_config"))
    normalise = input_normalised(meta)  # our trained checkpoints: as in training; released weights: as released

    def rec(acq: Acquisition) -> np.ndarray:
        return reconstruct_series_published(model, acq.kspace, acq.mask, acq.mask_name, dict(acq.meta),
                                            pub.get("clip_dir"), own.get("batch_size", 1), acq.acs_width,
                                            normalise)

    return rec
