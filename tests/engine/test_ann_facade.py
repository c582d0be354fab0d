"""ANN behind the facade: Explorer.similar through faiss above EngineConfig.ann.threshold, on real ml-100k lists.

The exact Explorer (session fixture) is the reference; the ANN one opens the same trained artifact (the
threshold is a query-time setting, so the artifact key is the same) in a copy of its folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faiss", reason="faiss-cpu is not installed; pip install faiss-cpu to test the ANN path")

from recsys_core import EngineConfig, Explorer, Filters  # noqa: E402
from recsys_core.ann_cache import ANN_SECTION  # noqa: E402
from recsys_core.config import AnnConfig  # noqa: E402
from recsys_core.errors import ConfigError  # noqa: E402
from recsys_core.scoring.ann_index import recall_at_k  # noqa: E402
from recsys_core.store import ArtifactStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
K = 20
THRESHOLD = 1000  # ml-100k has 1682 movies: above it
LISTS = ("content", "collab", "hybrid")


def _ann_config(**kw) -> EngineConfig:
    return EngineConfig(ann=AnnConfig(threshold=THRESHOLD, **kw))


def _copy_store(ex: Explorer, root: Path) -> ArtifactStore:
    """A store whose folder holds a copy of ``ex``'s artifact (and whatever ANN files sit beside it)."""
    store = ArtifactStore(root)
    m = ex.artifact.manifest
    shutil.copytree(ex.artifact.path, store.folder(m["fingerprint"], m["key"]))
    return store


def _index_files(ex: Explorer) -> list[Path]:
    return [ex.artifact.path / f for f in ex.search_info["files"]]


@pytest.fixture(scope="module")
def exact(engine_ml100k_explorer) -> Explorer:
    return engine_ml100k_explorer


@pytest.fixture(scope="module")
def ann_store(exact, tmp_path_factory) -> ArtifactStore:
    return _copy_store(exact, tmp_path_factory.mktemp("ann_facade") / "artifacts")


@pytest.fixture(scope="module")
def ann(exact, ann_store) -> Explorer:
    """Opened once without training: builds the faiss index and saves it beside the model."""
    return Explorer.open(exact.dataset, _ann_config(), train=False, store=ann_store)


@pytest.fixture(scope="module")
def sample_rows(exact) -> np.ndarray:
    return np.random.default_rng(7).choice(exact.dataset.n_movies, 50, replace=False)


def test_ann_path_serves_similar_and_its_index_is_saved(exact, ann):
    assert exact.search_backend == "exact" and ann.search_backend == "ann (faiss ivf)"
    info = ann.search_info
    assert info["built"] and info["saved"] and info["indexes"] == ["collab", "content", "joint"]
    entry = ann.manifest[ANN_SECTION][info["index_key"]]
    assert entry["backend"] == "ann (faiss ivf)" and entry["n_movies"] == exact.dataset.n_movies
    on_disk = json.loads((ann.artifact.path / "manifest.json").read_text())
    assert on_disk[ANN_SECTION] == ann.manifest[ANN_SECTION]
    for f in _index_files(ann):
        assert f.is_file() and entry["files"][f.name]["bytes"] == f.stat().st_size
        assert f.name not in on_disk["files"]  # outside the model's files: damage rebuilds only the index
    assert ann.store.verify(ann.artifact.path)[0] is not None  # the model itself still verifies
    assert ann.config.config_hash() == exact.config.config_hash()  # same artifact, no retraining


def test_three_lists_recall_at_20_against_exact(exact, ann, sample_rows):
    got = {name: ([], []) for name in LISTS}
    before = ann.search_info["exact_fallbacks"]
    for row in sample_rows.tolist():
        a, b = exact.similar(row, K, 0.5), ann.similar(row, K, 0.5)
        assert a.notes == b.notes and b.removed == {"content": 0, "collab": 0, "hybrid": 0}
        for name in LISTS:
            x, y = getattr(a, name), getattr(b, name)
            assert len(y) == len(x) and row not in y["movie"].to_numpy()
            assert list(y.columns) == list(x.columns)
            both = np.intersect1d(x["movie"], y["movie"])
            xs = x.set_index("movie").loc[both, ["score", "content_score", "collab_score"]].to_numpy()
            ys = y.set_index("movie").loc[both, ["score", "content_score", "collab_score"]].to_numpy()
            assert np.allclose(xs, ys, atol=1e-5, equal_nan=True)  # re-scored exactly: only membership differs
            assert np.all(np.diff(y["score"].to_numpy()) <= 0)
            pad = np.full(K, -1)
            got[name][0].append(np.r_[x["movie"].to_numpy(), pad][:K])
            got[name][1].append(np.r_[y["movie"].to_numpy(), pad][:K])
    recall = {name: recall_at_k(np.array(e), np.array(a)) for name, (e, a) in got.items()}
    assert all(r >= 0.95 for r in recall.values()), recall
    assert ann.search_info["exact_fallbacks"] == before  # every list came from the index, not the exact scan


def test_hybrid_recall_holds_across_alpha(exact, ann, sample_rows):
    for alpha in (0.0, 0.2, 0.8, 1.0):
        e = [exact.similar(r, K, alpha).hybrid["movie"].to_numpy() for r in sample_rows[:20].tolist()]
        a = [ann.similar(r, K, alpha).hybrid["movie"].to_numpy() for r in sample_rows[:20].tolist()]
        assert recall_at_k(np.array(e), np.array(a)) >= 0.95, alpha


