"""Nothing is ever read back with pickle: no pickle.load(s), np.load only with allow_pickle=False,
torch.load only with weights_only=True, no pandas read_pickle / joblib.load."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "app.py", *(ROOT / d for d in ("recsys_core", "pages_", "ui"))]


def _python_files() -> list[Path]:
    out: list[Path] = []
    for src in SOURCES:
        out += [src] if src.is_file() else sorted(src.rglob("*.py"))
    return out


def _calls(text: str, name: str) -> list[str]:
    """Every call of ``name(`` with its full argument text (balanced parentheses, across lines)."""
    found = []
    for m in re.finditer(re.escape(name) + r"\s*\(", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        found.append(text[m.start():i])
    return found


def test_no_unpickling_anywhere():
    files = _python_files()
    assert len(files) > 20, "the scan sees the code"
    bad: list[str] = []
    for f in files:
        text = f.read_text(encoding="utf-8")
        rel = f.relative_to(ROOT)
        for banned in (r"\bpickle\.loads?\s*\(", r"\bcPickle\b", r"\bdill\b", r"read_pickle\s*\(",
                       r"\bjoblib\.load\s*\(", r"\bmarshal\.loads?\s*\(", r"\bshelve\.open\s*\("):
            bad += [f"{rel}: {m.group(0)}" for m in re.finditer(banned, text)]
        for call in _calls(text, "np.load") + _calls(text, "numpy.load"):
            if not re.search(r"allow_pickle\s*=\s*False", call):
                bad.append(f"{rel}: {call.splitlines()[0]} (without allow_pickle=False)")
        for call in _calls(text, "torch.load"):
            if not re.search(r"weights_only\s*=\s*True", call):
                bad.append(f"{rel}: {call.splitlines()[0]} (without weights_only=True)")
        if re.search(r"allow_pickle\s*=\s*True", text):
            bad.append(f"{rel}: allow_pickle=True")
    assert not bad, "unsafe deserialisation:\n" + "\n".join(bad)


def test_the_scanner_catches_what_it_should():
    sample = "x = np.load(p)\ny = np.load(\n    p, allow_pickle=False)\nz = torch.load(f)\nw = pickle.load(f)\n"
    assert len(_calls(sample, "np.load")) == 2
    assert not re.search(r"allow_pickle\s*=\s*False", _calls(sample, "np.load")[0])
    assert re.search(r"allow_pickle\s*=\s*False", _calls(sample, "np.load")[1])
