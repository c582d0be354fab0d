"""AnnConfig: when similar-movie search switches to an approximate (faiss) index, and how that index is built."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from ..errors import ConfigError

IndexKind = Literal["hnsw", "ivf"]
HybridVia = Literal["pure", "joint", "both"]
ANN_KINDS = ("hnsw", "ivf")
_QUERY_TIME = ("threshold", "ef_search", "nprobe", "candidates")  # change answers, not the stored index


@dataclass(frozen=True)
class AnnConfig:
    """When to switch to approximate search and how the index trades recall for speed."""

    threshold: int = 200_000  # ANN above this many items; exact numpy top-k below (it is < 2 ms there)
    kind: IndexKind = "ivf"  # "ivf": inverted lists, cheaper build; "hnsw": graph, faster queries, slow build
    hnsw_m: int = 32  # graph degree: more -> better recall, more memory (~8*M bytes/item) and build time
    ef_construction: int = 64  # build-time beam width
    ef_search: int = 128  # query-time beam width (raised to k when k is larger)
    nlist: int = 0  # IVF lists; 0 -> 2*sqrt(n), at least 1
    nprobe: int = 32  # IVF lists visited per query
    train_size: int = 100_000  # IVF: k-means trains on at most this many sampled rows
    kmeans_iters: int = 10  # IVF: k-means iterations (faiss default 25 buys little recall here)
    hybrid_via: HybridVia = "both"  # HybridAnn candidate sources: per-space indexes, the joint one, or both
    candidates: int = 100  # HybridAnn: approximate neighbours per index, re-scored exactly
    seed: int = 0

    def __post_init__(self) -> None:
        """Reject out-of-range settings early, with the fix in the message."""
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError for a setting faiss cannot use (also run by ``EngineConfig.validate``)."""
        if self.kind not in ANN_KINDS:
            raise ConfigError(f"AnnConfig.kind must be one of {ANN_KINDS}, got {self.kind!r}")
        if self.hybrid_via not in ("pure", "joint", "both"):
            raise ConfigError(f"AnnConfig.hybrid_via must be 'pure', 'joint' or 'both', got {self.hybrid_via!r}")
        for name in ("hnsw_m", "ef_construction", "ef_search", "nprobe", "train_size", "kmeans_iters", "candidates"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"AnnConfig.{name} must be a positive integer, got {value!r}")
        if self.hnsw_m < 4 or self.hnsw_m > 256:
            raise ConfigError(f"AnnConfig.hnsw_m must be in [4, 256] (16-48 is typical), got {self.hnsw_m}")
        if not isinstance(self.nlist, (int, np.integer)) or self.nlist < 0:
            raise ConfigError(f"AnnConfig.nlist must be >= 0 (0 picks 2*sqrt(n)), got {self.nlist!r}")
        if not isinstance(self.threshold, (int, np.integer)) or self.threshold < 0:
            raise ConfigError(f"AnnConfig.threshold must be an item count >= 0, got {self.threshold!r}")

    def build_key(self) -> str:
        """Short hash of the settings that shape a built index (query-time knobs excluded): names its files."""
        d = asdict(self)
        for name in _QUERY_TIME:
            d.pop(name)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


def use_ann(n_items: int, cfg: AnnConfig | None = None) -> bool:
    """Whether a catalogue is large enough that an ANN index beats exact search."""
    return int(n_items) > (cfg or AnnConfig()).threshold
