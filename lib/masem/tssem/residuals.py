"""Where a stage-2 model misses: pooled minus model-implied correlations, largest first.

The chi-square of a stage-2 fit says *whether* a model misses the pooled correlations; the
residual correlations say *where*. Looking at the largest residuals of a model that misfits is the
usual first step towards a better one (Bollen, 1989, ch. 7; Brown, 2015, ch. 5), as long as the
change it suggests makes substantive sense. :func:`residual_table` lists the raw residuals;
:func:`residual_check` adds their standard errors, the standardized residuals and the residual
matrix with the cells above a threshold marked. :func:`r_squared` gives the other side of a
residual: how much of each predicted variable's variance the model explains.

References
----------
Bollen, K. A. (1989). *Structural equations with latent variables*. Wiley.
Browne, M. W. (1984). Asymptotically distribution-free methods for the analysis of covariance
structures. *British Journal of Mathematical and Statistical Psychology*, 37, 62-83.
Brown, T. A. (2015). *Confirmatory factor analysis for applied research* (2nd ed.). Guilford.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg

from masem.errors import ConvergenceWarning, ModelError
from masem.tssem.stage2 import TSSEM2Result

__all__ = ["ResidualCheck", "r_squared", "residual_check", "residual_table"]

# A residual whose sampling variance is below this share of its correlation's sampling variance
# is reproduced exactly by the model (a saturated part of it): it has no standardized residual.
_EXACT = 1e-9


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


# ----------------------------------------------------------------------------------------------
# Standardized residuals
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class ResidualCheck:
    """Result of :func:`residual_check` (immutable; DataFrames are built fresh on every access).

    Attributes
    ----------
    variables : tuple of str
        The observed variables of the fit, in stage-1 order.
    threshold : float
        The size of a residual correlation that counts as large (marked in :meth:`marked`).
    n_exceeding : int
        How many residual correlations exceed ``threshold`` in absolute value.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> chain = "Job_knowledge ~ Ability\\nWork_sample ~ Job_knowledge\\nSupervisor ~ Work_sample"
    >>> check = masem.residual_check(masem.tssem2(s1, chain))
    >>> check.n_exceeding
    4
    """

    variables: tuple[str, ...]
    threshold: float
    _table: pd.DataFrame

    @property
    def n_exceeding(self) -> int:
        """How many residual correlations exceed the threshold in absolute value."""
        return int(self._table["exceeds"].sum())

    @property
    def table(self) -> pd.DataFrame:
        """One row per pair: var1, var2, pooled, implied, residual, se, z, exceeds; sorted by
        the absolute standardized residual, largest first (cells the model reproduces exactly,
        without a standardized residual, last).
        """
        return self._table.copy()

    @property
    def matrix(self) -> pd.DataFrame:
        """The residual correlation matrix, pooled minus implied (symmetric, zero diagonal)."""
        return self._square("residual")

    @property
    def z_matrix(self) -> pd.DataFrame:
        """The standardized residuals as a symmetric matrix (zero diagonal)."""
        return self._square("z")

    def summary(self) -> pd.DataFrame:
        """Same as :attr:`table`."""
        return self.table

    def largest(self, n: int = 5) -> pd.DataFrame:
        """The ``n`` rows of :attr:`table` with the largest absolute standardized residuals."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ModelError(f"n must be a positive integer, got {n!r}")
        return self._table.head(int(n)).reset_index(drop=True)

    def marked(self, decimals: int = 3) -> pd.DataFrame:
        """The residual matrix as text, lower triangle, a ``*`` after every residual above the
        threshold in absolute value.
        """
        if isinstance(decimals, bool) or not isinstance(decimals, numbers.Integral):
            raise ModelError(f"decimals must be a whole number, got {decimals!r}")
        values, names = self.matrix.to_numpy(), list(self.variables)
        text = pd.DataFrame("", index=names, columns=names)
        for i in range(len(names)):
            text.iloc[i, i] = "—"
            for j in range(i):
                mark = "*" if abs(values[i, j]) > self.threshold else ""
                text.iloc[i, j] = f"{values[i, j] + 0.0:.{int(decimals)}f}{mark}"
        return text

    def _square(self, column: str) -> pd.DataFrame:
        names = list(self.variables)
        out = pd.DataFrame(0.0, index=names, columns=names)
        for a, b, value in self._table[["var1", "var2", column]].itertuples(index=False):
            out.loc[a, b] = out.loc[b, a] = value
        return out

    def __repr__(self) -> str:
        q = len(self._table)
        head = (
            f"ResidualCheck({self.n_exceeding} of {q} residual correlations exceed "
            f"{self.threshold:g} in absolute value, marked *; largest |residual| "
            f"{self._table['residual'].abs().max():.3f})"
        )
        top = self.largest(min(5, q))[["var1", "var2", "residual", "se", "z"]]
        return "\n".join(
            [
                head,
                self.marked().to_string(),
                "largest standardized residuals (residual / its standard error):",
                top.to_string(index=False, float_format=lambda v: f"{v:.3f}"),
            ]
        )


