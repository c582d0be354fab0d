"""Whether the app's code on disk is still the code this server loaded.

The file watcher is off (``.streamlit/config.toml``), so an update or an edit under a running server leaves its
modules as they were loaded while each page's script is read anew: new pages call old modules, which fails in
ways no reload mends. Only a restart does, and this lets the error boundary and the operator say so.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("app.py", "ui", "pages_", "recsys_core")
Snapshot = dict[str, tuple[float, str]]  # path -> (modification time, content digest)


def _times(root: Path) -> dict[str, float]:
    """The modification time of each of the app's Python files (``__pycache__`` folders are Python's, not code)."""
    times: dict[str, float] = {}
    for name in SOURCES:
        top = root / name
        if top.is_file():
            times[str(top)] = top.stat().st_mtime
            continue
        for folder, subfolders, files in os.walk(top):
            subfolders[:] = [d for d in subfolders if d != "__pycache__"]
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(folder, f)
                    times[path] = os.stat(path).st_mtime
    return times


def _digest(path: str) -> str:
    return hashlib.blake2b(Path(path).read_bytes(), digest_size=16).hexdigest()


def snapshot(root: Path = ROOT) -> Snapshot:
    """Each Python file of the app with its time and content, as this server loaded them."""
    return {path: (mtime, _digest(path)) for path, mtime in _times(root).items()}


def _loaded() -> Snapshot | None:
    """The snapshot when this server first imported the app's modules; None (nothing to compare) if a file could
    not be read then, so that importing this never stops the app."""
    try:
        return snapshot()
    except OSError:
        return None


LOADED = _loaded()


def changed_since_start(root: Path = ROOT, loaded: Snapshot | None = None) -> bool:
    """True when a Python file was added, removed or changed since the server loaded them (a file only touched,
    or changed and put back, is not a change); reads only the files whose time moved. Never raises: False when
    the files cannot be read, now or when the server started."""
    before = LOADED if loaded is None else loaded
    if before is None:
        return False
    try:
        now = _times(root)
        if not now:  # nothing readable there (a checkout moved away): nothing to compare
            return False
        if now.keys() != before.keys():
            return True
        return any(mtime != before[path][0] and _digest(path) != before[path][1] for path, mtime in now.items())
    except OSError:
        return False


RESTART = ("The app's code on disk changed after this server started (an update or an edit), so the pages no "
           "longer match the modules it loaded: restart the server (stop it, then `make run`) to load the new code.")
