"""Injection: hostile model names, versions, aliases, feature names, view names, stage paths,
monitor settings and key values are refused before any Snowflake call, or quoted; Snowflake
exceptions become callquality's at the boundary."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("snowflake.ml.registry", reason="needs pip install 'callquality[snowflake]'")

from snowflake.connector.errors import OperationalError, ProgrammingError
from snowflake.snowpark.exceptions import SnowparkSQLException

from callquality.backends.errors import InvalidNameError
from callquality.backends.snowflake._errors import boundary, translate
from callquality.backends.snowflake._names import (
    Ident,
    parse_ident,
    parse_object_name,
    parse_stage,
)
from callquality.exceptions import (
    AlreadyExistsError,
    BackendError,
    ConfigurationError,
    NotFoundError,
    SchemaError,
)
from callquality.protocols import Entity, FeatureViewSpec
from callquality.testing import FakeModel
from test_snowflake_support import FakeFeatureStore, FakeModels, snowflake_backend

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.SettingWithCopyWarning")

DB, SCHEMA = Ident("CQ"), Ident("ML")
HOSTILE = ['x"; DROP TABLE t; --', "x'; DROP TABLE t; --", "a b", "a.b", "1abc", "", "a-b",
           "x\\", "a\nb", "naïve", "a" * 256, '"a"b"', '"x\\"', '"\x00"', "DEFAULT'"]


@pytest.mark.parametrize("bad", HOSTILE)
def test_identifiers_are_refused_unless_valid(bad: str) -> None:
    with pytest.raises(InvalidNameError, match="parse"):
        parse_ident(bad, "name", "parse")


def test_identifiers_are_always_written_double_quoted() -> None:
    assert parse_ident("call_quality", "n", "c").sql == '"CALL_QUALITY"'
    assert parse_ident('"Mixed Case"', "n", "c").sql == '"Mixed Case"'
    assert parse_ident('"Mixed Case"', "n", "c").api == '"Mixed Case"'
    assert parse_ident("CQ_WH", "n", "c").api == "CQ_WH"
    name = parse_object_name("raw.calls", "table", "c", database=DB, schema=SCHEMA)
    assert name.sql == '"CQ"."RAW"."CALLS"'
    assert parse_object_name('db."My Schema".t', "table", "c", database=DB,
                             schema=SCHEMA).sql == '"DB"."My Schema"."T"'
    for bad in ("a.b.c.d", "t; DROP TABLE x", "t--", 't"', "db..t", None):
        with pytest.raises(InvalidNameError):
            parse_object_name(bad, "table", "c", database=DB, schema=SCHEMA)


def test_stage_locations_are_validated_and_quoted() -> None:
    loc = parse_stage("@audio_files/calls/2024 Q1", "c", database=DB, schema=SCHEMA)
    assert loc.sql == '@"CQ"."ML"."AUDIO_FILES"/calls/2024 Q1'
    assert loc.literal == "'@\"CQ\".\"ML\".\"AUDIO_FILES\"/calls/2024 Q1/'"
    assert parse_stage('@"My Stage"', "c", database=DB, schema=SCHEMA).literal == \
        "'@\"CQ\".\"ML\".\"My Stage\"'"
    assert parse_stage("db.sch.st/x/", "c", database=DB, schema=SCHEMA).path == ("x",)
    for bad in ("@s/../x", "@s/a'b", "@s/a\\b", "@s/*.wav", "@s/a;b", "@s/a\nb", "@s//x",
                "@s/ x", "@", "@s t/x", "@s/a$b", "@s/?"):
        with pytest.raises(InvalidNameError):
            parse_stage(bad, "c", database=DB, schema=SCHEMA)
    with pytest.raises(InvalidNameError):
        loc.child("../x", "c")


@pytest.fixture
def models() -> FakeModels:
    return FakeModels()


def test_hostile_registry_names_never_reach_snowflake(models: FakeModels) -> None:
    reg = snowflake_backend(models, predefined_views=False).registry
    reg.log_model(FakeModel({"jitter": 1.0}), model_name="m")
    models.registry.reset_mock()
    for bad in HOSTILE:
        with pytest.raises(ConfigurationError):
            reg.log_model(FakeModel({"jitter": 1.0}), model_name=bad)
        with pytest.raises(ConfigurationError):
            reg.get_version(bad)
        with pytest.raises(ConfigurationError):
            reg.load_model(f"{bad}@PRODUCTION")
    assert models.registry.method_calls == []
    for bad in [*HOSTILE, "DEFAULT", "first", "Last"]:
        with pytest.raises(ConfigurationError):
            reg.set_alias("m", "V1", bad)
        with pytest.raises(ConfigurationError):
            reg.log_model(FakeModel({"jitter": 1.0}), model_name="m", version_name=bad)
    for ref in ("m@PROD; DROP MODEL m", "m/V1'--", "m@", "m/", "m@a@b", "@PROD"):
        with pytest.raises(ConfigurationError):
            reg.load_model(ref)
    assert [e for e in models.events if e[0] != "log_model"] == []
    with pytest.raises(ConfigurationError):
        reg.predict("m", pd.DataFrame({"jitter": [1.0]}),
                    service_name="svc; DROP")


def test_hostile_feature_store_names_never_reach_snowflake() -> None:
    fake = FakeFeatureStore()
    fs = snowflake_backend(fs=fake, predefined_views=False).feature_store
    entity = fs.register_entity(Entity("call", ("call_id",)))
    fake.fs.reset_mock()
    for bad in HOSTILE:
        with pytest.raises(ConfigurationError):
            fs.register_entity(Entity(bad, ("call_id",)))
        with pytest.raises(ConfigurationError):
            fs.register_entity(Entity("call", (bad,)))
        with pytest.raises(ConfigurationError):
            fs.register_feature_view(FeatureViewSpec(bad, entity, ("jitter",)))
        with pytest.raises(ConfigurationError):
            fs.register_feature_view(FeatureViewSpec("v", entity, ("jitter",),
                                                     timestamp_col=bad))
    for bad in ("jitter; DROP TABLE x", "JITTER", 'jitter"', "no_such_feature"):
        with pytest.raises(SchemaError):
            fs.register_feature_view(FeatureViewSpec("v", entity, (bad,)))
    for bad in ("v1'; --", "v 1", "", ".v1", "v1/x"):
        with pytest.raises(ConfigurationError):
            fs.register_feature_view(FeatureViewSpec("v", entity, ("jitter",), version=bad))
    with pytest.raises(ConfigurationError):
        fs.retrieve_feature_values(pd.DataFrame({"call_id": ["a"]}),
                                   ['v"; DROP'])
    assert fake.fs.method_calls == []


def test_hostile_monitor_settings_are_refused() -> None:
    log = snowflake_backend(predefined_views=False).predictions
    good = {"model_name": "m", "version": "V1", "baseline": "BASE"}
    for kwargs in ({"refresh_interval": "1 hour'); DROP"}, {"aggregation_window": "1 day --"},
                   {"segment_columns": ["x; DROP"]}, {"segment_columns": ["not_a_column"]},
                   {"warehouse": 'wh"; DROP'}, {"function_name": "predict'); --"},
                   {"baseline": "b; DROP TABLE x"}):
        with pytest.raises((ConfigurationError, SchemaError)):
            log.add_monitor("mon", **{**good, **kwargs})
    for bad in [b for b in HOSTILE if b != "a.b"]:  # schema.name is a valid monitor name
        with pytest.raises(ConfigurationError):
            log.add_monitor(bad, **good)


@pytest.mark.parametrize(("error", "expected"), [
    (ValueError("(1300) Unable to find model CALL_QUALITY"), NotFoundError),
    (ValueError("(2102) Cannot find Entity with name: CALL."), NotFoundError),
    (KeyError("auc"), NotFoundError),
    (SnowparkSQLException("Object 'X' does not exist or not authorized.", sql_error_code=2003),
     NotFoundError),
    (ProgrammingError(msg="Object 'X' already exists.", errno=2002), AlreadyExistsError),
    (ValueError("Model M version V1 already existed."), AlreadyExistsError),
    (ValueError("my-model is not a valid SQL identifier"), InvalidNameError),
    (SnowparkSQLException("Insufficient privileges to operate on schema", sql_error_code=3001),
     BackendError),
    (OperationalError(msg="Could not connect to Snowflake backend", errno=250001), BackendError),
])
def test_snowflake_exceptions_are_translated(error: Exception, expected: type) -> None:
    err = translate(error, "call()")
    assert type(err) is expected
    assert str(err).startswith("call()")
    with pytest.raises(expected) as info, boundary("call()"):
        raise error
    assert info.value.__cause__ is error


def test_callquality_errors_pass_the_boundary_unchanged() -> None:
    original = SchemaError("bad column")
    with pytest.raises(SchemaError) as info, boundary("x"):
        raise original
    assert info.value is original


def test_connect_by_name_and_the_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import callquality as cq
    from callquality.backends.snowflake import SnowflakeBackend
    from callquality.exceptions import MissingExtraError
    from callquality.protocols import Backend

    backend = snowflake_backend(predefined_views=False)
    assert isinstance(backend, SnowflakeBackend) and isinstance(backend, Backend)
    assert backend.name == "snowflake" and "snowflake" in cq.backends.available_backends()
    with pytest.raises(ConfigurationError, match="session"):
        cq.connect("snowflake", database="CQ", schema="ML")
    with pytest.raises(ConfigurationError, match="Session"):
        cq.connect("snowflake", session=object(), database="CQ", schema="ML")
    with pytest.raises(InvalidNameError):
        cq.connect("snowflake", session=backend.session, database="CQ; DROP", schema="ML")
    # without the extra: the exact pip command
    for name in [m for m in sys.modules if m.startswith("callquality.backends.snowflake")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "snowflake.snowpark", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'callquality\[snowflake\]'"):
        cq.connect("snowflake", session=None)


def test_free_text_that_snowflake_ml_would_embed_unsafely_is_refused(
        models: FakeModels) -> None:
    """snowflake-ml writes comments, metrics and run parameters between ``$$`` and
    descriptions between single quotes (doubling quotes only): ``$$`` and backslashes
    there would end the text early."""
    from test_snowflake_support import fake_tracking

    et = fake_tracking()
    backend = snowflake_backend(models, fs=FakeFeatureStore(), tracking=et,
                                predefined_views=False)
    reg = backend.registry
    escape = "x$$; DROP MODEL m; --"
    for kwargs in ({"comment": escape}, {"comment": "cost: 5$"}, {"metrics": {"a": escape}},
                   {"params": {escape: 1}}, {"lineage": {"run": [escape]}},
                   {"tags": {"t": escape}}):
        with pytest.raises(ConfigurationError, match="refused"):
            reg.log_model(FakeModel({"jitter": 1.0}), model_name="m", **kwargs)
    assert models.log_calls == []
    reg.log_model(FakeModel({"jitter": 1.0}), model_name="m", comment="costs $5, fine")
    for call in (lambda: reg.set_comment("m", "V1", escape),
                 lambda: reg.set_metric("m", "V1", "a", escape),
                 lambda: reg.set_tag("m", "V1", "t", escape)):
        with pytest.raises(ConfigurationError, match="refused"):
            call()
    fs = backend.feature_store
    with pytest.raises(ConfigurationError, match="backslash"):
        fs.register_entity(Entity("call", ("call_id",), "ends with \\"))
    entity = fs.register_entity(Entity("call", ("call_id",), "it's fine"))
    with pytest.raises(ConfigurationError, match="backslash"):
        fs.register_feature_view(FeatureViewSpec("v", entity, ("jitter",),
                                                 description="a\\' OR 1=1"))
    tracker = backend.experiments
    with tracker.start_run("r1"):
        with pytest.raises(ConfigurationError, match="refused"):
            tracker.log_params({"p": escape})
        with pytest.raises(ConfigurationError, match="refused"):
            tracker.log_metrics({escape: 1.0})
    et.log_params.assert_not_called()
