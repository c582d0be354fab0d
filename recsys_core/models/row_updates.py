"""Embedding rows updated without autograd or sparse tensors: the large-data training step of the rating models.

Above ``CollabConfig.sparse_above`` ratings an epoch must cost O(ratings x dim), not O(ids x dim) per batch as a
dense optimizer's does. torch's sparse gradients get there but spend most of each step coalescing sparse
tensors (measured 0.21M ratings/s at 25M). Here each batch gathers its rows with ``index_select``, computes the
row gradients (by hand for the biased MF; by autograd through the dense layers only for the entity net) and
scatters row-wise Adagrad steps back with ``index_add_``: a few passes over batch x dim floats, on CPU or CUDA
alike. Repeated ids in a batch each add their own step (Hogwild-style, as per-rating SGD does).
"""

from __future__ import annotations

from typing import Callable

import torch

from . import mf_kernel
from .rating_nets import DotBias, EntityNet

StepFn = Callable[[torch.Tensor], torch.Tensor]


def _gather(idx: torch.Tensor, *columns: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """A shuffled batch of the rating columns as contiguous tensors (one vectorised gather each)."""
    return tuple(c.index_select(0, idx) for c in columns)


class RowAdagrad:
    """Adagrad with one accumulator per row (the row-wise variant large recommenders use: state is one float per
    id, not per weight), applied to the rows a batch touched."""

    def __init__(self, table: torch.Tensor, lr: float, eps: float = 1e-8) -> None:
        self.table, self.lr, self.eps = table, float(lr), float(eps)
        self.acc = torch.zeros(table.shape[0], dtype=table.dtype, device=table.device)

    def step(self, rows: torch.Tensor, grad: torch.Tensor) -> None:
        """Apply one step per (row, gradient) pair; ``grad`` is [batch, dim] for a matrix, [batch] for a vector."""
        sq = grad.pow(2).mean(1) if grad.dim() == 2 else grad * grad
        self.acc.index_add_(0, rows, sq)
        scale = self.acc.index_select(0, rows).sqrt_().add_(self.eps).reciprocal_().mul_(-self.lr)
        self.table.index_add_(0, rows, grad * scale[:, None] if grad.dim() == 2 else grad * scale)


def dot_bias_step(model: DotBias, users: torch.Tensor, movies: torch.Tensor, ratings: torch.Tensor, lr: float,
                  reg: float, bias_weight: float = 0.1, compiled: bool | None = None) -> StepFn:
    """A training step for DotBias on batches of indices into (users, movies, ratings); returns the batch MSE.

    The gradients are those of ``DotBias.penalty``'s objective (squared error + reg x L2 of the touched rows,
    bias rows at ``bias_weight``), up to the constant factor Adagrad is invariant to. The offset stays at the
    global mean it was started from; the biases absorb the rest. On the CPU (``compiled`` None or True) the
    per-rating loop of mf_kernel.py runs instead of the batched torch ops.
    """
    if compiled is None:
        compiled = users.device.type == "cpu" and mf_kernel.available()
    if compiled:
        return _dot_bias_compiled(model, users, movies, ratings, lr, reg, bias_weight)
    user, movie = model.user.weight.data, model.movie.weight.data
    ub_view, mb_view = model.user_bias.weight.data.view(-1), model.movie_bias.weight.data.view(-1)
    offset = float(model.offset.detach())
    opts = [RowAdagrad(t, lr) for t in (user, movie, ub_view, mb_view)]
    breg = reg * bias_weight

    @torch.no_grad()
    def step(idx: torch.Tensor) -> torch.Tensor:
        u, m, y = _gather(idx, users, movies, ratings)
        eu, em = user.index_select(0, u), movie.index_select(0, m)
        bu, bm = ub_view.index_select(0, u), mb_view.index_select(0, m)
        err = torch.einsum("bd,bd->b", eu, em).add_(bu).add_(bm).add_(offset - y)
        e = err[:, None]
        gu = torch.addcmul(eu * reg, e, em)
        gm = torch.addcmul(em * reg, e, eu)
        opts[0].step(u, gu)
        opts[1].step(m, gm)
        opts[2].step(u, torch.add(err, bu, alpha=breg))
        opts[3].step(m, torch.add(err, bm, alpha=breg))
        return err.pow(2).mean()

    return step


def _dot_bias_compiled(model: DotBias, users: torch.Tensor, movies: torch.Tensor, ratings: torch.Tensor, lr: float,
                       reg: float, bias_weight: float) -> StepFn:
    """The same step on the CPU through the compiled per-rating loop (mf_kernel.py), ~3x the batched ops' speed."""
    tables = [t.weight.data for t in (model.user, model.movie, model.user_bias, model.movie_bias)]
    loop = mf_kernel.RowSGD(tables[0].numpy(), tables[1].numpy(), tables[2].view(-1).numpy(),
                            tables[3].view(-1).numpy(), float(model.offset.detach()), lr, reg, bias_weight)

    def step(idx: torch.Tensor) -> torch.Tensor:
        u, m, y = _gather(idx, users, movies, ratings)
        sse = loop.run(u.numpy(), m.numpy(), y.numpy())
        return torch.tensor(sse / max(len(idx), 1))

    return step


def entity_net_step(model: EntityNet, users: torch.Tensor, movies: torch.Tensor, ratings: torch.Tensor, lr: float,
                    dense: torch.optim.Optimizer) -> StepFn:
    """A training step for EntityNet: autograd through the dense layers (stepped by ``dense``), row-wise Adagrad
    on the two embedding tables from the gradients of the gathered rows; returns the batch MSE."""
    user, movie = model.user.weight, model.movie.weight
    rows_u, rows_m = RowAdagrad(user.data, lr), RowAdagrad(movie.data, lr)

    def step(idx: torch.Tensor) -> torch.Tensor:
        u, m, y = _gather(idx, users, movies, ratings)
        eu = user.detach().index_select(0, u).requires_grad_(True)
        em = movie.detach().index_select(0, m).requires_grad_(True)
        loss = (model.head(eu, em) - y).pow(2).mean()
        dense.zero_grad(set_to_none=True)
        loss.backward()
        dense.step()
        with torch.no_grad():
            rows_u.step(u, eu.grad)  # type: ignore[arg-type]  # set by backward() just above
            rows_m.step(m, em.grad)  # type: ignore[arg-type]
        return loss.detach()

    return step
