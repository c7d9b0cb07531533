"""Point-in-time (ASOF) join on NumPy arrays, the core of offline feature retrieval.

For each spine row ``(key, t)`` it finds the feature row of the same key with the greatest
timestamp ``<= t`` (optionally ``>= t - ttl``): Snowflake's
``ASOF JOIN ... MATCH_CONDITION (spine.ts >= feature.ts) ON keys`` and Feast's
``get_historical_features``. Rows with the same key and timestamp are resolved first: the one
ingested last (highest ``seq``) wins, which is what an upsert means.

The algorithm is O((n + m) log(n + m)) and fully vectorised:

1. keys become integer codes (``pandas.factorize``; composite keys are first joined into one
   string);
2. feature rows are sorted by (code, timestamp, seq) and only the last row of each
   (code, timestamp) is kept;
3. each timestamp becomes its rank among the distinct feature timestamps, so that
   ``code * (n_ranks + 1) + rank`` is a single sortable int64 for feature and spine rows alike;
4. one ``numpy.searchsorted`` (side="right") finds, for every spine row, the last feature row
   at or before it; a match counts only if it has the same key code (and is within the TTL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SortedFeatures", "asof_indices", "dedup_sorted", "encode_keys", "prepare"]


def encode_keys(feature_keys: np.ndarray, spine_keys: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of feature keys and spine keys in one code space; ``-1`` for missing
    keys and for spine keys that no feature row has. (Composite keys are joined into one
    string by the caller.)"""
    f_codes, uniques = pd.factorize(np.asarray(feature_keys, dtype=object),
                                    use_na_sentinel=True)
    index = pd.Index(uniques, dtype=object)
    s_codes = index.get_indexer(np.asarray(spine_keys, dtype=object))
    return f_codes.astype(np.int64), np.asarray(s_codes, dtype=np.int64)


def dedup_sorted(codes: np.ndarray, ts: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Indices that sort rows by (code, ts) keeping, per (code, ts), the row of highest seq;
    rows with code ``-1`` are dropped."""
    order = np.lexsort((seq, ts, codes))
    c, t = codes[order], ts[order]
    last = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        last[:-1] = (c[1:] != c[:-1]) | (t[1:] != t[:-1])
    keep = last & (c >= 0)
    return np.asarray(order[keep], dtype=np.int64)


@dataclass
class SortedFeatures:
    """Feature rows ready for ASOF lookups: unique per (code, ts), sorted by both."""

    codes: np.ndarray          # int64, sorted
    ts: np.ndarray             # int64 ns, sorted within a code
    rows: np.ndarray           # positions of these rows in the source table
    unique_ts: np.ndarray      # sorted distinct timestamps
    combined: np.ndarray       # code * (len(unique_ts) + 1) + rank, sorted

    @property
    def radix(self) -> int:
        return len(self.unique_ts) + 1


def prepare(codes: np.ndarray, ts: np.ndarray, seq: np.ndarray) -> SortedFeatures:
    """Deduplicate and index feature rows (see the module docstring)."""
    rows = dedup_sorted(codes, ts, seq)
    c, t = codes[rows], ts[rows]
    unique_ts = np.unique(t)
    rank = np.searchsorted(unique_ts, t, side="left") + 1
    radix = len(unique_ts) + 1
    if len(c) and int(c.max()) >= (np.iinfo(np.int64).max // max(radix, 1)) - 1:
        raise OverflowError("too many keys x timestamps for a 64-bit ASOF index")
    combined = c * radix + rank
    return SortedFeatures(c, t, rows, unique_ts, combined)


def asof_indices(features: SortedFeatures, spine_codes: np.ndarray, spine_ts: np.ndarray,
                 ttl_ns: int | None = None) -> np.ndarray:
    """For each spine row the position (into ``features.rows``) of its ASOF match, or -1."""
    n = len(spine_codes)
    if n == 0 or len(features.codes) == 0:
        return np.full(n, -1, dtype=np.int64)
    # number of distinct feature timestamps <= t: the rank of the latest one at or before t
    rank = np.searchsorted(features.unique_ts, spine_ts, side="right")
    key = spine_codes * features.radix + rank
    pos = np.searchsorted(features.combined, key, side="right") - 1
    ok = (pos >= 0) & (spine_codes >= 0)
    safe = np.where(ok, pos, 0)
    ok &= features.codes[safe] == spine_codes
    if ttl_ns is not None:
        ok &= (spine_ts - features.ts[safe]) <= ttl_ns
    return np.where(ok, pos, -1).astype(np.int64)
