"""Model inputs from a feature store's online tables, by call id.

The features of one model may be spread over several feature views (the quickstart's
``acoustic_features``, ``emotion_sentiment_features``, ``ner_content_features``, and any view a
user adds). :class:`OnlineFeatures` maps each wanted feature to the newest version of an
online view that holds it, and reads a call's latest row from each of those views.
Features that no online view holds come back missing and are named in
:attr:`OnlineFeatures.unavailable`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import BackendError
from ..protocols import FeatureStore

__all__ = ["OnlineFeatures", "online_views"]


def online_views(feature_store: FeatureStore) -> list[dict[str, Any]]:
    """The newest version of each online feature view: ``name``, ``version``, ``ref``
    (``"name/version"``), ``features`` (list) and ``timestamp_col``.

    Uses :meth:`~callquality.protocols.FeatureStore.list_feature_views`; a view without an
    ``online`` column is taken as online.
    """
    table = feature_store.list_feature_views()
    if table is None or len(table) == 0:
        return []
    if "created_on" in table.columns:
        table = table.sort_values(["name", "created_on"], kind="mergesort")
    newest: dict[str, dict[str, Any]] = {}
    for row in table.to_dict("records"):
        if "online" in row and row["online"] is not None and not bool(row["online"]):
            continue
        name, version = str(row["name"]), str(row["version"])
        newest[name.lower()] = {"name": name, "version": version, "ref": f"{name}/{version}",
                                "features": [str(f) for f in row.get("features") or []],
                                "timestamp_col": str(row.get("timestamp_col") or
                                                     "processed_at")}
    return list(newest.values())


class OnlineFeatures:
    """Reads the wanted features of calls from the online store.

    Args:
        feature_store: a :class:`~callquality.protocols.FeatureStore`.
        features: the feature names wanted (a model's signature).
        key: the join key of the call entity.

    Attributes:
        plan: ``view ref -> features`` read from it.
        unavailable: wanted features no online view holds.
    """

    def __init__(self, feature_store: FeatureStore, features: Sequence[str], *,
                 key: str = "call_id") -> None:
        self.feature_store = feature_store
        self.features = list(features)
        self.key = key
        self._lock = threading.Lock()
        self.plan: dict[str, list[str]] = {}
        self.timestamps: dict[str, str] = {}
        self.unavailable: list[str] = list(self.features)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the list of views (views registered later are picked up)."""
        wanted = set(self.features)
        plan: dict[str, list[str]] = {}
        stamps: dict[str, str] = {}
        taken: set[str] = set()
        # later-registered views win a feature held by several (their data is newer)
        for view in reversed(online_views(self.feature_store)):
            mine = [f for f in view["features"] if f in wanted and f not in taken]
            if mine:
                plan[view["ref"]] = mine
                stamps[view["ref"]] = view["timestamp_col"]
                taken.update(mine)
        with self._lock:
            self.plan = plan
            self.timestamps = stamps
            self.unavailable = [f for f in self.features if f not in taken]

    def fetch(self, call_ids: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
        """The features of ``call_ids`` (one row each, in order) and whether each call was
        found in at least one view.

        Returns:
            ``(frame, found)``: ``frame`` has ``call_id``, ``processed_at`` (the newest
            feature timestamp of the call over the views) and every wanted feature (missing
            values where a view has no row or no view holds the feature).

        Raises:
            BackendError: the store failed (translated by the backend).
        """
        with self._lock:
            plan, stamps = dict(self.plan), dict(self.timestamps)
            unavailable = list(self.unavailable)
        ids = [str(c) for c in call_ids]
        n = len(ids)
        columns: dict[str, Any] = {self.key: np.array(ids, dtype=object)}
        found = np.zeros(n, dtype=bool)
        newest = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        for ref, names in plan.items():
            part = self.feature_store.get_online_features(ref, ids, names)
            if len(part) != n:
                raise BackendError(f"get_online_features({ref!r}) returned {len(part)} rows "
                                   f"for {n} keys")
            ts_col = stamps[ref]
            if ts_col in part.columns:
                ts = pd.DatetimeIndex(pd.to_datetime(part[ts_col], utc=True))
                ok = ~ts.isna()
                found |= ok
                ns = ts.as_unit("ns").asi8
                newest = np.where(ok & (ns > newest), ns, newest)
            else:  # a backend without timestamps: any value counts as found
                found |= part[names].notna().any(axis=1).to_numpy()
            for f in names:
                columns[f] = part[f].array
        for f in unavailable:
            columns[f] = np.full(n, np.nan)
        stamp = pd.DatetimeIndex(np.where(newest == np.iinfo(np.int64).min,
                                          np.datetime64("NaT", "ns"),
                                          newest.view("datetime64[ns]")), tz="UTC")
        frame = pd.DataFrame({self.key: columns[self.key], "processed_at": stamp,
                              **{f: columns[f] for f in self.features}},
                             index=pd.RangeIndex(n))
        return frame, found
