"""The README's quality figures are the stored `evaluate` results, and those are what the engine computes now."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import readme_tables  # noqa: E402


def test_readme_quality_cells_match_the_stored_results():
    differs = readme_tables.check()
    assert not differs, "README.md differs; run `python benchmarks/readme_tables.py --write`:\n" + "\n".join(differs)


def test_the_stored_ml100k_result_is_what_evaluate_computes_now(engine_ml100k_explorer, tmp_path):
    """Same cells from the stored file and from this build's evaluation (README precision)."""
    stored = readme_tables.load_results()
    assert "ml-100k" in stored, "store it: python benchmarks/readme_tables.py --store --data ml-100k"
    (tmp_path / "ml-100k.json").write_text(json.dumps(engine_ml100k_explorer.metrics, default=str))
    now = readme_tables.load_results(tmp_path)
    readme = readme_tables.README.read_text()
    _, from_stored, _ = readme_tables.render(readme, {"ml-100k": stored["ml-100k"]})
    _, from_now, _ = readme_tables.render(readme, now)
    assert from_now == from_stored, ("the engine's evaluation changed; store it again: python "
                                     "benchmarks/readme_tables.py --store --data ml-100k && ... --write")
