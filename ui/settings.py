"""Operator controls on Data & model: releases and downloads, artifact details, training settings, caches, default α.

The settings form lists exactly the fields below, and the values a string field may take come from the
engine's published choices (``engine.setting_choices``), so the form never guesses at the engine.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from ui import cached, engine, jobs
from ui.charts import PLOT_CONFIG, loss_figure
from ui.engine import Explorer, RecsysError
from ui.format import error_markdown, md_text, printable, public_message
from ui.layout import metric_row, show_error
from ui.state import K, keep_choice

# (section, field, label, (lo, hi) for whole numbers or None for a fixed choice); "" = top level
SETTINGS: tuple[tuple[str, str, str, tuple[int, int] | None], ...] = (
    ("content", "code_dim", "Embedding size", (2, 2048)),
    ("content", "hidden_dim", "Hidden layer width", (0, 4096)),
    ("content", "epochs", "Max epochs", (1, 1000)),
    ("content", "loss", "Loss", None),
    ("collab", "space", "Model kind", None),
    ("collab", "dim", "Embedding size", (1, 4096)),
    ("collab", "rating_model", "Rating model (RMSE)", None),
    ("collab", "rating_dim", "Rating model size", (1, 1024)),
    ("", "device", "Device", None),
)
SECTION_LABELS = {"content": "Content (autoencoder)", "collab": "Collaborative", "": "Where to train"}


def training_settings(config_json: str) -> str:
    """The few settings people change (model kind, sizes, epochs, device), as form widgets; returns JSON."""
    data = json.loads(cached.config_to_json(cached.config_from_json(config_json)))
    choices = engine.setting_choices()
    sections = list(dict.fromkeys(s for s, *_ in SETTINGS))
    cols = st.columns(len(sections))
    for col, sec in zip(cols, sections, strict=True):
        with col:
            st.markdown(f"*{SECTION_LABELS[sec]}*")
            target = data[sec] if sec else data
            for s, name, label, bounds in SETTINGS:
                if s != sec or name not in target:
                    continue
                value = target[name]
                wkey = f"w_set_{sec}_{name}" if sec else f"w_set_{name}"
                if bounds is not None:
                    lo, hi = bounds
                    target[name] = int(st.number_input(label, lo, hi, min(max(int(value), lo), hi), key=wkey))
                else:
                    opts = list(choices.get(f"{sec}.{name}" if sec else name, ()))
                    if str(value) not in opts:
                        opts.append(str(value))  # e.g. "cuda:1" set by the operator's config
                    target[name] = st.selectbox(label, opts, index=opts.index(str(value)), key=wkey,
                                                help="auto = GPU when there is one, else CPU" if name == "device"
                                                else None)
    st.caption("Training stops early when validation stops improving. Training again with the same settings "
               "reuses the cached model; two people pressing Train at once get one training.")
    return json.dumps(data, sort_keys=True)


def train_and_use(dataset: str, config_json: str) -> None:
    """Train with these settings (progress shown), then make them this session's model."""
    try:
        cfg_json = cached.config_to_json(cached.config_from_json(config_json))
        cached.config_from_json(cfg_json).validate()
        jobs.build(dataset, cached.dataset_source(dataset), cfg_json, retry=True)
    except RecsysError as exc:
        show_error(exc, "Training did not run")
        return
    configs = dict(st.session_state[K.CONFIG])
    if cfg_json == cached.DEFAULT_CONFIG_JSON:
        configs.pop(dataset, None)
    else:
        configs[dataset] = cfg_json
    st.session_state[K.CONFIG] = configs
    st.session_state[K.ALPHA] = None  # the new model's default blend
    st.session_state["flash"] = "Every page uses this model as soon as the server has built it."
    st.rerun()  # every page now follows the server's build of these settings


def release_table() -> None:
    """The registry: what each release holds, its size, and whether it is on this machine."""
    rows = engine.releases()
    df = pd.DataFrame({
        "Name": [r["name"] for r in rows],
        "Release": [r["title"] for r in rows],
        "Here": ["✓ bundled" if r["bundled"] else ("✓" if r["present"] else "—") for r in rows],
        "Size (MB)": [r["approx_mb"] for r in rows],
        "What it holds": [r["description"] for r in rows],
    })
    st.dataframe(df, hide_index=True, key="tbl_releases", column_config={
        "Size (MB)": st.column_config.NumberColumn("Size (MB)", format="%.1f", width="small"),
        "What it holds": st.column_config.TextColumn("What it holds", width="large"),
    })
    st.caption("Downloads go to the server's data folder (RECSYS_DATA_DIR). MovieLens data is © GroupLens, "
               "for non-commercial use; cite Harper & Konstan (2015).")


