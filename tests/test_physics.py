"""Property tests of the physics operators (cardiomm.physics): adjointness, linearity, round trips, references."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cardiomm.physics.coils import expand, normalize_smaps, reduce, rss
from cardiomm.physics.fft import fft2c, ifft2c
from cardiomm.physics.sense import SenseOp, sense_adjoint, sense_forward, sense_normal

Op = Callable[[torch.Tensor], torch.Tensor]


def crandn(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Standard complex Gaussian in complex128."""
    return torch.complex(
        torch.randn(shape, generator=gen, dtype=torch.float64), torch.randn(shape, generator=gen, dtype=torch.float64)
    )


def vdot(a: torch.Tensor, b: torch.Tensor) -> complex:
    """<a, b> = sum conj(a) b."""
    return complex(torch.sum(a.conj() * b))


def assert_adjoint(A: Op, AH: Op, x_shape: tuple[int, ...], y_shape: tuple[int, ...], seed: int = 0) -> None:
    """Check <A x, y> == <x, A^H y> for random complex128 x, y, plus output shapes."""
    gen = torch.Generator().manual_seed(seed)
    x, y = crandn(x_shape, gen), crandn(y_shape, gen)
    Ax, AHy = A(x), AH(y)
    assert tuple(Ax.shape) == y_shape, f"A maps {x_shape} to {tuple(Ax.shape)}, expected {y_shape}"
    assert tuple(AHy.shape) == x_shape, f"A^H maps {y_shape} to {tuple(AHy.shape)}, expected {x_shape}"
    lhs, rhs = vdot(Ax, y), vdot(x, AHy)
    scale = max(abs(lhs), abs(rhs), 1.0)
    assert abs(lhs - rhs) <= 1e-10 * scale, f"<Ax,y>={lhs} != <x,A^H y>={rhs}"


def assert_linear(A: Op, x_shape: tuple[int, ...], seed: int = 1) -> None:
    """Check A(a x1 + b x2) == a A x1 + b A x2 for random complex scalars and inputs."""
    gen = torch.Generator().manual_seed(seed)
    x1, x2 = crandn(x_shape, gen), crandn(x_shape, gen)
    a, b = complex(0.3, -1.7), complex(-2.1, 0.4)
    torch.testing.assert_close(A(a * x1 + b * x2), a * A(x1) + b * A(x2), rtol=1e-10, atol=1e-10)


def _problem(ny: int, nx: int, nc: int = 4, batch: tuple[int, ...] = (2,), seed: int = 2, coil_mask: bool = False):
    """Random maps and a random binary mask of shape (*batch, 1, ny, nx), or (*batch, nc, ny, nx) with
    ``coil_mask`` (one mask per coil, as the published networks' frames x coils layout)."""
    gen = torch.Generator().manual_seed(seed)
    smaps = crandn((*batch, nc, ny, nx), gen)
    mask = (torch.rand((*batch, nc if coil_mask else 1, ny, nx), generator=gen, dtype=torch.float64) < 0.4
            ).to(torch.float64)
    return smaps, mask


def _operators(ny: int, nx: int, nc: int = 4, batch: tuple[int, ...] = (2,)):
    """(name, A, A^H, x_shape, y_shape) for every linear operator of cardiomm.physics."""
    smaps, mask = _problem(ny, nx, nc, batch)
    img, coil = (*batch, ny, nx), (*batch, nc, ny, nx)
    return [
        ("fft2c", fft2c, ifft2c, img, img),
        ("ifft2c", ifft2c, fft2c, img, img),
        ("expand", lambda x: expand(x, smaps), lambda y: reduce(y, smaps), img, coil),
        ("reduce", lambda y: reduce(y, smaps), lambda x: expand(x, smaps), coil, img),
        ("sense", lambda x: sense_forward(x, smaps, mask), lambda y: sense_adjoint(y, smaps, mask), img, coil),
        ("sense_normal", lambda x: sense_normal(x, smaps, mask), lambda x: sense_normal(x, smaps, mask), img, img),
        *_object_operators(smaps, mask),
    ]


def _object_operators(smaps: torch.Tensor, mask: torch.Tensor):
    """(name, A, A.H, ishape, oshape) for the operator objects (SenseOp, its adjoint, normal, unmasked form)."""
    op = SenseOp(smaps, mask)
    coils = SenseOp(None, mask.expand(smaps.shape))  # no maps: coil images -> their masked k-space (the ACS's)
    return [(name, A, A.H, A.ishape, A.oshape)
            for name, A in (("SenseOp", op), ("SenseOp.H", op.H), ("SenseOp.N", op.N),
                            ("SenseOp.unmasked", op.unmasked()), ("SenseOp(no mask).N", op.unmasked().N),
                            ("SenseOp(no maps)", coils), ("SenseOp(no maps).N", coils.N))]


@pytest.mark.parametrize("which", ["SenseOp", "SenseOp.H", "SenseOp.N", "SenseOp.unmasked", "SenseOp(no mask).N",
                                   "SenseOp(no maps)", "SenseOp(no maps).N"])
