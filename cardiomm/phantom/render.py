"""From a super-sampled tissue map to an image on the acquisition grid (issue 15: no inverse crime).

The anatomy is rasterised on a fine grid of ``ss x ss`` sub-samples per acquisition pixel
(:func:`cardiomm.phantom.anatomy.pixel_grid`). Each fine sample takes the signal of its tissue at its pixel
(``signal_image``; the per-pixel tissue signals carry the smooth modulations: texture, B0, B1). Two ways bring
the fine image to the acquisition grid:

* ``block_mean`` (image space, the earlier phantom): each pixel is the mean of its sub-samples, i.e. the
  tissue partial-volume fractions times the tissue signals. The object is then *exactly* a piecewise-constant
  pixel image, and its k-space *exactly* the DFT of that pixel image: the very model every reconstruction
  assumes (the "inverse crime").
* ``kspace_crop`` (default): the fine image's centred DFT, cropped to the acquisition matrix and brought back
  to the grid. This is what a scanner measures: the low spatial frequencies of an object with detail above the
  acquisition's Nyquist limit, so edges ring (Gibbs) and no pixel grid represents the object exactly.

Coil sensitivities and the background phase are smooth and applied on the acquisition grid afterwards (their
product with the object is band-limited to within a few k-space samples, which this neglects).
"""

from __future__ import annotations

import numpy as np

from cardiomm.physics.fft import fft2c_array, ifft2c_array


def fine_to_coarse_index(ny: int, nx: int, ss: int) -> np.ndarray:
    """Flat acquisition-grid pixel index ``(ny*ss, nx*ss)`` of every fine sub-sample."""
    i = np.arange(ny * ss) // ss
    j = np.arange(nx * ss) // ss
    return i[:, None] * nx + j[None, :]


def signal_image(tissue_ss: np.ndarray, signals: np.ndarray, pixel_index: np.ndarray) -> np.ndarray:
    """Fine image: each sub-sample gets the signal of its tissue at its pixel.

    Parameters
    ----------
    tissue_ss: ``(NY, NX)`` tissue index per sub-sample.
    signals: ``(..., n_tissues, ny, nx)`` per-pixel tissue signals (real or complex).
    pixel_index: ``(NY, NX)`` from :func:`fine_to_coarse_index`.

    Returns
    -------
    ``(..., NY, NX)``.
    """
    lead, (n_t, ny, nx) = signals.shape[:-3], signals.shape[-3:]
    flat = signals.reshape(lead + (n_t * ny * nx,))
    return flat[..., tissue_ss.astype(np.int64) * (ny * nx) + pixel_index]


def block_mean(fine: np.ndarray, ss: int) -> np.ndarray:
    """Mean of the ``ss x ss`` sub-samples of each pixel: ``(..., ny*ss, nx*ss) -> (..., ny, nx)``."""
    *lead, H, W = fine.shape
    return fine.reshape(*lead, H // ss, ss, W // ss, ss).mean(axis=(-3, -1))


def _subsample_shift(n: int, ss: int) -> float:
    """Fine-grid index of the coarse grid's origin minus the centred DFT's origin ``(n*ss)//2``, in samples."""
    return ss * (n // 2) + ss / 2 - 0.5 - (n * ss) // 2


def kspace_crop(fine: np.ndarray, ss: int) -> np.ndarray:
    """Band-limit a fine image to the acquisition matrix in k-space: ``(..., ny*ss, nx*ss) -> (..., ny, nx)``.

    The centred spectrum of the fine image (origin at the coarse grid's origin, so pixel ``(i, j)`` of the
    result is centred where :func:`cardiomm.phantom.anatomy.pixel_grid` puts it) keeps its central ``ny x nx``
    samples; the inverse DFT on the coarse grid, scaled by ``1/ss^2``, keeps the DC (mean intensity) of
    :func:`block_mean`. Complex output.
    """
    *lead, H, W = fine.shape
    ny, nx = H // ss, W // ss
    if ss == 1:
        return fine.astype(np.complex64)
    k = fft2c_array(fine, norm="backward")
    r0, c0 = H // 2 - ny // 2, W // 2 - nx // 2
    kc = k[..., r0:r0 + ny, c0:c0 + nx]
    ky = np.arange(ny) - ny // 2
    kx = np.arange(nx) - nx // 2
    dy, dx = _subsample_shift(ny, ss) / H, _subsample_shift(nx, ss) / W
    ramp = np.exp(2j * np.pi * (ky[:, None] * dy + kx[None, :] * dx))
    img = ifft2c_array(kc * ramp, norm="backward")
    return (img * (ny * nx) / (H * W)).astype(np.complex64)


def to_grid(fine: np.ndarray, ss: int, kspace: bool) -> np.ndarray:
    """The acquisition-grid image of a fine image: :func:`kspace_crop` or :func:`block_mean`."""
    return kspace_crop(fine, ss) if kspace else block_mean(fine, ss)
