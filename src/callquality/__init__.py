"""callquality: from call-center recordings to a governed call-quality model and coaching.

Quick start::

    import callquality as cq
    calls = cq.load_calls("examples/fixtures")
    features = cq.extract(calls, groups=("acoustic", "interaction"))
"""

from __future__ import annotations

from ._version import __version__
from .backends import connect
from .calls import Call, Segment, Transcript, Word, load_call, load_calls
from .exceptions import CallLoadError, CallQualityError, MissingExtraError
from .redaction import redact
from .schema import FEATURES, GROUPS, FeatureSpec, feature_names

__all__ = [
    "FEATURES",
    "GROUPS",
    "Call",
    "CallLoadError",
    "CallQualityError",
    "FeatureSpec",
    "MissingExtraError",
    "Segment",
    "Transcript",
    "Word",
    "__version__",
    "connect",
    "extract",
    "feature_names",
    "load_call",
    "load_calls",
    "monitoring",
    "redact",
    "score",
    "training",
]

_LAZY_MODULES = ("training", "labeling", "features", "backends", "testing", "protocols", "audio",
                 "monitoring", "serving", "coaching", "dashboard")


def __getattr__(name: str):  # lazy: keep `import callquality` light
    if name == "extract":
        from .features.extractor import extract

        return extract
    if name == "score":
        from .serving import score

        return score
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'callquality' has no attribute {name!r}")
