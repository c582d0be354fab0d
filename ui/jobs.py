"""The server's jobs as the pages see them: one runner per server process, pages attach and watch.

Builds, the later stages (rating model, evaluation) and maps run on the runner's worker thread, never in a
page's script run, so a visitor who leaves, reloads or clicks cannot cancel or restart them. A page shows
a job with ``watch``: a fragment that redraws its progress every second and reruns the page once the job
has finished.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import streamlit as st

from ui import cached, engine
from ui.format import md_text, progress_text

MAX_JOBS_ENV = "RECSYS_MAX_JOBS"


@st.cache_resource(show_spinner=False)
def runner() -> engine.JobRunner:
    """The one job runner of this server process (RECSYS_MAX_JOBS at once, default 1; the rest queue)."""
    try:
        n = max(1, min(8, int(os.environ.get(MAX_JOBS_ENV, "1"))))
    except ValueError:
        n = 1
    log = logging.getLogger("recsys_core.jobs")  # the server's log says when each job starts and ends
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    engine.prewarm()  # one idle worker imports torch & co. now, so the first build starts computing at once
    return engine.JobRunner(max_running=n)


def _key(dataset: str, config_json: str, stage: str, detail: str = "") -> engine.JobKey:
    return engine.JobKey(dataset, cached.config_from_json(config_json).config_hash(), stage, detail)


def build_key(dataset: str, config_json: str) -> engine.JobKey:
    """The key of the build job of a dataset and settings."""
    return _key(dataset, config_json, "lists")


def build(dataset: str, source: str, config_json: str, retry: bool = False) -> engine.Job:
    """The job that builds what the lists need for a dataset and settings (once, however many visitors ask).

    A failed build is not retried by merely viewing a page (it would fail again for every visitor); the
    operator's retry passes ``retry``.
    """
    cfg = cached.config_from_json(config_json)

    def run(progress: Callable[[Any], None]) -> str:
        engine.run_in_process("build_lists", {"source": source, "config": cfg}, progress)
        return "built"

    return runner().submit(build_key(dataset, config_json), f"Training on {dataset}", run, retry_failed=retry)


def later_stage(ex: engine.Explorer, dataset: str, config_json: str, stage: str) -> engine.Job:
    """The job that adds a later stage ("rating", "evaluate") to an explorer's artifact."""
    task = {"source": cached.dataset_source(dataset), "config": ex.config, "stage": stage}

    def run(progress: Callable[[Any], None]) -> str:
        engine.run_in_process("complete", task, progress)
        ex.refresh()
        return stage

    title = {"rating": "Training the rating model", "evaluate": "Measuring the lists"}.get(stage, stage)
    return runner().submit(_key(dataset, config_json, stage), f"{title} ({dataset})", run, retry_failed=False,
                           background=True)


def complete_later(ex: engine.Explorer, dataset: str, config_json: str) -> list[engine.Job]:
    """Queue every later stage the artifact still lacks (in order); refresh the explorer when they are done."""
    missing = ex.missing()
    if not missing:
        return []
    jobs = [later_stage(ex, dataset, config_json, stage) for stage in missing]
    if any(j.status in (engine.JOB_FAILED, engine.JOB_CANCELLED) for j in jobs):
        return [j for j in jobs if j.active]
    if all(j.status == engine.JOB_DONE for j in jobs):
        ex.refresh()
        return []
    return [j for j in jobs if j.active]


def pending(ex: engine.Explorer) -> list[engine.Job]:
    """The later-stage jobs of the session's dataset and settings still queued or running (queued now if new)."""
    return complete_later(ex, *cached.session_model())


def pending_maps(ex: engine.Explorer) -> list[engine.Job]:
    """The base maps of the session's dataset and settings not stored yet, queued behind its metrics if new."""
    return maps_later(ex, *cached.session_model())


def map_job(ex: engine.Explorer, dataset: str, config_json: str, space: str, alpha: float,
            background: bool = False) -> engine.Job:
    """The job that computes one UMAP map (once per space and α step across visitors); ``background``: nobody
    waits on it yet (a failed one is then left for a visitor's request to retry)."""
    a = ex.map_alpha(alpha) if space == "hybrid" else 0.5

    task = {"source": cached.dataset_source(dataset), "config": ex.config, "space": space, "alpha": a}

    def run(progress: Callable[[Any], None]) -> str:
        engine.run_in_process("map", task, progress)
        ex.refresh()
        return space

    detail = f"{space}@{a:.2f}" if space == "hybrid" else space
    return runner().submit(_key(dataset, config_json, "map", detail), f"Computing the {space} map", run,
                           retry_failed=not background, background=background)


BASE_MAPS = ("content", "collab")


def maps_later(ex: engine.Explorer, dataset: str, config_json: str) -> list[engine.Job]:
    """Queue the base maps (content, collab) an artifact lacks as background jobs, after its metrics, so that
    Latent space opens already drawn; a visitor who opens it first moves them ahead of the background jobs."""
    return [map_job(ex, dataset, config_json, space, 0.5, background=True) for space in BASE_MAPS
            if not ex.map_stored(space)]


def map_pending(ex: engine.Explorer, dataset: str, config_json: str, space: str, alpha: float) -> bool:
    """Whether a job for this map is queued or running (someone already asked for it)."""
    a = ex.map_alpha(alpha) if space == "hybrid" else 0.5
    detail = f"{space}@{a:.2f}" if space == "hybrid" else space
    job = runner().get(_key(dataset, config_json, "map", detail))
    return job is not None and job.active


def _describe(job: engine.Job) -> tuple[float, str]:
    """The job's bar fraction and its state as plain text."""
    if job.status == engine.JOB_QUEUED:
        return 0.0, f"Waiting: {runner().position(job)} job(s) ahead in the server's queue"
    if job.last is None:
        return 0.0, "Starting…"
    return progress_text(job.last)


def progress_line(job: engine.Job) -> tuple[float, str]:
    """The job's bar fraction and its line as markdown (escaped once: a loss of 5.521 reads 5.521, not 5\\.521)."""
    frac, text = _describe(job)
    return min(max(frac, 0.0), 1.0), f"{md_text(job.title, 80)} · {md_text(text, 160)}"


def watch(jobs: list[engine.Job], title: str, key: str) -> None:
    """Show the jobs' progress, redrawn every second; rerun the page once they have all finished."""
    if not jobs:
        return

    @st.fragment(run_every=1.0)
    def _panel() -> None:
        if all(not j.active for j in jobs):
            st.rerun(scope="app")
        with st.container(border=True, key=f"job_panel_{key}"):
            st.markdown(f"**{md_text(title, 120)}**")
            for j in jobs:
                st.progress(*progress_line(j))
            st.caption(f"Running on the server: leaving or reloading this page does not stop it "
                       f"({max(j.elapsed_s for j in jobs):.0f} s so far).")

    _panel()


def failures(jobs: list[engine.Job]) -> list[str]:
    """What went wrong in finished jobs, as sentences for people."""
    return [j.error for j in jobs if j.status in (engine.JOB_FAILED, engine.JOB_CANCELLED) and j.error]


def queue_table() -> list[dict]:
    """Running and queued jobs, then recent ones, for the operator's view."""
    r = runner()
    rows = []
    for j in r.jobs()[:30]:
        frac, text = _describe(j) if j.active else (1.0, j.error or "finished")
        rows.append({"job": j.title, "status": j.status, "progress": text,
                     "seconds": round(j.elapsed_s, 1), "key": j.key})
    return rows


def cancel(key: engine.JobKey) -> bool:
    """Cancel a queued or running job (the operator's button)."""
    return runner().cancel(key)
