"""Call recordings on a Snowflake stage, and the features table written back.

The quickstart kept its recordings on a stage (``@audio_files``) and its features in
``CALL_ACOUSTIC_FEATURES``. With callquality::

    store = cq.connect("snowflake", session=session)
    audio = store.stage("@audio_files/calls")           # a StageAudioSource
    audio.list_files()                                  # relative_path, size, md5, last_modified
    features = audio.extract(groups=("acoustic", "interaction"))   # download + cq.extract
    store.write_features(features)                      # -> CALL_ACOUSTIC_FEATURES (upper-case)

Named internal stages are supported (``LIST`` reports their files as ``<stage>/<path>``);
for an external stage, read its ``DIRECTORY`` table instead. Stage locations and file names
are validated (:mod:`._names`): a name holding a quote,
backslash, wildcard or ``..`` is skipped (reported in ``list_files()``'s ``problem`` column), never
put into SQL.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from snowflake.snowpark import Session

from ...exceptions import CallLoadError, ConfigurationError, SchemaError
from ...schema import FEATURES
from ..errors import InvalidNameError
from ._errors import boundary
from ._names import Ident, ObjectName, StageLocation, check_path_segment, parse_object_name
from ._tables import TIMESTAMP, read_frame, to_snowpark

__all__ = ["AUDIO_SUFFIXES", "FEATURES_TABLE", "StageAudioSource", "features_columns",
           "read_features", "write_features"]

#: File suffixes treated as recordings (sidecar ``.json`` files come along).
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".opus", ".sph")
#: The quickstart's features table.
FEATURES_TABLE = "CALL_ACOUSTIC_FEATURES"
_META = (("call_id", "string"), ("agent_id", "string"), ("processed_at", TIMESTAMP))
_DTYPES = {s.name: s.dtype for s in FEATURES}


class StageAudioSource:
    """The recordings under a stage location.

    Args:
        session: the Snowpark session.
        location: a validated stage location (see :func:`._names.parse_stage`).
        suffixes: file suffixes to treat as audio (case-insensitive).
    """

    def __init__(self, session: Session, location: StageLocation, *,
                 suffixes: Sequence[str] = AUDIO_SUFFIXES) -> None:
        self._session = session
        self.location = location
        self.suffixes = tuple(s.lower() for s in suffixes)

    def __repr__(self) -> str:
        return f"StageAudioSource({self.location})"

    def _relative(self, listed: str) -> str:
        """The path of a ``LIST`` row's ``name`` relative to this location."""
        parts = PurePosixPath(listed).parts
        rel = list(parts[1:])  # drop the stage name (LIST reports it lower-case)
        prefix = list(self.location.path)
        if rel[:len(prefix)] == prefix:
            rel = rel[len(prefix):]
        elif [p.lower() for p in rel[:len(prefix)]] == [p.lower() for p in prefix]:
            rel = rel[len(prefix):]
        return "/".join(rel)

    def list_files(self) -> pd.DataFrame:
        """Files under the location (``LIST``): ``relative_path``, ``size``, ``md5``,
        ``last_modified``, ``is_audio``, and ``problem`` (why a file cannot be downloaded
        safely, else ``None``), sorted by path."""
        call = f"{self}.list"
        with boundary(call):
            rows = self._session.sql(f"LIST {self.location.literal}").collect()
        records = []
        for r in rows:
            d = {str(k).lower(): v for k, v in r.as_dict().items()}
            rel = self._relative(str(d.get("name", "")))
            problem = None
            try:
                for seg in rel.split("/"):
                    check_path_segment(seg, "file name", call)
            except InvalidNameError as exc:
                problem = str(exc)
            records.append({"relative_path": rel, "size": d.get("size"), "md5": d.get("md5"),
                            "last_modified": d.get("last_modified"),
                            "is_audio": rel.lower().endswith(self.suffixes),
                            "problem": problem})
        cols = ["relative_path", "size", "md5", "last_modified", "is_audio", "problem"]
        return pd.DataFrame(records, columns=cols).sort_values("relative_path",
                                                               ignore_index=True)

    def download(self, target_dir: str | os.PathLike[str],
                 files: Sequence[str] | None = None, *, sidecars: bool = True) -> list[Path]:
        """Download recordings (``GET``, one file at a time) into ``target_dir``, keeping
        their relative paths; returns the local audio paths.

        Args:
            target_dir: local folder (created if needed).
            files: relative paths to fetch (default: every audio file listed).
            sidecars: also fetch ``<name>.json`` sidecars that exist beside the audio.

        Raises:
            InvalidNameError: a requested path is not a safe stage path.
        """
        call = f"{self}.download"
        target = Path(target_dir)
        target.mkdir(parents=True, exist_ok=True)
        listing = self.list_files()
        safe = listing[listing["problem"].isna()]
        available = set(safe["relative_path"])
        if files is None:
            wanted = list(safe.loc[safe["is_audio"], "relative_path"])
        else:
            wanted = [str(f).strip("/") for f in files]
        fetch: list[str] = []
        for rel in wanted:
            self.location.child(rel, call)  # validates every segment
            fetch.append(rel)
            side = str(PurePosixPath(rel).with_suffix(".json"))
            if sidecars and side in available and side != rel:
                fetch.append(side)
        out: list[Path] = []
        for rel in fetch:
            src = self.location.child(rel, call)
            dest = target.joinpath(*PurePosixPath(rel).parent.parts)
            dest.mkdir(parents=True, exist_ok=True)
            with boundary(f"{call}({rel!r})"):
                self._session.file.get(src.sql, str(dest))
            local = dest / PurePosixPath(rel).name
            if not local.exists():  # GET may append .gz for compressed uploads
                gz = local.with_name(local.name + ".gz")
                if gz.exists():
                    import gzip
                    import shutil

                    with gzip.open(gz, "rb") as fin, open(local, "wb") as fout:
                        shutil.copyfileobj(fin, fout)
                    gz.unlink()
            if local.suffix.lower() in self.suffixes:
                out.append(local)
        return out

    def extract(self, *, files: Sequence[str] | None = None, batch_size: int = 32,
                extractor: Any = None, **extract_options: Any) -> pd.DataFrame:
        """Download the recordings in batches into a temporary folder and extract their
        features (one row per call; failures are rows with ``error`` set).

        Args:
            files: relative paths (default: every audio file listed).
            batch_size: recordings downloaded and extracted at a time (the folder is emptied
                after each batch).
            extractor: ``calls -> DataFrame`` (default :func:`callquality.extract`).
            **extract_options: passed to the extractor (``groups``, ``profile``, ``device``).

        The call id of a recording is its path relative to the location without suffix
        (``calls/2024/c001.wav`` under ``@audio_files/calls`` -> ``2024/c001``).
        """
        from ...calls import load_call

        if extractor is None:
            from ...features.extractor import extract as extractor
        if batch_size < 1:
            raise ConfigurationError(f"{self}.extract: batch_size must be >= 1")
        listing = self.list_files()
        names = list(listing.loc[listing["is_audio"] & listing["problem"].isna(),
                                 "relative_path"]) if files is None else list(files)
        frames = []
        for i in range(0, len(names), batch_size):
            chunk = names[i:i + batch_size]
            with tempfile.TemporaryDirectory(prefix="cq-stage-") as tmp:
                paths = self.download(tmp, chunk)
                calls, failed = [], []
                for p in paths:
                    rel = p.relative_to(tmp).as_posix()
                    call_id = str(PurePosixPath(rel).with_suffix(""))
                    try:
                        calls.append(load_call(p, call_id=call_id))
                    except CallLoadError as exc:  # the batch goes on; the row says why
                        failed.append({"call_id": call_id, "error": f"{self.location}/{rel}: "
                                                                     f"{exc.reason}"})
                if calls:
                    frames.append(extractor(calls, **extract_options))
                if failed:
                    frames.append(pd.DataFrame(failed))
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)


