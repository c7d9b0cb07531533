"""Recordings on a stage (``LIST`` and ``GET`` through an autospecced Session) and the features
table written back with ``save_as_table`` (Snowpark local testing): upper-case schema names, so
the quickstart's ``CALL_ACOUSTIC_FEATURES`` keeps its columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, create_autospec

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("snowflake.ml.registry", reason="needs pip install 'callquality[snowflake]'")

import soundfile as sf
from snowflake.snowpark import DataFrame, Row, Session
from snowflake.snowpark.file_operation import FileOperation
from snowflake.snowpark.types import DoubleType, LongType, StringType, TimestampType

from callquality.backends.errors import InvalidNameError
from callquality.backends.snowflake import SnowflakeBackend
from callquality.exceptions import SchemaError
from callquality.schema import feature_names
from test_snowflake_support import local_session, snowflake_backend

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.SettingWithCopyWarning")
LISTED = ["audio_files/calls/a.wav", "audio_files/calls/a.json", "audio_files/calls/sub/b.wav",
          "audio_files/calls/evil'name.wav", "audio_files/calls/notes.txt"]


def _wav(path: Path, seconds: float = 0.5, sr: int = 8000) -> None:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, 0.1 * np.sin(2 * np.pi * 220 * t), sr)


def _stage_session(tmp_path: Path) -> tuple[Any, Any]:
    session = create_autospec(Session, instance=True)

    def sql(query: str, params: Any = None) -> Any:
        result = create_autospec(DataFrame, instance=True)
        result.collect.return_value = [Row(name=n, size=100, md5="x", last_modified="now")
                                       for n in LISTED]
        return result

    session.sql.side_effect = sql
    files = create_autospec(FileOperation, instance=True)

    def get(stage_location: str, target_directory: str, **kw: Any) -> list[Any]:
        name = stage_location.rsplit("/", 1)[1]
        target = Path(target_directory) / name
        if name.endswith(".wav"):
            _wav(target)
        else:
            target.write_text("{}")
        return []

    files.get.side_effect = get
    type(session).file = PropertyMock(return_value=files)
    return session, files


def _backend(session: Any) -> SnowflakeBackend:
    return SnowflakeBackend(session, database="CQ", schema="ML", warehouse="WH",
                            registry=object(), feature_store=object(),
                            experiment_tracking=object())


def test_list_and_download_quote_the_stage_and_skip_unsafe_names(tmp_path: Path) -> None:
    session, files = _stage_session(tmp_path)
    audio = _backend(session).stage("@audio_files/calls")
    listing = audio.list_files()
    assert session.sql.call_args.args[0] == "LIST '@\"CQ\".\"ML\".\"AUDIO_FILES\"/calls/'"
    assert list(listing["relative_path"]) == ["a.json", "a.wav", "evil'name.wav", "notes.txt",
                                              "sub/b.wav"]
    assert listing.set_index("relative_path").loc["evil'name.wav", "problem"] is not None
    paths = audio.download(tmp_path / "dl")
    assert sorted(p.relative_to(tmp_path / "dl").as_posix() for p in paths) == ["a.wav",
                                                                                "sub/b.wav"]
    fetched = [c.args[0] for c in files.get.call_args_list]
    assert fetched == ['@"CQ"."ML"."AUDIO_FILES"/calls/a.wav',
                       '@"CQ"."ML"."AUDIO_FILES"/calls/a.json',
                       '@"CQ"."ML"."AUDIO_FILES"/calls/sub/b.wav']
    assert (tmp_path / "dl" / "a.json").exists()  # the sidecar came along
    with pytest.raises(InvalidNameError):
        audio.download(tmp_path / "dl2", ["../../etc/passwd"])


def test_extract_downloads_in_batches_and_names_calls_by_path(tmp_path: Path) -> None:
    session, _ = _stage_session(tmp_path)
    audio = _backend(session).stage("@audio_files/calls")
    seen: list[list[str]] = []

    def extractor(calls: Any, **options: Any) -> pd.DataFrame:
        seen.append([c.call_id for c in calls])
        assert options == {"groups": ("acoustic",)}
        return pd.DataFrame({"call_id": [c.call_id for c in calls], "error": None})

    out = audio.extract(batch_size=1, extractor=extractor, groups=("acoustic",))
    assert seen == [["a"], ["sub/b"]]
    assert list(out["call_id"]) == ["a", "sub/b"]


def test_features_are_written_with_upper_case_schema_names() -> None:
    backend = snowflake_backend(predefined_views=False)
    names = feature_names(("acoustic", "interaction", "emotion"))
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"call_id": ["c1", "c2", "c3"], "agent_id": ["a1", "a1", None],
                       "processed_at": pd.to_datetime(["2024-01-01 10:00"] * 3, utc=True)})
    for n in names:
        df[n] = rng.random(3)
    df["interruption_count"] = pd.array([1, None, 3], dtype="Int64")
    df["dominant_emotion"] = ["happy", None, "sad"]
    df["error"] = [None, None, "c3.wav: empty audio"]
    assert backend.write_features(df) == 3
    table = local_session().table(f'"CQ"."{backend.schema.name}"."CALL_ACOUSTIC_FEATURES"')
    types = {f.name: type(f.datatype) for f in table.schema.fields}
    assert list(types) == ["CALL_ID", "AGENT_ID", "PROCESSED_AT",
                           *(n.upper() for n in names), "ERROR"]
    assert types["SPEAKING_RATE_WPM"] is DoubleType and types["INTERRUPTION_COUNT"] is LongType
    assert types["DOMINANT_EMOTION"] is StringType and types["PROCESSED_AT"] is TimestampType
    back = backend.read_features()
    pd.testing.assert_frame_equal(back[["call_id", "speaking_rate_wpm"]],
                                  df[["call_id", "speaking_rate_wpm"]].astype(
                                      {"call_id": "string"}))
    assert back["interruption_count"].iloc[0] == 1 and back["interruption_count"].isna().iloc[1]
    assert back["processed_at"].iloc[0] == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert backend.write_features(df.iloc[:1], "raw.calls_lower", column_case="lower") == 1
    lower = local_session().table('"CQ"."RAW"."CALLS_LOWER"')
    assert '"speaking_rate_wpm"' in lower.columns
    with pytest.raises(SchemaError, match="transcript"):
        backend.write_features(df.assign(transcript="x"))
    with pytest.raises(InvalidNameError):
        backend.write_features(df, "features; DROP TABLE x")
