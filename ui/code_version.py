"""Whether the app's code on disk is still the code this server loaded.

The file watcher is off (``.streamlit/config.toml``), so an update or an edit under a running server leaves its
modules as they were loaded while each page's script is read anew: new pages call old modules, which fails in
ways no reload mends. Only a restart does, and this lets the error boundary and the operator say so.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("app.py", "ui", "pages_", "recsys_core")


def newest_source(root: Path = ROOT) -> float:
    """The latest modification time of the app's Python files (a pull writes every file it changes or adds);
    0.0 when none can be read. Folders' own times are not read: Python moves them when it first writes a
    ``__pycache__`` into one, which is no change of code."""
    newest = 0.0
    for name in SOURCES:
        top = root / name
        if top.is_file():
            newest = max(newest, top.stat().st_mtime)
            continue
        for folder, subfolders, files in os.walk(top):
            subfolders[:] = [d for d in subfolders if d != "__pycache__"]
            for f in files:
                if f.endswith(".py"):
                    newest = max(newest, os.stat(os.path.join(folder, f)).st_mtime)
    return newest


LOADED = newest_source()  # when this server first imported the app's modules


def changed_since_start(root: Path = ROOT, loaded: float | None = None) -> bool:
    """True when the code on disk is newer than what this server loaded (never raises: False when unreadable)."""
    try:
        return newest_source(root) > (LOADED if loaded is None else loaded)
    except OSError:
        return False


RESTART = ("The app's code on disk changed after this server started (an update or an edit), so the pages no "
           "longer match the modules it loaded: restart the server (stop it, then `make run`) to load the new code.")
