"""Device choice in one place: CUDA when present, else CPU. Nothing else in the code names devices."""

from __future__ import annotations

import contextlib

import torch


def get_device() -> torch.device:
    """The compute device: the first CUDA GPU when available, otherwise the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, a no-op on CPU (CPU inference stays in float32 for exactness)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
