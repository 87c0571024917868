"""Where a stage-2 model misses: pooled minus model-implied correlations, largest first.

The chi-square of a stage-2 fit says *whether* a model misses the pooled correlations; the
residual correlations say *where*. Looking at the largest residuals of a model that misfits is the
usual first step towards a better one (Bollen, 1989, ch. 7; Brown, 2015, ch. 5), as long as the
change it suggests makes substantive sense. :func:`r_squared` gives the other side of a residual:
how much of each predicted variable's variance the model explains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from masem.errors import ModelError
from masem.tssem.stage2 import TSSEM2Result

__all__ = ["r_squared", "residual_table"]


def residual_table(result: TSSEM2Result, largest: int | None = None) -> pd.DataFrame:
    """Residual correlations of a stage-2 fit (pooled r minus model-implied), largest in size first.

    Parameters
    ----------
    result : TSSEM2Result
        A fit of :func:`masem.tssem2`.
    largest : int, optional
        Keep only this many rows (the largest absolute residuals); all pairs by default.

    Returns
    -------
    pandas.DataFrame
        One row per pair of observed variables: ``var1``, ``var2`` (stage-1 order), ``pooled``
        (the correlation the model was fitted to), ``implied`` (the model's), ``residual``
        (pooled - implied); sorted by the absolute residual, largest first, ties in stage-1 order.

    Raises
    ------
    ModelError
        If ``result`` is not a :func:`masem.tssem2` result or ``largest`` is not a positive integer.

    References
    ----------
    Bollen, K. A. (1989). *Structural equations with latent variables*. Wiley.
    Brown, T. A. (2015). *Confirmatory factor analysis for applied research* (2nd ed.). Guilford.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import numpy as np, pandas as pd
    >>> import masem
    >>> R = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    >>> names = ["x", "m", "y"]
    >>> s1 = SimpleNamespace(pooled=pd.DataFrame(R, names, names), variables=names, total_n=500,
    ...                      vcov=masem.olkin_siotani(R, 500), method="FEM")
    >>> fit = masem.tssem2(s1, "m ~ x\\ny ~ m\\nx ~~ 1*x")  # no direct x -> y path
    >>> residual_table(fit, largest=1).round(2)
      var1 var2  pooled  implied  residual
    0    x    y     0.3     0.21      0.09
    """
    if not isinstance(result, TSSEM2Result):
        raise ModelError(f"result must be a tssem2() result, got {type(result).__name__}")
    if largest is not None and (
        isinstance(largest, bool) or not isinstance(largest, (int, np.integer)) or largest < 1
    ):
        raise ModelError(f"largest must be a positive integer or None, got {largest!r}")
    names = list(result.variables)
    # vechs order (column-major lower triangle) matches sample_vector: pair (i, j) with i < j.
    cols, rows = np.triu_indices(len(names), k=1)
    pooled = result.sample_vector.to_numpy()
    implied = result.implied.to_numpy()[rows, cols]
    table = pd.DataFrame(
        {
            "var1": [names[c] for c in cols],
            "var2": [names[r] for r in rows],
            "pooled": pooled,
            "implied": implied,
            "residual": pooled - implied,
        }
    )
    order = np.argsort(-np.abs(table["residual"].to_numpy()), kind="stable")
    table = table.iloc[order].reset_index(drop=True)
    return table if largest is None else table.head(int(largest))


def r_squared(result: TSSEM2Result) -> pd.Series:
    """Share of each endogenous observed variable's variance that a stage-2 model explains (R2).

    A stage-2 model is fitted to correlations, so every observed variable has model-implied
    variance 1 (up to the fit's precision) and R2 = 1 - residual variance / implied variance
    (Bollen, 1989, ch. 4). "Endogenous" means the model predicts the variable: it has at least
    one incoming path (a regression or, for an indicator, a loading). Exogenous variables, whose
    variance the model takes as given, are not listed.

    Parameters
    ----------
    result : TSSEM2Result
        A fit of :func:`masem.tssem2`.

    Returns
    -------
    pandas.Series
        R2 by variable, named ``"R2"``, in stage-1 order.

    Raises
    ------
    ModelError
        If ``result`` is not a :func:`masem.tssem2` result or the model predicts no observed
        variable.

    References
    ----------
    Bollen, K. A. (1989). *Structural equations with latent variables*. Wiley.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import numpy as np, pandas as pd
    >>> import masem
    >>> R = np.array([[1.0, 0.3, 0.4], [0.3, 1.0, 0.0], [0.4, 0.0, 1.0]])
    >>> names = ["y", "x1", "x2"]
    >>> s1 = SimpleNamespace(pooled=pd.DataFrame(R, names, names), variables=names, total_n=500,
    ...                      vcov=masem.olkin_siotani(R, 500), method="FEM")
    >>> fit = masem.tssem2(s1, "y ~ x1 + x2\\nx1 ~~ 1*x1\\nx2 ~~ 1*x2\\nx1 ~~ 0*x2")
    >>> r_squared(fit).round(3)  # uncorrelated predictors: .3**2 + .4**2
    y    0.25
    Name: R2, dtype: float64
    """
    if not isinstance(result, TSSEM2Result):
        raise ModelError(f"result must be a tssem2() result, got {type(result).__name__}")
    observed = list(result.variables)
    paths = result.A.loc[observed]
    # A structural zero and an estimate of exactly 0 look alike in A; the parameter table does not.
    table = result.inspect()
    predicted = set(table.loc[table["op"] == "~", "lval"]) | set(
        paths.index[(paths != 0).any(axis=1)]
    )
    endogenous = [v for v in observed if v in predicted]
    if not endogenous:
        raise ModelError(
            "the model predicts no observed variable (no 'y ~ x' path or loading), so there is no "
            "R2"
        )
    residual = np.diag(result.S.loc[endogenous, endogenous].to_numpy())
    implied = np.diag(result.implied.loc[endogenous, endogenous].to_numpy())
    return pd.Series(1.0 - residual / implied, index=endogenous, name="R2")
