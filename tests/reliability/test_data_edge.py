"""Awkward but valid datasets train (or say clearly why not); the CLI answers in one line, never a traceback.

Malformed files (missing columns, wrong separator, bad encoding, truncated zip, ...) are covered by
tests/data/test_bad_input.py; these are the cases that parse fine and stress the models instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys_core import Explorer
from recsys_core.errors import UnknownMovieError
from recsys_core.store import ArtifactStore
from tests.reliability.conftest import ROOT, files_under, tiny_config
from tests.reliability.datasets import ODD_TITLES, write_ml100k, write_release

LONG_TITLE = "The " + "Very " * 1200 + "Long Night (1999)"  # ~6 kB


CLI_FLAGS = ["--content-epochs", "3", "--code-dim", "8", "--collab-dim", "8", "--quiet"]


def _cli_config():
    """The config the CLI builds from CLI_FLAGS (so the CLI reuses what the fixture trained)."""
    from dataclasses import replace

    from recsys_core.config import EngineConfig

    cfg = EngineConfig()
    return replace(cfg, content=replace(cfg.content, epochs=3, code_dim=8), collab=replace(cfg.collab, dim=8))


def _open(folder: Path, tmp_path: Path) -> tuple[Explorer, Path]:
    root = tmp_path / "art"
    ex = Explorer.open(folder, tiny_config(), store=ArtifactStore(root))
    return ex, root


def _intact(ex: Explorer, root: Path) -> None:
    """The artifact on disk verifies, and no temporary or trash folder is left beside it."""
    art, notice = ex.store.verify(ex.artifact.path)
    assert art is not None, notice
    assert not [p for p in files_under(root) if "/.tmp-" in f"/{p}" or "/.trash-" in f"/{p}"]
    for name in ("content_vectors", "collab_vectors"):
        assert np.isfinite(art.array(name)).all(), f"{name} has NaN/inf"


# One release holding several awkward things at once (trained once for the module): 3 movies nobody
# rated, a movie with no content at all, odd characters, a ~6 kB title and four movies titled the same.
AWKWARD_TITLES = ODD_TITLES + [LONG_TITLE] + ["Twin (1999)"] * 4


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    base = tmp_path_factory.mktemp("awkward")
    folder = write_release(base / "awkward", n_movies=30, titles=AWKWARD_TITLES, unrated_movies=3,
                           no_content_movie=True)
    root = base / "art"
    ex = Explorer.open(folder, _cli_config(), store=ArtifactStore(root))
    _intact(ex, root)
    return ex, folder, root


def test_movies_without_ratings(awkward):
    ex = awkward[0]
    cat = ex.catalog
    unrated = cat.index[cat["title"].str.startswith("Never Rated")]
    assert len(unrated) == 3 and (cat.loc[unrated, "n_ratings"] == 0).all()
    assert cat.loc[unrated, "has_content"].all()
    res = ex.similar(int(unrated[0]), k=5)
    assert len(res.content) == 5 and len(res.hybrid) == 5
    if ex.cold_start.get("enabled"):  # no ratings: its collaborative place comes from what it is, and says so
        assert cat.loc[unrated, "has_collab"].all() and len(res.collab) == 5
    else:
        assert not cat.loc[unrated, "has_collab"].any() and len(res.collab) == 0
        assert any("no collaborative vector" in n for n in res.notes)


def test_a_movie_with_no_content_at_all_gets_no_content_vector(awkward):
    ex = awkward[0]
    row = ex.resolve("Qzxv")
    assert not ex.catalog.at[row, "has_content"]
    assert not ex.artifact.array("content_vectors")[row].any(), "no meaningless vector"
    res = ex.similar(row, k=5)
    assert len(res.content) == 0 and len(res.hybrid) == 5
    assert any("content" in n for n in res.notes), res.notes


def test_titles_with_quotes_commas_scripts_and_emoji_round_trip(awkward):
    ex = awkward[0]
    for odd in ODD_TITLES:
        assert ex.catalog.at[ex.resolve(odd), "label"] == odd
    assert ex.search("Popcorn 🍿")[0] == ex.resolve(ODD_TITLES[5])
    assert ex.search("千と千尋")[0] == ex.resolve(ODD_TITLES[3])
    assert ex.similar(ex.resolve(ODD_TITLES[0]), k=5).hybrid["title"].map(len).gt(0).all()


def test_a_very_long_title(awkward):
    ex = awkward[0]
    row = ex.resolve(len(ODD_TITLES) + 1)  # by MovieLens id
    assert ex.catalog.at[row, "label"] == LONG_TITLE
    assert row in ex.search("the very very long night")
    assert ex.similar(row, k=5).hybrid.shape[0] == 5


def test_duplicate_titles_are_told_apart_by_id(awkward):
    ex = awkward[0]
    with pytest.raises(UnknownMovieError, match=r"'Twin \(1999\)' matches 4 movies; add the year or use the id") as err:
        ex.resolve("Twin (1999)")
    assert len(err.value.candidates) == 4 and all("[id " in c for c in err.value.candidates)
    first = len(ODD_TITLES) + 2
    assert ex.catalog.at[ex.resolve(first), "title"].startswith("Twin")
    assert len(ex.similar(ex.resolve(first), k=5).hybrid) == 5


def test_users_without_ratings_are_left_out_with_a_note(tmp_path):
    ex, root = _open(write_ml100k(tmp_path / "ml-100k-like", extra_users=3), tmp_path)
    _intact(ex, root)
    assert ex.dataset.n_users == 30
    assert any("3 users in the users file have no ratings" in n for n in ex.dataset.notes)


def test_a_dataset_of_one_user(tmp_path):
    ex, root = _open(write_release(tmp_path / "d", n_users=1), tmp_path)
    _intact(ex, root)
    assert ex.dataset.n_users == 1
    res = ex.similar(0, k=5)
    assert len(res.hybrid) == 5 and len(res.content) == 5
    assert ex.metrics, "evaluation ran (and said what it could)"


def test_all_ratings_equal(tmp_path):
    ex, root = _open(write_release(tmp_path / "d", constant_rating=4.0), tmp_path)
    _intact(ex, root)
    assert set(np.unique(ex.dataset.ratings.rating)) == {4.0}
    res = ex.similar(0, k=5)
    assert len(res.hybrid) == 5 and np.isfinite(res.hybrid["score"].to_numpy(float)).all()


# --- the CLI: the same cases through `python -m recsys_core`, exit code 2 and one line ---------------


def _cli(*args: str, root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RECSYS_ARTIFACTS_DIR": str(root)}
    return subprocess.run([sys.executable, "-m", "recsys_core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("args,expected", [
    (["train", "--content-epochs", "0"], "epochs must be between 1 and 10000, got 0"),
    (["train", "--code-dim", "1000000000"], "code_dim must be between 2 and 2048"),
    (["similar", "--movie", "Twin (1999)", *CLI_FLAGS], "matches 4 movies"),
], ids=["zero-epochs", "huge-dim", "ambiguous-title"])
def test_cli_one_line_no_traceback(awkward, args, expected):
    _, folder, root = awkward  # the CLI reuses the fixture's artifact (same config): no training here
    before = files_under(root)
    p = _cli(*args, "--data", str(folder), root=root)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Traceback" not in p.stderr and len(lines) == 1 and lines[0].startswith("error: "), p.stderr[-2000:]
    assert expected in lines[0]
    after = files_under(root)
    assert {k: v for k, v in after.items() if not k.startswith("parsed")} == \
        {k: v for k, v in before.items() if not k.startswith("parsed")}, "nothing trained, written or lost"


def test_cli_info_and_similar_on_odd_titles(awkward):
    _, folder, root = awkward
    p = _cli("similar", "--movie", ODD_TITLES[5], "-k", "3", *CLI_FLAGS, "--data", str(folder), root=root)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "🎬 Popcorn 🍿 Night" in p.stdout
