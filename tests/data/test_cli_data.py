"""`python -m recsys_core datasets | info | download`: right counts, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from recsys_core.cli import main

from .conftest import ROOT_DIR, serve_release, write_csv_release


def _info(capsys, data) -> dict:
    assert main(["info", "--data", str(data), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_bundled(capsys):
    s = _info(capsys, "ml-100k")
    assert (s["users"], s["movies"], s["ratings"], s["tags"]) == (943, 1682, 100000, 0)
    assert s["rating_scale"] == [1.0, 5.0] and s["year_range"] == [1922, 1998]
    assert s["genome_entries"] == 0 and s["user_attributes"] == ["age", "gender", "occupation", "zip_code"]


def test_info_ml_latest_small(capsys, ml_latest_small):
    s = _info(capsys, ml_latest_small)
    assert (s["users"], s["movies"], s["ratings"], s["tags"]) == (610, 9742, 100836, 3683)
    assert s["rating_scale"] == [0.5, 5.0] and s["year_range"] == [1902, 2018]


def test_info_text_output(capsys, csv_release):
    assert main(["info", "--data", str(csv_release)]) == 0
    out = capsys.readouterr().out
    for line in ("users            3", "movies           7  (5 with ratings)", "ratings          7",
                 "tags             3", "genome entries   9  (3 movies x 3 tags)", "rating scale     0.5-5",
                 "year range       1994-1995"):
        assert line in out, out


def test_info_error_is_one_line_exit_2(capsys, tmp_path):
    folder = write_csv_release(tmp_path / "bad")
    (folder / "ratings.csv").write_text("userId;movieId;rating;timestamp\n1;1;4.0;1\n")
    assert main(["info", "--data", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "ratings.csv" in err and "semicolons" in err


def test_datasets_lists_registry(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path))
    write_csv_release(tmp_path / "ml-25m")
    assert main(["datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == ["ml-100k", "ml-latest-small", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest"]
    assert rows["ml-100k"]["bundled"] and rows["ml-100k"]["present"]
    assert rows["ml-25m"]["present"] and not rows["ml-1m"]["present"]
    assert rows["ml-1m"]["path"] == str(tmp_path / "ml-1m")
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "ml-25m" in out and "present" in out and "not downloaded" in out


@pytest.mark.parametrize("args", [["info", "--data", "ml-1m"], ["download", "ml-2m"], ["info", "--data", "/no/such"]])
def test_subprocess_errors_have_no_traceback(args, tmp_path):
    env = dict(os.environ, RECSYS_DATA_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "recsys_core", *args], cwd=ROOT_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr and proc.stdout == ""


def test_subprocess_info_bundled():
    proc = subprocess.run([sys.executable, "-m", "recsys_core", "info", "--data", "ml-100k"], cwd=ROOT_DIR,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "users            943" in proc.stdout and "ratings          100000" in proc.stdout
    assert "movies           1682" in proc.stdout


def test_download_command_with_progress(capsys, server, tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "datadir"))
    monkeypatch.setenv("RECSYS_MIRROR_URL", server.url)
    serve_release(server, tmp_path, "ml-latest-small")
    assert main(["download", "ml-latest-small"]) == 0
    captured = capsys.readouterr()
    assert "ml-latest-small: [" in captured.err and "MB" in captured.err
    assert str(tmp_path / "datadir" / "ml-latest-small") in captured.out
    assert _info(capsys, "ml-latest-small")["ratings"] == 7


def test_download_json_and_a_failure_while_running_exits_1(capsys, server, tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "datadir"))
    monkeypatch.setenv("RECSYS_MIRROR_URL", server.url)
    assert main(["download", "ml-1m"]) == 1, "a 404 from the server is a failure while running, not bad input"
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "404" in err
    serve_release(server, tmp_path, "ml-latest-small")
    assert main(["download", "ml-latest-small", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"name": "ml-latest-small", "path": str(tmp_path / "datadir" / "ml-latest-small")}


def test_notes_go_to_stderr_and_stdout_stays_data(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path))
    assert main(["datasets"]) == 0
    captured = capsys.readouterr()
    assert "recsys download NAME" in captured.err and "download NAME" not in captured.out
    assert main(["download", "ml-2m"]) == 2, "an unknown name is bad input"
    assert "ml-latest-small" in capsys.readouterr().err
