"""The evaluation as the Tune and Data & model pages show it: charts across α and the numbers behind them."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from ui.charts import PLOT_CONFIG, metric_figure
from ui.format import BASELINE_LABELS, md_text, metric_base, metric_help, metric_label, printable

_ORDER = ("recall@20", "ndcg@20", "genre_coherence", "popularity", "coverage", "cold_recall@20")


def metrics_view(m: dict[str, Any] | None) -> dict[str, Any] | None:
    """The engine's evaluation as frames the charts use; None when the model has none."""
    if not m or not m.get("alphas") or not isinstance(m.get("hybrid"), dict):
        return None
    alphas = [float(a) for a in m["alphas"]]
    hybrid = pd.DataFrame({k: v for k, v in m["hybrid"].items() if isinstance(v, list) and len(v) == len(alphas)},
                          index=pd.Index(alphas, name="alpha"))
    base = m.get("baselines") or {}
    baselines = {printable(BASELINE_LABELS.get(n, n), 40): v for n, v in base.items()
                 if isinstance(v, dict) and "skipped" not in v}
    skipped = {printable(BASELINE_LABELS.get(n, n), 40): v["skipped"] for n, v in base.items()
               if isinstance(v, dict) and "skipped" in v}
    order = [c for c in _ORDER if c in hybrid.columns] + [c for c in hybrid.columns if c not in _ORDER]
    return {
        "k": int(m.get("k", 20)),
        "alphas": alphas,
        "hybrid": hybrid[order],
        "content": dict(m.get("content") or {}),
        "collab": dict(m.get("collab") or {}),
        "baselines": baselines,
        "skipped": skipped,
        "best_metric": next((c for c in hybrid.columns if c.startswith("recall")), order[0] if order else ""),
        "rmse": dict(m.get("rmse") or {}),
        "n_users": m.get("n_users"),
    }


def metric_charts(v: dict[str, Any], alpha: float, default: float) -> None:
    """One small line chart per metric against alpha, the model's default and the current alpha marked."""
    cols = st.columns(3)
    for i, metric in enumerate(v["hybrid"].columns):
        with cols[i % 3]:
            st.plotly_chart(metric_figure(v, metric, alpha, default), config=PLOT_CONFIG, key=f"metric_{metric_base(metric)}")
            st.caption(metric_help(metric))


def metric_tables(v: dict[str, Any]) -> None:
    """The numbers: blend per alpha, then the pure lists and the baselines, plus rating RMSE."""
    k = v["k"]
    h = v["hybrid"].copy()
    h.columns = [metric_label(c, k) for c in h.columns]
    st.markdown("**Blend across α**")
    st.dataframe(h.reset_index().rename(columns={"alpha": "α"}).round(4), hide_index=True, key="tbl_metrics_alpha")
    rows = {"Content only": v["content"], "Collaborative only": v["collab"], **v["baselines"]}
    table = pd.DataFrame(rows).T
    table = table[[c for c in v["hybrid"].columns if c in table.columns]]
    table.columns = [metric_label(c, k) for c in table.columns]
    st.markdown("**Pure lists next to the baselines**")
    st.dataframe(table.round(4), key="tbl_metrics_baselines")
    for name, why in v["skipped"].items():
        st.caption(f"{md_text(name)} skipped: {md_text(why, 300)}")
    r = v["rmse"]
    # the evaluation's own held-out figure, or (large data) the rating model's validation figure standing in
    rmse, held_out = ((r["test_rmse"], f"{int(r.get('n_test') or 0):,} held-out ratings")
                      if r.get("test_rmse") is not None else
                      (r.get("validation_rmse"), f"the rating model's own {int(r.get('n_validation') or 0):,} "
                                                 "validation ratings, held out while it trained"))
    if rmse is not None:
        st.markdown(
            f"**Rating prediction** ({md_text(r.get('model', 'model'), 40)}, {held_out}): RMSE {float(rmse):.3f} · "
            f"global-mean baseline {float(r.get('global_mean') or float('nan')):.3f} · "
            f"user+movie bias baseline {float(r.get('bias') or float('nan')):.3f} (lower is better)"
        )
    if r.get("skipped"):
        st.caption(f"Rating model: {md_text(r['skipped'], 300)}.")


def thin_places_line(m: dict[str, Any] | None, strength: float, content_weight: float) -> str:
    """What thin places do to taste lists (the settings'), and did to the evaluated ones, in one sentence."""
    if strength <= 0:
        return "Thin places: off (taste lists rank rarely rated movies like any other)."
    tp = (m or {}).get("thin_places") or {}
    head = (f"Thin places (strength {strength:g}): a taste list gives rarely rated movies the share they have "
            f"among the movies the user liked, filled by what their nearest raters liked plus content x "
            f"{content_weight:.2f}")
    k = int((m or {}).get("k", 20))
    w, wo = tp.get("with") or {}, tp.get("without") or {}
    rk, ck = f"recall@{k}", f"cold_recall@{k}"
    if not tp.get("enabled") or not all(isinstance(d.get(x), (int, float)) for d in (w, wo) for x in (rk, ck)):
        return head + "."
    return (head + f"; measured at α = {float(tp.get('alpha', 0)):g} on {int(tp.get('users_with_places', 0)):,} of "
            f"{int(tp.get('n_users', 0)):,} held-out users: cold-start recall@{k} {wo[ck]:.3f} → {w[ck]:.3f}, "
            f"recall@{k} {wo[rk]:.4f} → {w[rk]:.4f}.")
