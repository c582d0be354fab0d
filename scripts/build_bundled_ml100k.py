"""Rebuild data/ml-100k/ (the bundled default) from the recbole==1.2.1 wheel, so the copy is reproducible.

Usage:
    python scripts/build_bundled_ml100k.py                  # pip-downloads the wheel into a temp dir
    python scripts/build_bundled_ml100k.py --wheel recbole-1.2.1-py3-none-any.whl
    python scripts/build_bundled_ml100k.py --source DIR     # DIR holds ml-100k.inter/.item/.user

Only ml-100k.inter, ml-100k.item and ml-100k.user are used; ml-100k.kg / ml-100k.link are not
(their item ids are MovieLens-1M ids, so they describe other films).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "ml-100k"
MEMBER = "recbole/dataset_example/ml-100k/"
FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")
PARQUET = {"compression": "zstd", "compression_level": 19}


def fetch_wheel(dest: Path) -> Path:
    """Download the pinned wheel with pip (no dependencies), the documented provenance."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "recbole==1.2.1", "-d", str(dest)],
        check=True,
    )
    return next(dest.glob("recbole-1.2.1-*.whl"))


def unpack(wheel: Path, dest: Path) -> Path:
    """Extract only the three atomic files we use from the wheel."""
    with zipfile.ZipFile(wheel) as zf:
        for name in FILES:
            (dest / name).write_bytes(zf.read(MEMBER + name))
    return dest


def read_atomic(path: Path) -> pd.DataFrame:
    """RecBole atomic files: tab-separated, header 'name:type', UTF-8."""
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3, engine="c")
    df.columns = [c.split(":")[0] for c in df.columns]
    return df


def convert(src: Path) -> dict[str, pa.Table]:
    """Atomic files -> typed tables in the bundled layout (see data/README.md)."""
    inter = read_atomic(src / "ml-100k.inter")
    ratings = pa.table({
        "user_id": pa.array(inter["user_id"].astype("int32")),
        "movie_id": pa.array(inter["item_id"].astype("int32")),
        "rating": pa.array(inter["rating"].astype("float32")),
        "timestamp": pa.array(inter["timestamp"].astype("float64").astype("int64")),
    }).sort_by([("user_id", "ascending"), ("movie_id", "ascending")])

    item = read_atomic(src / "ml-100k.item")
    # Movie 267 is the MovieLens "unknown" placeholder; RecBole spells it "unkonwn" in title and year.
    title = item["movie_title"].replace({"unkonwn": "unknown"})
    year = pd.to_numeric(item["release_year"], errors="coerce").astype("Int16")
    # One title still carries its year (movie 1412, "... Giving (1995)", year "V"): move it over.
    stuck = title.str.extract(r"^(.*\S)\s*\((\d{4})\)$")
    fix = stuck[1].notna() & year.isna()
    title = title.where(~fix, stuck[0])
    year = year.where(~fix, pd.to_numeric(stuck[1], errors="coerce").astype("Int16"))
    genres = item["class"].str.split(" ").map(lambda g: "|".join(x for x in g if x and x != "unknown"))
    movies = pa.table({
        "movie_id": pa.array(item["item_id"].astype("int32")),
        "title": pa.array(title.astype(object), pa.string()),
        "year": pa.array(year, pa.int16(), from_pandas=True),
        "genres": pa.array(genres.astype(object), pa.string()),
    }).sort_by("movie_id")

    user = read_atomic(src / "ml-100k.user")
    users = pa.table({
        "user_id": pa.array(user["user_id"].astype("int32")),
        "age": pa.array(user["age"].astype("int16")),
        "gender": pa.array(user["gender"].astype(object), pa.string()),
        "occupation": pa.array(user["occupation"].astype(object), pa.string()),
        "zip_code": pa.array(user["zip_code"].astype(object), pa.string()),
    }).sort_by("user_id")
    return {"ratings": ratings, "movies": movies, "users": users}


MANIFEST = {
    "layout": "recsys-parquet",
    "format_version": 1,
    "name": "ml-100k",
    "title": "MovieLens 100K",
    "rating_scale": [1.0, 5.0],
    "source": "recbole==1.2.1 wheel (PyPI), recbole/dataset_example/ml-100k/; see data/README.md",
    "files": {
        "ratings.parquet": "user_id int32, movie_id int32, rating float32, timestamp int64 (Unix s)",
        "movies.parquet": "movie_id int32, title str (no year), year int16 nullable, genres str ('|'-joined)",
        "users.parquet": "user_id int32, age int16, gender str, occupation str, zip_code str",
    },
}


def write(tables: dict[str, pa.Table], out: Path) -> None:
    """Write into a temp folder, then swap it in, so a failed build never leaves half a dataset."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ml-100k-build-", dir=out.parent))
    tmp.chmod(0o755)
    for name, table in tables.items():
        pq.write_table(table, tmp / f"{name}.parquet", **PARQUET)
    (tmp / "dataset.json").write_text(json.dumps(MANIFEST, indent=2) + "\n", encoding="utf-8")
    old = out.with_name(".ml-100k-old")
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    if old.exists():
        for f in old.iterdir():
            f.unlink()
        old.rmdir()


def main(argv: list[str] | None = None) -> int:
    """Fetch (or take) the wheel, convert, write data/ml-100k/."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help="a local recbole-1.2.1 wheel")
    ap.add_argument("--source", type=Path, help="a folder that already holds the three atomic files")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        src = args.source
        if src is None:
            wheel = args.wheel or fetch_wheel(Path(tmp))
            src = unpack(wheel, Path(tmp))
        write(convert(src), args.out)
    size = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"wrote {args.out} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
