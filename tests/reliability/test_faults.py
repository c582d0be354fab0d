"""Faults through the facade: a real SIGKILL mid-training and mid-projection, damaged caches, read-only
and full artifacts folders. Store-level cases (fake builders) are in tests/engine/test_store.py."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from recsys_core import Explorer
from recsys_core.store import MANIFEST, ArtifactMissingError, ArtifactStore
from tests.reliability.conftest import ROOT, files_under, tiny_config

CHILD = textwrap.dedent("""
    import os, signal, sys, time
    sys.path.insert(0, {root!r})
    from tests.reliability.conftest import tiny_config
    from recsys_core import Explorer
    from recsys_core.store import ArtifactStore
    import recsys_core.store as store_mod
    folder, root, marker, when = sys.argv[1:5]

    def mark():
        open(marker, "w").write(str(os.getpid()))

    if when == "training":
        def progress(ev):
            if ev.stage == "content" and ev.epoch:  # mid-training: the temp folder exists, the lock is held
                mark(); time.sleep(120)
        Explorer.open(folder, tiny_config(epochs=50, patience=0), store=ArtifactStore(root), progress=progress)
    else:
        ex = Explorer.open(folder, tiny_config(), store=ArtifactStore(root), train=False)
        if when == "umap":
            def progress(ev):
                if ev.stage == "projection" and ev.epoch == 0:
                    mark(); time.sleep(120)
            ex.projection("collab", progress=progress)
        else:  # "manifest": the map's .npy is written, the manifest that would list it is not
            real = store_mod.atomic_write
            def atomic_write(path, data):
                if path.name == store_mod.MANIFEST:
                    mark(); os.kill(os.getpid(), signal.SIGKILL)
                real(path, data)
            store_mod.atomic_write = atomic_write
            ex.projection("collab")
