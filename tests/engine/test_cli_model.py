"""CLI model subcommands on small data, run as real `python -m recsys_core` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--content-epochs", "3", "--code-dim", "16", "--quiet"]


def _run(*args: str, artifacts: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if artifacts is not None:
        env["RECSYS_ARTIFACTS_DIR"] = str(artifacts)
    return subprocess.run([sys.executable, "-m", "recsys_core", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def trained(engine_tiny_dir, tmp_path_factory):
    # A module fixture runs before the per-test autouse one that sets RECSYS_ARTIFACTS_DIR: pass the same folder.
    out = _run("train", "--data", str(engine_tiny_dir), *FAST, artifacts=tmp_path_factory.getbasetemp() / "artifacts")
    assert out.returncode == 0, out.stderr
    return engine_tiny_dir, out


def test_train_says_it_trains_then_prints_a_summary(trained):
    _, out = trained
    assert "artifact" in out.stdout and "time content" in out.stdout and "device" in out.stdout
    first = out.stderr.splitlines()[0]
    assert first.startswith("No trained model for ") and "training it now (about " in first, out.stderr


def test_train_json_reuses_the_model(trained):
    folder, _ = trained
    out = _run("train", "--data", str(folder), "--json", *FAST)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert Path(s["artifact"]).is_dir() and s["movies"] == 37 and 0.0 <= s["default_alpha"] <= 1.0
    assert "training it now" not in out.stderr, "a cached model is reused without a word about training"


def test_no_train_refuses_when_nothing_is_cached(trained):
    folder, _ = trained
    out = _run("similar", "--data", str(folder), "--movie", "1", "--no-train", *FAST, "--content-epochs", "2")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: No trained model for ") and "--no-train" in out.stderr
    assert out.stderr.count("\n") == 1, out.stderr


def test_similar_text_json_and_unknown(trained):
    folder, _ = trained
    out = _run("similar", "--data", str(folder), "--movie", "Ring Quest: The Felowship", "-k", "3", *FAST)
    assert out.returncode == 0, out.stderr
    assert "Ring Quest: The Fellowship" in out.stdout and "hybrid" in out.stdout
    js = _run("similar", "--data", str(folder), "--movie", "1", "--alpha", "0.2", "-k", "4", "--json", *FAST)
    data = json.loads(js.stdout)
    assert data["alpha"] == 0.2 and len(data["hybrid"]) == 4 and {"content_score", "collab_score"} <= set(data["hybrid"][0])
    assert "note:" not in out.stdout, "notes go to stderr; stdout is the lists"
    bad = _run("similar", "--data", str(folder), "--movie", "Toy Tail", *FAST)
    assert bad.returncode != 0 and "Toy Tale" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "Traceback" not in bad.stderr


def test_evaluate(trained):
    folder, _ = trained
    out = _run("evaluate", "--data", str(folder), "--json", *FAST)
    assert out.returncode == 0, out.stderr
    assert isinstance(json.loads(out.stdout), dict)


def test_predict_and_export_on_a_training_only_folder(tmp_path, engine_write):
    folder = engine_write(tmp_path / "train_only", seed=5, train_only=True)
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"userId": [1, 2, 99999, 3], "movieId": [1, 5, 2, 424242]}).to_csv(pairs, index=False)
    out = _run("predict", "--data", str(folder), "--pairs", str(pairs), "--out", str(tmp_path / "pred.csv"), *FAST)
    assert out.returncode == 0, out.stderr
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["userId", "movieId", "prediction", "unknown"]
    assert pred["unknown"].tolist() == [0, 0, 1, 1] and np.isfinite(pred["prediction"]).all()

    js = _run("predict", "--data", str(folder), "--pairs", str(pairs), "--out", str(tmp_path / "p2.csv"), "--json",
              "--no-train", *FAST)
    assert js.returncode == 0, js.stderr
    assert json.loads(js.stdout) == {"out": str(tmp_path / "p2.csv"), "rows": 4, "unknown": 2, "rating_model": "bayes_mf"}

    exp = tmp_path / "export"
    out = _run("export", "--data", str(folder), "--out", str(exp), "--alpha", "0.5", "-k", "5", "--json", *FAST)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["files"] == ["movies.csv", "content.npy", "collab.npy", "neighbors.csv"] and summary["k"] == 5
    movies = pd.read_csv(exp / "movies.csv")
    content, collab = np.load(exp / "content.npy"), np.load(exp / "collab.npy")
    assert content.dtype == np.float32 and collab.dtype == np.float32
    assert content.shape[0] == collab.shape[0] == len(movies) and "movieId" in movies and "title" in movies
    qz = int(np.flatnonzero(movies["title"].to_numpy() == "Qzxv")[0])
    assert not content[qz].any()  # no content -> a row of zeros
    nb = pd.read_csv(exp / "neighbors.csv")
    assert list(nb.columns) == ["movieId", "rank", "neighborId", "score", "content_score", "collab_score"]
    assert (nb["movieId"] != nb["neighborId"]).all() and nb.groupby("movieId")["rank"].max().max() == 5

    bad = _run("predict", "--data", str(folder), "--pairs", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "x.csv"), *FAST)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