@pytest.mark.parametrize("ny, nx, batch, coil_mask", [(16, 16, (2,), False), (15, 17, (), False),
                                                      (12, 9, (2, 3), False), (12, 9, (2, 3), True)])
def test_generic_operator_properties(which: str, ny: int, nx: int, batch: tuple[int, ...], coil_mask: bool) -> None:
    """One generic check for every operator object: adjoint identity, linearity, ``N == H . A``, ``H.H == A``.
    ``batch=(2, 3)`` is also the published networks' per-frame layout (batch x frames; ``coil_mask``: their mask
    per frame and coil, :func:`cardiomm.recon.learned.networks.cab.frame_operator`)."""
    smaps, mask = _problem(ny, nx, 3, batch, coil_mask=coil_mask)
    name, A, AH, xs, ys = next(o for o in _object_operators(smaps, mask) if o[0] == which)
    assert_adjoint(A, AH, tuple(xs), tuple(ys))
    assert_linear(A, tuple(xs))
    x = crandn(tuple(xs), torch.Generator().manual_seed(9))
    if hasattr(A, "N"):  # operators that expose a normal: it is the adjoint after the forward
        torch.testing.assert_close(A.N(x), AH(A(x)), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(AH.H(x), A(x), rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------- the SigPy view
def _sigpy_operators() -> list[tuple[str, object]]:
    """(name, linop) for every SigPy operator of cardiomm.physics: the SENSE view (one frame, the frames of a slice
    centred and fast), its building blocks, and SenseOp.linop()."""
    from cardiomm.physics.linops import FFT2, Sample
    from cardiomm.physics.sense import sense_linop

    rng = np.random.default_rng(0)
    maps = (rng.standard_normal((3, 6, 10)) + 1j * rng.standard_normal((3, 6, 10))).astype(np.complex64)
    mask = rng.random((4, 6, 10)) < 0.4
    op = SenseOp(torch.from_numpy(maps), torch.from_numpy(mask[:, None].astype(np.float32)))
    return [("sense_linop(frame)", sense_linop(maps, mask[0])), ("sense_linop(frames)", sense_linop(maps, mask)),
            ("sense_linop(frames, fast)", sense_linop(maps, mask, centred=False)), ("FFT2", FFT2((2, 6, 10))),
            ("Sample", Sample((4, 3, 6, 10), mask)), ("SenseOp.linop", op.linop())]


@pytest.mark.parametrize("name", [n for n, _ in _sigpy_operators()])
def test_generic_sigpy_operator_properties(name: str) -> None:
    """The same generic check for the SigPy operators the classical solvers use: adjoint identity, linearity."""
    A = dict(_sigpy_operators())[name]
    rng = np.random.default_rng(1)

    def rand(shape: tuple[int, ...]) -> np.ndarray:
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex128)

    x, x2, y = rand(A.ishape), rand(A.ishape), rand(A.oshape)
    lhs, rhs = np.vdot(A(x), y), np.vdot(x, A.H(y))
    assert abs(lhs - rhs) <= 1e-5 * abs(lhs), name
    np.testing.assert_allclose(A(2 * x + x2), 2 * A(x) + A(x2), rtol=1e-5, atol=1e-5)


def test_sigpy_view_is_the_torch_operator_and_the_fast_form_its_modulation() -> None:
    """sense_linop is SenseOp's A (centred), and the fast form equals it up to the centring modulation."""
    from cardiomm.physics.fft import modulate_data
    from cardiomm.physics.sense import sense_linop

    rng = np.random.default_rng(2)
    for ny, nx in [(6, 10), (6, 8), (112, 128)]:  # ny/2 + nx/2 odd and even: both signs
        maps = (rng.standard_normal((2, ny, nx)) + 1j * rng.standard_normal((2, ny, nx))).astype(np.complex64)
        mask = rng.random((3, ny, nx)) < 0.5
        x = (rng.standard_normal((3, ny, nx)) + 1j * rng.standard_normal((3, ny, nx))).astype(np.complex64)
        centred = sense_linop(maps, mask)(x)
        torch_op = SenseOp(torch.from_numpy(maps), torch.from_numpy(mask[:, None].astype(np.float32)))
        np.testing.assert_allclose(centred, torch_op(torch.from_numpy(x)).numpy(), rtol=1e-4,
                                   atol=1e-4 * np.abs(centred).max())
        sampled = modulate_data(centred).transpose(1, 0, 2, 3)[:, mask].T  # (K, nc)
        np.testing.assert_allclose(sense_linop(maps, mask, centred=False)(x), sampled,
                                   rtol=1e-4, atol=1e-4 * np.abs(centred).max())
        frame = sense_linop(maps, mask[0])(x[0])
        np.testing.assert_allclose(frame, centred[0], rtol=1e-5, atol=1e-5 * np.abs(centred).max())


def test_sense_op_is_the_function_form_and_checks_shapes() -> None:
    smaps, mask = _problem(10, 12, nc=3)
    x = crandn((2, 10, 12), torch.Generator().manual_seed(6))
    op = SenseOp(smaps, mask)
    torch.testing.assert_close(op(x), sense_forward(x, smaps, mask), rtol=0, atol=0)
    torch.testing.assert_close(op.N(x), op.H(op(x)), rtol=0, atol=0)
    assert op.ishape == (2, 10, 12) and op.oshape == (2, 3, 10, 12)
    with pytest.raises(ValueError, match="complex"):
        SenseOp(smaps.real, mask)
    with pytest.raises(ValueError, match="mask"):
        SenseOp(smaps, mask[..., :-1])


@pytest.mark.parametrize("ny, nx", [(16, 16), (15, 17), (12, 9)])
def test_every_operator_is_adjoint_and_linear(ny: int, nx: int) -> None:
    for name, A, AH, xs, ys in _operators(ny, nx):
        try:
            assert_adjoint(A, AH, xs, ys)
            assert_linear(A, xs)
        except AssertionError as err:
            raise AssertionError(f"operator {name} on ({ny}, {nx}): {err}") from err


@settings(max_examples=15, deadline=None)
@given(
    ny=st.integers(1, 24),
    nx=st.integers(1, 24),
    nc=st.integers(1, 5),
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple),
)
def test_adjointness_random_shapes(ny: int, nx: int, nc: int, batch: tuple[int, ...]) -> None:
    for _, A, AH, xs, ys in _operators(ny, nx, nc, batch):
        assert_adjoint(A, AH, xs, ys)


