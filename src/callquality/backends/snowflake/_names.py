"""Snowflake identifiers, object names and stage locations: validated, then quoted.

Nothing in the Snowflake backend puts user text into SQL without passing through here:

* an identifier is either *unquoted* (``call_quality``: a letter or ``_``, then letters, digits,
  ``_`` or ``$``; Snowflake resolves it upper-case, ``CALL_QUALITY``) or *quoted*
  (``"Call Quality"``: kept as written; no ``"``, backslash or control character inside).
  Anything else raises :class:`~callquality.backends.errors.InvalidNameError` naming the call;
* in SQL the backend writes every identifier double-quoted (``"CALL_QUALITY"``), so the text
  can never end the identifier early;
* a stage location ``@[db.][schema.]stage[/path/...]`` has validated identifiers and path
  segments of letters, digits, space and ``_ . - = + , ( ) ~ %`` only (no quote, backslash,
  ``;``, wildcard or ``..``), so it can be written inside a single-quoted SQL string.

Values (key values, timestamps, names used as data) never reach SQL text through this
backend: they travel as bind parameters or inside Snowpark DataFrames. snowflake-ml-python,
however, embeds some free text in its own SQL: comments, version metadata (metrics) and run
parameters inside ``$$...$$``, feature-store descriptions inside ``'...'`` with quotes doubled
but backslashes kept. :func:`check_text` refuses text that could end those strings early.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidNameError

__all__ = [
    "DOLLAR",
    "LITERAL",
    "Ident",
    "ObjectName",
    "StageLocation",
    "check_path_segment",
    "check_text",
    "column",
    "parse_ident",
    "parse_object_name",
    "parse_stage",
    "session_ident",
]

_UNQUOTED = r"[A-Za-z_][A-Za-z0-9_$]{0,254}"
_QUOTED = r'"[^"\\\x00-\x1f\x7f]{1,255}"'
_PART = f"(?:{_UNQUOTED}|{_QUOTED})"
_UNQUOTED_RE = re.compile(f"^{_UNQUOTED}$")
_QUOTED_RE = re.compile(f"^{_QUOTED}$")
_OBJECT_RE = re.compile(f"^({_PART})(?:\\.({_PART}))?(?:\\.({_PART}))?$")
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9 _.\-=+,()~%]{1,255}$")
_UPPER_RE = re.compile(r"^[A-Z_][A-Z0-9_$]*$")

_HINT = ("use an unquoted SQL identifier (a letter or '_', then letters, digits, '_' or '$'; "
         "e.g. CALL_QUALITY) or a double-quoted one without '\"', '\\' or control characters")


@dataclass(frozen=True)
class Ident:
    """A resolved Snowflake identifier.

    Attributes:
        name: the exact name Snowflake stores (upper-case for an unquoted input).
    """

    name: str

    @property
    def sql(self) -> str:
        """The identifier for SQL text: always double-quoted (``"CALL_QUALITY"``)."""
        return f'"{self.name}"'

    @property
    def api(self) -> str:
        """The identifier for snowflake-ml-python arguments: unquoted when it is upper-case
        (``CALL_QUALITY``), double-quoted otherwise (``"Call Quality"``)."""
        return self.name if _UPPER_RE.match(self.name) else self.sql

    def __str__(self) -> str:
        return self.name


def parse_ident(value: Any, kind: str, call: str) -> Ident:
    """The :class:`Ident` of ``value``.

    Args:
        value: ``name`` (resolved upper-case) or ``"Name"`` (kept as written).
        kind: what it names, for the message (``"model name"``, ``"stage"``).
        call: the public call, for the message.

    Raises:
        InvalidNameError: ``value`` is neither form.
    """
    if isinstance(value, Ident):
        return value
    if isinstance(value, str):
        if _UNQUOTED_RE.match(value):
            return Ident(value.upper())
        if _QUOTED_RE.match(value):
            return Ident(value[1:-1])
    raise InvalidNameError(f"{call}: invalid {kind} {value!r}: {_HINT}")


def session_ident(value: Any, kind: str, call: str) -> Ident | None:
    """An identifier as a Snowpark session reports it (``get_current_database()`` and
    friends return ``"MY_DB"`` quoted, or ``None``)."""
    if value is None or value == "":
        return None
    return parse_ident(value, kind, call)


def column(name: str) -> str:
    """The upper-case column name of a schema name (``jitter`` -> ``JITTER``); the name must
    already be a valid unquoted identifier."""
    return name.upper()


@dataclass(frozen=True)
class ObjectName:
    """A schema-level object (table, view, monitor, stage): database, schema and name."""

    database: Ident
    schema: Ident
    name: Ident

    @property
    def sql(self) -> str:
        """``"DB"."SCHEMA"."NAME"``."""
        return f"{self.database.sql}.{self.schema.sql}.{self.name.sql}"

    @property
    def api(self) -> str:
        """``DB.SCHEMA.NAME`` for snowflake-ml-python (parts quoted only when needed)."""
        return f"{self.database.api}.{self.schema.api}.{self.name.api}"

    def __str__(self) -> str:
        return self.sql


def parse_object_name(value: Any, kind: str, call: str, *, database: Ident, schema: Ident
                      ) -> ObjectName:
    """``name``, ``schema.name`` or ``database.schema.name`` (each part an identifier).

    Args:
        value: the name; missing parts default to ``database`` and ``schema``.
        kind, call: for the message.

    Raises:
        InvalidNameError: a part is not an identifier.
    """
    if isinstance(value, ObjectName):
        return value
    m = _OBJECT_RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise InvalidNameError(f"{call}: invalid {kind} {value!r}: use NAME, SCHEMA.NAME or "
                               f"DATABASE.SCHEMA.NAME, each part an identifier ({_HINT})")
    parts = [parse_ident(p, kind, call) for p in m.groups() if p is not None]
    if len(parts) == 1:
        return ObjectName(database, schema, parts[0])
    if len(parts) == 2:
        return ObjectName(database, parts[0], parts[1])
    return ObjectName(parts[0], parts[1], parts[2])


def check_path_segment(segment: str, what: str, call: str) -> str:
    """``segment`` if it is a safe stage path segment, else :class:`InvalidNameError`."""
    if not isinstance(segment, str) or not _SEGMENT_RE.match(segment) or \
            segment in (".", "..") or segment.strip() != segment:
        raise InvalidNameError(
            f"{call}: invalid {what} {segment!r}: stage path segments may hold letters, digits, "
            "space and _ . - = + , ( ) ~ % only (no quotes, backslashes, wildcards, '..' or "
            "leading/trailing spaces)")
    return segment


@dataclass(frozen=True)
class StageLocation:
    """A validated stage location: a named stage and a relative path under it."""

    stage: ObjectName
    path: tuple[str, ...] = ()

    @property
    def sql(self) -> str:
        """``@"DB"."SCH"."STAGE"/a/b`` (safe inside a single-quoted SQL string)."""
        return "@" + self.stage.sql + "".join(f"/{p}" for p in self.path)

    @property
    def literal(self) -> str:
        """The location as a single-quoted SQL string literal (for ``LIST``)."""
        return f"'{self.sql}/'" if self.path else f"'{self.sql}'"

    def child(self, relative: str, call: str) -> StageLocation:
        """The location of ``relative`` (``"a/b.wav"``) under this one (segments checked)."""
        parts = tuple(check_path_segment(p, "stage path", call) for p in relative.split("/"))
        return StageLocation(self.stage, self.path + parts)

    def __str__(self) -> str:
        return self.sql


def parse_stage(value: Any, call: str, *, database: Ident, schema: Ident) -> StageLocation:
    """``@stage``, ``@schema.stage/path``, ``@db.schema.stage/path/to/dir`` (the ``@`` is
    optional; a trailing ``/`` is ignored).

    Raises:
        InvalidNameError: an identifier or a path segment is not valid.
    """
    if isinstance(value, StageLocation):
        return value
    if not isinstance(value, str) or not value.strip("@"):
        raise InvalidNameError(f"{call}: invalid stage location {value!r}; use "
                               "'@STAGE/path' or '@DB.SCHEMA.STAGE/path'")
    text = value[1:] if value.startswith("@") else value
    name, _, rest = _split_stage(text)
    stage = parse_object_name(name, "stage", call, database=database, schema=schema)
    rest = rest.rstrip("/")
    path = tuple(check_path_segment(p, "stage path", call) for p in rest.split("/")) \
        if rest else ()
    return StageLocation(stage, path)


def _split_stage(text: str) -> tuple[str, str, str]:
    """Split ``name/path`` at the first ``/`` outside double quotes."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == "/" and not quoted:
            return text[:i], "/", text[i + 1:]
    return text, "", ""


