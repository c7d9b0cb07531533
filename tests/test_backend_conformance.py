"""The backend conformance suite (callquality.testing) on the local backend, in memory and in
a folder. The Snowflake backend runs the same suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import callquality as cq
from callquality.testing import BackendConformance, backend_conformance


@pytest.fixture(params=["memory", "folder"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    store = cq.connect("local", path=None if request.param == "memory" else tmp_path / "store")
    yield store
    store.close()


class TestLocalBackend(BackendConformance):
    """Parametrised over the two local flavours by the module's ``backend`` fixture."""


# The factory form, as a third-party or the Snowflake backend would use it.
TestLocalFolderViaFactory = backend_conformance(
    lambda tmp_path: cq.connect("local", path=tmp_path / "factory-store"),
    name="TestLocalFolderViaFactory")
