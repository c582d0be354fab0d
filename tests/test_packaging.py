"""Packaging and CLI conventions: the pinned requirement files agree with pyproject.toml, the wheel carries the
bundled data, the server defaults are safe, and every subcommand documents itself the same way."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from recsys_core.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DATA_COMMANDS = ("datasets", "info", "download", "train", "similar", "evaluate", "predict", "export")


def _pins(path: Path) -> dict[str, str]:
    """name -> '==version' of a requirements file, following -r includes."""
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            out.update(_pins(path.parent / line[3:].strip()))
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", line)
        assert m, f"{path.name}: {raw!r} is not pinned with =="
        out[m.group(1).lower()] = m.group(2)
    return out


def _extra(name: str) -> dict[str, str]:
    """An extra's pins with its self-references (recsys-core[x]) expanded."""
    out: dict[str, str] = {}
    for req in PYPROJECT["project"]["optional-dependencies"][name]:
        m = re.fullmatch(r"recsys-core\[(\w+)\]", req)
        if m:
            out.update(_extra(m.group(1)))
            continue
        n, v = req.split("==")
        out[n.lower()] = v
    return out


def test_requirements_txt_is_the_pinned_runtime_of_pyproject():
    deps = dict(d.lower().split("==") for d in PYPROJECT["project"]["dependencies"])
    assert _pins(ROOT / "requirements.txt") == deps
    assert deps["torch"] == "2.13.0", "torch stays pinned: a range pulls a multi-GB CUDA build"
    assert not {"pytest", "playwright", "faiss-cpu"} & set(deps), "test tools and faiss are not runtime"


def test_test_and_dev_requirements_match_the_extras():
    assert _pins(ROOT / "requirements-test.txt") == _extra("test")
    assert _pins(ROOT / "requirements-dev.txt") == _extra("dev")
    assert "faiss-cpu" in _extra("ann") and {"ruff", "mypy"} <= set(_extra("dev"))


def test_make_run_installs_only_the_runtime_and_make_test_the_test_extra():
    mk = (ROOT / "Makefile").read_text()
    run_deps = re.search(r"^run: (.*)$", mk, re.M).group(1).split("##")[0].split()
    test_deps = re.search(r"^test: (.*)$", mk, re.M).group(1).split("##")[0].split()
    assert run_deps == ["setup"] and test_deps == ["setup-test"]
    assert re.search(r"^lint: ", mk, re.M) and "make lint" in (ROOT / ".ci" / "run").read_text()


def test_console_script_and_package_selection():
    assert PYPROJECT["project"]["scripts"]["recsys"] == "recsys_core.cli:main"
    assert PYPROJECT["build-system"]["build-backend"] == "setuptools.build_meta"


def test_streamlit_defaults_are_local_and_quiet():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["fileWatcherType"] == "none" and cfg["server"]["address"] == "127.0.0.1"
    assert cfg["runner"]["postScriptGC"] is False  # no full collection after every run (a build's CPU, see there)


def test_the_wheel_carries_the_bundled_data_and_only_recsys_core(tmp_path):
    """Build the wheel (no network: the venv's setuptools) and look inside."""
    pytest.importorskip("setuptools")
    # from a copy of the sources, so no build/ or egg-info lands in the checkout (and none left there leaks in)
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".*", "artifacts", "build", "dist", "*.egg-info", "test-artifacts", "__pycache__", "data", "docs"))
    shutil.copytree(ROOT / "data" / "ml-100k", src / "data" / "ml-100k")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q",
                           "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("recsys_core-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    bundled = {Path(n).name for n in names if n.startswith("recsys_core/_bundled/ml-100k/")}
    assert bundled == {p.name for p in (ROOT / "data" / "ml-100k").iterdir()}
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"recsys_core"}, tops
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "recsys = recsys_core.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


# ---------------------------------------------------------------- CLI conventions


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser("recsys")
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_has_a_description_an_example_and_the_exit_codes():
    subs = _subparsers()
    assert set(DATA_COMMANDS) <= set(subs)
    for name, p in subs.items():
        text = p.format_help()
        assert p.description and len(p.description) > 40, name
        assert "examples:\n  recsys " + name in text, name
        assert "exit codes: 0 success; 1 failure while running" in text, name


def test_json_wherever_the_output_is_data():
    for name in DATA_COMMANDS:
        assert "--json" in _subparsers()[name]._option_string_actions, name


def test_choices_are_the_engines_own():
    from recsys_core.config import choices

    opts = _subparsers()["similar"]._option_string_actions
    published = choices()
    assert tuple(opts["--content-loss"].choices) == published["content.loss"]
    assert tuple(opts["--collab-space"].choices) == published["collab.space"]
    assert tuple(opts["--rating-model"].choices) == published["collab.rating_model"]
    assert "CollabConfig" not in _subparsers()["similar"].format_help()


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip().endswith(PYPROJECT["project"]["version"])


@pytest.mark.parametrize("argv, words", [
    (["similar", "--movie", "x", "-k", "0"], "-k must be between 1 and 1000"),
    (["export", "--out", "OUT", "--alpha", "1.5"], "--alpha must be between 0 and 1"),
    (["evaluate", "--content-epochs", "0"], "epochs"),
    (["similar", "--movie", "x", "--data", "/no/such/folder"], "no such folder"),
    (["predict", "--pairs", "/no/such.csv", "--out", "OUT/p.csv"], "--pairs /no/such.csv does not exist"),
])
def test_bad_arguments_exit_2_in_one_line_before_any_work(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "artifacts").exists(), "nothing read or trained"


def test_export_into_an_impossible_folder_fails_fast_without_training(tmp_path):
    """The issue's check, as a user runs it: one line, exit 2, well within a few seconds, nothing trained."""
    env = dict(os.environ, RECSYS_ARTIFACTS_DIR=str(tmp_path / "artifacts"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out in ("/proc/nope/x", str(blocker / "x")):
        proc = subprocess.run([sys.executable, "-m", "recsys_core", "export", "--data", "ml-100k", "--out", out],
                              capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.startswith("error: --out ") and proc.stderr.count("\n") == 1, proc.stderr
    assert not (tmp_path / "artifacts").exists()


def test_default_folders_inside_and_outside_a_checkout(monkeypatch, tmp_path):
    from recsys_core import paths

    for var in ("RECSYS_DATA_DIR", "RECSYS_ARTIFACTS_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert paths.in_checkout() and paths.data_dir() == ROOT / "data" and paths.artifacts_dir() == ROOT / "artifacts"
    assert paths.bundled_dir() == ROOT / "data" / "ml-100k"

    monkeypatch.setattr(paths, "in_checkout", lambda: False)  # as an installed package sees it
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    assert paths.data_dir() == tmp_path / "xdg-data" / "recsys"
    assert paths.artifacts_dir() == tmp_path / "home" / ".cache" / "recsys"
    assert paths.bundled_dir() == paths.PACKAGE_DIR / "_bundled" / "ml-100k"
    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(tmp_path / "mine"))
    assert paths.artifacts_dir() == tmp_path / "mine", "the RECSYS_* variables still override"
