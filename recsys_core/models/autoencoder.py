"""The TF-IDF autoencoder: sparse document rows in, a small dense code out (code = movie embedding)."""

from __future__ import annotations

import torch
from torch import nn


def _block(n_in: int, n_out: int, dropout: float) -> list[nn.Module]:
    """BatchNorm -> ReLU -> Dropout after a Linear, the write-up's layer."""
    return [nn.BatchNorm1d(n_out), nn.ReLU(), nn.Dropout(dropout)]


class TfidfAutoencoder(nn.Module):
    """Encoder/decoder mirror through an optional hidden layer; the code is a plain linear output.

    The first layer accepts a sparse batch (torch.sparse) so a wide vocabulary costs only its non-zeros.
    """

    def __init__(self, n_terms: int, code_dim: int = 100, hidden_dim: int = 0, dropout: float = 0.2) -> None:
        super().__init__()
        first = hidden_dim if hidden_dim > 0 else code_dim
        self.inp = nn.Linear(n_terms, first)
        if hidden_dim > 0:
            self.enc_rest: nn.Module = nn.Sequential(*_block(n_terms, hidden_dim, dropout),
                                                     nn.Linear(hidden_dim, code_dim))
            self.decoder = nn.Sequential(
                nn.Linear(code_dim, hidden_dim), *_block(code_dim, hidden_dim, dropout), nn.Linear(hidden_dim, n_terms)
            )
        else:
            self.enc_rest = nn.Identity()
            self.decoder = nn.Sequential(nn.Dropout(dropout), nn.Linear(code_dim, n_terms))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding (call in eval mode); ``x`` dense or sparse [batch, n_terms]."""
        if x.is_sparse:
            h = torch.sparse.mm(x, self.inp.weight.t()) + self.inp.bias
        else:
            h = self.inp(x)
        return self.enc_rest(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits/values over the vocabulary (dense)."""
        return self.decoder(self.encode(x))