def features_columns(df: pd.DataFrame, *, column_case: str = "upper"
                     ) -> list[tuple[str, str, str]]:
    """``(source column, kind, table column)`` of a features table: ``call_id``,
    ``agent_id``, ``processed_at``, the schema features present (schema order) and
    ``error``, named upper-case (``column_case="upper"``) or as in the quickstart's notebook
    (``"lower"``: quoted lower-case names)."""
    if column_case not in ("upper", "lower"):
        raise ConfigurationError(f"write_features: column_case={column_case!r}; use 'upper' "
                                 "or 'lower'")
    name = (lambda c: c.upper()) if column_case == "upper" else (lambda c: c)
    cols = [(c, kind, name(c)) for c, kind in _META if c in df.columns]
    cols += [(s.name, s.dtype, name(s.name)) for s in FEATURES if s.name in df.columns]
    if "error" in df.columns:
        cols.append(("error", "string", name("error")))
    return cols


def write_features(session: Session, df: pd.DataFrame, table: ObjectName, *,
                   mode: str = "append", column_case: str = "upper") -> int:
    """Write a features table (``cq.extract`` output) with ``save_as_table``.

    Columns are the schema's names upper-cased (``SPEAKING_RATE_WPM``), typed by the schema
    (FLOAT / NUMBER / VARCHAR; ``PROCESSED_AT`` TIMESTAMP_NTZ in UTC); unknown columns are
    refused so a typo cannot create a stray column.

    Args:
        session: the Snowpark session.
        df: one row per call with ``call_id`` and feature columns.
        table: the target table.
        mode: ``"append"``, ``"overwrite"`` or ``"errorifexists"``.
        column_case: ``"upper"`` or ``"lower"`` (the notebook's quoted lower-case names).

    Returns:
        The number of rows written.
    """
    call = f"write_features({table})"
    if not isinstance(df, pd.DataFrame):
        raise ConfigurationError(f"{call}: expected a pandas DataFrame")
    if mode not in ("append", "overwrite", "errorifexists"):
        raise ConfigurationError(f"{call}: mode={mode!r}; use 'append', 'overwrite' or "
                                 "'errorifexists'")
    if "call_id" not in df.columns:
        raise SchemaError(f"{call}: the table has no call_id column")
    cols = features_columns(df, column_case=column_case)
    known = {c for c, _, _ in cols}
    unknown = [c for c in df.columns if c not in known]
    if unknown:
        raise SchemaError(f"{call}: column(s) {unknown} are not schema features (see "
                          "cq.feature_names()); drop or rename them")
    spec = [(out, kind) for _, kind, out in cols]
    data = {out: df[src].to_numpy() for src, _, out in cols}
    with boundary(call):
        frame = to_snowpark(session, [(f'"{c}"' if column_case == "lower" else c, k)
                                      for c, k in spec],
                            {(f'"{c}"' if column_case == "lower" else c): v
                             for c, v in data.items()}, len(df))
        frame.write.save_as_table(table.sql, mode=mode)
    return len(df)


def read_features(session: Session, table: ObjectName) -> pd.DataFrame:
    """A features table back with the schema's (lower-case) column names and dtypes; reads
    upper-case and the notebook's quoted lower-case columns alike."""
    call = f"read_features({table})"
    with boundary(call):
        sp = session.table(table.sql)
        present = {str(c).strip('"').lower() for c in sp.columns}
        cols = [(c.upper(), kind, c) for c, kind in _META if c in present]
        cols += [(s.name.upper(), s.dtype, s.name) for s in FEATURES if s.name in present]
        if "error" in present:
            cols.append(("ERROR", "string", "error"))
        return read_frame(sp, cols)


def features_table(name: str, *, database: Ident, schema: Ident, call: str) -> ObjectName:
    """The validated features table name (default schema: the backend's)."""
    return parse_object_name(name, "features table", call, database=database, schema=schema)
