"""Distribution drift between a reference sample and a current sample.

Five measures, each a plain function of two samples (``reference`` first):

===================  ========================================================  ==========
method               definition                                                 units
===================  ========================================================  ==========
``psi``              population stability index over the reference's           none
                     quantile bins: ``sum_i (q_i - p_i) ln(q_i / p_i)``
``ks``               two-sample Kolmogorov-Smirnov statistic                   none, [0, 1]
                     ``sup_x |F_ref(x) - F_cur(x)|`` (``scipy.stats.ks_2samp``)
``wasserstein``      Wasserstein-1 (earth mover's) distance                    feature's
                     ``integral |F_ref(x) - F_cur(x)| dx``                       units
                     (``scipy.stats.wasserstein_distance``)
``jensen_shannon``   Jensen-Shannon distance of the binned shares, natural     none,
                     log (``scipy.spatial.distance.jensenshannon``)              [0, sqrt(ln 2)]
``difference_of_     ``mean(current) - mean(reference)``                       feature's
means``                                                                          units
===================  ========================================================  ==========

Binning (``psi`` and ``jensen_shannon`` on numeric samples): the inner edges are the
reference's quantiles at ``k / bins`` for ``k = 1 .. bins - 1`` (``numpy.quantile``, linear
interpolation), duplicate edges (ties) merged, the outer bins open-ended; a value ``x`` falls in
bin ``i`` when ``edge_{i-1} <= x < edge_i``. Shares are counts over the sample size; an empty
share (0) is replaced by ``eps`` (default ``1e-4``) so the logarithms stay finite; the shares are
not renormalised for ``psi`` (the textbook index), while ``jensen_shannon`` normalises them as
scipy does.

Categorical samples (object, string or category dtype, on either side) are compared by their
category shares (the union of the categories seen in either sample); only ``psi`` and
``jensen_shannon`` apply.

Missing values (``NaN``, ``None``, ``pd.NA``; and ``±inf`` in numeric samples) are dropped and
counted (:class:`DriftResult`'s ``nan_reference`` / ``nan_current``).

Common thresholds for PSI: < 0.1 no significant change, 0.1-0.25 moderate, > 0.25 major.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError, MonitoringError

__all__ = [
    "CATEGORICAL_METHODS",
    "DRIFT_TABLE_COLUMNS",
    "METHODS",
    "NON_FEATURE_COLUMNS",
    "DriftResult",
    "PreparedReference",
    "binned_shares",
    "drift",
    "drift_result",
    "drift_table",
    "is_categorical",
    "prepare_reference",
    "quantile_edges",
]

#: Drift measures accepted by ``method``.
METHODS: tuple[str, ...] = ("psi", "ks", "wasserstein", "jensen_shannon", "difference_of_means")
#: Measures defined for categorical samples.
CATEGORICAL_METHODS: tuple[str, ...] = ("psi", "jensen_shannon")
#: Columns of :func:`drift_table`.
DRIFT_TABLE_COLUMNS: tuple[str, ...] = ("feature", "method", "value", "n_reference",
                                        "n_current", "nan_reference", "nan_current")
#: Bookkeeping columns that :func:`drift_table` never treats as features (``score`` is kept:
#: its drift is the prediction drift).
NON_FEATURE_COLUMNS: frozenset[str] = frozenset({
    "call_id", "agent_id", "prediction_id", "model_name", "model_version", "threshold",
    "predicted_class", "predicted_at", "actual", "actual_at", "processed_at", "labeled_at",
    "error", "period", "window_start", "window_end", "segment",
})


@dataclass(frozen=True)
class DriftResult:
    """One drift measurement.

    Attributes:
        method: the measure (one of :data:`METHODS`).
        value: the drift (units: see the module table); ``NaN`` when a sample is empty after
            dropping missing values (only from :func:`drift_table`).
        n_reference, n_current: values compared (missing values excluded).
        nan_reference, nan_current: missing values dropped.
        kind: ``"numeric"`` or ``"categorical"``.
    """

    method: str
    value: float
    n_reference: int
    n_current: int
    nan_reference: int
    nan_current: int
    kind: str

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict."""
        return asdict(self)


