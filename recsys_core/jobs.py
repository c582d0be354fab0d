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

import contextlib
import importlib
import itertools
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
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
    background: bool = False  # nobody waits on it (the metrics after the lists): it runs after the jobs people watch
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


class JobRunner:
    """A bounded pool of worker threads running keyed jobs once each: the jobs people wait on (a build, a map) in
    submission order, then background ones (the rating model, the evaluation), which never hold a map back."""

    def __init__(self, max_running: int = 1, keep_finished: int = 200) -> None:
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.max_running = max_running
        self._jobs: dict[JobKey, Job] = {}
        self._queue: list[Job] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._seq = itertools.count()
        self._keep = keep_finished
        self._workers = [threading.Thread(target=self._work, name=f"recsys-job-{i}", daemon=True)
                         for i in range(max_running)]
        for t in self._workers:
            t.start()

    def submit(self, key: JobKey, title: str, run: Callable[[ProgressFn], Any], retry_failed: bool = True,
               background: bool = False) -> Job:
        """The job for ``key``: the existing one unless it failed or was cancelled, else a new one, queued (a queued
        background job asked for again in the foreground moves ahead)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (job.status in (QUEUED, RUNNING, DONE) or not retry_failed):
                if job.status == QUEUED and job.background and not background:
                    job.background = False  # someone waits on it now: ahead of the background jobs
                return job
            job = Job(key, title, run, next(self._seq), background)
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
        return sorted(js, key=lambda j: (order.get(j.status, 2), *(_turn(j) if j.active else (0, -(j.finished or 0)))))

    def position(self, job: Job) -> int:
        """How many jobs run or wait before this queued one (0 when it runs)."""
        with self._lock:
            if job.status != QUEUED:
                return 0
            ahead = sum(1 for j in self._jobs.values() if j.status == RUNNING)
            return ahead + sum(1 for j in self._queue if _turn(j) < _turn(job))

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
                job = min(self._queue, key=_turn)
                self._queue.remove(job)
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


def _turn(job: Job) -> tuple[int, int]:
    """A queued job's place: the jobs people wait on first, each kind in submission order."""
    return int(job.background), job.seq


def _spent(_: ProgressFn) -> None:
    raise RuntimeError("this job has already run")


# ---------------------------------------------------------------- running a job in its own process

_MARK = "@@recsys-job "

# A fresh worker spends 5-7 s importing before it computes anything (torch 2 s, the compiler stack torch.optim's
# first optimizer pulls in 2 s, scikit-learn 1.5 s, pandas and pyarrow), and its first UMAP map another ~3 s
# loading umap-learn and its compiled kernels (``projection._cache_umap_kernels``; ~15 s more the very first time
# they compile). So the server keeps one idle worker (``prewarm``): a job takes it, and when the job ends well the
# worker goes back to idle with its imports and loaded kernels, ready for the next job (a lists build of ml-100k: 11.6 s in a fresh process, 3.0 s warm).
# A worker is only reused in the environment it was started in, for at most _MAX_TASKS jobs, and not while it
# holds more than _KEEP_RSS_MIB after its job (memory a large build freed is not always returned to the
# system); a cancelled or failed worker process is ended, and a fresh one warms behind it.
_ENV_PREFIXES = ("RECSYS_", "NUMBA_", "CUDA_", "OMP_", "MKL_", "PYTHON")
_MAX_TASKS = 50
_KEEP_RSS_MIB = 1536.0
_standby: _Worker | None = None
_standby_lock = threading.Lock()
_keep_warm = False


def _env_now() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}


