"""The backend conformance suite (callquality.testing) on the Snowflake backend.

* ``TestSnowflakeConformanceOffline`` runs it on this machine: the backend's Snowpark code on
  a local-testing session, its snowflake-ml calls on ``create_autospec`` stand-ins of the real
  classes (tests/test_snowflake_support.py). It shows the backend keeps the local backend's
  semantics wherever Snowflake's own behaviour is modelled by the stand-ins.
* ``TestSnowflakeConformanceAccount`` runs it against a real account when
  ``SNOWFLAKE_ACCOUNT`` and credentials (``SNOWFLAKE_USER`` + ``SNOWFLAKE_PASSWORD``, or
  ``SNOWFLAKE_PRIVATE_KEY_FILE``, or ``SNOWFLAKE_AUTHENTICATOR``) are set, plus
  ``SNOWFLAKE_DATABASE`` and ``SNOWFLAKE_WAREHOUSE``; each test gets a fresh schema, dropped
  afterwards. Select it with ``pytest -m snowflake_account``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("snowflake.ml.registry", reason="needs pip install 'callquality[snowflake]'")

from callquality.testing import BackendConformance
from test_snowflake_support import snowflake_backend

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.SettingWithCopyWarning")


class TestSnowflakeConformanceOffline(BackendConformance):
    """The suite on the local-testing session and the autospecced snowflake-ml stand-ins.

    Installing the quickstart's three views costs about two seconds of Snowpark emulation,
    so only the test that checks them gets them (the account suite installs them for all).
    """

    @pytest.fixture
    def backend(self, request: pytest.FixtureRequest) -> Iterator[Any]:
        store = snowflake_backend(
            predefined_views=request.node.name == "test_feature_store_has_the_quickstart_views")
        yield store
        store.close()


def _account_reason() -> str | None:
    if not os.environ.get("SNOWFLAKE_ACCOUNT"):
        return "SNOWFLAKE_ACCOUNT is not set (no Snowflake account to test against)"
    if not (os.environ.get("SNOWFLAKE_PASSWORD") or os.environ.get("SNOWFLAKE_PRIVATE_KEY_FILE")
            or os.environ.get("SNOWFLAKE_AUTHENTICATOR")):
        return ("no Snowflake credentials (SNOWFLAKE_PASSWORD, SNOWFLAKE_PRIVATE_KEY_FILE or "
                "SNOWFLAKE_AUTHENTICATOR)")
    if not (os.environ.get("SNOWFLAKE_DATABASE") and os.environ.get("SNOWFLAKE_WAREHOUSE")):
        return "SNOWFLAKE_DATABASE and SNOWFLAKE_WAREHOUSE must name a database and warehouse"
    return None


class _AccountConformance(BackendConformance):
    """The suite against a real Snowflake account: a fresh schema per test, dropped after."""

    @pytest.fixture
    def backend(self) -> Iterator[Any]:
        from callquality.backends.snowflake import SnowflakeBackend

        schema = f"CQ_TEST_{uuid.uuid4().hex[:10].upper()}"
        store = SnowflakeBackend.from_env(schema=schema)
        db = store.database.sql
        store.session.sql(f'CREATE SCHEMA {db}."{schema}"').collect()
        try:
            yield store
        finally:
            try:
                store.session.sql(f'DROP SCHEMA IF EXISTS {db}."{schema}" CASCADE').collect()
            finally:
                store.close()


if _account_reason() is None:
    TestSnowflakeConformanceAccount = pytest.mark.snowflake_account(
        type("TestSnowflakeConformanceAccount", (_AccountConformance,), {}))
else:

    @pytest.mark.snowflake_account
    def test_snowflake_account_conformance() -> None:
        """Stands for the account suite when no account is configured (one visible skip)."""
        pytest.skip(f"snowflake_account: {_account_reason()}; the conformance suite against a "
                    "real account did not run")
