"""Relative importance of correlated predictors, and incremental validity, from a pooled matrix.

Standardized regression weights answer "what does a predictor add, holding the others
constant", which is not "how much of the explained variance is due to it" when the predictors
correlate. Two answers to the second question decompose R2 into one share per predictor:

- *relative weights* (Johnson, 2000): the predictors X are replaced by their closest orthogonal
  counterparts Z = X R_xx^-1/2, y is regressed on Z (weights beta_z = R_xx^-1/2 r_xy), and each
  predictor gets the variance of y explained through the Z it loads on,
  epsilon_j = sum_k (R_xx^1/2)_jk^2 beta_zk^2; the weights sum to R2;
- *general dominance weights* (Budescu, 1993; Azen & Budescu, 2003): the increase in R2 when a
  predictor is added to a subset of the others, averaged over the subsets of each size and then
  over the sizes; they sum to R2 too. The average by size (*conditional dominance*) is kept.

*Incremental validity* is the increase in R2 when predictors are added to a base set (e.g.
empowerment over job satisfaction and commitment).

Everything is computed from a pooled correlation matrix (a :func:`masem.tssem1` result or any
object with ``pooled`` and ``vcov``). Intervals come from parametric draws of the pooled
correlations from their stage-1 sampling distribution, r* ~ N(r, V), the statistic recomputed
for each draw (as the parametric bootstrap of :func:`masem.indirect` does for stage 2; Cheung,
2009) and summarised by percentiles. Draws that are not positive definite cannot be a
correlation matrix of a regression and are left out, and a :class:`masem.ConvergenceWarning`
says how many.

References
----------
Azen, R., & Budescu, D. V. (2003). The dominance analysis approach for comparing predictors in
multiple regression. *Psychological Methods*, 8(2), 129-148.
Budescu, D. V. (1993). Dominance analysis: A new approach to the problem of relative importance
of predictors in multiple regression. *Psychological Bulletin*, 114(3), 542-551.
Cheung, M. W.-L. (2009). Comparison of methods for constructing confidence intervals of
standardized indirect effects. *Behavior Research Methods*, 41(2), 425-438.
Johnson, J. W. (2000). A heuristic method for estimating the relative weight of predictor
variables in multiple regression. *Multivariate Behavioral Research*, 35(1), 1-19.
Tonidandel, S., & LeBreton, J. M. (2011). Relative importance analysis: A useful supplement to
regression analysis. *Journal of Business and Psychology*, 26(1), 1-9.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from masem._util import check_level, tail
from masem.effects import vechs_indices, vechs_labels
from masem.errors import ConvergenceWarning, DataError, ModelError

__all__ = ["RelativeImportance", "incremental_validity", "relative_importance"]

MIN_DRAWS = 100
# Dominance analysis fits every subset of the predictors: 2^p regressions per draw.
MAX_DOMINANCE = 12


# ----------------------------------------------------------------------------------------------
# The statistics, for a stack of correlation matrices (outcome first, then the predictors)
# ----------------------------------------------------------------------------------------------


def r2(R: np.ndarray, subset: Sequence[int]) -> np.ndarray:
    """R2 of the outcome (row 0) on the predictors ``subset`` (positions >= 1), per matrix."""
    if len(subset) == 0:
        return np.zeros(R.shape[0])
    s = list(subset)
    rxy = R[:, s, 0]
    beta = np.linalg.solve(R[:, s][:, :, s], rxy[..., None])[..., 0]
    return np.einsum("bi,bi->b", rxy, beta)


def relative_weights(R: np.ndarray) -> np.ndarray:
    """Johnson's (2000) raw relative weights of predictors 1..p for each matrix (B x p)."""
    Rxx, rxy = R[:, 1:, 1:], R[:, 1:, 0]
    w, Q = np.linalg.eigh(Rxx)
    root = np.einsum("bij,bj,bkj->bik", Q, np.sqrt(w), Q)  # R_xx^1/2, the loadings of X on Z
    inverse_root = np.einsum("bij,bj,bkj->bik", Q, 1.0 / np.sqrt(w), Q)
    beta_z = np.einsum("bij,bj->bi", inverse_root, rxy)  # y regressed on Z = X R_xx^-1/2
    return np.einsum("bjk,bk->bj", root**2, beta_z**2)