@dataclass(eq=False)
class _Worker:
    """One worker process, the protocol lines a thread reads from it for its whole life, and what it has run."""

    proc: subprocess.Popen
    env: dict[str, str]
    lines: queue.Queue[str | None]
    tasks: int = 0
    rss_mib: float = 0.0  # resident memory after its last job

    @classmethod
    def start(cls, warm: bool) -> _Worker:
        proc = subprocess.Popen([sys.executable, "-m", "recsys_core.jobs", *(["--warm"] if warm else []),
                                 "--server-pid", str(os.getpid())],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        return cls(proc, _env_now(), lines)

    def reusable(self) -> bool:
        return (self.proc.poll() is None and self.env == _env_now() and self.tasks < _MAX_TASKS
                and self.rss_mib <= _KEEP_RSS_MIB)

    def retire(self) -> None:
        """An idle worker ends by itself when its stdin closes (it reads no further task)."""
        with contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()

    def end(self) -> None:
        """Stop a worker in the middle of a task (a cancel, a broken protocol)."""
        self.retire()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def prewarm() -> None:
    """Keep one idle, already-imported worker ready from now on (the server calls this; the CLI never does)."""
    global _standby, _keep_warm
    with _standby_lock:
        _keep_warm = True
        if _standby is not None and _standby.reusable():
            return
        if _standby is not None:
            _standby.retire()
        _standby = _Worker.start(warm=True)


def _take_worker() -> _Worker:
    """The idle worker (warm, or still warming) when it can be reused here, else a fresh one."""
    global _standby
    with _standby_lock:
        w, _standby = _standby, None
    if w is not None and w.reusable():
        return w
    if w is not None:
        w.retire()
    return _Worker.start(warm=False)


def _give_back(w: _Worker) -> None:
    """After a task that ended well: the worker becomes the idle one (it has warmed further), or it retires."""
    global _standby
    with _standby_lock:
        if _keep_warm and w.reusable():
            retiring, _standby = _standby, w
        else:
            retiring = w
    if retiring is not None:
        retiring.retire()


def run_in_process(task: str, kwargs: dict[str, Any], progress: ProgressFn, poll_s: float = 0.5) -> Any:
    """Run the named task (``TASKS``) in a worker process and relay its Progress events to ``progress``.

    A build holds Python's GIL for long stretches (parsing, TF-IDF, sparse products): in the server's own
    process that stalls every page; in its own process it cannot, and cancelling it is ending that process.
    The task and its arguments go in as one JSON line (``config`` as ``EngineConfig.as_dict()``), events come
    back as JSON lines: no pickle either way. ``progress`` is also called with the last event every ``poll_s``
    seconds, so a cancel (``JobCancelled`` raised from it) is noticed between the task's own reports.
    """
    if task not in TASKS:
        raise RecsysError(f"Unknown job task {task!r}; the tasks are {', '.join(TASKS)}.")
    args = {k: (v.as_dict() if hasattr(v, "as_dict") else v) for k, v in kwargs.items()}
    w = _take_worker()
    answered = False  # the worker finished the task and can take another
    try:
        try:
            assert w.proc.stdin is not None
            w.proc.stdin.write(json.dumps({"task": task, "kwargs": args}) + "\n")
            w.proc.stdin.flush()
        except (OSError, ValueError):  # the pipe to a worker that died before reading its task
            raise RecsysError("The job's worker process could not be reached; try again.") from None
        last = Progress("starting", message="Starting a worker process")
        while True:
            try:
                line = w.lines.get(timeout=poll_s)
            except queue.Empty:
                progress(last)  # lets a cancel through
                continue
            if line is None:
                raise RecsysError(f"The job's worker process ended without a result (exit code {w.proc.wait()}); "
                                  "try again, or see the server log.")
            msg = json.loads(line)
            if "progress" in msg:
                last = Progress(**msg["progress"])
                progress(last)
                continue
            answered = True
            w.tasks += 1
            w.rss_mib = float(msg.get("rss_mib", 0.0))
            if "error" in msg:
                raise RecsysError(str(msg["error"]))
            return msg.get("done")
    finally:
        if answered:
            _give_back(w)
        else:
            w.end()
        if _keep_warm:  # an idle worker for the next job (a no-op when this one went back to idle)
            prewarm()


def _pump(stream: Any, lines: "queue.Queue[str | None]") -> None:
    """Forward the worker's protocol lines (anything else it prints goes to the server log)."""
    for line in stream:
        if line.startswith(_MARK):
            lines.put(line[len(_MARK):])
        else:
            sys.stderr.write(line)
    lines.put(None)


def _emit_line(obj: dict) -> None:
    sys.stdout.write(_MARK + json.dumps(obj, default=_plain) + "\n")
    sys.stdout.flush()


def _plain(o: Any) -> Any:
    """numpy scalars and the like in progress metrics, as JSON numbers or text."""
    try:
        return float(o)
    except (TypeError, ValueError):
        return str(o)


def task_build_lists(source: str, config: dict, progress: ProgressFn) -> None:
    """Job task: build what the lists need (content codes, the collaborative space) for a dataset and config."""
    from .config import EngineConfig
    from .explorer import Explorer

    Explorer.open(source, EngineConfig.from_dict(config), train=True, progress=progress, complete=False)


def task_complete(source: str, config: dict, stage: str, progress: ProgressFn) -> None:
    """Job task: add one later stage ("rating", "evaluate") to the stored artifact."""
    from .config import EngineConfig
    from .explorer import Explorer

    Explorer.open(source, EngineConfig.from_dict(config), train=False).complete((stage,), progress=progress)


def task_map(source: str, config: dict, space: str, alpha: float, progress: ProgressFn) -> None:
    """Job task: compute and store one UMAP map."""
    from .config import EngineConfig
    from .explorer import Explorer

    Explorer.open(source, EngineConfig.from_dict(config), train=False).projection(space, alpha=alpha,
                                                                                 progress=progress)


TASKS: dict[str, Callable[..., Any]] = {"build_lists": task_build_lists, "complete": task_complete, "map": task_map}


def warm_up(server_pid: int | None = None) -> bool:
    """Do a build's imports while idle: torch, the compiler stack torch.optim's first optimizer loads, the engine.

    Between steps it checks that the server that started it (``server_pid``) is still its parent: a server that
    stops while a job runs starts a fresh idle worker on its way out, which would otherwise spend its seconds of
    imports after the server has gone. False when it stopped early for that reason."""

    def server_gone() -> bool:
        return server_pid is not None and os.getppid() != server_pid

    if server_gone():
        return False
    import torch

    if server_gone():
        return False
    from . import explorer  # noqa: F401 - the facade, the pipeline and pandas/pyarrow with them
    from .training import content  # noqa: F401

    if server_gone():
        return False
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    import sklearn.feature_extraction.text  # noqa: F401

    return True


def _worker_main() -> int:
    """The worker process: read tasks as JSON lines, run each, send progress and the result (or the error)."""
    with contextlib.suppress(OSError, AttributeError):  # (no os.nice on Windows)
        os.nice(10)  # a job yields the cores to the server's pages (they render while it computes)
    args = sys.argv[1:]
    server_pid = int(args[args.index("--server-pid") + 1]) if "--server-pid" in args else None
    if "--warm" in args and not warm_up(server_pid):
        return 0
    while raw := sys.stdin.readline():  # "" once the server closes the pipe (or goes away): the worker ends
        if raw.strip():
            _run_task(json.loads(raw))
    return 0


def _run_task(spec: dict) -> None:
    """One task: its result or its error as the last line, with the memory the process holds after it."""
    task = TASKS[spec["task"]]
    test_task = os.environ.get("RECSYS_JOB_TEST_TASK")  # tests run a tiny task through the same protocol
    end: dict[str, Any]
    try:
        if test_task:
            module, _, name = test_task.partition(":")
            task = getattr(importlib.import_module(module), name)
        end = {"done": task(**spec["kwargs"], progress=lambda ev: _emit_line({"progress": asdict(ev)}))}
    except RecsysError as exc:
        end = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the server as one line, never lost
        end = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    end["rss_mib"] = _resident_mib()
    _emit_line(end)


def _resident_mib() -> float:
    """Resident memory now (Linux), else 0. Not getrusage's peak: on Linux it starts at the spawning server's
    size (a forked child's page counts carry over exec), so a worker of a large server would never be reused."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


if __name__ == "__main__":
    sys.exit(_worker_main())
