"""Exception hierarchy.

Every error raised by callquality derives from :class:`CallQualityError`. Backends translate
their own exceptions (sqlite, Snowflake, HTTP clients) into these at the boundary, so callers
catch one family whatever the backend::

    CallQualityError
    ├── MissingExtraError            an optional dependency is not installed
    ├── ConfigurationError           bad arguments or options
    │   └── ModelUnavailableError    model weights neither local nor downloadable (says how)
    ├── CallLoadError                a recording or its sidecar cannot be used (names the file)
    │   ├── AudioFileNotFoundError
    │   ├── EmptyAudioError          zero bytes or zero samples
    │   ├── AudioDecodeError         corrupt/truncated file, unsupported codec or container
    │   ├── UnsupportedAudioError    readable but outside what we accept (rate, channels, length)
    │   ├── InvalidAudioError        samples that are not finite (NaN/inf)
    │   └── SidecarError             unreadable or inconsistent sidecar JSON
    ├── ExtractionError              a feature could not be computed for a call
    ├── SchemaError                  a table does not match the feature schema / a signature
    ├── LabelingError
    ├── TrainingError
    ├── BackendError                 storage-level failures, translated from the backend
    │   ├── NotFoundError
    │   ├── AlreadyExistsError
    │   ├── IntegrityError           checksum mismatch, half-written artifact
    │   └── ConflictError            concurrent modification, refused deletion
    └── MonitoringError
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AlreadyExistsError",
    "AudioDecodeError",
    "AudioFileNotFoundError",
    "BackendError",
    "CallLoadError",
    "CallQualityError",
    "ConfigurationError",
    "ConflictError",
    "EmptyAudioError",
    "ExtractionError",
    "IntegrityError",
    "InvalidAudioError",
    "LabelingError",
    "MissingExtraError",
    "ModelUnavailableError",
    "MonitoringError",
    "NotFoundError",
    "SchemaError",
    "SidecarError",
    "TrainingError",
    "UnsupportedAudioError",
]


class CallQualityError(Exception):
    """Base class of every callquality error."""


class MissingExtraError(CallQualityError, ImportError):
    """An optional dependency is missing; the message holds the exact install command."""

    def __init__(self, extra: str, module: str, feature: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(
            f"{feature} needs the optional dependency {module!r}, which is not installed. "
            f"Install it with: pip install 'callquality[{extra}]'"
        )


class ConfigurationError(CallQualityError, ValueError):
    """Invalid arguments or options."""


class ModelUnavailableError(ConfigurationError):
    """A model's weights cannot be found locally nor downloaded.

    ``model`` names it; the message says how to pre-download it or point to a local copy.
    """

    def __init__(self, model: str, reason: str, hint: str) -> None:
        self.model = model
        self.reason = reason
        self.hint = hint
        super().__init__(f"model {model!r} is not available: {reason}. {hint}")


class CallLoadError(CallQualityError):
    """A recording or its sidecar cannot be loaded. ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class AudioFileNotFoundError(CallLoadError, FileNotFoundError):
    """The audio file does not exist or is not a file."""


class EmptyAudioError(CallLoadError):
    """The file has zero bytes or decodes to zero samples."""


class AudioDecodeError(CallLoadError):
    """The file cannot be decoded: corrupt or truncated, or an unsupported container/codec."""


class UnsupportedAudioError(CallLoadError):
    """The file decodes but is outside the accepted range (sample rate, channels, duration)."""


class InvalidAudioError(CallLoadError):
    """The decoded samples are not all finite (NaN or inf)."""


class SidecarError(CallLoadError):
    """The sidecar JSON is unreadable, malformed, or belongs to another call."""


class ExtractionError(CallQualityError):
    """A feature could not be computed for a call."""


class SchemaError(CallQualityError, ValueError):
    """A table does not match the feature schema or a model signature."""


class LabelingError(CallQualityError):
    """Labeling failed for reasons other than a single invalid answer (which is quarantined)."""


class TrainingError(CallQualityError):
    """Training or evaluation cannot proceed (e.g. a single class in the training set)."""


class BackendError(CallQualityError):
    """A storage backend failed; the original exception is chained as ``__cause__``."""


class NotFoundError(BackendError, KeyError):
    """The model, version, alias, feature view, run or entity does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AlreadyExistsError(BackendError):
    """The object already exists and overwriting was not requested."""


class IntegrityError(BackendError):
    """Stored data failed verification (checksum mismatch, missing or half-written artifact)."""


class ConflictError(BackendError):
    """The operation conflicts with the current state (aliased version, concurrent change)."""


class MonitoringError(CallQualityError):
    """Monitoring could not compute a metric or evaluate an alert."""
