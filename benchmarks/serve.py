"""`streamlit run app.py` on a free loopback port: the one launcher the browser tests and benchmarks share."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# as the browser tests start Debian's Chromium here (no network chatter, no sandbox as root)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# the three Explore lists drawn with rows
LISTS_DRAWN = ("() => ['content','collab','hybrid'].every(k => { const r = document.querySelector('.st-key-list_' + k);"
               " return r && r.querySelector('table.rs-list tbody tr'); })")


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(log_path: Path, artifacts: Path | None = None, timeout_s: float = 90.0,
                 env_extra: dict[str, str] | None = None, app: Path = ROOT / "app.py",
                 cwd: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """Start the dashboard (or another ``app``; under this checkout's server settings unless ``cwd`` is another
    folder with its own .streamlit/config.toml) headless, artifacts from ``artifacts`` when given, and return
    (process, url) once its health check answers; RuntimeError with the log's tail if it exits or stays unhealthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    if artifacts is not None:
        env["RECSYS_ARTIFACTS_DIR"] = str(artifacts)
    env.update(env_extra or {})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            # only the port differs from `make run`: address, file watcher and the rest come from .streamlit/config.toml
            [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
             "--server.port", str(port)],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log_path.read_text()[-3000:]}")
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"streamlit not healthy after {timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the server and everything it started (it runs in its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with contextlib.suppress(ProcessLookupError):  # a worker the server started while it was stopping
        os.killpg(proc.pid, signal.SIGKILL)
