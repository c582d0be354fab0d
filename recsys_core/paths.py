"""Where data and artifacts live by default, so the package works from a checkout and when installed.

- In a source checkout (``pyproject.toml`` next to ``recsys_core/``): the checkout's ``data/`` and
  ``artifacts/``, as always.
- Installed (a wheel in site-packages): the user's usual folders, ``$XDG_DATA_HOME/recsys`` (default
  ``~/.local/share/recsys``) for downloaded datasets and ``$XDG_CACHE_HOME/recsys`` (default
  ``~/.cache/recsys``) for trained artifacts and parsed-data caches.
- ``RECSYS_DATA_DIR`` and ``RECSYS_ARTIFACTS_DIR`` override both.

The bundled ml-100k lives in the checkout's ``data/ml-100k/``; the wheel carries the same files as
``recsys_core/_bundled/ml-100k/`` (see ``setup.py``). A leaf module: standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The folder that holds recsys_core/: the checkout's root, or site-packages once installed.
CHECKOUT_ROOT = PACKAGE_DIR.parent
BUNDLED_NAME = "ml-100k"
APP_NAME = "recsys"


def in_checkout() -> bool:
    """Whether we run from a source checkout (defaults stay inside it) rather than an installed package."""
    return (CHECKOUT_ROOT / "pyproject.toml").is_file() and (CHECKOUT_ROOT / "data" / BUNDLED_NAME).is_dir()


def _xdg(var: str, fallback: str) -> Path:
    """An XDG base folder: the variable when it holds an absolute path (the spec ignores relative ones), else ~/fallback."""
    value = os.environ.get(var, "").strip()
    if value and Path(value).expanduser().is_absolute():
        return Path(value).expanduser()
    return Path.home() / fallback


def data_dir() -> Path:
    """Where downloaded releases live: $RECSYS_DATA_DIR, else <checkout>/data, else $XDG_DATA_HOME/recsys."""
    env = os.environ.get("RECSYS_DATA_DIR", "").strip()
    if env:
        return Path(env).expanduser().resolve()
    if in_checkout():
        return CHECKOUT_ROOT / "data"
    return _xdg("XDG_DATA_HOME", ".local/share") / APP_NAME


def artifacts_dir() -> Path:
    """Where trained artifacts and parsed caches go: $RECSYS_ARTIFACTS_DIR, else <checkout>/artifacts, else the cache."""
    env = os.environ.get("RECSYS_ARTIFACTS_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    if in_checkout():
        return CHECKOUT_ROOT / "artifacts"
    return _xdg("XDG_CACHE_HOME", ".cache") / APP_NAME


def bundled_dir() -> Path:
    """The bundled ml-100k: the checkout's data/ml-100k, else the copy shipped inside the installed package."""
    if in_checkout():
        return CHECKOUT_ROOT / "data" / BUNDLED_NAME
    return PACKAGE_DIR / "_bundled" / BUNDLED_NAME