# --------------------------------------------------------------------------- inputs


def is_categorical(values: Any) -> bool:
    """Whether a sample is categorical: a pandas object, string or category dtype, or a numpy
    array of strings or objects."""
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        values = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
        dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    if pd.api.types.is_bool_dtype(dtype):
        return False
    return bool(pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype))


def _to_series(values: Any, what: str, call: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.DataFrame):
        raise ConfigurationError(f"{call}: {what} must be one column (a Series or 1-d array), "
                                 f"got a DataFrame with columns {list(values.columns)[:5]}")
    if isinstance(values, (str, bytes)) or not isinstance(values, (np.ndarray, Sequence,
                                                                    Iterable)):
        raise ConfigurationError(f"{call}: {what} must be a 1-d array-like, got "
                                 f"{type(values).__name__}")
    arr = np.asarray(values if isinstance(values, np.ndarray) else list(values))
    if arr.ndim != 1:
        raise ConfigurationError(f"{call}: {what} must be 1-d, got shape {arr.shape}")
    return pd.Series(arr)


def _numeric(series: pd.Series, what: str, call: str) -> tuple[np.ndarray, int]:
    """Finite float64 values and the number of missing/non-finite values dropped."""
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype("float64")
    try:
        arr = series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise MonitoringError(f"{call}: {what} is not numeric ({exc})") from exc
    ok = np.isfinite(arr)
    if ok.all():
        return arr, 0
    return arr[ok], int(len(arr) - ok.sum())


def _labels(series: pd.Series) -> tuple[np.ndarray, int]:
    """Non-missing values as strings, and the number of missing values dropped."""
    missing = series.isna().to_numpy()
    kept = series[~missing]
    return kept.astype(str).to_numpy(dtype=object), int(missing.sum())


def _check_method(method: str, bins: int, eps: float, call: str) -> None:
    if method not in METHODS:
        raise ConfigurationError(f"{call}: unknown method {method!r}; use one of {list(METHODS)}")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ConfigurationError(f"{call}: bins must be an integer >= 2, got {bins!r}")
    if not isinstance(eps, (int, float)) or not 0.0 <= float(eps) < 1.0:
        raise ConfigurationError(f"{call}: eps must be in [0, 1), got {eps!r}")


# --------------------------------------------------------------------------- binning


