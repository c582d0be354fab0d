"""Writers for small fixtures in the exact on-disk formats of each MovieLens release."""

from __future__ import annotations

import hashlib
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from recsys_core.data import load_dataset
from recsys_core.data.formats import ML100K_GENRES

ROOT_DIR = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------- CSV releases (ml-latest-small .. ml-32m)
MOVIES_CSV = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
    '11,"American President, The (1995)",Comedy|Drama|Romance\n'
    "32,Twelve Monkeys (a.k.a. 12 Monkeys) (1995),Mystery|Sci-Fi|Thriller\n"
    "50,\"Usual Suspects, The (1995)\",Crime|Mystery|Thriller\n"
    "149532,Marco Polo: One Hundred Eyes,(no genres listed)\n"
    "171495,Cosmos ,(no genres listed)\n"
    "180000,Babylon 5 (1994-1998),Sci-Fi\n"
)
RATINGS_CSV = (
    "userId,movieId,rating,timestamp\n"
    "1,1,4.0,964982703\n"
    "1,11,3.5,964981247\n"
    "1,50,5.0,964982224\n"
    "2,1,0.5,1445714835\n"
    "2,32,4.5,1445714952\n"
    "3,149532,2.0,1306463375\n"
    "3,50,3.0,1306463456\n"
)
TAGS_CSV = (
    "userId,movieId,tag,timestamp\n"
    "2,1,pixar,1445714994\n"
    '2,50,"twist ending, classic",1445714996\n'
    "99,32,time travel,1445715000\n"
)
LINKS_CSV = "movieId,imdbId,tmdbId\n1,0114709,862\n11,0112346,9087\n32,0114746,63\n50,0114814,629\n149532,5116510,\n"
GENOME_TAGS_CSV = "tagId,tag\n1,007\n2,time travel\n3,twist ending\n"
GENOME_SCORES_CSV = (
    "movieId,tagId,relevance\n"
    + "".join(f"{m},{t},{(m % 7 + t) / 10:.5f}\n" for m in (1, 32, 50) for t in (1, 2, 3))
)


def write_csv_release(folder: Path, *, tags: bool = True, links: bool = True, genome: bool = True) -> Path:
    """A tiny release in the ml-latest-small / ml-25m CSV layout."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.csv").write_text(MOVIES_CSV, encoding="utf-8")
    (folder / "ratings.csv").write_text(RATINGS_CSV, encoding="utf-8")
    if tags:
        (folder / "tags.csv").write_text(TAGS_CSV, encoding="utf-8")
    if links:
        (folder / "links.csv").write_text(LINKS_CSV, encoding="utf-8")
    if genome:
        (folder / "genome-tags.csv").write_text(GENOME_TAGS_CSV, encoding="utf-8")
        (folder / "genome-scores.csv").write_text(GENOME_SCORES_CSV, encoding="utf-8")
    return folder


# ---------------------------------------------------------------- '::' releases
ML1M_MOVIES = (
    "1::Toy Story (1995)::Animation|Children's|Comedy\n"
    "73::Misérables, Les (1995)::Drama|Musical\n"
    "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
    "3952::Contender, The (2000)::Drama|Thriller\n"
)
ML1M_RATINGS = (
    "1::1193::5::978300760\n"
    "1::1::4::978302109\n"
    "2::73::3::978298413\n"
    "2::3952::1::978299000\n"
    "6040::1::2::956703932\n"
)
ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n6040::M::25::6::11106\n"

ML10M_MOVIES = (
    "1::Toy Story (1995)::Adventure|Animation|Children|Comedy|Fantasy\n"
    "2::Jumanji (1995)::Adventure|Children|Fantasy\n"
    "65133::Blackadder Back & Forth (1999)::(no genres listed)\n"
)
ML10M_RATINGS = "1::1::5::838985046\n1::2::3.5::838983525\n7::65133::0.5::1049764355\n"
ML10M_TAGS = "15::1::excellent!::1215184630\n20::2::Robin Williams::1188263867\n"


def write_dat_1m(folder: Path) -> Path:
    """ml-1m: '::' separated, latin-1, users.dat with coded age and occupation."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.dat").write_bytes(ML1M_MOVIES.encode("latin-1"))
    (folder / "ratings.dat").write_bytes(ML1M_RATINGS.encode("latin-1"))
    (folder / "users.dat").write_bytes(ML1M_USERS.encode("latin-1"))
    return folder