def download_release() -> None:
    """Pick a release that is not here yet and download it with a progress bar."""
    missing = [r["name"] for r in engine.releases() if not r["present"]]
    if not missing:
        st.caption("Every release is on this machine.")
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    keep_choice("w_dl_pick", missing)  # a release downloaded since is no longer offered
    name = left.selectbox("Download a release", missing, key="w_dl_pick",
                          format_func=lambda n: f"{n} · about {engine.release_mb(n):g} MB")
    if right.button("Download", key="btn_download", icon="⬇️", width="stretch"):
        bar = st.progress(0.0, text=f"Downloading {name}…")

        def on_bytes(done: int, total: int | None) -> None:
            if total:
                bar.progress(min(1.0, done / total), text=f"{name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB")
            else:
                bar.progress(0.0, text=f"{name}: {done / 1e6:.1f} MB")

        try:
            engine.download_release(name, progress=on_bytes)
        except RecsysError as exc:
            bar.empty()
            st.error(f"Download failed: {error_markdown(exc)}", icon="⚠️")
            return
        bar.progress(1.0, text=f"{name} is ready")
        cached.dataset_choices.clear()
        st.success(f"{md_text(name)} is on this machine: pick it in the sidebar's Dataset list "
                   "(its first open trains a model, with progress).")


def _public_manifest(m: Any) -> Any:
    """The manifest as visitors may see it: server paths cut down to dataset/file."""
    if isinstance(m, dict):
        return {str(k): _public_manifest(v) for k, v in m.items()}
    if isinstance(m, (list, tuple)):
        return [_public_manifest(v) for v in m]
    if isinstance(m, str):
        return public_message(m, 500)
    return m


def artifact_details(ex: Explorer) -> None:
    """Where and how this model was trained: device, time, size, when (the store's manifest keys)."""
    m = dict(ex.manifest or {})
    secs = m.get("train_seconds", m.get("build_seconds"))
    size = m.get("size_bytes")
    created = printable(m.get("created", "?"))[:19].replace("T", " ")
    metric_row([
        ("Device", printable(m.get("device", "?"), 20), None),
        ("Training time", f"{float(secs):.0f} s" if isinstance(secs, (int, float)) else "?", None),
        ("Artifact size", f"{size / 1e6:.1f} MB" if isinstance(size, (int, float)) else "?", None),
        # the date at the metric's size; the time is in its help and in the manifest below
        ("Trained", created[:10], f"{created} (UTC)" if len(created) > 10 else None),
    ])
    with st.expander("All artifact details (manifest)"):
        st.json(_public_manifest(m), expanded=1)


def loss_curves(ex: Explorer) -> None:
    """Training and validation loss per epoch, one chart per model."""
    hist = dict(ex.history or {})
    names = {"content": "Content autoencoder", "collab": "Collaborative model", "rating": "Rating model"}
    items = [(k, v) for k, v in hist.items() if isinstance(v, dict) and (v.get("train") or v.get("val"))]
    if not items:
        st.caption("No training history stored with this model.")
        return
    cols = st.columns(min(3, len(items)))
    for i, (name, h) in enumerate(items):
        with cols[i % len(cols)]:
            st.plotly_chart(loss_figure(h, names.get(name, str(name).title()) + " loss"), config=PLOT_CONFIG,
                            key=f"loss_{name}")
            best = h.get("best_epoch")
            if best:
                st.caption(f"Best epoch {best} of {len(h.get('train') or [])}"
                           + (f" · {h['seconds']:.1f} s" if isinstance(h.get("seconds"), (int, float)) else ""))


def cache_controls() -> None:
    """Drop the dashboard's in-memory caches (the trained artifacts on disk stay)."""
    if st.button("Clear the dashboard's caches", key="btn_clear_cache", icon="🧹",
                 help="Re-reads models and maps from the artifact cache on the next view; nothing is retrained."):
        st.cache_data.clear()
        cached.forget_explorer()  # not st.cache_resource.clear(): that would orphan the server's running jobs
        st.success("Cleared. Models and maps are re-read from disk on the next view.")
    st.caption("Trained artifacts live under the artifacts folder (RECSYS_ARTIFACTS_DIR); "
               "`make clean-cache` deletes them.")


def set_alpha(alpha: float) -> None:
    """Move the shared blend slider (widgets re-seed from the view)."""
    st.session_state[K.ALPHA] = round(float(alpha), 2)
    st.session_state[K.ALPHA_AUTO] = None
    st.session_state.pop(K.W_ALPHA, None)


def make_default_alpha(ex: Explorer, alpha: float | None) -> None:
    """Persist alpha as the artifact's default (None: hand it back to the evaluation's) and keep it in the URL."""
    ex.set_default_alpha(None if alpha is None else round(float(alpha), 2))
    st.session_state[K.ALPHA] = st.session_state["default_alpha_saved"] = round(float(ex.default_alpha), 2)


def job_queue(can_cancel: bool) -> None:
    """The server's jobs: running, waiting in line, and recently finished; the operator can cancel."""
    rows = jobs.queue_table()
    if not rows:
        st.caption("No jobs have run on this server since it started.")
        return
    st.dataframe(pd.DataFrame([{k: v for k, v in r.items() if k != "key"} for r in rows]), hide_index=True,
                 key="tbl_jobs", column_config={"job": st.column_config.TextColumn("Job", width="large")})
    active = [r for r in rows if r["status"] in (engine.JOB_RUNNING, engine.JOB_QUEUED)]
    if can_cancel and active:
        labels = {f"{r['job']} ({r['status']})": r["key"] for r in active}
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        keep_choice("w_cancel_job", list(labels))  # a job's label changes with its status
        pick = left.selectbox("Cancel a job", list(labels), key="w_cancel_job")
        if right.button("Cancel", key="btn_cancel_job", icon="✋") and pick in labels:
            jobs.cancel(labels[pick])
            st.toast("Cancelling: the job stops at its next step and leaves nothing half-written.")
