"""Layout detection and one reader per MovieLens layout, all producing RawData for build_dataset."""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import DatasetError, quote_data
from .dataset import RawData, dense_rows, lookup

NO_GENRES = ("(no genres listed)", "unknown", "")
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)
_TITLE_YEAR = r"^(.*?)\s*\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?\s*)?\)$"
_SEPARATORS = {"\t": "tabs", ";": "semicolons", "|": "'|'", "::": "'::'", ",": "commas"}


@dataclass(frozen=True)
class Layout:
    """One on-disk layout: how to recognise it, which files it reads, and its reader."""

    name: str
    marker: str  # the file whose presence identifies the layout
    files: tuple[str, ...]  # every file the reader may read (the cache key covers them)
    description: str
    reader: Callable[[Path, str], RawData]


# ---------------------------------------------------------------- how files are named in messages

# (folder being read, dataset name): messages say "ml-latest-small/ratings.csv", never the server path.
_NAMING: contextvars.ContextVar[tuple[Path, str] | None] = contextvars.ContextVar("_NAMING", default=None)


@contextlib.contextmanager
def naming(root: Path, name: str) -> Iterator[None]:
    """While reading ``root``, name its files in messages as ``<name>/<file>`` (a visitor may see them)."""
    token = _NAMING.set((Path(root), name))
    try:
        yield
    finally:
        _NAMING.reset(token)


def shown(path: Path | str) -> str:
    """How a file or folder is named in a message: by dataset and file name, not by its server path."""
    p = Path(path)
    ctx = _NAMING.get()
    if ctx is not None:
        root, name = ctx
        try:
            rel = p.relative_to(root)
        except ValueError:
            rel = None
        if rel is not None:
            return quote_data(f"{name}/{rel.as_posix()}".rstrip("/.") or name, bare=True)
    return quote_data(f"{p.parent.name}/{p.name}" if p.parent.name else p.name, bare=True)


def _err(path: Path | str, message: str) -> DatasetError:
    """A DatasetError about one file: named by dataset in the message, the full path kept in ``.detail``."""
    return DatasetError(f"{shown(path)}: {message}", detail=str(path))


# ---------------------------------------------------------------- low-level table reading


def _fail_missing(path: Path, what: str) -> None:
    """A required file is absent: say which and what the folder holds instead."""
    if not path.is_file():
        present = [quote_data(n, bare=True) for n in sorted(p.name for p in path.parent.iterdir())[:20]] \
            if path.parent.is_dir() else []
        raise _err(
            path, f"missing (needed: {what}); the folder holds {', '.join(present) or 'nothing'}. "
            "Point --data at a complete MovieLens release folder or zip"
        )
    if path.stat().st_size == 0:
        raise _err(path, "the file is empty; re-extract or re-download the release")


def _arrow_error(path: Path, exc: Exception, columns: list[str]) -> DatasetError:
    """Turn a pyarrow parse error into a message a person can act on."""
    msg = str(exc)
    col = re.search(r"column #(\d+)", msg)
    name = columns[int(col.group(1))] if col and int(col.group(1)) < len(columns) else "?"
    if "UTF8" in msg or "UTF-8" in msg or "decode" in msg.lower():
        return _err(path, f"not valid UTF-8 text (column {name}); re-save the file as UTF-8")
    bad = re.search(r"invalid value '([^']*)'", msg)
    if bad and "conversion error to int" in msg:
        return _err(path, f"column {name} holds a non-numeric id {quote_data(bad.group(1))}; ids must be integers")
    if bad:
        return _err(path, f"column {name} holds {quote_data(bad.group(1))} where a number is expected")
    fields = re.search(r"Expected (\d+) columns, got (\d+)", msg)
    if fields:
        return _err(
            path, f"a line has {fields.group(2)} fields where {fields.group(1)} were expected; "
            "the separator is wrong or a line is damaged"
        )
    return _err(path, f"could not be parsed ({quote_data(msg.splitlines()[0] if msg else type(exc).__name__, bare=True)})")


