"""Heavy work owned by the server process, not by a page: builds, evaluations and maps run as jobs.

A job is keyed by (dataset fingerprint, config hash, stage). Submitting a key that is already queued,
running or done returns that job, so ten visitors asking for the same build cause one build. A fixed
number of worker threads (default one) runs jobs in submission order; the rest wait in a visible queue.
Pages only read a job's state (status, last progress event, ETA): a visitor who leaves, reloads or clicks
never touches the thread doing the work. Cancelling is cooperative: the job's progress callback raises
``JobCancelled`` at the next epoch or batch, and the store's temporary folder is dropped, so nothing
half-written is ever served. Across processes, the artifact store's lock keeps one build per artifact.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import RecsysError
from .events import Progress, ProgressFn

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
_log = logging.getLogger(__name__)
FINISHED = (DONE, FAILED, CANCELLED)


class JobCancelled(RecsysError):
    """The operator cancelled the job; raised inside the job at its next progress report."""


@dataclass(frozen=True)
class JobKey:
    """What a job computes: one stage for one dataset and one configuration."""

    fingerprint: str
    config_hash: str
    stage: str
    detail: str = ""  # e.g. a map's space and alpha

    def label(self) -> str:
        return f"{self.stage}{f' ({self.detail})' if self.detail else ''}"


@dataclass
class Job:
    """A job's live state, read by any page; only the worker thread writes it."""

    key: JobKey
    title: str  # what a person is told: "Training ml-100k", "Computing the collab map"
    run: Callable[[ProgressFn], Any]
    seq: int
    status: str = QUEUED
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    last: Progress | None = None
    error: str = ""
    result: Any = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def active(self) -> bool:
        return self.status in (QUEUED, RUNNING)

    @property
    def elapsed_s(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job finishes (for the CLI and tests); True when it did."""
        return self._done.wait(timeout)

    def snapshot(self) -> dict:
        """A plain dict for pages and logs."""
        ev = self.last
        return {"key": self.key, "title": self.title, "status": self.status, "stage": ev.stage if ev else "",
                "epoch": ev.epoch if ev else None, "epochs": ev.epochs if ev else None,
                "message": ev.message if ev else "", "eta_s": ev.eta_s if ev else None,
                "elapsed_s": self.elapsed_s, "error": self.error}


class JobRunner:
    """A bounded pool of worker threads running keyed jobs once each, in submission order."""

    def __init__(self, max_running: int = 1, keep_finished: int = 200) -> None:
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.max_running = max_running
        self._jobs: dict[JobKey, Job] = {}
        self._queue: deque[Job] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._seq = itertools.count()
        self._keep = keep_finished
        self._workers = [threading.Thread(target=self._work, name=f"recsys-job-{i}", daemon=True)
                         for i in range(max_running)]
        for t in self._workers:
            t.start()

    def submit(self, key: JobKey, title: str, run: Callable[[ProgressFn], Any], retry_failed: bool = True) -> Job:
        """The job for ``key``: the existing one unless it failed or was cancelled, else a new one, queued."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (job.status in (QUEUED, RUNNING, DONE) or not retry_failed):
                return job
            job = Job(key, title, run, next(self._seq))
            self._jobs[key] = job
            self._queue.append(job)
            self._forget_old()
            self._wake.notify()
            return job

    def get(self, key: JobKey) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def jobs(self) -> list[Job]:
        """Every known job, running first, then queued in order, then finished (newest first)."""
        with self._lock:
            js = list(self._jobs.values())
        order = {RUNNING: 0, QUEUED: 1}
        return sorted(js, key=lambda j: (order.get(j.status, 2), j.seq if j.active else -(j.finished or 0)))

    def position(self, job: Job) -> int:
        """How many jobs run or wait before this queued one (0 when it runs)."""
        with self._lock:
            if job.status != QUEUED:
                return 0
            ahead = sum(1 for j in self._jobs.values() if j.status == RUNNING)
            return ahead + sum(1 for j in self._queue if j.seq < job.seq)

    def cancel(self, key: JobKey) -> bool:
        """Ask a queued or running job to stop (the operator's button); False when it had already finished."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None or not job.active:
                return False
            job._cancel.set()
            if job.status == QUEUED:
                self._queue.remove(job)
                self._finish(job, CANCELLED, "Cancelled before it started.")
            return True

    def _finish(self, job: Job, status: str, error: str = "", result: Any = None) -> None:
        job.status, job.error, job.result, job.finished = status, error, result, time.time()
        job.run = _spent  # drop the closure (and the data it holds)
        job._done.set()

    def _forget_old(self) -> None:
        done = [j for j in self._jobs.values() if j.status in FINISHED]
        for j in sorted(done, key=lambda j: j.finished or 0)[: max(0, len(done) - self._keep)]:
            del self._jobs[j.key]

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    self._wake.wait()
                job = self._queue.popleft()
                job.status, job.started = RUNNING, time.time()
            _log.info("job started: %s %s [%s]", job.key.stage, job.key.detail or "-", job.title)

            def report(ev: Progress, job: Job = job) -> None:
                job.last = ev
                if job._cancel.is_set():
                    raise JobCancelled(f"{job.title} was cancelled by the operator.")

            try:
                result = job.run(report)
            except JobCancelled as exc:
                with self._lock:
                    self._finish(job, CANCELLED, str(exc))
            except RecsysError as exc:
                with self._lock:
                    self._finish(job, FAILED, str(exc))
            except Exception as exc:  # noqa: BLE001 - a job must never take its worker thread down
                with self._lock:
                    self._finish(job, FAILED, f"{job.title} failed: {type(exc).__name__}: {str(exc)[:300]}")
            else:
                with self._lock:
                    self._finish(job, DONE, result=result)
            _log.info("job %s: %s %s in %.1f s%s", job.status, job.key.stage, job.key.detail or "-", job.elapsed_s,
                      f" ({job.error})" if job.error else "")


def _spent(_: ProgressFn) -> None:
    raise RuntimeError("this job has already run")


# ---------------------------------------------------------------- running a job in its own process

def run_in_process(task: Callable[..., Any], kwargs: dict[str, Any], progress: ProgressFn,
                   poll_s: float = 0.5) -> Any:
    """Run ``task(**kwargs, progress=...)`` in a fresh process and relay its Progress events to ``progress``.

    A build holds Python's GIL for long stretches (parsing, TF-IDF, sparse products): in the server's own
    process that stalls every page. In its own process it cannot; and cancelling it is ending that process.
    ``progress`` is also called with the last event every ``poll_s`` seconds, so a cancel (``JobCancelled``
    raised from it) is noticed even between the task's reports. Errors come back as ``RecsysError`` with
    the task's own sentence.
    """
    ctx = multiprocessing.get_context("spawn")
    events: Any = ctx.Queue()
    proc = ctx.Process(target=_child, args=(task, kwargs, events), daemon=True, name="recsys-job")
    proc.start()
    last = Progress("starting", message="Starting a worker process")
    try:
        while True:
            try:
                kind, payload = events.get(timeout=poll_s)
            except queue.Empty:
                if not proc.is_alive() and events.empty():
                    raise RecsysError(f"The job's worker process ended unexpectedly (exit code {proc.exitcode}); "
                                      "try again, or see the server log.") from None
                progress(last)  # lets a cancel through
                continue
            if kind == "progress":
                last = payload
                progress(payload)
            elif kind == "done":
                return payload
            else:
                raise RecsysError(str(payload))
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(10)


def _child(task: Callable[..., Any], kwargs: dict[str, Any], events: Any) -> None:
    """The worker process: run the task, send its progress, then its result or its error as a sentence."""
    try:
        result = task(**kwargs, progress=lambda ev: events.put(("progress", ev)))
        events.put(("done", result))
    except RecsysError as exc:
        events.put(("error", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as one line, never lost
        events.put(("error", f"{type(exc).__name__}: {str(exc)[:300]}"))


def task_build_lists(source: str, config: Any, progress: ProgressFn) -> None:
    """Job task: build what the lists need (content codes, the collaborative space) for a dataset and config."""
    from .explorer import Explorer

    Explorer.open(source, config, train=True, progress=progress, complete=False)


def task_complete(source: str, config: Any, stage: str, progress: ProgressFn) -> None:
    """Job task: add one later stage ("rating", "evaluate") to the stored artifact."""
    from .explorer import Explorer

    Explorer.open(source, config, train=False).complete((stage,), progress=progress)


def task_map(source: str, config: Any, space: str, alpha: float, progress: ProgressFn) -> None:
    """Job task: compute and store one UMAP map."""
    from .explorer import Explorer

    Explorer.open(source, config, train=False).projection(space, alpha=alpha, progress=progress)
