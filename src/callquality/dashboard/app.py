"""The Streamlit dashboard script (``callquality dashboard --store ./cq-store``).

Run directly with ``streamlit run src/callquality/dashboard/app.py -- --store ./cq-store``.
Options after ``--`` (or the ``CALLQUALITY_*`` environment variables) are read by
:meth:`callquality.dashboard.data.DashboardConfig.from_args`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from callquality.coaching import CoachingReport, Suggestion
from callquality.dashboard.data import (
    CALL_METRICS,
    CallDetails,
    DashboardConfig,
    call_details,
    drift_matrix,
    feature_table,
    headline,
    list_calls,
    load_monitoring,
    resolve_model,
)
from callquality.exceptions import CallQualityError
from callquality.serving import LoadedModel

_ALERT: dict[str, Callable[..., Any]] = {"high": st.error, "medium": st.warning,
                                         "positive": st.success}


def _config() -> DashboardConfig:
    """Options after ``--`` when run by ``streamlit run app.py -- ...``, else the
    environment (AppTest, embedding)."""
    argv = sys.argv[1:] if Path(sys.argv[0]).name == Path(__file__).name else []
    return DashboardConfig.from_args(argv)


@st.cache_resource(show_spinner=False)
def _backend(config: DashboardConfig) -> Any:
    return config.connect()


@st.cache_resource(show_spinner=False)
def _model_cache(config: DashboardConfig) -> dict[tuple[str, str, str], LoadedModel]:
    return {}


def _model(config: DashboardConfig, backend: Any) -> tuple[LoadedModel | None, str | None]:
    try:
        return resolve_model(backend, config.model, _model_cache(config)), None
    except CallQualityError as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _table(df: pd.DataFrame, **kwargs: Any) -> None:
    """``st.dataframe`` at full width (``width="stretch"``, or the older
    ``use_container_width`` on Streamlit before 1.46)."""
    try:
        st.dataframe(df, width="stretch", **kwargs)
    except (TypeError, st.errors.StreamlitAPIException):
        st.dataframe(df, use_container_width=True, **kwargs)


def _card(s: Suggestion) -> None:
    tag = " · model driver" if s.driver else ""
    _ALERT[s.priority](f"**{s.title}** ({s.priority}{tag})  \n{s.message}")


def _coaching(report: CoachingReport) -> None:
    st.subheader("Coaching")
    if report.explanation:
        st.markdown(f"**Model:** {report.explanation}")
    if not report.suggestions:
        st.info("No coaching: the store holds no features for this call.")
    for s in report.suggestions:
        _card(s)
    if report.skipped:
        st.caption("Skipped (features not in the store): " + ", ".join(report.skipped))


def _call_view(details: CallDetails, model: LoadedModel | None, model_error: str | None) -> None:
    h = headline(details)
    p = details.prediction
    if model is not None:
        scored = "" if p is None else f"score {p.score:.3f}, "
        st.caption(f"Model {model.model_name}/{model.version} ({model.ref}): {scored}"
                   f"threshold {model.threshold:.3f}")
    elif model_error:
        st.warning(f"No prediction: {model_error}")
    cols = st.columns(5)
    cols[0].metric("Predicted quality", h["quality"])
    cols[1].metric("Confidence", h["confidence"])
    cols[2].metric("Stress", h["stress"])
    cols[3].metric("Customer sentiment", h["sentiment"])
    cols[4].metric("Interruptions", h["interruptions"])
    left, right = st.columns([3, 2])
    with left:
        _coaching(details.report)
    with right:
        st.subheader("Call metrics")
        metrics = feature_table(details)
        key = metrics[metrics["feature"].isin(CALL_METRICS)]
        _table(key, hide_index=True)
        if details.report.drivers:
            st.subheader("What drove the prediction")
            st.bar_chart(pd.DataFrame({"contribution (log-odds)": [
                d.contribution for d in details.report.drivers]},
                index=[d.feature for d in details.report.drivers]))
    with st.expander(f"All features ({len(metrics)})"):
        _table(metrics, hide_index=True)


def _calls_tab(config: DashboardConfig, backend: Any) -> None:
    model, model_error = _model(config, backend)
    try:
        calls = list_calls(backend, model_name=None if model is None else model.model_name)
    except CallQualityError as exc:
        st.error(f"Cannot list the calls: {exc}")
        return
    if len(calls) == 0:
        st.info("No calls in the store yet. Run the pipeline (e.g. `python examples/demo.py`)"
                " to extract and ingest features.")
        return
    ids = calls["call_id"].tolist()
    current = st.session_state.get("call")
    if current not in ids:
        st.session_state["call"] = ids[0]
    call_id = st.selectbox("Call", ids, key="call",
                           help="Newest first; the list refreshes with the store")
    details = call_details(backend, str(call_id), model, model_error=model_error)
    _call_view(details, model, model_error)
    with st.expander(f"Calls in the store ({len(calls)})"):
        _table(calls, hide_index=True)


def _monitoring_tab(config: DashboardConfig, backend: Any) -> None:
    window = st.selectbox("Window", ["1h", "1D", "7D"], index=1, key="window")
    view = load_monitoring(backend, config.model, window=str(window or "1D"))
    if not view.available:
        st.info(view.reason or "monitoring not available")
        return
    if view.reason:
        st.warning(view.reason)
    st.subheader("Performance per window")
    if view.metrics is not None and len(view.metrics):
        _table(view.metrics, hide_index=True)
        series = view.metrics.set_index("window_start")[
            [c for c in ("accuracy", "f1", "roc_auc") if c in view.metrics.columns]]
        if len(series.columns):
            st.line_chart(series)
    else:
        st.caption("No predictions in the period.")
    st.subheader("Drift per feature")
    matrix = drift_matrix(view.drift) if view.drift is not None else pd.DataFrame()
    if len(matrix):
        _table(matrix)
    else:
        st.caption("No drift computed (no baseline or no predictions).")
    st.subheader("Alerts")
    if view.alerts is not None and len(view.alerts):
        _table(view.alerts, hide_index=True)
    else:
        st.success("No alerts.")


def main() -> None:
    """Render the dashboard."""
    st.set_page_config(page_title="callquality", page_icon="📞", layout="wide")
    st.title("Call quality")
    try:
        config = _config()
        backend = _backend(config)
    except CallQualityError as exc:
        st.error(str(exc))
        st.stop()
        return
    with st.sidebar:
        st.markdown(f"**Store:** `{config.store or config.backend}`  \n"
                    f"**Model:** `{config.model}`")
        auto = st.toggle("Auto-refresh", value=config.refresh_s > 0, key="auto")
        every = st.number_input("Every (s)", min_value=2.0, value=max(config.refresh_s, 2.0),
                                step=5.0, key="every", disabled=not auto)
        if st.button("Refresh now"):
            st.rerun()

    fragment = getattr(st, "fragment", None)

    def live() -> None:
        st.caption(f"Updated {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
        calls_tab, monitoring_tab = st.tabs(["Calls", "Monitoring"])
        with calls_tab:
            _calls_tab(config, backend)
        with monitoring_tab:
            _monitoring_tab(config, backend)

    if fragment is not None and auto:
        fragment(run_every=float(every))(live)()
    else:
        live()


main()