def _check_header(path: Path, head: bytes, delimiter: str, required: list[str]) -> list[str]:
    """Compare the header with the expected column names; explain renamed columns and separators."""
    try:
        line = head.split(b"\n", 1)[0].decode("utf-8").strip("\r\ufeff")
    except UnicodeDecodeError:
        raise _err(path, "the header is not valid UTF-8; re-save the file as UTF-8") from None
    found = [c.strip().strip('"') for c in line.split(delimiter)]
    missing = [c for c in required if c not in found]
    if missing:
        if len(found) == 1:
            other = [w for s, w in _SEPARATORS.items() if s != delimiter and s in line]
            if other:
                raise _err(
                    path, f"fields are separated by {other[0]}, but this layout uses "
                    f"{_SEPARATORS[delimiter]}; re-save it with {_SEPARATORS[delimiter]}"
                )
        raise _err(
            path, f"missing column(s) {', '.join(missing)} (found: {quote_data(', '.join(found), bare=True)}); "
            f"the header must be {delimiter.join(required)}"
        )
    return found


def read_csv(path: Path, types: dict[str, pa.DataType], required: list[str], *,
             newlines: bool = False) -> pa.Table:
    """A MovieLens CSV with a header, read by pyarrow with explicit types for the columns we use."""
    _fail_missing(path, f"expected columns {','.join(required)}")
    with path.open("rb") as fh:
        head = fh.read(65536)
    found = _check_header(path, head, ",", required)
    include = [c for c in types if c in found]
    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(newlines_in_values=newlines),
            convert_options=pacsv.ConvertOptions(
                column_types={c: types[c] for c in include}, include_columns=include,
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        raise _arrow_error(path, exc, found) from None
    return table


def read_delimited(path: Path, columns: list[str], types: dict[str, pa.DataType], *,
                   delimiter: str, encoding: str = "utf8") -> pa.Table:
    """A headerless file (u.data, u.item, *.dat); '::' is turned into one byte first, in bulk."""
    _fail_missing(path, f"fields {delimiter.join(columns)}")
    data = path.read_bytes()
    first = data.split(b"\n", 1)[0]
    if delimiter not in first.decode("latin-1"):
        seen = [w for s, w in _SEPARATORS.items() if s in first.decode("latin-1")]
        hint = f"it looks separated by {seen[0]}" if seen else "no separator was found on the first line"
        raise _err(
            path, f"fields must be separated by '{delimiter}' ({delimiter.join(columns)}); {hint}"
        )
    sep = delimiter
    if len(delimiter) > 1:
        data, sep = data.replace(delimiter.encode(), b"\x1f"), "\x1f"
    if encoding == "auto":
        try:
            data.decode("utf-8")
            encoding = "utf8"
        except UnicodeDecodeError:
            encoding = "latin1"
    try:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=columns, encoding=encoding),
            parse_options=pacsv.ParseOptions(delimiter=sep, quote_char=False),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        raise _arrow_error(path, exc, columns) from None


def _ints(path: Path, table: pa.Table, column: str, name: str | None = None) -> np.ndarray:
    """An integer column as int64 NumPy, refusing empty values."""
    col = table.column(column)
    if col.null_count:
        raise _err(path, f"{col.null_count} rows have an empty {name or column}; every row needs one")
    return col.to_numpy().astype(np.int64, copy=False)


def _ratings(path: Path, table: pa.Table, names: tuple[str, str, str, str | None]) -> dict[str, np.ndarray]:
    """The four rating arrays from a parsed table (timestamp 0 when the file has none)."""
    u, m, r, t = names
    out = {"user_id": _ints(path, table, u), "movie_id": _ints(path, table, m)}
    out["rating"] = table.column(r).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if t is not None and t in table.column_names:
        out["timestamp"] = _ints(path, table, t)
    else:
        out["timestamp"] = np.zeros(len(out["user_id"]), np.int64)
    return out


def _text(table: pa.Table, column: str) -> pd.Series:
    """A text column as a pandas str Series, converted by Arrow in bulk."""
    return table.column(column).to_pandas().astype("str")


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas with pandas' own str dtype for text columns."""
    return table.to_pandas()


# ---------------------------------------------------------------- shared column helpers


