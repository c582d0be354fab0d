"""Two sessions asking to train the same thing train once; two datasets at once don't corrupt each other."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from recsys_core import Explorer
from recsys_core.store import ArtifactStore
from tests.reliability.conftest import ROOT, tiny_config
from tests.reliability.datasets import write_ml100k, write_release


def test_two_threads_same_settings_train_once(tiny_ds, tmp_path):
    root = tmp_path / "art"
    trained: list[str] = []
    waited: list[str] = []
    out: dict[str, Explorer] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def session(name: str) -> None:
        def progress(ev) -> None:
            if ev.stage == "content" and name not in trained:
                trained.append(name)
            if "Another process is training this model" in ev.message:
                waited.append(name)
        try:
            start.wait()
            out[name] = Explorer.open(tiny_ds, tiny_config(), store=ArtifactStore(root), progress=progress)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(trained) == 1, f"trained by {trained}"
    assert out["a"].manifest["created"] == out["b"].manifest["created"]
    assert out["a"].artifact.path == out["b"].artifact.path
    entries = list((root / tiny_ds.fingerprint).iterdir())  # the artifact, its lock and one lock per later stage
    assert [p.name for p in entries if p.is_dir()] == [out["a"].artifact.path.name]
    assert all(p.suffix == ".lock" for p in entries if not p.is_dir())


CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.reliability.conftest import tiny_config
    from recsys_core import Explorer
    from recsys_core.store import ArtifactStore
    ex = Explorer.open(sys.argv[1], tiny_config(), store=ArtifactStore(sys.argv[2]))
    print(ex.dataset.fingerprint, ex.dataset.n_movies, ex.similar(0, k=3).hybrid["title"].iloc[0])
""")


def test_two_processes_different_datasets_same_folder(tmp_path):
    a = write_release(tmp_path / "a", n_movies=30, seed=3)
    b = write_ml100k(tmp_path / "b", n_movies=24)
    root = tmp_path / "art"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT)))
    procs = [subprocess.Popen([sys.executable, str(script), str(d), str(root)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for d in (a, b)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    results = [o[0].split(maxsplit=2) for o in outs]
    store = ArtifactStore(root)
    for (fp, n_movies, first), folder in zip(results, (a, b), strict=True):
        ex = Explorer.open(folder, tiny_config(), store=store, train=False)
        assert ex.dataset.fingerprint == fp and ex.dataset.n_movies == int(n_movies)
        assert store.verify(ex.artifact.path)[0] is not None
        assert ex.similar(0, k=3).hybrid["title"].iloc[0] == first.strip()
    assert results[0][0] != results[1][0] and not list(root.glob("*/.tmp-*"))