""")


@pytest.fixture(scope="module")
def pristine(tiny_dir, tmp_path_factory) -> Path:
    """Trained once per module, with its content map (so numba's compiled UMAP is cached there too)."""
    root = tmp_path_factory.mktemp("pristine") / "art"
    Explorer.open(tiny_dir, tiny_config(), store=ArtifactStore(root)).projection("content")
    return root


@pytest.fixture
def good(pristine, tiny_dir, tmp_path):
    """A copy of the trained artifact (the 'previous good' one) in a fresh root, plus its files."""
    root = tmp_path / "art"
    shutil.copytree(pristine, root)
    ex = Explorer.open(tiny_dir, tiny_config(), store=ArtifactStore(root), train=False)
    return ex, root, files_under(ex.artifact.path)


def _kill_child(tiny_dir: Path, root: Path, tmp_path: Path, when: str) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT)))
    marker = tmp_path / "marker"
    p = subprocess.Popen([sys.executable, str(script), str(tiny_dir), str(root), str(marker), when],
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if p.poll() is not None:
            pytest.fail(f"child ended before the kill point: {p.stderr.read()[-2000:]}")
        assert time.monotonic() < deadline, "the child never reached the kill point"
        time.sleep(0.05)
    if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL


def test_killed_mid_training_serves_nothing_half_written_and_keeps_the_good_one(good, tiny_dir, tmp_path):
    ex_a, root, files_a = good
    _kill_child(tiny_dir, root, tmp_path, "training")
    cfg_b = tiny_config(epochs=50, patience=0)
    key_b = cfg_b.config_hash()
    leftovers = list(root.glob(f"*/.tmp-{key_b}-*"))
    assert leftovers, "the killed build left its temp folder (never served)"
    with pytest.raises(ArtifactMissingError, match="No trained model is cached"):
        Explorer.open(tiny_dir, cfg_b, store=ArtifactStore(root), train=False)
    # the previous good artifact (another config) is untouched and opens from the cache
    assert files_under(ex_a.artifact.path) == files_a
    again = Explorer.open(tiny_dir, tiny_config(), store=ArtifactStore(root), train=False)
    assert again.manifest["created"] == ex_a.manifest["created"]
    # the next start rebuilds (the dead process's lock went with it) and clears the leftovers
    rebuilt = Explorer.open(tiny_dir, cfg_b, store=ArtifactStore(root))
    assert rebuilt.store.verify(rebuilt.artifact.path)[0] is not None
    assert not list(root.glob("*/.tmp-*"))


@pytest.mark.parametrize("when", ["umap", "manifest"])
def test_killed_mid_projection_keeps_the_artifact_and_recomputes_the_map(good, tiny_dir, tmp_path, when):
    ex_a, root, files_a = good
    _kill_child(tiny_dir, root, tmp_path, when)
    ex = Explorer.open(tiny_dir, tiny_config(), store=ArtifactStore(root), train=False)
    assert ex.store.verify(ex.artifact.path)[0] is not None, "the artifact still verifies"
    assert ex.manifest["files"] == ex_a.manifest["files"], "the unlisted half-map is never served"
    assert not any(k.startswith("proj_collab") for k in ex.manifest["files"])
    coords = ex.projection("collab")
    assert coords.shape == (ex.dataset.n_movies, 2) and np.isfinite(coords[ex.catalog["has_collab"]]).all()
    reopened = Explorer.open(tiny_dir, tiny_config(), store=ArtifactStore(root), train=False)
    assert any(k.startswith("proj_collab") for k in reopened.manifest["files"])
    now = files_under(reopened.artifact.path)
    assert all(now[k] == v for k, v in files_a.items() if k != MANIFEST), "no trained file was touched"


def _damage(path: Path, fault: str) -> str:
    """Damage one artifact; returns the words the notice must contain."""
    f = path / "content_vectors.npy"
    if fault == "corrupt":
        data = bytearray(f.read_bytes())
        data[-3] ^= 0xFF
        f.write_bytes(bytes(data))
        return "damaged (content_vectors.npy fails its checksum)"
    if fault == "truncated":
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
        return "damaged (content_vectors.npy fails its checksum)"
    if fault == "deleted":
        f.unlink()
        return "is missing content_vectors.npy"
    m = json.loads((path / MANIFEST).read_text())
    m["format_version"] = 0
    (path / MANIFEST).write_text(json.dumps(m))
    return "written by another version of this program"


@pytest.mark.parametrize("fault", ["corrupt", "truncated", "deleted", "old_format"])
def test_damaged_cache_is_detected_explained_and_rebuilt(good, tiny_dir, fault):
    ex_a, root, _ = good
    words = _damage(ex_a.artifact.path, fault)
    with pytest.raises(ArtifactMissingError, match="train again to rebuild it") as err:
        Explorer.open(tiny_dir, tiny_config(), store=ArtifactStore(root), train=False)
    assert words in str(err.value)
    ex = Explorer.open(tiny_dir, tiny_config(), store=ArtifactStore(root))
    assert any(words in n and "it will be rebuilt" in n for n in ex.notices), ex.notices
    assert ex.store.verify(ex.artifact.path)[0] is not None and ex.manifest["created"] >= ex_a.manifest["created"]
    assert not list(root.glob("*/.tmp-*")) and not list(root.glob("*/.trash-*"))
    np.testing.assert_allclose(ex.artifact.array("content_vectors").shape, (ex.dataset.n_movies, 8))


# --- read-only and full artifacts folders ------------------------------------------------------------


def test_read_only_folder_runs_without_caching(tiny_ds, tmp_path, deny_writes):
    root = tmp_path / "ro"
    root.mkdir()
    deny_writes(root, errno.EROFS)
    ex = Explorer.open(tiny_ds, tiny_config(), store=ArtifactStore(root))
    assert not ex.artifact.cached
    assert any("Cannot save to the artifacts folder" in n and "Read-only file system" in n
               and "running without caching" in n for n in ex.notices), ex.notices
    assert len(ex.similar(0, k=5).hybrid) == 5
    assert ex.projection("content").shape == (ex.dataset.n_movies, 2) and ex.agreement(k=5).shape == (ex.dataset.n_movies,)
    assert files_under(root) == {}, "nothing written, nothing half-written"
    # every later open in this process (another session, the UI's train=False reload) reuses it
    again = Explorer.open(tiny_ds, tiny_config(), store=ArtifactStore(root), train=False)
    assert again.manifest["created"] == ex.manifest["created"] and any("running without caching" in n for n in again.notices)


def test_full_disk_keeps_the_model_in_memory_and_the_old_artifacts_intact(good, tiny_ds, deny_writes):
    ex_a, root, files_a = good
    deny_writes(root, errno.ENOSPC, only_replace=True)  # files can be created; renaming into place fails
    cfg = tiny_config(code_dim=6)
    ex = Explorer.open(tiny_ds, cfg, store=ArtifactStore(root))
    assert any("No space left on device" in n and "running without caching" in n for n in ex.notices), ex.notices
    assert not ex.artifact.cached and len(ex.similar(1, k=5).hybrid) == 5
    assert not list(root.glob("*/.tmp-*")), "the failed temp folder was removed"
    assert not ArtifactStore(root).folder(ex.dataset.fingerprint, cfg.config_hash()).exists()
    assert files_under(ex_a.artifact.path) == files_a, "the previous artifact is untouched"
    # a map of the cached artifact cannot be saved either: served from memory, the artifact stays valid
    old = Explorer.open(tiny_ds, tiny_config(), store=ArtifactStore(root), train=False)
    assert old.projection("collab").shape == (old.dataset.n_movies, 2)
    assert any("No space left on device" in n for n in old.notices)
    assert ArtifactStore(root).verify(ex_a.artifact.path)[0] is not None
    assert files_under(ex_a.artifact.path) == files_a