def split_title(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'Heat (1995)' -> ('Heat', 1995); titles without a year keep a missing year."""
    s = raw.astype("str").str.strip()
    parts = s.str.extract(_TITLE_YEAR)
    title = parts[0].where(parts[0].notna() & (parts[0] != ""), s)
    return title.astype("str"), pd.to_numeric(parts[1], errors="coerce").astype("Int16")


def split_genres(raw: pd.Series, sep: str = "|") -> list[tuple[str, ...]]:
    """'Action|Comedy' -> ('Action', 'Comedy'); '(no genres listed)' -> ()."""
    return [tuple(g for g in str(s).split(sep) if g not in NO_GENRES) for s in raw.fillna("")]


# ---------------------------------------------------------------- readers


def read_csv_layout(folder: Path, name: str) -> RawData:
    """ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m: movies/ratings/tags/links/genome CSVs."""
    notes: list[str] = []
    rpath = folder / "ratings.csv"
    rt = read_csv(rpath, {"userId": pa.int64(), "movieId": pa.int64(), "rating": pa.float32(),
                          "timestamp": pa.int64()}, ["userId", "movieId", "rating"])
    ratings = _ratings(rpath, rt, ("userId", "movieId", "rating", "timestamp"))
    del rt
    mpath = folder / "movies.csv"
    mt = read_csv(mpath, {"movieId": pa.int64(), "title": pa.string(), "genres": pa.string()},
                  ["movieId", "title"], newlines=True)
    title, year = split_title(_text(mt, "title"))
    genres = _text(mt, "genres") if "genres" in mt.column_names else pd.Series([""] * len(mt), dtype="str")
    movies = pd.DataFrame({"movie_id": _ints(mpath, mt, "movieId"), "title": title, "year": year,
                           "genres": split_genres(genres)})
    lpath = folder / "links.csv"
    if lpath.is_file() and lpath.stat().st_size:
        lt = read_csv(lpath, {"movieId": pa.int64(), "imdbId": pa.int64(), "tmdbId": pa.int64()}, ["movieId"])
        links = _to_pandas(lt).rename(columns={"movieId": "movie_id", "imdbId": "imdb_id", "tmdbId": "tmdb_id"})
        links = links.drop_duplicates("movie_id")
        for c in ("imdb_id", "tmdb_id"):
            if c in links:
                links[c] = links[c].astype("Int64")
        movies = movies.merge(links, on="movie_id", how="left")
    tags = None
    tpath = folder / "tags.csv"
    if tpath.is_file():
        tt = read_csv(tpath, {"userId": pa.int64(), "movieId": pa.int64(), "tag": pa.string()},
                      ["userId", "movieId", "tag"], newlines=True)
        tags = pd.DataFrame({"user_id": _ints(tpath, tt, "userId"), "movie_id": _ints(tpath, tt, "movieId"),
                             "tag": _text(tt, "tag")})
    genome = _read_genome(folder, notes)
    return RawData(name, ratings, movies, (0.5, 5.0), str(folder), shown(rpath), shown(mpath),
                   tags=tags, genome=genome, notes=tuple(notes))


def _read_genome(folder: Path, notes: list[str]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None:
    """genome-scores.csv (movieId, tagId, relevance) + genome-tags.csv -> a dense matrix."""
    spath, tpath = folder / "genome-scores.csv", folder / "genome-tags.csv"
    if not spath.is_file() and not tpath.is_file():
        return None
    if not (spath.is_file() and tpath.is_file()):
        notes.append(f"only one of genome-scores.csv / genome-tags.csv is present in {shown(folder)}; genome skipped")
        return None
    gt = read_csv(tpath, {"tagId": pa.int64(), "tag": pa.string()}, ["tagId", "tag"])
    tag_ids = _ints(tpath, gt, "tagId")
    order = np.argsort(tag_ids)
    tag_ids, names = tag_ids[order], tuple(np.asarray(gt.column("tag").to_pylist(), dtype=object)[order])
    gs = read_csv(spath, {"movieId": pa.int64(), "tagId": pa.int64(), "relevance": pa.float32()},
                  ["movieId", "tagId", "relevance"])
    movie, tag = _ints(spath, gs, "movieId"), _ints(spath, gs, "tagId")
    rel = gs.column("relevance").to_numpy().astype(np.float32, copy=False)
    if len(tag_ids) == 0 or len(movie) == 0:
        raise _err(spath, "the genome has no rows or no tags; use both files of one release")
    if movie.min() < 0:
        raise _err(spath, f"negative movieId {int(movie.min())}; ids must be >= 0")
    col = lookup(tag_ids, tag)
    if (col < 0).any():
        raise _err(spath, f"some tagId values are not in {tpath.name}; use both files of one release")
    movies, row = dense_rows(movie)
    scores = np.zeros((len(movies), len(tag_ids)), np.float32)
    scores[row, col] = rel
    return movies, scores, names


def read_dat_layout(folder: Path, name: str) -> RawData:
    """ml-1m and ml-10m: '::'-separated ratings.dat, movies.dat, users.dat (1m), tags.dat (10m)."""
    rpath = folder / "ratings.dat"
    rt = read_delimited(rpath, ["user_id", "movie_id", "rating", "timestamp"],
                        {"user_id": pa.int64(), "movie_id": pa.int64(), "rating": pa.float32(),
                         "timestamp": pa.int64()}, delimiter="::")
    ratings = _ratings(rpath, rt, ("user_id", "movie_id", "rating", "timestamp"))
    del rt
    r = ratings["rating"]
    whole = bool(np.all(np.mod(r, 1) == 0)) and r.size > 0 and float(np.nanmin(r)) >= 1
    scale = (1.0, 5.0) if whole else (0.5, 5.0)
    mpath = folder / "movies.dat"
    mt = read_delimited(mpath, ["movie_id", "title", "genres"],
                        {"movie_id": pa.int64(), "title": pa.string(), "genres": pa.string()},
                        delimiter="::", encoding="auto")
    title, year = split_title(_text(mt, "title"))
    movies = pd.DataFrame({"movie_id": _ints(mpath, mt, "movie_id"), "title": title, "year": year,
                           "genres": split_genres(_text(mt, "genres"))})
    users = None
    upath = folder / "users.dat"
    if upath.is_file():
        ut = read_delimited(upath, ["user_id", "gender", "age", "occupation", "zip_code"],
                            {"user_id": pa.int64(), "gender": pa.string(), "age": pa.int16(),
                             "occupation": pa.int64(), "zip_code": pa.string()},
                            delimiter="::", encoding="auto")
        users = _to_pandas(ut)
        occ = users["occupation"].to_numpy()
        names = np.asarray(ML1M_OCCUPATIONS, dtype=object)
        users["occupation"] = pd.Series(
            np.where((occ >= 0) & (occ < len(names)), names[occ.clip(0, len(names) - 1)], occ.astype(str)),
            dtype="str")
        users = users[["user_id", "age", "gender", "occupation", "zip_code"]]
    tags = None
    tpath = folder / "tags.dat"
    if tpath.is_file():
        tt = read_delimited(tpath, ["user_id", "movie_id", "tag", "timestamp"],
                            {"user_id": pa.int64(), "movie_id": pa.int64(), "tag": pa.string(),
                             "timestamp": pa.int64()}, delimiter="::", encoding="auto")
        tags = pd.DataFrame({"user_id": _ints(tpath, tt, "user_id"), "movie_id": _ints(tpath, tt, "movie_id"),
                             "tag": _text(tt, "tag")})
    return RawData(name, ratings, movies, scale, str(folder), shown(rpath), shown(mpath), users=users, tags=tags)


def read_ml100k_layout(folder: Path, name: str) -> RawData:
    """The original GroupLens ml-100k: u.data (tabs), u.item and u.user ('|', latin-1)."""
    rpath = folder / "u.data"
    rt = read_delimited(rpath, ["user_id", "item_id", "rating", "timestamp"],
                        {"user_id": pa.int64(), "item_id": pa.int64(), "rating": pa.float32(),
                         "timestamp": pa.int64()}, delimiter="\t")
    ratings = _ratings(rpath, rt, ("user_id", "item_id", "rating", "timestamp"))
    mpath = folder / "u.item"
    flags = [f"g{i}" for i in range(len(ML100K_GENRES))]
    cols = ["movie_id", "title", "release_date", "video_release_date", "imdb_url", *flags]
    types = {"movie_id": pa.int64(), "title": pa.string(), "release_date": pa.string(),
             "video_release_date": pa.string(), "imdb_url": pa.string()} | {f: pa.int8() for f in flags}
    mt = read_delimited(mpath, cols, types, delimiter="|", encoding="latin1")
    title, year = split_title(_text(mt, "title"))
    released = pd.to_numeric(_text(mt, "release_date").str[-4:],
                             errors="coerce").astype("Int16")
    flag = np.column_stack([mt.column(f).to_numpy(zero_copy_only=False) for f in flags]).astype(bool)
    names = np.asarray(ML100K_GENRES, dtype=object)
    genres = [tuple(g for g in names[row] if g not in NO_GENRES) for row in flag]
    movies = pd.DataFrame({"movie_id": _ints(mpath, mt, "movie_id"), "title": title,
                           "year": year.fillna(released), "genres": genres})
    users = None
    upath = folder / "u.user"
    if upath.is_file():
        ut = read_delimited(upath, ["user_id", "age", "gender", "occupation", "zip_code"],
                            {"user_id": pa.int64(), "age": pa.int16(), "gender": pa.string(),
                             "occupation": pa.string(), "zip_code": pa.string()},
                            delimiter="|", encoding="latin1")
        users = _to_pandas(ut)
    return RawData(name, ratings, movies, (1.0, 5.0), str(folder), shown(rpath), shown(mpath), users=users)


def read_parquet_layout(folder: Path, name: str) -> RawData:
    """Our own compact layout (the bundled default): dataset.json + Parquet tables."""
    meta_path = folder / "dataset.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        scale = (float(meta["rating_scale"][0]), float(meta["rating_scale"][1]))
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise _err(meta_path, f"unreadable manifest ({quote_data(str(exc))}); rebuild it with "
                           "scripts/build_bundled_ml100k.py") from None

    def table(fname: str, required: list[str], optional: bool = False) -> pa.Table | None:
        path = folder / fname
        if optional and not path.is_file():
            return None
        _fail_missing(path, f"Parquet with columns {', '.join(required)}")
        try:
            t = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise _err(path, f"not a readable Parquet file ({quote_data(str(exc))}); rebuild or re-download it") from None
        missing = [c for c in required if c not in t.column_names]
        if missing:
            raise _err(path, f"missing column(s) {', '.join(missing)} (found: {quote_data(', '.join(t.column_names), bare=True)})")
        return t

    rpath, mpath = folder / "ratings.parquet", folder / "movies.parquet"
    ratings = _ratings(rpath, table("ratings.parquet", ["user_id", "movie_id", "rating"]),
                       ("user_id", "movie_id", "rating", "timestamp"))
    mt = table("movies.parquet", ["movie_id", "title", "year", "genres"])
    assert mt is not None  # required tables are never None (missing ones raised above)
    movies = pd.DataFrame({
        "movie_id": _ints(mpath, mt, "movie_id"),
        "title": _text(mt, "title"),
        "year": mt.column("year").to_pandas().astype("Int16"),
        "genres": split_genres(_text(mt, "genres")),
    })
    ut = table("users.parquet", ["user_id"], optional=True)
    tt = table("tags.parquet", ["user_id", "movie_id", "tag"], optional=True)
    return RawData(str(meta.get("name", name)), ratings, movies, scale, str(folder), shown(rpath), shown(mpath),
                   users=_to_pandas(ut) if ut is not None else None,
                   tags=_to_pandas(tt) if tt is not None else None)


LAYOUTS: tuple[Layout, ...] = (
    Layout("recsys-parquet", "dataset.json",
           ("dataset.json", "ratings.parquet", "movies.parquet", "users.parquet", "tags.parquet"),
           "this project's compact Parquet layout (the bundled ml-100k)", read_parquet_layout),
    Layout("movielens-100k", "u.data", ("u.data", "u.item", "u.user"),
           "original GroupLens ml-100k (u.data, u.item, u.user)", read_ml100k_layout),
    Layout("movielens-dat", "ratings.dat", ("ratings.dat", "movies.dat", "users.dat", "tags.dat"),
           "'::'-separated ml-1m / ml-10m (ratings.dat, movies.dat, users.dat, tags.dat)", read_dat_layout),
    Layout("movielens-csv", "ratings.csv",
           ("ratings.csv", "movies.csv", "tags.csv", "links.csv", "genome-scores.csv", "genome-tags.csv"),
           "CSV releases ml-latest(-small), ml-20m, ml-25m, ml-32m (ratings.csv, movies.csv, ...)",
           read_csv_layout),
)


def find_root(folder: Path) -> Path:
    """The folder that holds the data: itself, or its only subfolder (zips often add one)."""
    for _ in range(3):
        if any((folder / lay.marker).is_file() for lay in LAYOUTS):
            return folder
        subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        if len(subdirs) != 1 or any(p.suffix in (".csv", ".dat", ".parquet") or p.name.startswith("u.")
                                    for p in files):
            break
        folder = subdirs[0]
    return folder


def detect(folder: Path) -> Layout:
    """Which layout a folder holds, or a DatasetError that lists what each layout needs."""
    for lay in LAYOUTS:
        if (folder / lay.marker).is_file():
            return lay
    present = [quote_data(n, bare=True) for n in sorted(p.name for p in folder.iterdir())[:12]]
    expected = "; ".join(f"{lay.marker} ({lay.description})" for lay in LAYOUTS)
    hint = ""
    if (folder / "movies.csv").is_file() or (folder / "movies.dat").is_file():
        hint = " It has a movies file but no ratings file, which every layout needs."
    raise _err(
        folder, f"unknown dataset layout; found {', '.join(present) or 'no files'}.{hint} "
        f"Expected one of: {expected}"
    )
