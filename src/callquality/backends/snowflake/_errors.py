"""Translation of Snowflake exceptions into callquality's at the backend boundary.

snowflake-ml-python re-raises its errors as plain ``ValueError``/``RuntimeError`` with an
error code in the message (``"(1300) Unable to find model ..."``); Snowpark raises
``SnowparkSQLException`` carrying the SQL error number; the connector raises
``snowflake.connector.errors.Error`` subclasses with ``errno``. Every public method of the
backend runs inside :func:`boundary`, which maps them to:

======================================================  ================================
Snowflake                                               callquality
======================================================  ================================
error 2003, "does not exist", "unable to find", KeyError  :class:`NotFoundError`
error 2002, "already exists" / "already existed"        :class:`AlreadyExistsError`
"is not a valid SQL identifier"                         :class:`InvalidNameError`
error 3001, "insufficient privileges"                   :class:`BackendError` (permissions)
anything else                                           :class:`BackendError`
======================================================  ================================

The original exception is kept as ``__cause__``; callquality's own errors pass through.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from ...exceptions import AlreadyExistsError, BackendError, CallQualityError, NotFoundError
from ..errors import InvalidNameError

__all__ = ["boundary", "sql_error_code", "translate"]

_NOT_FOUND = re.compile(r"does not exist|unable to find|cannot find|not found|no such|"
                        r"has not been registered|cannot be found", re.IGNORECASE)
_EXISTS = re.compile(r"already exist", re.IGNORECASE)
_INVALID = re.compile(r"not a valid (sql )?identifier|invalid identifier", re.IGNORECASE)
_PERMISSION = re.compile(r"insufficient privileges|not authorized|permission denied",
                         re.IGNORECASE)
_MAX_MESSAGE = 500


def sql_error_code(exc: BaseException) -> int | None:
    """The Snowflake SQL error number of ``exc`` (Snowpark or connector), if any."""
    for attr in ("sql_error_code", "errno"):
        code = getattr(exc, attr, None)
        if isinstance(code, int) and code > 0:
            return code
    inner = getattr(exc, "original_exception", None) or getattr(exc, "conn_error", None)
    if isinstance(inner, BaseException) and inner is not exc:
        return sql_error_code(inner)
    return None


def _message(exc: BaseException) -> str:
    inner = getattr(exc, "original_exception", None)
    if isinstance(inner, BaseException) and inner is not exc:
        return _message(inner)
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + " ..."


def translate(exc: BaseException, call: str) -> CallQualityError:
    """The callquality exception for ``exc`` raised by Snowflake during ``call``."""
    if isinstance(exc, CallQualityError):
        return exc
    code = sql_error_code(exc)
    text = _message(exc)
    detail = f"{call}: Snowflake: {text}"
    permission = BackendError(f"{call}: permission denied by Snowflake ({text}); grant the "
                              "role the privileges listed in docs/snowflake.md")
    if code == 2003:
        return NotFoundError(detail)
    if code == 3001:
        return permission
    if isinstance(exc, KeyError) or _NOT_FOUND.search(text):
        return NotFoundError(detail)
    if _PERMISSION.search(text):
        return permission
    if code == 2002 or _EXISTS.search(text):
        return AlreadyExistsError(detail)
    if _INVALID.search(text):
        return InvalidNameError(detail)
    return BackendError(f"{call}: Snowflake failed ({type(exc).__name__}): {text}")


@contextmanager
def boundary(call: str) -> Iterator[None]:
    """Run a block, translating every non-callquality exception with :func:`translate`."""
    try:
        yield
    except CallQualityError:
        raise
    except Exception as exc:
        raise translate(exc, call) from exc