def residual_covariance(result: TSSEM2Result) -> pd.DataFrame:
    """Asymptotic sampling covariance of the residual correlations of a stage-2 fit.

    For the WLS fit with weight W = V^-1, V the stage-1 sampling covariance of the pooled
    correlations r, and J the Jacobian of the implied correlations at the estimates (restricted
    to the directions that keep any diag(Sigma) = 1 constraints), the residuals e = r - rho(theta)
    have Var(e) = V - J (J'WJ)^-1 J' (Browne, 1984, Proposition 2; the residual of a projection).
    It is computed as L (I - P) L' with V = LL' and P the orthogonal projection onto the columns of
    L^-1 J, which keeps it positive semi-definite.

    Parameters
    ----------
    result : TSSEM2Result
        A fit of :func:`masem.tssem2`.

    Returns
    -------
    pandas.DataFrame
        q x q, labelled like ``result.sample_vector`` (vechs order, ``row_col``).

    References
    ----------
    Browne, M. W. (1984). Asymptotically distribution-free methods for the analysis of covariance
    structures. *British Journal of Mathematical and Statistical Psychology*, 37, 62-83.

    Examples
    --------
    >>> import numpy as np
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> chain = "Job_knowledge ~ Ability\\nWork_sample ~ Job_knowledge\\nSupervisor ~ Work_sample"
    >>> fit = masem.tssem2(s1, chain)
    >>> residual_covariance(fit).shape  # the six correlations of four variables
    (6, 6)
    """
    if not isinstance(result, TSSEM2Result):
        raise ModelError(f"result must be a tssem2() result, got {type(result).__name__}")
    problem = result._problem
    state = problem.state(result._estimates)
    G, Jc = state["G"], state["Jc"]  # G = L^-1 J
    if Jc.shape[0]:
        G = G @ linalg.null_space(Jc)  # directions that keep diag(Sigma) = 1
    Q, R, _ = linalg.qr(G, mode="economic", pivoting=True)
    rank = int(np.sum(np.abs(np.diag(R)) > 1e-10 * max(abs(R[0, 0]), 1e-300))) if R.size else 0
    Q = Q[:, :rank]
    L = linalg.cholesky(result._acov, lower=True)
    LM = L - (L @ Q) @ Q.T
    cov = LM @ LM.T  # L (I - QQ') L', as (I - QQ') is idempotent and symmetric
    labels = list(result.sample_vector.index)
    return pd.DataFrame(0.5 * (cov + cov.T), index=labels, columns=labels)


