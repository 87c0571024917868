"""Factor loadings of a fitted stage-2 model as a tidy table, with intervals and explained variance.

A stage-2 model is fitted to a correlation matrix, so every observed variable has unit variance
and a loading is standardized: with the factor's variance fixed at 1 (the usual way to give a
factor a scale), the loading is the correlation of the indicator with the factor when the
indicator loads on that factor only, and the share of the indicator's variance that the
factors explain (its *communality*, R squared) is one minus its residual variance (Cheung,
2015, ch. 7; Brown, 2015, ch. 4).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from masem.errors import ModelError
from masem.stage2 import TSSEM2Result

__all__ = ["loading_table"]

_COLUMNS = [
    "factor", "indicator", "label", "loading", "se", "ci_lower", "ci_upper", "interval",
    "explained", "residual",
]


def loading_table(result: TSSEM2Result, indicators: Sequence[str] | None = None) -> pd.DataFrame:
    """Loadings of the observed variables on the latent factors of a stage-2 fit, one row each.

    Parameters
    ----------
    result : TSSEM2Result
        A model with at least one latent factor (``=~``), fitted by :func:`masem.tssem2`.
    indicators : sequence of str, optional
        The observed variables whose loadings to list, in this order. By default every path from
        a latent factor to an observed variable, in the order of the fit; in RAM form a regression
        of an observed outcome on a factor (``JS ~ F``) is such a path too, so pass the
        indicators to leave outcomes out.

    Returns
    -------
    pandas.DataFrame
        Columns ``factor``, ``indicator``, ``label``, ``loading`` (standardized), ``se``,
        ``ci_lower``, ``ci_upper`` (95%, computed as the fit's ``intervals`` say), ``interval``
        (``"wald"`` or ``"profile"``), ``explained`` (the share of the indicator's variance the
        model's factors and predictors explain, 1 - residual variance) and ``residual`` (the
        residual variance: specific variance plus measurement error).

    Raises
    ------
    ModelError
        If ``result`` is not a :func:`masem.tssem2` result, has no latent factor, or an indicator
        named has no loading.

    References
    ----------
    Brown, T. A. (2015). *Confirmatory factor analysis for applied research* (2nd ed.). Guilford.
    Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import numpy as np, pandas as pd
    >>> import masem
    >>> lam = np.array([0.8, 0.7, 0.6])
    >>> R = np.outer(lam, lam); np.fill_diagonal(R, 1.0)
    >>> names = ["x1", "x2", "x3"]
    >>> s1 = SimpleNamespace(pooled=pd.DataFrame(R, names, names), variables=names, total_n=500,
    ...                      vcov=masem.olkin_siotani(R, 500), method="FEM")
    >>> fit = masem.tssem2(s1, "F =~ x1 + x2 + x3\\nF ~~ 1*F")
    >>> loading_table(fit)[["indicator", "loading", "explained"]].round(3)
      indicator  loading  explained
    0        x1      0.8       0.64
    1        x2      0.7       0.49
    2        x3      0.6       0.36
    """
    if not isinstance(result, TSSEM2Result):
        raise ModelError(f"result must be a tssem2() result, got {type(result).__name__}")
    if not result.latent:
        raise ModelError(
            "the model has no latent factor, so it has no loadings; define one with "
            "'F =~ x1 + x2 + ...'"
        )
    table = result.inspect()
    latent, observed = set(result.latent), set(result.variables)
    paths = table[(table["op"] == "~") & table["rval"].isin(latent) & table["lval"].isin(observed)]
    if indicators is None:
        chosen = paths
    else:
        if isinstance(indicators, str):
            raise ModelError(f"indicators must be a list of variable names, got the string {indicators!r}")
        wanted = [str(v) for v in indicators]
        missing = [v for v in wanted if v not in set(paths["lval"])]
        if missing:
            raise ModelError(
                f"{missing} load on no factor in this model; variables with loadings: "
                f"{list(dict.fromkeys(paths['lval']))}"
            )
        order = {v: i for i, v in enumerate(wanted)}
        chosen = paths[paths["lval"].isin(order)]
        chosen = chosen.iloc[np.argsort([order[v] for v in chosen["lval"]], kind="stable")]
    residual = np.diag(result.S.to_numpy())
    position = {v: i for i, v in enumerate(result.S.index)}
    res = np.array([residual[position[v]] for v in chosen["lval"]], dtype=float)
    return pd.DataFrame(
        {
            "factor": chosen["rval"].to_numpy(),
            "indicator": chosen["lval"].to_numpy(),
            "label": chosen["label"].to_numpy(),
            "loading": chosen["Estimate"].to_numpy(),
            "se": chosen["Std. Err"].to_numpy(),
            "ci_lower": chosen["ci.lower"].to_numpy(),
            "ci_upper": chosen["ci.upper"].to_numpy(),
            "interval": result.intervals,
            "explained": 1.0 - res,
            "residual": res,
        },
        columns=_COLUMNS,
    )
