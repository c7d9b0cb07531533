"""Specific storage errors shared by every backend.

They refine the families of :mod:`callquality.exceptions`, so ``except SchemaError`` or
``except ConfigurationError`` still catches them.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..exceptions import ConfigurationError, SchemaError

__all__ = [
    "DuplicateKeyError",
    "InvalidNameError",
    "MissingColumnsError",
    "MissingTimestampError",
]


class InvalidNameError(ConfigurationError):
    """A model, version, alias, entity or feature-view name is not a valid identifier."""


class MissingColumnsError(SchemaError):
    """A table (ingestion batch, spine, prediction batch) lacks required columns.

    Attributes:
        missing: the missing column names.
    """

    def __init__(self, message: str, missing: Sequence[str] = ()) -> None:
        self.missing = tuple(missing)
        super().__init__(message)


class MissingTimestampError(SchemaError):
    """A timestamp column holds missing values (NaT/None) where every row needs one."""


class DuplicateKeyError(SchemaError):
    """A batch repeats a key (join keys + timestamp, or a prediction id), or the key exists."""
