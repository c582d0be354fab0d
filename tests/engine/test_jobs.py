"""The server's job runner: one job per key, a bounded number at once, a queue, cooperative cancel."""

from __future__ import annotations

import threading

import pytest

from recsys_core.errors import DatasetError
from recsys_core.events import Progress
from recsys_core.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, JobKey, JobRunner


def key(stage: str = "lists", detail: str = "") -> JobKey:
    return JobKey("fp", "cfg", stage, detail)


def test_the_same_key_runs_once_however_many_ask():
    r = JobRunner()
    calls = []
    gate = threading.Event()

    def run(progress):
        calls.append(1)
        gate.wait(5)
        return "ok"

    jobs = [r.submit(key(), "build", run) for _ in range(10)]
    assert all(j is jobs[0] for j in jobs)
    gate.set()
    assert jobs[0].wait(5) and jobs[0].status == DONE and jobs[0].result == "ok"
    assert r.submit(key(), "build", run) is jobs[0]  # done: served, not rerun
    assert calls == [1]


def _one_slot_held(name: str, background_first: tuple[str, ...] = ()):
    """A one-job runner whose first job ``name`` runs until ``gate`` is set; each job's start is logged in
    ``order``; ``background_first`` jobs are queued (as background) right behind it."""
    r = JobRunner(max_running=1)
    gate = threading.Event()
    order: list[str] = []

    def hold(progress):
        order.append(name)
        gate.wait(5)

    first = r.submit(key(name), name, hold)
    queued = [r.submit(key(b), b, lambda p, b=b: order.append(b), background=True) for b in background_first]
    for _ in range(100):
        if first.status == RUNNING:
            break
        first.wait(0.02)
    return r, gate, order, first, queued


def test_jobs_beyond_the_bound_wait_in_order_and_know_their_place():
    r, gate, order, a, _ = _one_slot_held("a")
    b = r.submit(key("b"), "b", lambda p: order.append("b"))
    c = r.submit(key("c"), "c", lambda p: order.append("c"))
    assert a.status == RUNNING and b.status == QUEUED and c.status == QUEUED
    assert r.position(b) == 1 and r.position(c) == 2
    gate.set()
    assert c.wait(5) and order == ["a", "b", "c"]


def test_a_map_someone_waits_for_goes_before_the_background_metrics():
    """The rating model and the evaluation queued after the lists never hold back a map a visitor opened."""
    r, gate, order, _, (rating, evaluate) = _one_slot_held("lists", ("rating", "evaluate"))
    umap = r.submit(key("map", "content"), "map", lambda p: order.append("map"))
    assert [r.position(j) for j in (umap, rating, evaluate)] == [1, 2, 3]
    assert [j.key.stage for j in r.jobs()] == ["lists", "map", "rating", "evaluate"]
    gate.set()
    assert evaluate.wait(5) and order == ["lists", "map", "rating", "evaluate"]


def test_a_background_map_someone_opens_moves_ahead_of_the_metrics():
    """The base maps queued behind the metrics (nobody waits on them yet) move ahead once a visitor opens the page
    that shows them; the job is the same one, run once."""
    r, gate, order, _, (rating, evaluate, bg_map) = _one_slot_held("lists", ("rating", "evaluate", "map"))
    assert r.position(bg_map) == 3
    again = r.submit(key("map"), "map", lambda p: order.append("map twice"))
    assert again is bg_map and r.position(bg_map) == 1 and r.position(evaluate) == 3
    gate.set()
    assert evaluate.wait(5) and order == ["lists", "map", "rating", "evaluate"]


def test_cancel_stops_a_running_job_at_its_next_report_and_drops_a_queued_one():
    r = JobRunner()
    started = threading.Event()

    def long(progress):
        started.set()
        for i in range(500):
            progress(Progress("content", i, 500))
            threading.Event().wait(0.01)
        return "finished"

    a = r.submit(key("a"), "a", long)
    b = r.submit(key("b"), "b", lambda p: "b")
    assert started.wait(5)
    assert r.cancel(b.key) and b.status == CANCELLED  # never started
    assert r.cancel(a.key)
    assert a.wait(5) and a.status == CANCELLED and "cancelled" in a.error
    assert a.last is not None and a.last.stage == "content"
    assert not r.cancel(a.key)  # already finished


def test_a_failure_is_reported_and_the_worker_goes_on():
    r = JobRunner()

    def bad(progress):
        raise DatasetError("ratings.csv has no rating column; check the file.")

    def crash(progress):
        raise ValueError("boom")

    f = r.submit(key("bad"), "bad", bad)
    g = r.submit(key("crash"), "crash", crash)
    ok = r.submit(key("ok"), "ok", lambda p: 1)
    assert ok.wait(5) and ok.status == DONE
    assert f.status == FAILED and "no rating column" in f.error
    assert g.status == FAILED and "ValueError" in g.error
    # a failed job is not rerun by merely asking again, unless retrying is asked for
    assert r.submit(key("bad"), "bad", bad, retry_failed=False) is f
    again = r.submit(key("bad"), "bad", lambda p: 2)
    assert again is not f and again.wait(5) and again.status == DONE


