"""What the server does the moment it starts, before any visitor: open or start building the default dataset.

`streamlit run app.py` serves ``app.app`` (an ``st.App``) and enters ``lifespan`` once per server process. The
job runner then exists before the first page run, its worker has begun importing torch & co., and the default
dataset's lists build (if nothing is cached) is already running when the first visitor arrives, who then waits
only for what remains of it (the README's "First start" table measures both ways of opening the page). A cached
model is opened once here, so the first page finds it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

_log = logging.getLogger("recsys_core.jobs")  # the server log's job lines (``jobs.runner`` gives it a handler)


def open_or_build_default() -> str:
    """Open the default dataset's model with the default settings here, queueing any later stage it lacks, or
    start its build job when nothing is cached; say which."""
    from ui import cached, jobs

    jobs.runner()  # the job runner (and the server log's job lines), taking over the idle worker app.py started
    dataset = cached.default_dataset(cached.dataset_choices())
    try:
        ex = cached.open_explorer(dataset, cached.DEFAULT_CONFIG_JSON)
    except Exception as exc:  # noqa: BLE001 - any failure here is the first page's to show, never the server's
        if not cached.artifact_missing(exc):
            return f"{dataset}: {type(exc).__name__}"
        jobs.build(dataset, cached.dataset_source(dataset), cached.DEFAULT_CONFIG_JSON)
        return f"building {dataset}"
    later = jobs.complete_later(ex, dataset, cached.DEFAULT_CONFIG_JSON)  # a rating model or metrics missing
    later += jobs.maps_later(ex, dataset, cached.DEFAULT_CONFIG_JSON)  # and the base maps
    return f"opened {dataset}" + (f"; {len(later)} later job(s) queued" if later else "")


def _start() -> None:
    try:
        _log.info("server start: %s", open_or_build_default())
    except Exception:  # noqa: BLE001 - the server must come up whatever the data folder holds
        _log.exception("server start: the default dataset is left to the first visitor")


@contextlib.asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """Start the default dataset's open-or-build beside the server (a thread: the server answers at once)."""
    threading.Thread(target=_start, name="recsys-startup", daemon=True).start()
    yield
