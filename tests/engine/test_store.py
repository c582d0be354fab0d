"""Artifact cache faults: corrupt, missing, stale, concurrent and killed builds never serve a bad artifact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from recsys_core.store import MANIFEST, ArtifactMissingError, ArtifactStore

ROOT = Path(__file__).resolve().parents[2]


def _builder(calls: list):
    def build(w):
        calls.append(1)
        w.array("vectors", np.arange(12, dtype=np.float32).reshape(4, 3))
        w.arrays("bundle", {"a": np.ones(3, np.int64), "terms": np.array(["x", "y"])})
        w.json("history", {"train": [1.0, 0.5]})
        return {"metrics": {"score": 1.0}}

    return build


def test_build_once_then_reuse(tmp_path):
    store, calls = ArtifactStore(tmp_path), []
    art, built = store.get_or_build("fp", "key", _builder(calls))
    assert built and len(calls) == 1
    assert art.manifest["metrics"]["score"] == 1.0 and set(art.manifest["files"]) == {"vectors.npy", "bundle.npz", "history.json"}
    assert all(len(v["sha256"]) == 64 for v in art.manifest["files"].values())
    art2, built2 = store.get_or_build("fp", "key", _builder(calls))
    assert not built2 and len(calls) == 1
    np.testing.assert_array_equal(art2.array("vectors"), art.array("vectors"))
    assert art2.arrays("bundle")["terms"].tolist() == ["x", "y"]


@pytest.mark.parametrize("fault", ["corrupt", "delete", "manifest_garbage", "old_version", "no_manifest"])
def test_damaged_artifact_is_reported_and_rebuilt(tmp_path, fault):
    store, calls = ArtifactStore(tmp_path), []
    art, _ = store.get_or_build("fp", "key", _builder(calls))
    f = art.path / "vectors.npy"
    if fault == "corrupt":
        data = bytearray(f.read_bytes())
        data[-1] ^= 0xFF
        f.write_bytes(bytes(data))
    elif fault == "delete":
        f.unlink()
    elif fault == "manifest_garbage":
        (art.path / MANIFEST).write_text("{not json")
    elif fault == "old_version":
        m = json.loads((art.path / MANIFEST).read_text())
        m["format_version"] = 0
        (art.path / MANIFEST).write_text(json.dumps(m))
    else:
        (art.path / MANIFEST).unlink()
    with pytest.raises(ArtifactMissingError):
        store.open("fp", "key")
    notices: list[str] = []
    art2, built = store.get_or_build("fp", "key", _builder(calls), notices.append)
    assert built and len(calls) == 2 and notices and "rebuilt" in notices[0]
    assert store.open("fp", "key").manifest["files"] == art2.manifest["files"]
    assert not list(tmp_path.glob("fp/.t*"))  # no temp or trash folders left


def test_changed_data_or_config_never_serves_stale(tmp_path):
    store, calls = ArtifactStore(tmp_path), []
    a, _ = store.get_or_build("fp1", "key", _builder(calls))
    b, built_b = store.get_or_build("fp2", "key", _builder(calls))
    c, built_c = store.get_or_build("fp1", "key2", _builder(calls))
    assert built_b and built_c and len({a.path, b.path, c.path}) == 3


def test_add_and_settings_are_atomic_and_checked(tmp_path):
    store, calls = ArtifactStore(tmp_path), []
    art, _ = store.get_or_build("fp", "key", _builder(calls))
    art = store.add(art, {"proj_content": np.zeros((4, 2), np.float32)}, {"projection_seconds": {"x": 1.0}})
    again = store.open("fp", "key")
    assert again.has("proj_content.npy") and again.manifest["projection_seconds"] == {"x": 1.0}
    store.write_settings("fp", "key", {"default_alpha": 0.3})
    assert store.read_settings("fp", "key") == {"default_alpha": 0.3}
    (art.path / "proj_content.npy").write_bytes(b"junk")
    with pytest.raises(ArtifactMissingError):
        store.open("fp", "key")


_WORKER = textwrap.dedent(
    """
    import sys, time, os
    import numpy as np
    sys.path.insert(0, {root!r})
    from recsys_core.store import ArtifactStore
    root, log, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])

    def build(w):
        with open(log, "a") as f:
            f.write(f"{{os.getpid()}}\\n")
        w.array("half", np.zeros(3, np.float32))
        time.sleep(delay)
        w.array("vectors", np.ones(5, np.float32))
        return {{"who": os.getpid()}}

    art, built = ArtifactStore(root).get_or_build("fp", "key", build)
    print(art.manifest["who"], built)
    """
)


def _worker(tmp_path: Path) -> Path:
    p = tmp_path / "worker.py"
    p.write_text(_WORKER.format(root=str(ROOT)))
    return p


def test_two_processes_train_once(tmp_path):
    worker, log = _worker(tmp_path), tmp_path / "builds.log"
    procs = [subprocess.Popen([sys.executable, str(worker), str(tmp_path / "a"), str(log), "2"],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(log.read_text().split()) == 1  # one build
    assert outs[0][0] == outs[1][0]  # both got the same artifact
    assert sorted(o[1] for o in outs) == ["False", "True"]


def test_sigkill_mid_training_leaves_nothing_served(tmp_path):
    worker, log = _worker(tmp_path), tmp_path / "builds.log"
    p = subprocess.Popen([sys.executable, str(worker), str(tmp_path / "a"), str(log), "60"], stdout=subprocess.PIPE)
    deadline = time.time() + 60
    while not log.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    store = ArtifactStore(tmp_path / "a")
    with pytest.raises(ArtifactMissingError):
        store.open("fp", "key")
    assert list((tmp_path / "a" / "fp").glob(".tmp-key-*"))  # the partial build exists but is never served
    calls: list = []
    art, built = store.get_or_build("fp", "key", _builder(calls))  # the lock died with the process
    assert built and art.has("vectors.npy") and not list((tmp_path / "a" / "fp").glob(".tmp-key-*"))
