"""ANN behind the facade: the three lists of ``AnnSimilarity.query`` (what ``Explorer.similar`` uses above
``AnnConfig.threshold``) against the exact ``SimilarityIndex.query``, with and without filters.

Uses bench_ann's synthetic clustered spaces, 2% of movies missing each embedding, random rating counts,
years and genres. Prints one markdown row per filter: recall@20 per list, median time of the three lists.

    python benchmarks/bench_ann_facade.py [--items 1M] [--queries 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ann import parse_count, two_spaces  # noqa: E402

from recsys_core.config import AnnConfig  # noqa: E402
from recsys_core.scoring.ann_index import HybridAnn, recall_at_k  # noqa: E402
from recsys_core.scoring.ann_search import AnnSimilarity  # noqa: E402
from recsys_core.scoring.similarity import Filters, SimilarityIndex  # noqa: E402

LISTS = ("content", "collab", "hybrid")


def main(argv: list[str] | None = None) -> None:
    """Build the index once, then time and score each filter case on the same query movies."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", default="1M")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--alpha", type=float, default=0.5)
    args = ap.parse_args(argv)
    n, d = parse_count(args.items), 64
    c, k = two_spaces(n, d, seed=0)
    rng = np.random.default_rng(1)
    c[rng.random(n) < 0.02] = 0
    k[rng.random(n) < 0.02] = 0
    genres = rng.random((n, 18)) < 0.12
    idx = SimilarityIndex(c, np.ones(n, bool), k, np.ones(n, bool), rng.integers(0, 500, n),
                          rng.integers(1920, 2020, n).astype(float), genres, tuple(f"g{i}" for i in range(18)))
    t = time.perf_counter()
    ann = AnnSimilarity(idx, HybridAnn.build(idx.content, idx.collab, AnnConfig(threshold=0)))
    build = time.perf_counter() - t
    rows = rng.choice(np.flatnonzero(idx.has_content & idx.has_collab), args.queries, replace=False).tolist()
    ann.query(rows[0])  # first-use set-up outside the timings
    print(f"\n{n:,} synthetic movies, d={d} per space, index built in {build:.1f} s, {len(rows)} query movies, "
          f"alpha {args.alpha}\n")
    print("| filter | recall@20 content / collab / hybrid | three lists: ANN | exact | exact fallbacks |")
    print("|---|---|---|---|---|")
    for label, f in (("none", None), ("min_ratings 100", Filters(min_ratings=100)),
                     ("one genre (12% pass)", Filters(genres=("g3",)))):
        te, ta = [], []
        got = {name: ([], []) for name in LISTS}
        before = ann.fallbacks
        for r in rows:
            t = time.perf_counter()
            a = idx.query(r, 20, args.alpha, f)
            te.append(time.perf_counter() - t)
            t = time.perf_counter()
            b = ann.query(r, 20, args.alpha, f)
            ta.append(time.perf_counter() - t)
            for name in LISTS:
                got[name][0].append(getattr(a, name).rows)
                got[name][1].append(getattr(b, name).rows)
        rec = " / ".join(f"{recall_at_k(np.array(e), np.array(x)):.3f}" for e, x in got.values())
        print(f"| {label} | {rec} | {np.median(ta) * 1e3:.1f} ms | {np.median(te) * 1e3:.1f} ms | "
              f"{ann.fallbacks - before} |")


if __name__ == "__main__":
    main()