def residual_check(result: TSSEM2Result, threshold: float = 0.05) -> ResidualCheck:
    """Residual correlations of a stage-2 fit with standard errors, standardized residuals and
    the cells above a threshold marked.

    The residual of a correlation is the pooled value minus the model-implied one. Its standard
    error comes from :func:`residual_covariance`, Var(e) = V - J (J'WJ)^-1 J' (Browne, 1984), so
    that the standardized residual z = e / SE(e) is approximately standard normal when the model
    holds. Both views matter: a large raw residual (above ``threshold``, .05 by default; Kline,
    2016, ch. 12, calls absolute residual correlations above .10 suspect) says the model misses a
    correlation by a practically relevant amount; a large standardized residual (|z| above 1.96, or
    2.58 for a stricter look: Brown, 2015, ch. 5) says the miss is beyond sampling error. With the
    large total N of a meta-analysis tiny residuals are significant, and with a few small studies
    large ones may not be, so read both. Cells that the model reproduces exactly (a saturated part
    of it) have a residual of zero without sampling variance and no standardized residual; a
    :class:`masem.ConvergenceWarning` names them.

    Parameters
    ----------
    result : TSSEM2Result
        A fit of :func:`masem.tssem2`.
    threshold : float, default 0.05
        Absolute residual correlation above which a cell is marked, in (0, 1).

    Returns
    -------
    ResidualCheck
        ``table`` (var1, var2, pooled, implied, residual, se, z, exceeds; largest |z| first),
        ``matrix`` (residuals), ``z_matrix``, ``marked()`` (the matrix as text, large cells
        marked ``*``), ``largest(n)``, ``n_exceeding``; its repr shows the marked matrix and the
        five largest standardized residuals.

    Raises
    ------
    ModelError
        If ``result`` is not a :func:`masem.tssem2` result or ``threshold`` is not in (0, 1).

    References
    ----------
    Browne, M. W. (1984). Asymptotically distribution-free methods for the analysis of covariance
    structures. *British Journal of Mathematical and Statistical Psychology*, 37, 62-83.
    Bentler, P. M. (2006). *EQS 6 structural equations program manual*. Multivariate Software
    (standardized residuals).
    Brown, T. A. (2015). *Confirmatory factor analysis for applied research* (2nd ed.). Guilford.
    Kline, R. B. (2016). *Principles and practice of structural equation modeling* (4th ed.).
    Guilford.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> chain = "Job_knowledge ~ Ability\\nWork_sample ~ Job_knowledge\\nSupervisor ~ Work_sample"
    >>> check = masem.residual_check(masem.tssem2(s1, chain))
    >>> check.largest(2)[["var1", "var2", "residual", "se", "z"]].round(3)
                var1           var2  residual     se       z
    0  Job_knowledge    Work_sample    -0.083  0.005 -16.239
    1        Ability  Job_knowledge    -0.042  0.004 -10.763
    """
    if not isinstance(result, TSSEM2Result):
        raise ModelError(f"result must be a tssem2() result, got {type(result).__name__}")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not 0.0 < threshold < 1.0
    ):
        raise ModelError(
            f"threshold must be an absolute residual correlation in (0, 1), e.g. 0.05; got "
            f"{threshold!r}"
        )
    table = residual_table(result)
    order = {label: k for k, label in enumerate(result.sample_vector.index)}
    position = [order[f"{b}_{a}"] for a, b in zip(table["var1"], table["var2"])]
    variance = np.diag(residual_covariance(result).to_numpy())[position]
    exact = variance <= _EXACT * np.diag(result._acov)[position]
    se = np.sqrt(np.maximum(variance, 0.0))
    table["se"] = np.where(exact, 0.0, se)
    table["z"] = np.where(exact, np.nan, table["residual"] / np.where(exact, 1.0, se))
    table["exceeds"] = table["residual"].abs() > threshold
    if exact.any():
        cells = [f"{a}-{b}" for a, b in table.loc[exact, ["var1", "var2"]].itertuples(index=False)]
        warnings.warn(
            f"the model reproduces {cells} exactly (their residuals have no sampling variance), "
            "so they have no standardized residual (z is empty there)",
            ConvergenceWarning,
            stacklevel=2,
        )
    size = table["z"].abs().fillna(-1.0).to_numpy()
    table = table.iloc[np.argsort(-size, kind="stable")].reset_index(drop=True)
    return ResidualCheck(
        variables=tuple(result.variables), threshold=float(threshold), _table=table
    )
