"""Research for issue #16: does reserving the last places of a top-20 list for thinly rated movies lift cold recall?

Each user's list (the evaluation's protocol: seed-sum of calibrated similarities, rated movies excluded) keeps
its first ``20 - s`` movies and fills the last ``s`` places with the best thin movies (``n <= 5`` training
ratings, or mostly placed by content) scored with content weight ``ta``. Spaces come from
``blend_research.py``'s cache (trained once on the evaluation's training part). Usage::

    python benchmarks/blend_research.py --data ../shared/datasets/ml-latest-small   # writes the cache
    python benchmarks/thin_slots_research.py ../shared/datasets/ml-latest-small 0.1,0.2,0.3 1,2
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys_core import evaluation as ev  # noqa: E402
from recsys_core.config import EngineConfig  # noqa: E402
from recsys_core.data import load_dataset  # noqa: E402
from recsys_core.scoring.blend import blend, calibration  # noqa: E402
from recsys_core.training.cold_start import cold_start  # noqa: E402
from recsys_core.training.splits import split_ratings, subset_dataset  # noqa: E402

CPU = torch.device("cpu")
K = 20


def main() -> None:
    data, alphas, slots = sys.argv[1], [float(a) for a in sys.argv[2].split(",")], [int(s) for s in sys.argv[3].split(",")]
    cfg = EngineConfig()
    ds = load_dataset(data)
    z = np.load(f"/tmp/b16/cache_{Path(data).name}.npz")
    cv, ch, fv, fh = z["cv"], z["ch"], z["fv"], z["fh"]
    tr, te = split_ratings(ds, cfg.eval)
    t0 = time.time()
    cold = cold_start(subset_dataset(ds, tr), cv, ch, fv, fh, cfg.collab, CPU)
    print(f"cold start {time.time() - t0:.1f} s, k = {cold.info.get('k')}", flush=True)
    proto = ev.build_protocol(ds, tr, te, cfg.eval, CPU)
    ec, hc = ev._unit_rows(cv, ch, CPU)
    ef, hf = ev._unit_rows(cold.vectors, cold.has_vector, CPU)
    ef_cand = ef * torch.from_numpy(cold.weight)[:, None]
    cm, ci, km, ki = ev._cal_tensors(calibration(ec.numpy(), hc.numpy(), ef.numpy(), hf.numpy(), ef_cand.numpy()), CPU)
    count = torch.from_numpy(proto.train_count)
    thin_sets = {"n<=5": count <= 5, "share<.5": torch.from_numpy(cold.rated_share) < 0.5}

    def scorer(ub: np.ndarray, seeds: torch.Tensor, rated: torch.Tensor):  # (each list already leaves rated out)
        sc = ((seeds * ci) @ ec) @ ec.T - (seeds @ (cm * ci))[:, None]
        sf = ((seeds * ki) @ ef) @ ef_cand.T - (seeds @ (km * ki))[:, None]
        alive = hc | hf
        out = {}
        for a in alphas:
            base = blend(sc, sf, a).masked_fill(~alive, -math.inf).masked_fill(rated, -math.inf)
            out[f"alpha {a:g}"] = base
            for tname, thin in thin_sets.items():
                for ta in (1.0, 0.7):
                    ts = blend(sc, sf, ta).masked_fill(~(alive & thin), -math.inf).masked_fill(rated, -math.inf)
                    for s in slots:
                        top = torch.topk(base, K - s, dim=1).indices
                        extra = torch.topk(ts.scatter(1, top, -math.inf), s, dim=1).indices
                        fin = torch.full_like(base, -1e9)
                        fin.scatter_(1, top, (1e6 - torch.arange(K - s, dtype=torch.float32)).expand(len(ub), -1).contiguous())
                        fin.scatter_(1, extra, (1e5 - torch.arange(s, dtype=torch.float32)).expand(len(ub), -1).contiguous())
                        out[f"alpha {a:g}, thin {tname}, content weight {ta:g}, {s} slot(s)"] = fin
        return out.items()

    print("| list | Recall@20 | cold Recall@20 | coverage |\n|---|---|---|---|")
    for name, v in ev.rank_users(proto, scorer).items():
        print(f"| {name} | {v['recall@20']:.4f} | {v['cold_recall@20']:.4f} ± {v['cold_recall@20_se']:.4f} | "
              f"{v['coverage']:.3f} |")


if __name__ == "__main__":
    main()