def test_a_bound_below_one_is_refused():
    with pytest.raises(ValueError):
        JobRunner(max_running=0)


# ---------------------------------------------------------------- a job in its own process
# The worker runs a named task; RECSYS_JOB_TEST_TASK swaps in one of these tiny ones (same protocol).

def counting_task(n: int, progress) -> int:
    for i in range(n):
        progress(Progress("count", i + 1, n, {"loss": 0.5}))
    return n * 10


def failing_task(progress) -> None:
    raise DatasetError("ratings.csv is empty; point it at a release with ratings.")


def sleeping_task(progress) -> None:
    import time

    progress(Progress("sleep", 0, 1))
    time.sleep(60)


def _use(monkeypatch, name: str) -> None:
    monkeypatch.setenv("RECSYS_JOB_TEST_TASK", f"tests.engine.test_jobs:{name}")


def test_a_job_in_its_own_process_reports_progress_and_its_result(monkeypatch):
    from recsys_core.jobs import run_in_process

    _use(monkeypatch, "counting_task")
    seen = []
    assert run_in_process("build_lists", {"n": 3}, seen.append) == 30
    assert [e.epoch for e in seen if e.stage == "count"] == [1, 2, 3]
    assert seen[-1].metrics == {"loss": 0.5}


def test_a_failing_job_process_reports_the_sentence(monkeypatch):
    from recsys_core.errors import RecsysError
    from recsys_core.jobs import run_in_process

    _use(monkeypatch, "failing_task")
    with pytest.raises(RecsysError, match="ratings.csv is empty"):
        run_in_process("build_lists", {}, lambda ev: None)


def test_cancelling_a_job_ends_its_process(monkeypatch):
    import time

    from recsys_core.jobs import JobCancelled, run_in_process

    _use(monkeypatch, "sleeping_task")
    t0 = time.monotonic()

    def progress(ev):
        if ev.stage == "sleep":
            raise JobCancelled("cancelled by the operator")

    with pytest.raises(JobCancelled):
        run_in_process("build_lists", {}, progress)
    assert time.monotonic() - t0 < 30


def test_an_unknown_task_is_refused():
    from recsys_core.errors import RecsysError
    from recsys_core.jobs import run_in_process

    with pytest.raises(RecsysError, match="Unknown job task"):
        run_in_process("mine bitcoin", {}, lambda ev: None)


def pid_task(progress, fail: bool = False) -> dict:
    import os
    import sys

    if fail:
        raise DatasetError("ratings.csv is empty; point it at a release with ratings.")
    return {"pid": os.getpid(), "warm": "torch" in sys.modules and "sklearn" in sys.modules}


def test_the_server_keeps_one_warm_worker_that_outlives_its_jobs(monkeypatch):
    import numpy as np

    import recsys_core.jobs as jobs
    from recsys_core.errors import RecsysError

    monkeypatch.setattr(jobs, "_keep_warm", False)
    monkeypatch.setattr(jobs, "_standby", None)
    _use(monkeypatch, "pid_task")
    ballast = np.ones(2 * 2**30 // 8)  # a server larger than the bound: its workers are still small and reused
    jobs.prewarm()
    warm = jobs._standby.proc
    first = jobs.run_in_process("build_lists", {}, lambda ev: None)
    assert first == {"pid": warm.pid, "warm": True}  # the idle worker ran it, its imports already done
    assert jobs._standby.proc is warm and warm.poll() is None  # and went back to idle, warmer still
    del ballast
    assert jobs.run_in_process("build_lists", {}, lambda ev: None)["pid"] == warm.pid
    with pytest.raises(RecsysError, match="ratings.csv is empty"):  # a task that fails cleanly: reused
        jobs.run_in_process("build_lists", {"fail": True}, lambda ev: None)
    assert jobs._standby.proc is warm

    monkeypatch.setenv("RECSYS_JOBS_TEST_GENERATION", "2")  # another environment: never the old worker, which ends by itself
    third = jobs.run_in_process("build_lists", {}, lambda ev: None)
    assert third["pid"] != warm.pid and warm.wait(30) == 0
    fresh = jobs._standby.proc
    assert fresh.pid == third["pid"]

    monkeypatch.setattr(jobs, "_KEEP_RSS_MIB", 0.0)  # a worker that grew past the bound retires after its job
    jobs.run_in_process("build_lists", {}, lambda ev: None)
    assert fresh.wait(30) == 0 and jobs._standby.proc.pid != fresh.pid
    monkeypatch.setattr(jobs, "_keep_warm", False)
    last = jobs._standby
    last.retire()
    assert last.proc.wait(60) == 0


def test_an_idle_worker_whose_server_has_gone_stops_instead_of_importing():
    """A server that stops while a job runs starts a fresh idle worker on its way out; that worker must not spend
    its seconds of imports (and linger) for a server that is no longer its parent."""
    import subprocess
    import sys

    # started with an open stdin, as by a server, but naming a server that is not its parent (pid 1)
    proc = subprocess.Popen([sys.executable, "-m", "recsys_core.jobs", "--warm", "--server-pid", "1"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.wait(timeout=60) == 0  # before: it imported torch & co., then waited for tasks forever
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
        proc.stdout.close()
