"""A snowflake-ml ``CustomModel`` that runs any self-saving model inside Snowflake.

The Snowflake registry logs a :class:`~callquality.training.CallQualityModel` as an XGBoost
classifier (Snowflake runs it natively, with SHAP explanations). Other models that save
themselves (``save(directory)`` + classmethod ``load(directory)``) are logged as this custom
model: its artifacts are the model's own files and a small JSON naming the class to load them
with and the feature columns; ``predict_proba`` returns ``SCORE`` and ``predict``
``PREDICTED_CLASS``.

snowflake-ml pickles this module *by value* into the model (``cloudpickle``), so it imports
nothing from callquality: the warehouse need not have callquality installed to unpickle it.
It does need the model's own package to *run* it (pass ``pip_requirements`` /
``conda_dependencies`` or ``code_paths`` to ``log_model``).

(No ``from __future__ import annotations`` here: snowflake-ml checks that the inference
methods' annotations *are* ``pandas.DataFrame``, not strings.)
"""

import importlib
import json
from typing import Any

import numpy as np
import pandas as pd
from snowflake.ml.model import custom_model

__all__ = ["RUNNER_ARTIFACT", "SavedModelRunner"]

#: Name of the artifact holding ``{"loader": "module:Class", "features": [...],
#: "threshold": float}``.
RUNNER_ARTIFACT = "runner"
MODEL_ARTIFACT = "model"


class SavedModelRunner(custom_model.CustomModel):
    """Loads the saved model from its artifacts and serves ``predict_proba`` / ``predict``.

    Args:
        context: a ``ModelContext`` with artifacts ``"model"`` (the folder the model saved
            itself into) and ``"runner"`` (the JSON described in the module docstring).
    """

    def __init__(self, context: custom_model.ModelContext) -> None:
        super().__init__(context)
        with open(context.path(RUNNER_ARTIFACT), encoding="utf-8") as fh:
            spec = json.load(fh)
        module_name, _, qualname = str(spec["loader"]).partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        self._model = obj.load(context.path(MODEL_ARTIFACT))
        self._features = [str(f) for f in spec["features"]]
        self._threshold = float(spec.get("threshold", 0.5))

    def _inputs(self, X: pd.DataFrame) -> pd.DataFrame:
        by_upper = {str(c).upper(): c for c in X.columns}
        cols = {}
        for f in self._features:
            src = f if f in X.columns else by_upper.get(f.upper())
            if src is None:
                raise ValueError(f"input lacks feature column {f!r}")
            cols[f] = X[src].to_numpy()
        return pd.DataFrame(cols, index=X.index)

    @custom_model.inference_api
    def predict_proba(self, X: pd.DataFrame) -> pd.DataFrame:
        """Positive-class probability per row, column ``SCORE``."""
        score = np.asarray(self._model.predict_proba(self._inputs(X)), dtype=np.float64)
        return pd.DataFrame({"SCORE": score.reshape(-1)})

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """Class 0/1 per row at the model's threshold, column ``PREDICTED_CLASS``."""
        score = np.asarray(self._model.predict_proba(self._inputs(X)), dtype=np.float64)
        return pd.DataFrame({"PREDICTED_CLASS": (score.reshape(-1) >= self._threshold)
                             .astype(np.int64)})