#: Text snowflake-ml puts between ``$$`` (comments, metadata JSON, run parameters).
DOLLAR = "dollar"
#: Text snowflake-ml puts in a single-quoted literal, doubling quotes only (descriptions).
LITERAL = "literal"


def check_text(value: Any, what: str, call: str, *, context: str = DOLLAR,
               raw: bool = False) -> None:
    """Refuse free text (and every string nested in dicts and lists, keys included) that
    snowflake-ml would embed in SQL unsafely.

    Args:
        value: a string, or a JSON-like structure of them.
        what: what it is, for the message (``"comment"``, ``"metrics"``).
        call: the public call, for the message.
        context: :data:`DOLLAR` (no ``$$``; with ``raw``, also no trailing ``$``, which would
            join the closing ``$$``) or :data:`LITERAL` (no backslash).
        raw: the text is embedded as is (a comment), not inside a JSON document.

    Raises:
        ConfigurationError: the text holds such a sequence (or a NUL character).
    """
    from ...exceptions import ConfigurationError

    def bad(text: str) -> str | None:
        if "\x00" in text:
            return "a NUL character"
        if context == DOLLAR and "$$" in text:
            return "'$$'"
        if context == DOLLAR and raw and text.endswith("$"):
            return "a trailing '$'"
        if context == LITERAL and "\\" in text:
            return "a backslash"
        return None

    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            reason = bad(item)
            if reason is not None:
                raise ConfigurationError(
                    f"{call}: the {what} holds {reason} ({item[:40]!r}); snowflake-ml writes it "
                    "into SQL where that would end the quoted text, so it is refused")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