def quantile_edges(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges: the reference's quantiles at ``k / bins``, ``k = 1 .. bins - 1``
    (linear interpolation), duplicates merged; ``len <= bins - 1``. Units: the sample's."""
    q = np.arange(1, bins, dtype=np.float64) / bins
    return np.unique(np.quantile(np.asarray(reference, dtype=np.float64), q))


def binned_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each bin of ``edges`` (inner edges; open outer bins; bin ``i``
    holds ``edges[i-1] <= x < edges[i]``); ``len(edges) + 1`` shares summing to 1."""
    idx = np.searchsorted(edges, values, side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return counts / float(len(values))


def _category_shares(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cats, inverse = np.unique(np.concatenate([ref, cur]), return_inverse=True)
    n = len(cats)
    p = np.bincount(inverse[:len(ref)], minlength=n) / float(len(ref))
    q = np.bincount(inverse[len(ref):], minlength=n) / float(len(cur))
    return p, q


def _floor(shares: np.ndarray, eps: float) -> np.ndarray:
    return np.where(shares == 0.0, eps, shares)


def _psi(p: np.ndarray, q: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (q - p) * np.log(q / p)
    terms = np.where((p == 0) & (q == 0), 0.0, terms)
    return float(np.sum(terms))


def _kl(a: np.ndarray, b: np.ndarray) -> float:
    # sum a ln(a / b) with 0 ln 0 = 0 (b > 0 wherever a > 0 here: b is a mixture with a)
    pos = a > 0
    return float(np.sum(a[pos] * np.log(a[pos] / b[pos])))


def _jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2.0
    return float(np.sqrt(max(0.0, (_kl(p, m) + _kl(q, m)) / 2.0)))


# --------------------------------------------------------------------------- numeric measures


def _merged_cdfs(a_sorted: np.ndarray, b_sorted: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(grid, F_a, F_b)``: both samples merged in order, and each sample's empirical CDF
    counted up to and including each grid point. At the last of a run of equal grid values the
    CDFs are exact (``P(X <= x)``); inside a run they are partial, which matters nowhere below:
    the integral weights them by a zero step and the supremum reads run ends only."""
    both = np.concatenate([a_sorted, b_sorted])
    order = np.argsort(both, kind="stable")  # two sorted runs: a linear-time merge
    grid = both[order]
    count_a = np.cumsum(order < len(a_sorted))
    count_b = np.arange(1, len(grid) + 1) - count_a
    return grid, count_a / float(len(a_sorted)), count_b / float(len(b_sorted))


def _ks(a_sorted: np.ndarray, b_sorted: np.ndarray) -> float:
    grid, fa, fb = _merged_cdfs(a_sorted, b_sorted)
    run_end = np.r_[grid[1:] != grid[:-1], True]
    return float(np.max(np.abs(fa - fb)[run_end]))


def _wasserstein(a_sorted: np.ndarray, b_sorted: np.ndarray) -> float:
    # integral of |F_a - F_b| over the merged support: both ECDFs are step functions that are
    # constant between consecutive merged points
    grid, fa, fb = _merged_cdfs(a_sorted, b_sorted)
    return float(np.sum(np.abs(fa - fb)[:-1] * np.diff(grid)))


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class PreparedReference:
    """A reference sample made ready for repeated comparisons (one feature, one method):
    cleaned values, and the sorted values, the bin edges and shares, or the categories it
    needs. Built by :func:`prepare_reference`; :meth:`compare` measures one current sample."""

    method: str
    kind: str
    values: np.ndarray
    n_missing: int
    bins: int
    eps: float
    edges: np.ndarray | None = None
    shares: np.ndarray | None = None
    sorted_values: np.ndarray | None = None
    call: str = "drift"

    def compare(self, current: Any) -> DriftResult:
        """The drift of ``current`` against this reference (see :func:`drift_result`)."""
        call = self.call
        cur_s = _to_series(current, "current", call)
        if self.kind == "categorical":
            cur, nan_cur = _labels(cur_s)
        else:
            cur, nan_cur = _numeric(cur_s, "current", call)
        if len(cur) == 0:
            raise MonitoringError(f"{call}: the current sample has no values"
                                  f"{f' ({nan_cur} missing dropped)' if nan_cur else ''}")
        method, eps = self.method, self.eps
        if self.kind == "categorical":
            p, q = _category_shares(self.values, cur)
            value = _psi(_floor(p, eps), _floor(q, eps)) if method == "psi" else \
                _jensen_shannon(_floor(p, eps), _floor(q, eps))
        elif method in ("psi", "jensen_shannon"):
            assert self.edges is not None and self.shares is not None
            q = _floor(binned_shares(cur, self.edges), eps)
            value = _psi(self.shares, q) if method == "psi" else \
                _jensen_shannon(self.shares, q)
        elif method == "difference_of_means":
            value = float(np.mean(cur) - np.mean(self.values))
        else:
            assert self.sorted_values is not None
            b = np.sort(cur)
            value = _ks(self.sorted_values, b) if method == "ks" else \
                _wasserstein(self.sorted_values, b)
        return DriftResult(method=method, value=value, n_reference=len(self.values),
                           n_current=len(cur), nan_reference=self.n_missing,
                           nan_current=nan_cur, kind=self.kind)


def prepare_reference(reference: Any, *, method: str = "psi", bins: int = 10,
                      eps: float = 1e-4, categorical: bool = False,
                      _call: str = "drift") -> PreparedReference:
    """Clean, sort or bin a reference sample once, for many :meth:`PreparedReference.compare`
    calls (a monitor compares every window with the same baseline).

    Raises:
        ConfigurationError, MonitoringError: see :func:`drift_result`.
    """
    call = _call
    _check_method(method, bins, eps, call)
    ref_s = _to_series(reference, "reference", call)
    if categorical:
        if method not in CATEGORICAL_METHODS:
            raise MonitoringError(f"{call}: method {method!r} needs numeric samples; a "
                                  f"categorical sample takes {list(CATEGORICAL_METHODS)}")
        ref, nan_ref = _labels(ref_s)
    else:
        ref, nan_ref = _numeric(ref_s, "reference", call)
    if len(ref) == 0:
        raise MonitoringError(f"{call}: the reference sample has no values"
                              f"{f' ({nan_ref} missing dropped)' if nan_ref else ''}")
    kind = "categorical" if categorical else "numeric"
    edges = shares = sorted_values = None
    if not categorical and method in ("psi", "jensen_shannon"):
        edges = quantile_edges(ref, bins)
        shares = _floor(binned_shares(ref, edges), float(eps))
    elif not categorical and method in ("ks", "wasserstein"):
        sorted_values = np.sort(ref)
    return PreparedReference(method=method, kind=kind, values=ref, n_missing=nan_ref,
                             bins=int(bins), eps=float(eps), edges=edges, shares=shares,
                             sorted_values=sorted_values, call=call)


def drift_result(reference: Any, current: Any, *, method: str = "psi", bins: int = 10,
                 eps: float = 1e-4, categorical: bool | None = None,
                 _call: str = "drift") -> DriftResult:
    """Drift of ``current`` against ``reference`` with the counts behind it.

    Args:
        reference: the baseline sample (1-d array-like or Series).
        current: the sample to compare.
        method: one of :data:`METHODS` (see the module docstring for definitions and units).
        bins: quantile bins of the reference for ``psi`` and ``jensen_shannon``.
        eps: share substituted for an empty bin or category (``psi``, ``jensen_shannon``).
        categorical: force categorical (``True``) or numeric (``False``) treatment; ``None``
            decides from the dtypes (categorical when either sample is).

    Returns:
        :class:`DriftResult`.

    Raises:
        ConfigurationError: unknown method, bad ``bins``/``eps``, or a sample that is not 1-d.
        MonitoringError: a sample is empty after dropping missing values, a categorical sample
            with a numeric-only method, or non-numeric values in a numeric sample.
    """
    _check_method(method, bins, eps, _call)
    ref_s = _to_series(reference, "reference", _call)
    cur_s = _to_series(current, "current", _call)
    cat = (is_categorical(ref_s) or is_categorical(cur_s)) if categorical is None \
        else bool(categorical)
    prepared = prepare_reference(ref_s, method=method, bins=bins, eps=eps, categorical=cat,
                                 _call=_call)
    return prepared.compare(cur_s)


def drift(reference: Any, current: Any, *, method: str = "psi", bins: int = 10,
          eps: float = 1e-4) -> float:
    """Drift of ``current`` against ``reference`` (one number).

    Args:
        reference: the baseline sample (1-d array-like or Series).
        current: the sample to compare.
        method: ``"psi"`` (population stability index, no unit), ``"ks"`` (two-sample
            Kolmogorov-Smirnov statistic, in [0, 1]), ``"wasserstein"`` (Wasserstein-1 in the
            feature's units), ``"jensen_shannon"`` (Jensen-Shannon distance, natural log, in
            [0, sqrt(ln 2)]) or ``"difference_of_means"`` (current minus reference, in the
            feature's units).
        bins: quantile bins of the reference (``psi``, ``jensen_shannon``).
        eps: share substituted for empty bins or categories (``psi``, ``jensen_shannon``).

    Returns:
        The drift; equal (to 1e-9) to ``scipy.stats.ks_2samp(...).statistic``,
        ``scipy.stats.wasserstein_distance`` and ``scipy.spatial.distance.jensenshannon`` of
        the binned shares, and to the textbook PSI of those shares.

    Raises:
        ConfigurationError, MonitoringError: see :func:`drift_result`.

    Example::

        >>> drift([1, 2, 3, 4], [3, 4, 5, 6], method="difference_of_means")
        2.0
    """
    return drift_result(reference, current, method=method, bins=bins, eps=eps).value


def _feature_columns(reference: pd.DataFrame, current: pd.DataFrame,
                     features: Sequence[str] | None, call: str) -> list[str]:
    if features is not None:
        if isinstance(features, str):
            features = [features]
        missing = [(f, side) for f in features for side, df in (("reference", reference),
                                                                 ("current", current))
                   if f not in df.columns]
        if missing:
            raise MonitoringError(f"{call}: feature column(s) missing: "
                                  + ", ".join(f"{f!r} from the {side}" for f, side in missing))
        return list(features)
    out = []
    for c in reference.columns:
        if c in NON_FEATURE_COLUMNS or c not in current.columns:
            continue
        if pd.api.types.is_datetime64_any_dtype(reference[c].dtype):
            continue
        out.append(str(c))
    return out


def drift_table(reference: pd.DataFrame, current: pd.DataFrame, *,
                features: Sequence[str] | None = None, method: str = "psi", bins: int = 10,
                eps: float = 1e-4, n_jobs: int = 1,
                prepared: dict[str, PreparedReference | None] | None = None) -> pd.DataFrame:
    """Drift of every feature column of ``current`` against ``reference``.

    Args:
        reference: baseline table (e.g. the training set).
        current: table to compare (e.g. one window of the prediction log with its features).
        features: columns to compare; ``None`` takes every column present in both tables
            except :data:`NON_FEATURE_COLUMNS` and datetime columns (``score`` is kept).
            Categorical columns get category-share ``psi``/``jensen_shannon``; for the other
            methods they are skipped (value ``NaN``).
        method: one of :data:`METHODS`.
        bins, eps: see :func:`drift`.
        n_jobs: threads (numpy releases the GIL while sorting and binning).
        prepared: a cache of prepared references per feature, filled and reused across calls
            with the same reference, method, bins and eps (a monitor's windows).

    Returns:
        One row per feature with columns :data:`DRIFT_TABLE_COLUMNS`; ``value`` is ``NaN`` when
        a side has no values for the feature (the counts say which).

    Raises:
        ConfigurationError: bad method/bins/eps or tables.
        MonitoringError: a named feature is missing from either table.
    """
    call = "drift_table"
    _check_method(method, bins, eps, call)
    for what, df in (("reference", reference), ("current", current)):
        if not isinstance(df, pd.DataFrame):
            raise ConfigurationError(f"{call}: {what} must be a pandas DataFrame, got "
                                     f"{type(df).__name__}")
    cols = _feature_columns(reference, current, features, call)

    def one(col: str) -> dict[str, Any]:
        ref, cur = reference[col], current[col]
        cat = is_categorical(ref) or is_categorical(cur)
        try:
            prep = None if prepared is None else prepared.get(col)
            if prep is None or (prep.kind == "categorical") != cat:
                prep = prepare_reference(ref, method=method, bins=bins, eps=eps,
                                         categorical=cat, _call=f"{call}[{col!r}]")
                if prepared is not None:
                    prepared[col] = prep
            r = prep.compare(cur)
            return {"feature": col, **{k: v for k, v in r.as_dict().items() if k != "kind"}}
        except MonitoringError:
            nan_ref = int(ref.isna().sum()) if cat else \
                int((~np.isfinite(pd.to_numeric(ref, errors="coerce")
                                  .to_numpy(dtype=float, na_value=np.nan))).sum())
            nan_cur = int(cur.isna().sum()) if cat else \
                int((~np.isfinite(pd.to_numeric(cur, errors="coerce")
                                  .to_numpy(dtype=float, na_value=np.nan))).sum())
            return {"feature": col, "method": method, "value": float("nan"),
                    "n_reference": len(ref) - nan_ref, "n_current": len(cur) - nan_cur,
                    "nan_reference": nan_ref, "nan_current": nan_cur}

    if n_jobs > 1 and len(cols) > 1:
        with ThreadPoolExecutor(max_workers=int(n_jobs)) as pool:
            rows = list(pool.map(one, cols))
    else:
        rows = [one(c) for c in cols]
    out = pd.DataFrame(rows, columns=list(DRIFT_TABLE_COLUMNS))
    return out.astype({"value": "float64", "n_reference": "int64", "n_current": "int64",
                       "nan_reference": "int64", "nan_current": "int64"})