@pytest.mark.parametrize(
    "filters",
    [Filters(min_ratings=50), Filters(year_range=(1990, 1995)), Filters(genres=("Film-Noir",)),
     Filters(genres=("Documentary",), min_ratings=5), Filters(rows=tuple(range(0, 1682, 9)))],
    ids=["min_ratings", "years", "rare-genre", "narrow", "map-selection"],
)
def test_filters_still_fill_lists_that_satisfy_them(exact, ann, sample_rows, filters):
    ok = ann.allowed(filters)
    gone_exact = gone_ann = 0
    for row in sample_rows[:15].tolist():
        a, b = exact.similar(row, K, 0.5, filters), ann.similar(row, K, 0.5, filters)
        for name in LISTS:
            x, y = getattr(a, name), getattr(b, name)
            assert len(y) == len(x), (row, name)  # never shorter than exact search
            assert ok[y["movie"].to_numpy()].all() and row not in y["movie"].to_numpy()
            assert b.removed[name] == len(b.removed_rows[name]) and not ok[b.removed_rows[name]].any()
            gone_exact, gone_ann = gone_exact + a.removed[name], gone_ann + b.removed[name]
    assert abs(gone_ann - gone_exact) <= 0.05 * max(gone_exact, 1)


def test_lists_the_index_cannot_settle_fall_back_to_the_exact_scan(exact, ann, ann_store):
    rare = Filters(genres=("Documentary",), max_ratings=3)
    assert 0 < ann.allowed(rare).sum() < K  # fewer movies than k pass
    # one probed cell per k=100 fetched: the 19 documentaries are not all reachable through the index
    weak = Explorer.open(ann.dataset, _ann_config(nprobe=1), train=False, store=ann_store)
    assert weak.search_info["built"] is False and weak.search_info["exact_fallbacks"] == 0
    row = exact.resolve("Star Wars (1977)")
    a, b = exact.similar(row, K, 0.5, rare), weak.similar(row, K, 0.5, rare)
    for name in LISTS:
        assert getattr(b, name)["movie"].tolist() == getattr(a, name)["movie"].tolist()
        assert b.removed[name] == a.removed[name]
    assert weak.search_info["exact_fallbacks"] > 0


def test_reopening_loads_the_saved_index(ann, ann_store, sample_rows):
    files = _index_files(ann)
    stamps = [f.stat().st_mtime_ns for f in files]
    again = Explorer.open(ann.dataset, _ann_config(), train=False, store=ann_store)
    assert again.search_info["built"] is False and again.search_info["saved"]
    assert [f.stat().st_mtime_ns for f in files] == stamps and not again.notices
    for row in sample_rows[:10].tolist():
        x, y = ann.similar(row, K, 0.3), again.similar(row, K, 0.3)
        assert all(getattr(x, n)["movie"].tolist() == getattr(y, n)["movie"].tolist() for n in LISTS)
    # query-time knobs reuse the same files; a build setting gets its own index
    assert Explorer.open(ann.dataset, _ann_config(nprobe=8), train=False, store=ann_store).search_info["built"] is False
    other = Explorer.open(ann.dataset, _ann_config(nlist=16), train=False, store=ann_store)
    assert other.search_info["built"] and other.search_info["index_key"] != ann.search_info["index_key"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing"])
def test_damaged_index_is_rebuilt_with_a_notice(ann, tmp_path, damage):
    store = _copy_store(ann, tmp_path / "artifacts")
    folder = store.folder(ann.manifest["fingerprint"], ann.manifest["key"])
    victim = folder / ann.search_info["files"][1]
    if damage == "garbage":
        victim.write_bytes(b"not a faiss index" * 100)
    elif damage == "truncated":
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    else:
        victim.unlink()
    ex = Explorer.open(ann.dataset, _ann_config(), train=False, store=store)
    assert ex.search_backend == "ann (faiss ivf)" and ex.search_info["built"]
    assert any("index is unusable" in n and "rebuilding" in n for n in ex.notices), ex.notices
    assert ex.artifact.side_file(ANN_SECTION, ex.search_info["index_key"], victim.name)[0] == victim
    assert len(ex.similar(0, K).hybrid) == K
    assert Explorer.open(ann.dataset, _ann_config(), train=False, store=store).search_info["built"] is False


def _probe(store_root: Path, threshold: int) -> str:
    code = (
        "import sys\n"
        "from recsys_core import Explorer, EngineConfig\n"
        "from recsys_core.config import AnnConfig\n"
        "from recsys_core.store import ArtifactStore\n"
        "ex = Explorer.open('ml-100k', EngineConfig(ann=AnnConfig(threshold=int(sys.argv[2]))), train=False,\n"
        "                  store=ArtifactStore(sys.argv[1]))\n"
        "assert len(ex.similar(0, 10).hybrid) == 10\n"
        "print(ex.search_backend, 'faiss' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(store_root), str(threshold)], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_below_the_threshold_exact_search_and_faiss_never_imported(ann, ann_store):
    assert _probe(ann_store.root, AnnConfig().threshold) == "exact False"
    assert _probe(ann_store.root, THRESHOLD) == "ann (faiss ivf) True"  # the probe does see faiss when used


def test_import_does_not_load_faiss():
    code = "import sys, recsys_core; from recsys_core import Explorer, EngineConfig; print('faiss' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_ann_setting_is_query_time_and_validated():
    base = EngineConfig()
    assert _ann_config(nprobe=4).config_hash() == base.config_hash() and "ann" not in base.hashed_part()
    assert asdict(base)["ann"]["threshold"] == 200_000
    assert AnnConfig(nprobe=4).build_key() == AnnConfig().build_key() != AnnConfig(nlist=7).build_key()
    with pytest.raises(ConfigError, match="AnnConfig"):
        EngineConfig(ann={"threshold": 5}).validate()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="threshold"):
        EngineConfig(ann=AnnConfig(threshold=-1))
