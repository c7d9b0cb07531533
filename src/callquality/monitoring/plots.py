"""Static monitoring charts (PNG, with matplotlib): performance per window, drift per feature.

matplotlib is optional: ``pip install 'callquality[monitoring]'``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._extras import require
from ..exceptions import ConfigurationError

__all__ = ["plot_drift", "plot_metrics"]


def _pyplot() -> Any:
    mpl = require("matplotlib", "monitoring", "callquality.monitoring.plots")
    mpl.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write the figure atomically (temporary file in the same folder, then rename)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def plot_metrics(metrics: pd.DataFrame, path: str | os.PathLike[str], *,
                 title: str = "Performance per window",
                 metrics_shown: tuple[str, ...] = ("f1", "accuracy", "roc_auc"),
                 thresholds: dict[str, float] | None = None) -> Path:
    """Line chart of ``metrics_shown`` per window (from :meth:`Monitor.metrics`, unsegmented)
    above bars of the prediction and actual counts; returns the PNG path.

    Args:
        metrics: :meth:`Monitor.metrics` output (rows with ``segment`` set are ignored).
        path: the PNG to write (atomically).
        title: figure title.
        metrics_shown: metric columns to draw (values in [0, 1]).
        thresholds: horizontal dashed lines, e.g. ``{"f1": 0.6}`` (alert thresholds).
    """
    plt = _pyplot()
    if "segment" in metrics.columns:
        metrics = metrics[metrics["segment"].isna()]
    if metrics.empty:
        raise ConfigurationError("plot_metrics: no unsegmented windows to plot")
    starts = pd.to_datetime(metrics["window_start"])
    fmt = "%Y-%m-%d" if (starts.dt.hour == 0).all() and (starts.dt.minute == 0).all() \
        else "%Y-%m-%d %H:%M"
    labels = [t.strftime(fmt) for t in starts]
    x = np.arange(len(labels))
    fig, (ax, axc) = plt.subplots(2, 1, figsize=(max(6.0, 0.45 * len(x) + 3), 5),
                                  sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for m in metrics_shown:
        ax.plot(x, metrics[m], marker="o", label=m)
    for name, value in (thresholds or {}).items():
        ax.axhline(value, linestyle="--", color="grey", linewidth=1)
        ax.annotate(f"{name} alert < {value:g}", (x[0], value), fontsize=8,
                    xytext=(2, 3), textcoords="offset points", color="grey")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("metric")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    axc.bar(x, metrics["count"], width=0.6, label="predictions", color="#9ab")
    axc.bar(x, metrics["n_actual"], width=0.3, label="with actual", color="#357")
    axc.set_ylabel("count")
    axc.legend(loc="upper left", fontsize=8)
    step = max(1, len(x) // 15)
    axc.set_xticks(x[::step], labels[::step], rotation=30, ha="right", fontsize=8)
    axc.set_xlabel("window start (UTC)")
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_drift(drift: pd.DataFrame, path: str | os.PathLike[str], *, top: int = 20,
               threshold: float | None = None, title: str | None = None) -> Path:
    """Heat map of drift per feature (rows) and window (columns), from :meth:`Monitor.drift`;
    the ``top`` features with the largest drift in any window; returns the PNG path.

    Args:
        drift: :meth:`Monitor.drift` output (one method).
        path: the PNG to write (atomically).
        top: how many features to show.
        threshold: cells above it are outlined (the alert threshold).
        title: figure title (default names the method).
    """
    plt = _pyplot()
    if drift.empty:
        raise ConfigurationError("plot_drift: no drift rows to plot")
    table = drift.pivot_table(index="feature", columns="window_start", values="value",
                              aggfunc="first")
    order = table.abs().max(axis=1).sort_values(ascending=False).index[:top]
    table = table.loc[order]
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * table.shape[1], 0.8 + 0.28 * len(table)))
    data = table.to_numpy(dtype=float)
    im = ax.imshow(np.abs(data), aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(table)), [str(f) for f in table.index], fontsize=8)
    ax.set_xticks(range(table.shape[1]),
                  [pd.Timestamp(c).strftime("%Y-%m-%d") for c in table.columns], fontsize=8,
                  rotation=30, ha="right")
    for (i, j), v in np.ndenumerate(data):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(v) < np.nanmax(np.abs(data)) * 0.6 else "black")
            if threshold is not None and abs(v) > threshold:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                           edgecolor="red", linewidth=1.5))
    method = str(drift["method"].iloc[0])
    ax.set_title(title or f"Drift per feature and window ({method})")
    fig.colorbar(im, ax=ax, label=f"|{method}|")
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
