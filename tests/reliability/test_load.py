"""Ten people at once, for real: one Chromium, ten sessions on a scripted tour against the live server
(benchmarks/bench_load.py does the driving; run it longer for the README figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

pytestmark = pytest.mark.browser


def test_ten_sessions_get_the_right_lists_with_no_error(bundled_artifacts, tmp_path):
    if not Path("/usr/bin/chromium").exists():
        skip_or_fail("/usr/bin/chromium not found: install it with `apt-get install chromium` to run the "
                     "load test", "RECSYS_REQUIRE_BROWSER")
    from benchmarks.bench_load import run_load

    report = run_load(bundled_artifacts, sessions=10, seconds=40, log_path=tmp_path / "server.log")
    (tmp_path / "load.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    assert report["server_alive"] and report["server_tracebacks"] == 0
    assert not report["errors"], report["errors"][:5]
    assert not report["mismatches"], report["mismatches"][:5]
    assert report["first_load_s"]["n"] >= 10, "every session opened its shared link"
    assert report["slider_update_s"]["n"] >= 10 and report["lists_checked"] >= 30
    assert report["slider_update_s"]["p95"] < 30 and report["server_peak_rss_mb"] > 0
