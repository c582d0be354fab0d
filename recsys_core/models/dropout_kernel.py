"""Dropout, optionally fused with the ReLU before it, as one compiled pass each way: the entity net's CPU path.

On the CPU torch's dropout costs several passes over the activations per layer (draw random numbers, compare,
turn the mask into floats, multiply, and the same again backwards, plus the ReLU's own two): a third of the
entity net's training step at 25M ratings. Here each element's keep/drop decision is a counter-based hash of
(seed, element index), so the forward writes the output in one pass and the backward recomputes the same
decisions (or, after a ReLU, reads them off the output) instead of storing a mask. numba compiles the loops
on first use and caches them on disk, as for mf_kernel.py.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
import torch

_TWO32 = 2**32


@lru_cache(maxsize=1)
def _kernels() -> tuple[Callable, Callable]:
    """Compile (or load from numba's on-disk cache) the forward and backward passes."""
    import numba

    @numba.njit(cache=True, fastmath=True, nogil=True)
    def keep(seed, i, cut):  # pragma: no cover - compiled
        # lowbias32 (a well-mixed 32-bit integer hash) of seed + i * golden ratio, kept in 32 bits
        m = np.uint64(0xFFFFFFFF)
        h = (seed + np.uint64(i) * np.uint64(0x9E3779B9)) & m
        h ^= h >> np.uint64(16)
        h = (h * np.uint64(0x7FEB352D)) & m
        h ^= h >> np.uint64(15)
        h = (h * np.uint64(0x846CA68B)) & m
        h ^= h >> np.uint64(16)
        return h >= cut

    @numba.njit(cache=True, fastmath=True, nogil=True)
    def forward(x, out, seed, cut, scale, relu):  # pragma: no cover - compiled
        for i in range(x.size):
            v = x[i]
            k = keep(seed, i, cut)
            if relu:
                k = k and v > 0
            out[i] = v * scale if k else np.float32(0.0)

    @numba.njit(cache=True, fastmath=True, nogil=True)
    def backward(grad, out, grad_in, seed, cut, scale, relu):  # pragma: no cover - compiled
        for i in range(grad.size):
            # after a ReLU, an element survived both exactly when its output is positive
            k = out[i] > 0 if relu else keep(seed, i, cut)
            grad_in[i] = grad[i] * scale if k else np.float32(0.0)

    return forward, backward


class _FusedDropout(torch.autograd.Function):
    """Autograd wrapper: saves the output and the seed, not a mask."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float, relu: bool) -> torch.Tensor:
        cut = min(_TWO32 - 1, int(round(p * _TWO32)))
        scale = np.float32(_TWO32 / (_TWO32 - cut))
        seed = np.uint64(int(torch.randint(0, _TWO32, (), dtype=torch.int64)))
        x = x.contiguous()
        out = torch.empty_like(x)
        fwd, _ = _kernels()
        fwd(x.view(-1).numpy(), out.view(-1).numpy(), seed, np.uint64(cut), scale, relu)
        ctx.save_for_backward(out)
        ctx.args = (seed, np.uint64(cut), scale, relu)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (out,) = ctx.saved_tensors
        grad = grad.contiguous()
        grad_in = torch.empty_like(grad)
        _, bwd = _kernels()
        bwd(grad.view(-1).numpy(), out.view(-1).numpy(), grad_in.view(-1).numpy(), *ctx.args)
        return grad_in, None, None


def usable(x: torch.Tensor) -> bool:
    """Whether ``fused_dropout`` can take this tensor: float32 on the CPU, with numba importable."""
    from .mf_kernel import available

    return x.device.type == "cpu" and x.dtype == torch.float32 and available()


def fused_dropout(x: torch.Tensor, p: float, relu: bool = False) -> torch.Tensor:
    """Inverted dropout at rate ``p`` (the kept elements scaled by 1 / (1 - p)), after ``relu(x)`` if asked.

    The random decisions come from torch's default generator (one draw per call), so ``torch.manual_seed``
    makes a run reproducible as with ``torch.nn.functional.dropout``.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {p}")
    if p == 0.0:
        return torch.relu(x) if relu else x
    return _FusedDropout.apply(x, p, relu)
