"""Device choice in one place: CUDA when present, else CPU. Nothing else in the code names devices."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# torch is imported where it is used, not here: every workflow job calls limit_threads, and most jobs (undersampling,
# quantification, tables) never need torch, whose import costs seconds per job.


def get_device() -> torch.device:
    """The compute device: the first CUDA GPU when available, otherwise the CPU."""
    import torch

    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, a no-op on CPU (CPU inference stays in float32 for exactness)."""
    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def limit_threads(n: int) -> int:
    """Use at most ``n`` CPU threads in this process: torch intra-op, BLAS/OpenMP pools and numba.

    Snakemake runs several single-threaded jobs side by side; left alone, torch and BLAS each start one thread
    per core in every job, so ``--cores 2`` ran four or more busy threads on two cores (measured 2-4x slower per
    frame than the benchmarks). Every workflow job calls this with the rule's ``threads``. Returns ``n``.

    torch is not imported for this: if it is not loaded yet, it reads ``OMP_NUM_THREADS`` when it is
    (``torch.get_num_threads()`` is then ``n``; tested).
    """
    import os
    import sys

    n = max(1, int(n))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)  # for pools created later and for child processes
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    if "numba" in sys.modules:  # numba reads NUMBA_NUM_THREADS at import; once imported, set it directly
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    return n
