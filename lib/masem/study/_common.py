"""What the study-level checks share: the tidy parameter frame of a fit and the argument checks.

Private to :mod:`masem.study`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from masem.errors import DataError, ModelError
from masem.tssem import TSSEM2Result

# inspect() writes loadings in semopy's form (indicator ~ factor), so they count as paths
_TYPES = {"~": "path", "~~": "covariance", ":=": "defined"}


# ----------------------------------------------------------------------------------------------
# Helpers shared by both checks
# ----------------------------------------------------------------------------------------------
def parameter_frame(fit: TSSEM2Result) -> pd.DataFrame:
    """parameter, type, estimate, se, ci_lower, ci_upper of every free parameter and definition."""
    table = fit.inspect().drop_duplicates("label")
    return pd.DataFrame(
        {
            "parameter": table["label"].to_numpy(),
            "type": table["op"].map(_TYPES).to_numpy(),
            "estimate": table["Estimate"].to_numpy(dtype=float),
            "se": table["Std. Err"].to_numpy(dtype=float),
            "ci_lower": table["ci.lower"].to_numpy(dtype=float),
            "ci_upper": table["ci.upper"].to_numpy(dtype=float),
        }
    )


def check_model(model: Any) -> str:
    if not isinstance(model, str) or not model.strip():
        raise ModelError(f"model must be lavaan syntax in a non-empty str, got {model!r}.")
    return model


def select(
    frame: pd.DataFrame, parameters: Sequence[str] | None, available: Sequence[str]
) -> pd.DataFrame:
    if parameters is None:
        return frame
    if isinstance(parameters, str) or not isinstance(parameters, Sequence):
        raise DataError(f"parameters must be a list of parameter labels, got {parameters!r}.")
    unknown = [p for p in parameters if p not in set(available)]
    if unknown:
        raise DataError(f"unknown parameter(s) {unknown}; the model has {list(available)}.")
    return frame[frame["parameter"].isin(list(parameters))]