def dominance(R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """General (B x p) and conditional (B x p x p, by subset size 0..p-1) dominance weights."""
    p = R.shape[1] - 1
    fits = {(): np.zeros(R.shape[0])}
    for size in range(1, p + 1):
        for subset in combinations(range(1, p + 1), size):
            fits[subset] = r2(R, subset)
    conditional = np.zeros((R.shape[0], p, p))
    for j in range(1, p + 1):
        others = [k for k in range(1, p + 1) if k != j]
        for size in range(p):
            gains = [
                fits[tuple(sorted((*subset, j)))] - fits[subset]
                for subset in combinations(others, size)
            ]
            conditional[:, j - 1, size] = np.mean(gains, axis=0)
    return conditional.mean(axis=2), conditional


# ----------------------------------------------------------------------------------------------
# The pooled matrix and its draws
# ----------------------------------------------------------------------------------------------


def _pooled(stage1, variables: list[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The pooled correlations among ``variables`` (vechs order of the stage-1 data), their
    sampling covariance and, per cell, its position in a matrix ordered as ``variables``.
    """
    if not hasattr(stage1, "pooled") or not hasattr(stage1, "vcov"):
        raise DataError(
            "stage1 must be a tssem1() result (or an object with .pooled and .vcov, such as "
            f"masem.PooledMatrix); got {type(stage1).__name__}"
        )
    names = [str(v) for v in stage1.pooled.columns]
    unknown = [v for v in variables if v not in names]
    if unknown:
        raise DataError(f"{unknown} not in the pooled matrix; its variables are {names}")
    repeated = sorted({v for v in variables if variables.count(v) > 1})
    if repeated:
        raise DataError(f"{repeated} listed more than once; name each variable once")
    rows, cols = vechs_indices(len(names))
    R = stage1.pooled.loc[names, names].to_numpy(dtype=float)
    V = stage1.vcov
    labels = vechs_labels(names)
    if isinstance(V, pd.DataFrame) and list(map(str, V.index)) != labels:
        if sorted(map(str, V.index)) != sorted(labels):
            raise DataError(f"stage1.vcov must be labelled {labels}, got {list(V.index)}")
        V = V.loc[labels, labels]
    V = np.asarray(V, dtype=float)
    if V.shape != (len(rows), len(rows)):
        raise DataError(
            f"stage1.vcov must be {len(rows)} x {len(rows)} for {len(names)} variables, got "
            f"{V.shape}"
        )
    keep = [
        k for k in range(len(rows)) if names[rows[k]] in variables and names[cols[k]] in variables
    ]
    cells = [(variables.index(names[rows[k]]), variables.index(names[cols[k]])) for k in keep]
    r = np.array([R[rows[k], cols[k]] for k in keep])
    return r, V[np.ix_(keep, keep)], cells


def _matrices(r: np.ndarray, cells: list[tuple[int, int]], m: int) -> np.ndarray:
    """A stack of m x m correlation matrices from rows of cell values."""
    out = np.tile(np.eye(m), (r.shape[0], 1, 1))
    for k, (i, j) in enumerate(cells):
        out[:, i, j] = out[:, j, i] = r[:, k]
    return out


def _draws(stage1, variables: list[str], n_draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The pooled matrix (1 x m x m) and the positive definite draws r* ~ N(r, V) (B x m x m)."""
    r, V, cells = _pooled(stage1, variables)
    estimate = _matrices(r[None, :], cells, len(variables))
    if np.linalg.eigvalsh(estimate[0])[0] <= 0.0:
        raise DataError(
            f"the pooled matrix of {variables} is not positive definite, so no regression can be "
            "computed from it; drop a variable or check stage 1"
        )
    try:
        L = np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        raise DataError(
            f"the sampling covariance of the pooled correlations among {variables} is not "
            "positive definite; re-run stage 1 or drop variables with few studies"
        ) from None
    rng = np.random.default_rng(seed)
    draws = _matrices(r + rng.standard_normal((n_draws, len(r))) @ L.T, cells, len(variables))
    usable = np.linalg.eigvalsh(draws)[:, 0] > 0.0
    if not usable.all():
        warnings.warn(
            f"{int((~usable).sum())} of {n_draws} draws of the pooled matrix of {variables} were "
            "not positive definite and are left out of the intervals",
            ConvergenceWarning,
            stacklevel=3,
        )
    if usable.sum() < 2:
        raise DataError("fewer than two draws of the pooled matrix are positive definite")
    return estimate, draws[usable]


def _check_draws(n_draws: object, seed: object) -> tuple[int, int]:
    if (
        isinstance(n_draws, bool)
        or not isinstance(n_draws, numbers.Integral)
        or n_draws < MIN_DRAWS
    ):
        raise DataError(f"n_draws must be an integer of at least {MIN_DRAWS}, got {n_draws!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    return int(n_draws), int(seed)


def _names(values: object, what: str) -> list[str]:
    if isinstance(values, str):
        return [values]
    if (
        not isinstance(values, Sequence)
        or not values
        or not all(isinstance(v, str) for v in values)
    ):
        raise ModelError(
            f"{what} must be a variable name or a non-empty list of them, got {values!r}"
        )
    return list(values)


def _bounds(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = tail(level)
    lower, upper = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    return lower, upper


# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class RelativeImportance:
    """Result of :func:`relative_importance` (immutable; DataFrames built fresh on access).

    Attributes
    ----------
    outcome : str
        The predicted variable.
    predictors : tuple of str
        The predictors, in the order given.
    R2, R2_ci_lower, R2_ci_upper : float
        Variance of the outcome explained by all predictors, with its percentile interval.
    n_draws, n_used, seed, level
        Draws of the pooled matrix made, the positive definite ones used, their seed, and the
        coverage of the intervals.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> ri = masem.relative_importance(s1, "Supervisor", ["Job_knowledge", "Work_sample"],
    ...                                n_draws=500, seed=1)
    >>> round(ri.R2, 3)
    0.093
    """

    outcome: str
    predictors: tuple[str, ...]
    R2: float
    R2_ci_lower: float
    R2_ci_upper: float
    n_draws: int
    n_used: int
    seed: int
    level: float
    _table: pd.DataFrame = field(repr=False)
    _contrasts: pd.DataFrame = field(repr=False)
    _conditional: pd.DataFrame = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """One row per predictor: predictor, r (with the outcome), beta (standardized regression
        weight), weight (raw relative weight) with ``weight_ci_lower`` / ``weight_ci_upper``,
        weight_percent (share of R2), dominance (general dominance weight) with its interval,
        dominance_percent.
        """
        return self._table.copy()

    def contrasts(self) -> pd.DataFrame:
        """Every two predictors: first, second, the difference of their relative weights and of
        their general dominance weights (first - second), each with its percentile interval. An
        interval that excludes 0 supports ranking the two.
        """
        return self._contrasts.copy()

    @property
    def conditional(self) -> pd.DataFrame:
        """Conditional dominance: the average R2 increase of each predictor (rows) added to
        subsets of the others of each size (columns 0, 1, ...; column 0 is r squared).
        """
        return self._conditional.copy()

    def __repr__(self) -> str:
        head = (
            f"RelativeImportance({self.outcome} on {len(self.predictors)} predictors: "
            f"R2 = {self.R2:.3f} [{self.R2_ci_lower:.3f}, {self.R2_ci_upper:.3f}], "
            f"{100 * self.level:g}% percentile intervals from {self.n_used} draws, "
            f"seed {self.seed})"
        )
        columns = [
            "predictor",
            "weight",
            "weight_ci_lower",
            "weight_ci_upper",
            "weight_percent",
            "dominance",
            "dominance_ci_lower",
            "dominance_ci_upper",
        ]
        body = self._table[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}")
        return head + "\n" + body


def relative_importance(
    stage1,
    outcome: str,
    predictors: Sequence[str],
    n_draws: int = 2000,
    seed: int = 2011,
    level: float = 0.95,
) -> RelativeImportance:
    """Relative weights and dominance weights of correlated predictors of one outcome, from a
    pooled correlation matrix, with intervals.

    The raw relative weight of a predictor (Johnson, 2000) and its general dominance weight
    (Budescu, 1993; Azen & Budescu, 2003) are two ways of splitting R2 into one share per
    predictor that respect the correlations among the predictors; both sum to R2 and usually
    agree closely. The intervals are percentiles of the statistics over draws of the pooled
    correlations from their stage-1 sampling distribution (r* ~ N(r, V); Tonidandel, LeBreton &
    Johnson, 2009, bootstrap the same statistics in a single sample). Rank two predictors only
    when the interval of their difference (:meth:`RelativeImportance.contrasts`) excludes 0.

    Parameters
    ----------
    stage1 : TSSEM1Result or PooledMatrix
        A pooled correlation matrix with its sampling covariance: a :func:`masem.tssem1` result
        or any object with ``pooled`` (p x p DataFrame) and ``vcov`` (in vechs order).
    outcome : str
        The predicted variable.
    predictors : list of str
        Two or more predictors (at most 12: dominance analysis fits all 2^p subsets).
    n_draws : int, default 2000
        Draws of the pooled matrix for the intervals (at least 100).
    seed : int, default 2011
        Seed of the :class:`numpy.random.Generator` that draws them.
    level : float, default 0.95
        Coverage of the intervals.

    Returns
    -------
    RelativeImportance
        ``summary()`` (per predictor: r, beta, weight with interval, weight_percent, dominance
        with interval, dominance_percent), ``contrasts()`` (differences between predictors),
        ``conditional`` (conditional dominance), ``R2`` with its interval.

    Raises
    ------
    DataError
        A variable not in the pooled matrix or listed twice, a pooled matrix or sampling
        covariance that is not positive definite, a bad ``n_draws``, ``seed`` or ``level``.
    ModelError
        Fewer than two or more than 12 predictors, or the outcome among them.

    References
    ----------
    Azen, R., & Budescu, D. V. (2003). The dominance analysis approach for comparing predictors
    in multiple regression. *Psychological Methods*, 8(2), 129-148.
    Budescu, D. V. (1993). Dominance analysis: A new approach to the problem of relative
    importance of predictors in multiple regression. *Psychological Bulletin*, 114(3), 542-551.
    Johnson, J. W. (2000). A heuristic method for estimating the relative weight of predictor
    variables in multiple regression. *Multivariate Behavioral Research*, 35(1), 1-19.
    Tonidandel, S., LeBreton, J. M., & Johnson, J. W. (2009). Determining the statistical
    significance of relative weights. *Psychological Methods*, 14(4), 387-399.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> predictors = ["Ability", "Job_knowledge", "Work_sample"]
    >>> ri = masem.relative_importance(s1, "Supervisor", predictors, n_draws=500, seed=1)
    >>> ri.summary()[["predictor", "weight", "dominance"]].round(3)
           predictor  weight  dominance
    0        Ability   0.018      0.018
    1  Job_knowledge   0.047      0.048
    2    Work_sample   0.030      0.030
    """
    predictors = _names(predictors, "predictors")
    if not isinstance(outcome, str):
        raise ModelError(f"outcome must be a variable name, got {outcome!r}")
    if outcome in predictors:
        raise ModelError(f"the outcome {outcome!r} is also among the predictors {predictors}")
    if not 2 <= len(predictors) <= MAX_DOMINANCE:
        raise ModelError(
            f"relative importance needs 2 to {MAX_DOMINANCE} predictors, got {len(predictors)}: "
            f"{predictors}"
        )
    n_draws, seed = _check_draws(n_draws, seed)
    level = check_level(level)
    estimate, draws = _draws(stage1, [outcome, *predictors], n_draws, seed)
    weights, boot_weights = relative_weights(estimate)[0], relative_weights(draws)
    general, conditional = dominance(estimate)
    boot_general = dominance(draws)[0]
    total, boot_total = (
        float(r2(estimate, range(1, len(predictors) + 1))[0]),
        r2(draws, range(1, len(predictors) + 1)),
    )
    R = estimate[0]
    beta = np.linalg.solve(R[1:, 1:], R[1:, 0])
    w_lo, w_hi = _bounds(boot_weights, level)
    d_lo, d_hi = _bounds(boot_general, level)
    table = pd.DataFrame(
        {
            "predictor": predictors,
            "r": R[1:, 0],
            "beta": beta,
            "weight": weights,
            "weight_ci_lower": w_lo,
            "weight_ci_upper": w_hi,
            "weight_percent": 100.0 * weights / total,
            "dominance": general[0],
            "dominance_ci_lower": d_lo,
            "dominance_ci_upper": d_hi,
            "dominance_percent": 100.0 * general[0] / total,
        }
    )
    t_lo, t_hi = _bounds(boot_total, level)
    return RelativeImportance(
        outcome=outcome,
        predictors=tuple(predictors),
        R2=total,
        R2_ci_lower=float(t_lo),
        R2_ci_upper=float(t_hi),
        n_draws=n_draws,
        n_used=len(draws),
        seed=seed,
        level=level,
        _table=table,
        _contrasts=_differences(predictors, weights, boot_weights, general[0], boot_general, level),
        _conditional=pd.DataFrame(
            conditional[0],
            index=pd.Index(predictors, name="predictor"),
            columns=range(len(predictors)),
        ),
    )


def _differences(predictors, weights, boot_weights, general, boot_general, level) -> pd.DataFrame:
    rows = []
    for i, j in combinations(range(len(predictors)), 2):
        w_lo, w_hi = _bounds(boot_weights[:, i] - boot_weights[:, j], level)
        d_lo, d_hi = _bounds(boot_general[:, i] - boot_general[:, j], level)
        rows.append(
            (
                predictors[i],
                predictors[j],
                weights[i] - weights[j],
                float(w_lo),
                float(w_hi),
                general[i] - general[j],
                float(d_lo),
                float(d_hi),
            )
        )
    columns = [
        "first",
        "second",
        "weight_diff",
        "weight_diff_ci_lower",
        "weight_diff_ci_upper",
        "dominance_diff",
        "dominance_diff_ci_lower",
        "dominance_diff_ci_upper",
    ]
    return pd.DataFrame(rows, columns=columns)


def incremental_validity(
    stage1,
    outcomes: str | Sequence[str],
    base: str | Sequence[str],
    added: str | Sequence[str],
    n_draws: int = 2000,
    seed: int = 2011,
    level: float = 0.95,
) -> pd.DataFrame:
    """Incremental validity: the increase in R2 when predictors are added to a base set, per
    outcome, from a pooled correlation matrix, with percentile intervals.

    Delta R2 = R2(base + added) - R2(base), each R2 from the pooled correlations
    (r_xy' R_xx^-1 r_xy). The intervals are percentiles over draws r* ~ N(r, V) of the pooled
    correlations (as in :func:`relative_importance`). A delta R2 is never negative, so its
    interval describes the size of the increment, not a test of it being zero: for that test use
    the path of the added predictor in a stage-2 model (its Wald or likelihood-based interval).

    Parameters
    ----------
    stage1 : TSSEM1Result or PooledMatrix
        A pooled correlation matrix with its sampling covariance.
    outcomes : str or list of str
        One row per outcome, e.g. ``["TP", "OCB", "TI"]``.
    base : str or list of str
        The predictors already in the model, e.g. ``["JS", "OC"]``.
    added : str or list of str
        The predictors whose increment is measured, e.g. ``"PE"``.
    n_draws, seed, level
        As in :func:`relative_importance`; each outcome uses the same seed.

    Returns
    -------
    pandas.DataFrame
        One row per outcome: outcome, base and added (names joined by " + "), R2_base, R2_full,
        delta_R2, ci_lower, ci_upper (the interval of delta_R2), n_used (positive definite
        draws).

    Raises
    ------
    DataError
        As :func:`relative_importance`.
    ModelError
        A variable is both in ``base`` and ``added``, or an outcome is among the predictors.

    References
    ----------
    Cohen, J., Cohen, P., West, S. G., & Aiken, L. S. (2003). *Applied multiple
    regression/correlation analysis for the behavioral sciences* (3rd ed.). Erlbaum (ch. 5).
    Seibert, S. E., Wang, G., & Courtright, S. H. (2011). Antecedents and consequences of
    psychological and team empowerment in organizations: A meta-analytic review. *Journal of
    Applied Psychology*, 96(5), 981-1003.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> table = masem.incremental_validity(s1, "Supervisor", "Ability", "Job_knowledge",
    ...                                    n_draws=500, seed=1)
    >>> table[["outcome", "R2_base", "R2_full", "delta_R2"]].round(3)
          outcome  R2_base  R2_full  delta_R2
    0  Supervisor    0.043    0.086     0.043
    """
    outcomes, base, added = (
        _names(v, w) for v, w in ((outcomes, "outcomes"), (base, "base"), (added, "added"))
    )
    overlap = sorted(set(base) & set(added))
    if overlap:
        raise ModelError(f"{overlap} are both in base and in added; each predictor in one of them")
    n_draws, seed = _check_draws(n_draws, seed)
    level = check_level(level)
    rows = []
    for outcome in outcomes:
        if outcome in base + added:
            raise ModelError(f"the outcome {outcome!r} is also among the predictors")
        estimate, draws = _draws(stage1, [outcome, *base, *added], n_draws, seed)
        first, full = range(1, len(base) + 1), range(1, len(base) + len(added) + 1)
        delta = r2(draws, full) - r2(draws, first)
        lower, upper = _bounds(delta, level)
        r2_base, r2_full = float(r2(estimate, first)[0]), float(r2(estimate, full)[0])
        rows.append(
            (
                outcome,
                " + ".join(base),
                " + ".join(added),
                r2_base,
                r2_full,
                r2_full - r2_base,
                float(lower),
                float(upper),
                len(draws),
            )
        )
    columns = [
        "outcome",
        "base",
        "added",
        "R2_base",
        "R2_full",
        "delta_R2",
        "ci_lower",
        "ci_upper",
        "n_used",
    ]
    return pd.DataFrame(rows, columns=columns)
