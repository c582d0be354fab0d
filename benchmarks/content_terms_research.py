"""Research for issue #16: do title bigrams or BM25-weighted tags make content carry more?

The content model's documents are built by ``training.content.build_tfidf`` from per-signal blocks
(``training.content._block``: sublinear TF-IDF, L2 per block). This script swaps the block builder for two
variants, trains the content model, and runs the evaluation's protocol (α 0.2 and 1, the shipped cold start and
thin places), one row per variant:

- *title bigrams*: each title's adjacent word pairs join its words ("star_wars", "lord_rings");
- *BM25 tags*: tag counts weighted by Okapi BM25 (k1 1.2, b 0.75) instead of sublinear TF-IDF.

    python benchmarks/content_terms_research.py ../shared/datasets/ml-latest-small data/ml-100k
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import recsys_core.training.content as content_mod  # noqa: E402
from recsys_core.config import EngineConfig  # noqa: E402
from recsys_core.data import load_dataset  # noqa: E402
from recsys_core.evaluation import evaluate  # noqa: E402
from recsys_core.runtime.device import resolve_device  # noqa: E402

SHIPPED_BLOCK = content_mod._block
MODE = {"bigrams": False, "bm25": False}


def _with_bigrams(rows: np.ndarray, terms: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Title words (in title order per movie row) plus their adjacent pairs."""
    words = pd.DataFrame({"r": rows, "t": np.asarray(terms)})
    nxt = words.groupby("r")["t"].shift(-1)
    pairs = words.assign(t=words["t"] + "_" + nxt)[nxt.notna()]
    return (np.concatenate([rows, pairs["r"].to_numpy()]),
            pd.concat([words["t"], pairs["t"]], ignore_index=True))


def _bm25(m: sp.csr_matrix, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """Okapi BM25 weights of a count matrix (rows = documents), each row then L2-normalised."""
    m = m.tocsr().astype(np.float32)
    n_docs = max(int((np.diff(m.indptr) > 0).sum()), 1)
    df = np.bincount(m.indices, minlength=m.shape[1])
    idf = np.log((n_docs - df + 0.5) / (df + 0.5) + 1.0)
    lens = np.asarray(m.sum(axis=1)).ravel()
    avg = float(lens[lens > 0].mean()) if (lens > 0).any() else 1.0
    doc_len = np.repeat(lens, np.diff(m.indptr))
    m.data = (m.data * (k1 + 1) / (m.data + k1 * (1 - b + b * doc_len / avg)) * idf[m.indices]).astype(np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return (sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ m).tocsr()


def block(rows: np.ndarray, terms: pd.Series, counts: np.ndarray, n: int, prefix: str, min_df: int, weight: float):
    """The shipped block builder, or a variant of it for the title or tag block."""
    if prefix == "title" and MODE["bigrams"]:
        rows, terms = _with_bigrams(rows, terms)
        counts = np.ones(len(rows))
    if prefix == "tag" and MODE["bm25"] and weight > 0 and len(rows):
        codes, vocab = pd.factorize(terms, sort=True)
        m = sp.csr_matrix((counts.astype(np.float32), (rows, codes)), shape=(n, len(vocab)))
        m.sum_duplicates()
        keep = np.flatnonzero(np.bincount(m.indices, minlength=len(vocab)) >= min_df)
        names = np.array([f"{prefix}:{t}" for t in np.asarray(vocab)[keep]])
        return (_bm25(m[:, keep]) * np.float32(weight)).tocsr(), names
    return SHIPPED_BLOCK(rows, terms, counts, n, prefix, min_df, weight)


def main() -> None:
    content_mod._block = block
    base = EngineConfig()
    dev = resolve_device(base.device).device
    print("| data, content terms | content-only Recall@20 / cold | blend α 0.2 Recall@20 / coherence | "
          "with thin places Recall@20 / cold |\n|---|---|---|---|")
    for data in sys.argv[1:]:
        ds = load_dataset(data)
        ev_cfg = replace(base.eval, alphas=(0.2, 1.0), baselines=())
        for name, mode in (("shipped", {}), ("title bigrams", {"bigrams": True}), ("BM25 tags", {"bm25": True})):
            MODE.update({"bigrams": False, "bm25": False, **mode})
            content = content_mod.train_content(ds, base.content, dev)
            m = evaluate(ds, content.vectors, content.has_vector, base.collab, ev_cfg, dev)
            h, c, w = m["hybrid"], m["content"], m["thin_places"]["curve"]
            print(f"| {ds.name}, {name} | {c['recall@20']:.4f} / {c['cold_recall@20']:.4f} | "
                  f"{h['recall@20'][0]:.4f} / {h['genre_coherence'][0]:.3f} | "
                  f"{w['recall@20'][0]:.4f} / {w['cold_recall@20'][0]:.4f} |", flush=True)


if __name__ == "__main__":
    main()