def write_dat_10m(folder: Path) -> Path:
    """ml-10m: '::' separated, half-star ratings, tags.dat, no users.dat."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.dat").write_text(ML10M_MOVIES, encoding="utf-8")
    (folder / "ratings.dat").write_text(ML10M_RATINGS, encoding="utf-8")
    (folder / "tags.dat").write_text(ML10M_TAGS, encoding="utf-8")
    return folder


# ---------------------------------------------------------------- original GroupLens ml-100k
def write_ml100k_original(folder: Path, ds) -> Path:
    """The canonical bundled data written back as GroupLens' u.data / u.item / u.user (exact format)."""
    folder.mkdir(parents=True, exist_ok=True)
    uid = ds.users["user_id"].to_numpy()
    mid = ds.movies["movie_id"].to_numpy()
    r = ds.ratings
    lines = [f"{u}\t{m}\t{int(x)}\t{t}\n" for u, m, x, t in
             zip(uid[r.user], mid[r.movie], r.rating, r.timestamp)]
    (folder / "u.data").write_text("".join(lines), encoding="ascii")
    items = []
    for row in ds.movies.itertuples():
        year = "" if row.year is None or str(row.year) == "<NA>" else int(row.year)
        full = f"{row.title} ({year})" if year != "" else row.title
        date = f"01-Jan-{year}" if year != "" else ""
        url = f"http://us.imdb.com/M/title-exact?{quote(full)}" if year != "" else ""
        flags = [1 if g in row.genres else 0 for g in ML100K_GENRES]
        if not row.genres:
            flags[0] = 1  # the 'unknown' genre flag
        items.append("|".join([str(row.movie_id), full, date, "", url, *map(str, flags)]) + "\n")
    (folder / "u.item").write_bytes("".join(items).encode("latin-1"))
    users = [f"{u.user_id}|{u.age}|{u.gender}|{u.occupation}|{u.zip_code}\n" for u in ds.users.itertuples()]
    (folder / "u.user").write_bytes("".join(users).encode("latin-1"))
    (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(ML100K_GENRES)) + "\n")
    return folder


def zip_folder(folder: Path, archive: Path, top: str | None = None) -> Path:
    """Zip a folder's files, optionally under a top folder as GroupLens does (ml-latest-small/...)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{top}/{f.name}" if top else f.name)
    return archive


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A parsed-cache dir of this test's own (the session-wide one is shared between tests)."""
    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    return tmp_path / "artifacts" / "parsed"


@pytest.fixture(scope="session")
def bundled():
    """The bundled default, opened once per session (no parsed cache: fixtures must not share one)."""
    return load_dataset("ml-100k", use_cache=False)


@pytest.fixture
def csv_release(tmp_path) -> Path:
    return write_csv_release(tmp_path / "ml-tiny")


# ---------------------------------------------------------------- loopback HTTP server
class _Handler(BaseHTTPRequestHandler):
    """Serves server.files; honours Range; can cut a response in half to simulate a dropped link."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        srv = self.server
        rng = self.headers.get("Range")
        srv.log.append((self.path, rng))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        m = re.match(r"bytes=(\d+)-$", rng or "")
        if m and srv.ranges:
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        if self.path not in srv.no_length:  # else: no Content-Length, the body ends when the connection closes
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if srv.cuts.get(self.path, 0) > 0:
            srv.cuts[self.path] -= 1
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    """A threaded HTTP server on a free loopback port; .url, .files, .log, .cuts, .ranges, .no_length."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.log, srv.cuts, srv.ranges, srv.no_length = {}, [], {}, True, set()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()




def serve_release(server, tmp_path: Path, name: str, body: bytes | None = None, md5: str | None = None,
                  style: str = "bsd") -> bytes:
    """Put <name>.zip (a tiny release under a top folder, unless body is given) and its .md5 on the server."""
    if body is None:
        folder = write_csv_release(tmp_path / "src" / name)
        body = zip_folder(folder, tmp_path / f"{name}.zip", top=name).read_bytes()
    server.files[f"/{name}.zip"] = body
    digest = md5 or hashlib.md5(body).hexdigest()
    line = f"MD5 ({name}.zip) = {digest}\n" if style == "bsd" else f"{digest}  {name}.zip\n"
    server.files[f"/{name}.zip.md5"] = line.encode()
    return body
