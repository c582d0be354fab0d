"""The build pipeline: the stages that turn a dataset and a config into an artifact, in order.

The lists need only ``LIST_STAGES`` (content codes and the collaborative space): ``build_lists`` writes
them as the artifact, so the dashboard can show lists while the ``LATER_STAGES`` (the rating model behind
``predict`` and RMSE, then the held-out evaluation) run and are added to it by ``run_stage``, each once
across processes (a lock per stage). The facade (``Explorer.open``), ``torchrun``
(``pipeline.distributed``) and the server's jobs all call these. A caller that trained a stage elsewhere
(rank 0 after DDP) passes it in ``trained``, keyed by stage name: what is skipped is data, never a label.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ..config import EngineConfig
from ..data.dataset import Dataset
from ..errors import ConfigError, DeviceError
from ..events import ProgressFn, emit
from ..store import Artifact, ArtifactStore, ArtifactWriter, UnwritableError

CONTENT, SPACE, RATING, EVALUATE = "content", "space", "rating", "evaluate"
LIST_STAGES = (CONTENT, SPACE)  # the artifact itself: enough for the three lists
LATER_STAGES = (RATING, EVALUATE)  # added to the artifact afterwards, in this order
STAGES = LIST_STAGES + LATER_STAGES
_WHAT = {CONTENT: "content model", SPACE: "collaborative space", RATING: "rating model", EVALUATE: "evaluation"}
_DONE_KEY = {RATING: "collab_meta", EVALUATE: "metrics"}  # the manifest field a finished later stage leaves


def _history_of(h: Any) -> dict:
    return h.as_dict() if hasattr(h, "as_dict") else dict(h or {})


class _Devices:
    """Runs each stage on the chosen device; after a device failure (already retried on smaller batches), once
    more on the CPU, and every later stage there too. Notices go to ``progress`` and the manifest."""

    def __init__(self, cfg: EngineConfig, progress: ProgressFn | None, device: Any = None) -> None:
        import torch

        from ..runtime.device import resolve_device

        self.choice = resolve_device(str(device) if device is not None else cfg.device)
        self.progress = progress
        self.notices: list[str] = []
        self.now: torch.device = self.choice.device
        if self.choice.notice:
            self.notice(self.choice.notice)

    def notice(self, msg: str) -> None:
        self.notices.append(msg)
        emit(self.progress, "device", msg)

    def run(self, stage: str, fn: Callable[[Any], Any]) -> Any:
        import torch

        from ..training.loop import free_device_memory

        what = _WHAT[stage]
        try:
            return fn(self.now)
        except DeviceError as exc:
            failed = self.now
            free_device_memory(failed)
            self.notice(f"Training the {what} failed on {failed.type} ({exc.reason}"
                        f"{f', even with batches of {exc.batch_size}' if exc.batch_size else ''}); "
                        f"retrying it on the CPU{' with fresh memory' if failed.type == 'cpu' else ''}.")
            self.now = torch.device("cpu")
            try:
                return fn(self.now)
            except DeviceError as again:
                raise ConfigError(
                    f"Training the {what} failed on the CPU too ({again.reason}); lower the embedding sizes "
                    "or the batch size, or use a smaller dataset."
                ) from None

    @property
    def name(self) -> str:
        return self.choice.name if self.now == self.choice.device else "cpu"


def _check_trained(trained: Mapping[str, Any] | None, allowed: tuple[str, ...]) -> dict[str, Any]:
    out = dict(trained or {})
    unknown = set(out) - set(allowed)
    if unknown:
        raise ConfigError(f"Unknown build stages {sorted(unknown)}; these are {', '.join(allowed)}.")
    return out


def build_lists(ds: Dataset, cfg: EngineConfig, w: ArtifactWriter, progress: ProgressFn | None = None,
                trained: Mapping[str, Any] | None = None, device: Any = None) -> dict:
    """Run the ``LIST_STAGES`` not already in ``trained`` and write their arrays; returns the manifest's fields.

    Device notices (an unavailable device, out-of-memory retries, a fall back to the CPU) go to ``progress``
    as they happen and into the manifest's ``notices``.
    """
    import torch

    from ..training.cold_start import cold_start
    from ..training.collab import train_space
    from ..training.content import content_to_arrays, train_content
    from ..training.loop import NOTICE_SINK

    done = _check_trained(trained, LIST_STAGES)
    devs = _Devices(cfg, progress, device)
    sink = NOTICE_SINK.set(devs.notice)  # smaller-batch retries inside any stage's training loop
    try:
        timings: dict[str, float] = {}

        def stage(name: str, fn: Callable[[Any], Any]) -> Any:
            if name in done:
                return done[name]
            t = time.perf_counter()
            out = devs.run(name, fn)
            timings[name] = time.perf_counter() - t
            return out

        content = stage(CONTENT, lambda d: train_content(ds, cfg.content, d, progress))
        ca = content_to_arrays(content)
        w.array("content_vectors", ca.pop("content_vectors"))
        w.array("content_mask", ca.pop("content_mask"))
        w.arrays("tfidf", ca)

        space = stage(SPACE, lambda d: train_space(ds, cfg.collab, d, progress))
        # thin movies lean on content (k chosen on a split of these ratings; off: the rated vectors as they are)
        cold = devs.run(SPACE, lambda d: cold_start(ds, content.vectors, content.has_vector, space.vectors,
                                                    space.has_vector, cfg.collab, d))
        w.array("collab_vectors", np.asarray(cold.vectors, dtype=np.float32))
        w.array("collab_mask", np.asarray(cold.has_vector, dtype=bool))
        w.array("collab_weight", np.asarray(cold.weight, dtype=np.float32))
        w.array("collab_rated_share", np.asarray(cold.rated_share, dtype=np.float32))
        w.array("low_confidence", np.asarray(space.low_confidence, dtype=bool))
        if space.rating is not None:  # a rating-trained space: keep its model for the rating stage to reuse
            w.arrays("space_model", {f"rating/{k}": v for k, v in space.rating.state.items()})
        timings["total"] = sum(timings.values())
        w.json("history", {"content": _history_of(content.history), "space": dict(space.info)})
        emit(progress, "store", "Saving the lists' models")
        return {
            "notices": devs.notices,
            "config": cfg.as_dict(),
            "dataset": {"name": ds.name, "source": ds.source, "fingerprint": ds.fingerprint, "n_movies": ds.n_movies,
                        "n_users": ds.n_users, "n_ratings": len(ds.ratings)},
            "device": devs.name,
            "device_requested": devs.choice.requested,
            "torch_threads": torch.get_num_threads(),
            "content_metrics": content.metrics,
            "space": {k: v for k, v in space.info.items() if k != "history"},
            "cold_start": cold.info,
            "space_model_meta": space.rating.meta if space.rating is not None else None,
            "space_model_metrics": space.rating.metrics if space.rating is not None else None,
            "timings": timings,
            "train_seconds": timings["total"],
        }
    finally:
        NOTICE_SINK.reset(sink)


def stage_done(manifest: dict, stage: str) -> bool:
    """Whether an artifact's manifest already holds ``stage``'s result (the list stages always do)."""
    return stage in LIST_STAGES or bool(manifest.get(_DONE_KEY[stage]))


def missing_stages(manifest: dict) -> tuple[str, ...]:
    """The later stages an artifact still lacks, in the order they run."""
    return tuple(s for s in LATER_STAGES if not stage_done(manifest, s))


def _space_of(art: Artifact, cfg: EngineConfig) -> Any:
    """The stored collaborative space, with its rating-trained model when it has one (for reuse)."""
    from ..training.collab import CollabSpace
    from ..training.rating import RatingFit

    fit = None
    meta = art.manifest.get("space_model_meta")
    if meta and art.has("space_model.npz"):
        state = {k.split("/", 1)[1]: v for k, v in art.arrays("space_model").items()}
        fit = RatingFit(state, meta, {}, dict(art.manifest.get("space_model_metrics") or {}))
    return CollabSpace(art.array("collab_vectors"), art.array("collab_mask"), art.array("low_confidence"),
                       dict(art.manifest.get("space") or {}), fit)


def reopen(store: ArtifactStore, art: Artifact) -> Artifact:
    """The artifact with its manifest as on disk now (another process or job may have added to it)."""
    return Artifact(art.path, store.read_manifest(art), art.memory) if art.cached else art


_RATING_PREFIX = "collab_model__"


def stored_collab(art: Artifact) -> Any:
    """The stored space and rating model as one CollabModel (for ``predict``); CacheError when damaged."""
    from ..training.collab import load_collab

    if not stage_done(art.manifest, RATING):
        raise ConfigError("The rating model has not been trained yet; run `train` (or open the dashboard) first.")
    arrays = {"vectors": art.array("collab_vectors"), "has_vector": art.array("collab_mask"),
              "low_confidence": art.array("low_confidence")}
    for fname in art.manifest.get("files", {}):
        if fname.startswith(_RATING_PREFIX) and fname.endswith(".npy"):
            name = fname[: -len(".npy")]
            arrays[name[len(_RATING_PREFIX):].replace("__", "/")] = art.array(name)
    return load_collab(arrays, art.manifest["collab_meta"])


@contextlib.contextmanager
def _stage_lock(store: ArtifactStore, art: Artifact, name: str,
                on_notice: Callable[[str], None] | None) -> Iterator[None]:
    """The per-stage lock, so one process computes a stage; none for an artifact held in memory only (an
    unwritable folder): there is nothing on disk to share, and the store keeps the result in memory."""
    if not art.cached:
        yield
        return
    try:
        lock = store.lock(art.manifest["fingerprint"], name, on_notice)
        lock.__enter__()
    except UnwritableError:
        yield
        return
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def run_stage(store: ArtifactStore, art: Artifact, ds: Dataset, cfg: EngineConfig, stage: str,
              progress: ProgressFn | None = None, trained: Any = None, device: Any = None,
              on_notice: Callable[[str], None] | None = None) -> Artifact:
    """Add one later stage's result to the artifact (once: under a per-stage lock, re-checked after waiting)."""
    from ..evaluation import evaluate
    from ..training.collab import collab_to_arrays, combine, train_rating_model

    if stage not in LATER_STAGES:
        raise ConfigError(f"Unknown later stage {stage!r}; these are {', '.join(LATER_STAGES)}.")
    key = art.manifest["key"]
    with _stage_lock(store, art, f"{key}.{stage}", on_notice):
        current = reopen(store, art)
        if stage_done(current.manifest, stage):
            return current
        devs = _Devices(cfg, progress, device)
        t = time.perf_counter()
        if stage == RATING:
            space = _space_of(current, cfg)
            rating = trained if trained is not None else devs.run(
                RATING, lambda d: train_rating_model(ds, cfg.collab, d, progress, space))
            arrays, meta = collab_to_arrays(combine(space, rating, cfg.collab))
            seconds = time.perf_counter() - t
            updates = {"collab_meta": meta, "collab_metrics": dict(meta["metrics"]), "rating_history": rating.history}
            if current.manifest.get("metrics"):  # an evaluation that ran first (CLI `evaluate`) gets its RMSE now
                metrics = copy.deepcopy(current.manifest["metrics"])
                if _rating_stage_rmse(metrics, updates["collab_metrics"]):
                    updates["metrics"] = metrics
            new = {_RATING_PREFIX + k.replace("/", "__"): v for k, v in arrays.items() if k.startswith("rating/")}
        else:
            content = current.array("content_vectors"), current.array("content_mask")
            emit(progress, EVALUATE, "Measuring the lists on held-out ratings")
            metrics = trained if trained is not None else devs.run(
                EVALUATE, lambda d: evaluate(ds, content[0], content[1], cfg.collab, cfg.eval, d, progress))
            seconds = time.perf_counter() - t
            _rating_stage_rmse(metrics, current.manifest.get("collab_metrics") or {})
            updates, new = {"metrics": metrics}, {}
        timings = dict(reopen(store, current).manifest.get("timings") or {})
        timings[stage] = seconds
        timings["total"] = sum(v for k, v in timings.items() if k in STAGES)
        notices = list(dict.fromkeys([*(current.manifest.get("notices") or []), *devs.notices]))  # once each
        return store.add(current, new, {**updates, "timings": timings, "train_seconds": timings["total"],
                                        "notices": notices}, on_notice=on_notice)


def _rating_stage_rmse(metrics: dict, fit: dict) -> bool:
    """Where the evaluation trained no rating model of its own (large data), the RMSE it shows is the rating
    stage's (``fit``: its ``collab_metrics``): that model on the ratings it held out while it trained. Whichever
    of the two stages finishes second fills it in; says whether it did."""
    rmse = metrics.get("rmse")
    if not isinstance(rmse, dict) or "test_rmse" in rmse or fit.get("val_rmse") is None:
        return False
    rmse.update(validation_rmse=fit["val_rmse"], n_validation=fit.get("n_val"),
                bias=fit.get("baseline_bias_rmse"), global_mean=fit.get("baseline_global_mean_rmse"))
    return True


def complete(store: ArtifactStore, art: Artifact, ds: Dataset, cfg: EngineConfig, progress: ProgressFn | None = None,
             stages: tuple[str, ...] = LATER_STAGES, on_notice: Callable[[str], None] | None = None) -> Artifact:
    """Run every stage of ``stages`` the artifact still lacks, in order; returns the artifact holding them."""
    for stage in LATER_STAGES:
        if stage in stages and not stage_done(art.manifest, stage):
            art = run_stage(store, art, ds, cfg, stage, progress, on_notice=on_notice)
    return art
