"""Named MovieLens releases, the data directory, and name -> folder resolution."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError
from ..paths import CHECKOUT_ROOT, bundled_dir
from ..paths import data_dir as _default_data_dir

REPO_ROOT = CHECKOUT_ROOT
BUNDLED_DIR = bundled_dir()
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/"
DEFAULT_DATASET = "ml-100k"


@dataclass(frozen=True)
class Release:
    """One named dataset: where it comes from and how to check it."""

    name: str
    title: str
    archive: str | None  # zip file name on GroupLens; None for the bundled copy
    md5: str | None  # published checksum; None -> fetch the .zip.md5 published next to the zip
    approx_mb: float
    description: str
    bundled: bool = False
    # Empty when the MD5 is pinned in this file; otherwise why the check is weaker (shown under the
    # UI's download button and in the download command's notes).
    checksum_note: str = ""

    def url(self, base_url: str | None = None) -> str:
        """Where the archive is downloaded from (a mirror may be given or set in RECSYS_MIRROR_URL)."""
        base = base_url or os.environ.get("RECSYS_MIRROR_URL") or GROUPLENS_URL
        return base.rstrip("/") + "/" + (self.archive or "")


SAME_HOST_NOTE = ("Its checksum is published on the same server as the file, so it guards against a damaged "
                  "download, not a tampered one.")

# md5s: the values GroupLens publishes in <archive>.md5 for the frozen releases. ml-latest and
# ml-latest-small are re-issued from time to time, so theirs is fetched at download time.
RELEASES: dict[str, Release] = {r.name: r for r in (
    Release("ml-100k", "MovieLens 100K (bundled)", None, None, 0.5,
            "100k ratings, 943 users, 1682 movies; genres, title, year, user attributes; ships with the project",
            bundled=True),
    Release("ml-latest-small", "MovieLens Latest Small", "ml-latest-small.zip", None, 1.0,
            "~100k ratings, 610 users, ~9.7k movies, ~3.7k tags", checksum_note=SAME_HOST_NOTE),
    Release("ml-1m", "MovieLens 1M", "ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906", 5.9,
            "1M ratings, 6040 users, ~3.7k movies; user attributes"),
    Release("ml-10m", "MovieLens 10M", "ml-10m.zip", "ce571fd55effeba0271552578f2648bd", 63.0,
            "10M ratings, ~70k users, ~10.7k movies, ~95k tags"),
    Release("ml-20m", "MovieLens 20M", "ml-20m.zip", "cd245b17a1ae2cc31bb14903e1204af3", 190.0,
            "20M ratings, ~138k users, ~27k movies, ~465k tags, tag genome"),
    Release("ml-25m", "MovieLens 25M", "ml-25m.zip", "6b51fb2759a8657d3bfcbfc42b592ada", 250.0,
            "25M ratings, ~162k users, ~62k movies, ~1M tags, tag genome"),
    Release("ml-32m", "MovieLens 32M", "ml-32m.zip", "d472be332d4daa821edc399621853b57", 239.0,
            "32M ratings, ~201k users, ~87k movies, ~2M tags"),
    Release("ml-latest", "MovieLens Latest (full)", "ml-latest.zip", None, 335.0,
            "the full, periodically re-issued release (~33M ratings, tags, tag genome)",
            checksum_note=SAME_HOST_NOTE),
)}


def data_dir() -> Path:
    """Where downloaded releases live: $RECSYS_DATA_DIR, else <checkout>/data, else the user's data folder."""
    return _default_data_dir()


def get_release(name: str) -> Release:
    """The release of that name, or a DatasetError listing the valid names."""
    try:
        return RELEASES[name]
    except KeyError:
        raise DatasetError(
            f"unknown dataset {name!r}; choose one of {', '.join(RELEASES)} or give a folder or .zip path"
        ) from None


def release_dir(name: str) -> Path:
    """The folder a named release lives in; never outside the data dir (bundled: in the repo)."""
    release = get_release(name)
    if release.bundled:
        return BUNDLED_DIR
    base = data_dir()
    target = base / release.name
    if not target.resolve().is_relative_to(base.resolve()):
        raise DatasetError(f"{release.name} points outside the data dir; remove that link or set RECSYS_DATA_DIR",
                           detail=f"{target} -> {target.resolve()} (data dir {base})")
    return target


def is_present(name: str) -> bool:
    """Whether a release is already on disk (extracted; a partial download does not count)."""
    folder = release_dir(name)
    return folder.is_dir() and any(folder.iterdir())


def list_releases() -> list[dict]:
    """The registry with local status, for `datasets` and the UI's dataset picker."""
    rows = []
    for r in RELEASES.values():
        rows.append({"name": r.name, "title": r.title, "bundled": r.bundled, "present": is_present(r.name),
                     "path": str(release_dir(r.name)), "approx_mb": r.approx_mb, "description": r.description})
    return rows