def test_assert_adjoint_catches_a_wrong_adjoint() -> None:
    # the helper must fail for a non-adjoint pair (here: FFT with itself as "adjoint")
    with pytest.raises(AssertionError):
        assert_adjoint(fft2c, fft2c, (8, 8), (8, 8))


@pytest.mark.parametrize("shape", [(8, 8), (7, 9), (3, 16, 15), (2, 2, 5, 4)])
def test_fft_round_trip_and_unitary(shape: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(3)
    x = crandn(shape, gen)
    torch.testing.assert_close(ifft2c(fft2c(x)), x, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fft2c(ifft2c(x)), x, rtol=1e-12, atol=1e-12)
    # orthonormal: energy preserved
    assert torch.linalg.vector_norm(fft2c(x)).item() == pytest.approx(torch.linalg.vector_norm(x).item(), rel=1e-12)


@pytest.mark.parametrize("shape", [(8, 8), (7, 9), (4, 6, 11)])
def test_fft_matches_numpy_centered(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    want = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    np.testing.assert_allclose(fft2c(torch.from_numpy(x)).numpy(), want, rtol=1e-12, atol=1e-12)
    back = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    np.testing.assert_allclose(ifft2c(torch.from_numpy(x)).numpy(), back, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ny, nx", [(8, 8), (7, 9)])
def test_dc_at_center(ny: int, nx: int) -> None:
    x = torch.ones((ny, nx), dtype=torch.complex128)
    k = fft2c(x)
    assert k[ny // 2, nx // 2].abs().item() == pytest.approx(np.sqrt(ny * nx))
    k[ny // 2, nx // 2] = 0
    assert k.abs().max().item() < 1e-12


def test_sense_forward_is_masked_fft_of_coil_images() -> None:
    smaps, mask = _problem(10, 12, nc=3)
    x = crandn((2, 10, 12), torch.Generator().manual_seed(5))
    want = fft2c(smaps * x[:, None]) * mask
    torch.testing.assert_close(sense_forward(x, smaps, mask), want, rtol=1e-12, atol=1e-12)
    # zero wherever the mask is zero
    assert sense_forward(x, smaps, mask).mul(1 - mask).abs().max().item() == 0.0


def test_rss_of_normalized_maps_is_one() -> None:
    smaps, _ = _problem(9, 11, nc=6)
    r = rss(normalize_smaps(smaps))
    torch.testing.assert_close(r, torch.ones_like(r), rtol=1e-10, atol=1e-10)


def test_normalize_smaps_keeps_zero_outside_support() -> None:
    smaps, _ = _problem(6, 6, nc=3)
    smaps[..., :2, :] = 0
    n = normalize_smaps(smaps)
    assert n[..., :2, :].abs().max().item() == 0.0
    assert torch.isfinite(n.abs()).all()


def test_rss_values() -> None:
    # one coil: magnitude; two coils: sqrt(|a|^2 + |b|^2)
    a = torch.tensor([[3 + 4j]], dtype=torch.complex128)
    b = torch.tensor([[1 - 1j]], dtype=torch.complex128)
    assert rss(a[None]).item() == pytest.approx(5.0)
    assert rss(torch.stack([a, b])).item() == pytest.approx(np.sqrt(27.0))


def test_rss_of_expanded_image_with_unit_maps_is_magnitude() -> None:
    # the identity behind "SENSE magnitude is on the RSS scale"
    smaps, _ = _problem(8, 8, nc=5)
    s = normalize_smaps(smaps)
    x = crandn((2, 8, 8), torch.Generator().manual_seed(6))
    torch.testing.assert_close(rss(expand(x, s)), x.abs(), rtol=1e-10, atol=1e-10)
