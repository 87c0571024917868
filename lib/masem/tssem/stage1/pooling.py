"""Stage 1 of two-stage structural equation modelling (TSSEM): pooling correlation matrices.

:func:`tssem1` pools per-study correlation matrices with a fixed-effects (multi-group ML) or a
random-effects (multivariate meta-analysis) model and returns the pooled matrix with its sampling
covariance, which stage 2 (:func:`masem.tssem2`) fits a structural model to. :func:`uni_r` is the
older univariate-r approach, kept for comparison.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from masem._util import check_level, choose, deprecated, frozen, tail
from masem.data.matrices import (
    StudyData,
    cell_counts,
    prepare_studies,
    smallest_eigenvalues,
    symmetric_frame,
)
from masem.effects import vechs_indices, vechs_inverse, vechs_labels
from masem.errors import ConvergenceWarning, ModelError
from masem.tssem.stage1.fem import PD_TOL, fit_fem
from masem.tssem.stage1.rem import AT_BOUND, TAU2_LOWER, fit_rem, q_pvalue

__all__ = ["TSSEM1Result", "UniRResult", "tssem1", "uni_r"]

_METHODS = ("REM", "FEM")
_RE_TYPES = ("Diag", "Symm", "Zero")


@dataclass(frozen=True, repr=False, eq=False)
class TSSEM1Result:
    """Result of :func:`tssem1`. Matrices come back as fresh DataFrames, so the result cannot be
    altered.

    Attributes
    ----------
    method : str
        ``"FEM"`` or ``"REM"``.
    re_type : str or None
        ``"Diag"``, ``"Symm"`` or ``"Zero"`` for REM; None for FEM.
    total_n, n_studies : int
        Total sample size and number of studies.
    minus2LL : float
        -2 log-likelihood at the solution (conventions: see :func:`tssem1`).
    Q, Q_df, Q_p : float or None
        Homogeneity test (REM only).
    converged, message, iterations, grad_norm
        Optimiser diagnostics; ``grad_norm`` is the largest gradient element at the solution
        (parameters held at a bound excluded).
    nonpd_studies : tuple of str
        Studies whose observed matrix is not positive definite (REM accepts them; FEM refuses).
    """

    method: str
    re_type: str | None
    total_n: int
    n_studies: int
    minus2LL: float
    converged: bool
    message: str
    iterations: int
    grad_norm: float
    Q: float | None
    Q_df: int | None
    Q_p: float | None
    nonpd_studies: tuple[str, ...]
    _variables: tuple[str, ...]
    _pooled: np.ndarray
    _pooled_se: np.ndarray
    _vcov: np.ndarray
    _k_cell: np.ndarray
    _n_cell: np.ndarray
    _fit: tuple[tuple[str, float], ...]
    _tau2: np.ndarray | None = None
    _tau2_se: np.ndarray | None = None
    _i2: np.ndarray | None = None
    _tau2_matrix: np.ndarray | None = None
    _vcov_all: np.ndarray | None = None
    _vcov_all_labels: tuple[str, ...] = ()

    @property
    def variables(self) -> list[str]:
        """Variable names in input order."""
        return list(self._variables)

    @property
    def labels(self) -> list[str]:
        """Labels ``row_col`` of the pooled correlations in vechs order."""
        return vechs_labels(self.variables)

    @property
    def pooled(self) -> pd.DataFrame:
        """Pooled correlation matrix (p x p, unit diagonal)."""
        return symmetric_frame(self._pooled, self._variables)

    @property
    def pooled_se(self) -> pd.DataFrame:
        """Standard errors of the pooled correlations (p x p, NaN diagonal)."""
        return symmetric_frame(self._pooled_se, self._variables)

    @property
    def vcov(self) -> pd.DataFrame:
        """Sampling covariance of the pooled correlations (q x q, vechs order, labels
        ``row_col``).
        """
        return pd.DataFrame(self._vcov, index=self.labels, columns=self.labels)

    @property
    def tau2(self) -> pd.DataFrame | None:
        """Between-study variance of each correlation (REM; p x p, NaN diagonal)."""
        return None if self._tau2 is None else symmetric_frame(self._tau2, self._variables)

    @property
    def tau2_se(self) -> pd.DataFrame | None:
        """Standard errors of the tau2 estimates (REM Diag / Symm; p x p, NaN diagonal)."""
        return None if self._tau2_se is None else symmetric_frame(self._tau2_se, self._variables)

    @property
    def I2(self) -> pd.DataFrame | None:
        """Heterogeneity I2 of each correlation as a proportion (REM; p x p, NaN diagonal)."""
        return None if self._i2 is None else symmetric_frame(self._i2, self._variables)

    @property
    def tau2_matrix(self) -> pd.DataFrame | None:
        """Between-study covariance matrix T of the correlations (REM; q x q, vechs order)."""
        if self._tau2_matrix is None:
            return None
        return pd.DataFrame(self._tau2_matrix, index=self.labels, columns=self.labels)

    @property
    def vcov_all(self) -> pd.DataFrame | None:
        """Sampling covariance of all REM parameters: the correlations, then the tau2 parameters."""
        if self._vcov_all is None:
            return None
        labels = list(self._vcov_all_labels)
        return pd.DataFrame(self._vcov_all, index=labels, columns=labels)

    @property
    def k_per_cell(self) -> pd.DataFrame:
        """Number of studies reporting each correlation (diagonal: studies measuring the
        variable).
        """
        return symmetric_frame(self._k_cell, self._variables).astype(int)

    @property
    def n_per_cell(self) -> pd.DataFrame:
        """Total sample size behind each correlation (diagonal: per variable)."""
        return symmetric_frame(self._n_cell, self._variables).astype(int)

    def fit_stats(self) -> pd.Series:
        """Fit statistics.

        FEM: chi2, df, p_value, RMSEA (with RMSEA_lower / RMSEA_upper, 90%), SRMR, CFI, TLI against
        the independence model, chi2_indep, df_indep, AIC, BIC (chi2-based, as metaSEM), minus2LL,
        saturated_minus2LL, independence_minus2LL, n. REM: minus2LL, n_observed, n_parameters,
        df, Q, Q_df, Q_p, n.
        """
        return pd.Series(dict(self._fit), name="fit", dtype=float)

    def summary(self, level: float = 0.95, *, alpha: float | None = None) -> pd.DataFrame:
        """One row per pooled correlation: label, estimate, se, z, p, ci_lower, ci_upper, (tau2,
        I2), k, N.

        Parameters
        ----------
        level : float, default 0.95
            Coverage of the Wald intervals ``ci_lower`` / ``ci_upper``.
        alpha : float, optional
            Deprecated: 1 - ``level`` (accepted for one more release).

        Returns
        -------
        pandas.DataFrame
            One row per pooled correlation, in vechs order.
        """
        if alpha is not None:
            deprecated("summary(alpha=...)", "summary(level=1 - alpha)")
            level = 1.0 - alpha
        level = check_level(level, error=ModelError)
        rows, cols = vechs_indices(len(self._variables))
        est = self._pooled[rows, cols]
        se = self._pooled_se[rows, cols]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est / se
        crit = stats.norm.isf(tail(level) / 2)
        out = pd.DataFrame(
            {
                "label": self.labels,
                "estimate": est,
                "se": se,
                "z": z,
                "p": 2 * stats.norm.sf(np.abs(z)),
                "ci_lower": est - crit * se,
                "ci_upper": est + crit * se,
            }
        )
        if self._tau2 is not None:
            out["tau2"] = self._tau2[rows, cols]
            out["I2"] = self._i2[rows, cols]
        out["k"] = self._k_cell[rows, cols].astype(int)
        out["N"] = self._n_cell[rows, cols].astype(int)
        return out

    def __repr__(self) -> str:
        kind = self.method if self.re_type is None else f"{self.method}, re_type={self.re_type!r}"
        lines = [
            f"TSSEM1Result({kind}: {self.n_studies} studies, N = {self.total_n}, "
            f"{len(self._variables)} variables, converged={self.converged})",
            f"  -2LL = {self.minus2LL:.4f}",
        ]
        if self.Q is not None:
            lines.append(f"  Q({self.Q_df}) = {self.Q:.3f}, p = {self.Q_p:.4g}")
        else:
            fit = dict(self._fit)
            lines.append(
                f"  chi2({fit['df']:.0f}) = {fit['chi2']:.3f}, RMSEA = {fit['RMSEA']:.4f}, "
                f"SRMR = {fit['SRMR']:.4f}, CFI = {fit['CFI']:.4f}"
            )
        table = self.summary()
        cols = (
            ["label", "estimate", "se"] + (["tau2", "I2"] if self._tau2 is not None else []) + ["k"]
        )
        body = table[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}")
        lines += ["  " + line for line in body.splitlines()]
        if self.nonpd_studies:
            lines.append(f"  note: not positive definite: {', '.join(self.nonpd_studies)}")
        return "\n".join(lines)


def tssem1(
    matrices: Sequence[Any],
    n: Sequence[float],
    method: str = "REM",
    variables: Sequence[str] | None = None,
    re_type: str = "Diag",
) -> TSSEM1Result:
    """Pool correlation matrices: stage 1 of two-stage structural equation modelling.

    Parameters
    ----------
    matrices : list of array_like or DataFrame, or dict of them
        One p x p correlation matrix per study. A NaN cell is a correlation the study did not
        report; a NaN diagonal marks a variable the study did not measure (a variable without
        any reported correlation counts as not measured as well). DataFrames are aligned on
        their labels, which must name the same variables in every study. With a dict, its keys
        name the studies in messages.
    n : array_like
        Sample size of each study (whole numbers >= 2).
    method : {"REM", "FEM"}
        Random-effects (default) or fixed-effects pooling.
    variables : list of str, optional
        Variable names (and their order) when arrays are given; default ``x1 ... xp``.
    re_type : {"Diag", "Symm", "Zero"}
        REM between-study covariance of the correlations: diagonal (default), unstructured, or
        zero (the fixed-effects GLS model). Ignored for FEM.

    Returns
    -------
    TSSEM1Result
        ``pooled``, ``pooled_se``, ``vcov`` (vechs order, labels ``row_col``), ``tau2``, ``I2``,
        ``Q`` (REM), ``fit_stats()``, ``summary()`` and optimiser diagnostics.

    Notes
    -----
    **REM** (Cheung, 2013, 2014): each study's reported correlations r_i follow
    N(rho, V_i + T) on the cells it reports. V_i is the Olkin-Siotani sampling covariance at the
    sample-size-weighted mean matrix (each cell averaged over the studies reporting it), divided
    by n_i. rho and T are ML estimates (tau2 >= 1e-10); -2LL includes log(2 pi) per observed
    correlation; ``vcov`` is the rho block of 2 x the inverse of the exact Hessian of -2LL over
    all parameters. I2 = tau2 / (tau2 + typical variance) with Higgins & Thompson's (2002)
    typical within-study variance from w_i = 1 / V_i[jj] over all k studies. Q is the GLS
    homogeneity statistic with T = 0, df = observed correlations - q. REM uses only the
    correlations, so a study whose observed matrix is not positive definite (e.g. after pairwise
    deletion) is kept, with a warning; such studies are listed in ``nonpd_studies``.

    **metaSEM's conventions for missing values** (``tssem1``, ``asyCov``; Cheung, 2015): a NaN
    correlation is one the study did not report; a NaN diagonal marks a variable the study did
    not measure, and a variable without any reported correlation counts as not measured. Values
    given against a variable with a NaN diagonal are left out of the REM likelihood and of FEM
    (metaSEM's ``cov2cor`` makes them NA), but the weighted mean matrix at which the sampling
    covariances are evaluated averages every value given; a warning names each study and
    variable concerned. A study that reports no correlation is kept: it counts in the total N
    and in the typical within-study variance of I2, and adds nothing to the likelihood (a
    warning says so).

    **FEM** (Cheung & Chan, 2005): multi-group ML with a common correlation matrix P and
    study-specific standard deviations, Sigma_i = D_i P_i D_i on each study's measured (unit
    diagonal) variables; -2LL = sum_i [n_i log|Sigma_i| + (n_i - 1) tr(S_i Sigma_i^-1)]. Each
    study's block of measured variables must be complete and positive definite, otherwise a
    :class:`~masem.DataError` names every such study and what to do. ``vcov`` is the
    correlation block of 2 x the inverse Hessian over all parameters, SDs included. Fit
    statistics follow metaSEM: chi2 against the saturated model, RMSEA with the multi-group
    factor sqrt(k), SRMR as the (n_i - 1)-weighted mean of the studies' SRMR, CFI and TLI against
    the independence model.

    With ``re_type="Symm"`` the search runs over the Cholesky factor of T (so T stays positive
    semidefinite) and standard errors are taken in the elements of T. When the full Hessian is
    not positive definite (several tau2 on their bound, or T singular), parameters on a bound
    are held fixed for the standard errors; failing that, the correlations' standard errors
    treat T as known.

    Warns :class:`~masem.ConvergenceWarning` when the optimiser did not converge, a tau2 sits at
    its lower bound, the Hessian is not positive definite, the pooled matrix is not positive
    definite (stage 2 needs it to be), a study's matrix is not positive definite (naming it and
    its smallest eigenvalue), values are set aside, or a study reports no correlation.

    References
    ----------
    Cheung, M. W.-L. (2013). Multivariate meta-analysis as structural equation models.
    *Structural Equation Modeling*, 20, 429-454.
    Cheung, M. W.-L. (2014). Fixed- and random-effects meta-analytic structural equation
    modeling: Examples and analyses in R. *Behavior Research Methods*, 46, 29-40.
    Cheung, M. W.-L. (2015). *Meta-Analysis: A Structural Equation Modeling Approach*. Wiley.
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10, 40-64.
    Higgins, J. P. T., & Thompson, S. G. (2002). Quantifying heterogeneity in a meta-analysis.
    *Statistics in Medicine*, 21, 1539-1558.
    Olkin, I., & Siotani, M. (1976). Asymptotic distribution of functions of a correlation
    matrix. In S. Ikeda (Ed.), *Essays in Probability and Statistics* (pp. 235-251).

    Examples
    --------
    >>> import numpy as np
    >>> import masem
    >>> r = [np.array([[1, .5, .3], [.5, 1, .2], [.3, .2, 1]]),
    ...      np.array([[1, .4, .35], [.4, 1, .25], [.35, .25, 1]]),
    ...      np.array([[1, .55, np.nan], [.55, 1, np.nan], [np.nan, np.nan, np.nan]])]
    >>> s1 = masem.tssem1(r, [200, 150, 120], method="FEM", variables=["a", "b", "c"])
    >>> s1.pooled.shape, s1.vcov.index.tolist()
    ((3, 3), ['b_a', 'c_a', 'c_b'])
    """
    method_u = choose(method, _METHODS, "method")
    re_type_c = choose(re_type, _RE_TYPES, "re_type")
    data = prepare_studies(matrices, n, variables)
    _note_conventions(data, method_u)
    nonpd = _nonpd_studies(data, method_u)
    if method_u == "FEM":
        result = _fem_result(data, nonpd)
    else:
        result = _rem_result(data, re_type_c, nonpd)
    _warn_pooled(result)
    return result


def _note_conventions(data: StudyData, method: str) -> None:
    """Say, once per call, which values metaSEM's conventions set aside and which studies add
    nothing to the likelihood but still count.
    """
    aside = data.set_aside
    if aside:
        listed = "; ".join(f"{data.study_name(i)}: {', '.join(names)}" for i, names in aside)
        warnings.warn(
            f"tssem1 ({method}): these studies give correlations against variables whose "
            f"diagonal is NaN (not measured there): {listed}. As in metaSEM, those values are "
            "left out of the likelihood; they still enter the weighted mean matrix at which the "
            "sampling covariances are evaluated. If a study did measure the variable, set its "
            "diagonal to 1.",
            ConvergenceWarning,
            stacklevel=3,
        )
    empty = data.empty
    if empty.size:
        listed = ", ".join(data.study_name(i) for i in empty)
        one = empty.size == 1
        counted = (
            "in the total N and in the typical within-study variance of I2"
            if method == "REM"
            else "in the total N (FEM's fit statistics count the studies of its likelihood)"
        )
        warnings.warn(
            f"tssem1 ({method}): {listed} report{'s' if one else ''} no correlation among the "
            f"variables; as in metaSEM, {'it is' if one else 'they are'} kept and counted "
            f"{counted}, but add{'s' if one else ''} nothing to the likelihood.",
            ConvergenceWarning,
            stacklevel=3,
        )


def _nonpd_studies(data: StudyData, method: str) -> tuple[str, ...]:
    """Studies whose block of measured variables is not positive definite, with a note on each:
    REM keeps them, FEM cannot use them.
    """
    smallest = smallest_eigenvalues(data)
    with np.errstate(invalid="ignore"):  # NaN: incomplete block, never counted
        flagged = np.flatnonzero(smallest < PD_TOL)
    # FEM refuses such a study in its DataError (fem.check_fem_data), which says the same.
    if flagged.size and method == "REM":
        listed = ", ".join(
            f"{data.study_name(i)} (smallest eigenvalue {smallest[i]:.3g})" for i in flagged
        )
        warnings.warn(
            f"tssem1 (REM): the correlation matrix of {listed} is not positive definite; REM "
            "keeps it, as it models the correlations themselves (metaSEM does the same); check "
            "it for a typo (FEM cannot use it).",
            ConvergenceWarning,
            stacklevel=3,
        )
    return tuple(data.study_name(i) for i in flagged)


def _common(data: StudyData, rho: np.ndarray, vcov: np.ndarray) -> dict[str, Any]:
    se = np.sqrt(np.diagonal(vcov))
    k_cell, n_cell = cell_counts(data)
    return {
        "total_n": int(data.n.sum()),
        "n_studies": data.k,
        "_variables": data.variables,
        "_pooled": frozen(vechs_inverse(rho, data.p)),
        "_pooled_se": frozen(vechs_inverse(se, data.p, diagonal=np.nan)),
        "_vcov": frozen(vcov),
        "_k_cell": frozen(k_cell),
        "_n_cell": frozen(n_cell),
    }


def _fem_result(data: StudyData, nonpd: tuple[str, ...]) -> TSSEM1Result:
    fit = fit_fem(data)
    opt = fit.optimum
    _warn_optimum(opt, "FEM")
    if not fit.hessian_pd:
        warnings.warn(
            "tssem1 (FEM): the Hessian of -2LL is not positive definite at the solution, so the "
            "standard errors are NaN; check for studies with very small n or nearly collinear "
            "variables.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return TSSEM1Result(
        method="FEM",
        re_type=None,
        minus2LL=fit.minus2ll,
        converged=opt.converged,
        message=opt.message,
        iterations=opt.iterations,
        grad_norm=opt.grad_norm,
        Q=None,
        Q_df=None,
        Q_p=None,
        nonpd_studies=nonpd,
        _fit=tuple((key, float(value)) for key, value in fit.fit.items()),
        **_common(data, fit.rho, fit.vcov),
    )


def _rem_result(data: StudyData, re_type: str, nonpd: tuple[str, ...]) -> TSSEM1Result:
    fit = fit_rem(data, re_type)
    opt = fit.optimum
    q = data.q
    _warn_optimum(opt, f"REM, re_type={re_type!r}")
    if not fit.hessian_pd:
        warnings.warn(
            f"tssem1 (REM, re_type={re_type!r}): the Hessian of -2LL is not positive definite at "
            "the "
            "solution (the between-study covariance is on a boundary); the standard errors of the "
            "correlations treat it as known and those of the tau parameters are NaN. Try "
            "re_type='Diag' or 'Zero'.",
            ConvergenceWarning,
            stacklevel=3,
        )
    labels = vechs_labels(list(data.variables))
    tau2 = np.diagonal(fit.tau).copy()
    if re_type != "Zero":
        at_bound = [labels[j] for j in np.flatnonzero(tau2 < AT_BOUND)]
        if at_bound:
            warnings.warn(
                f"tssem1 (REM): tau2 at its lower bound ({TAU2_LOWER:g}) for "
                f"{', '.join(at_bound)}: "
                "no heterogeneity detected there; its SE is not meaningful.",
                ConvergenceWarning,
                stacklevel=3,
            )
    if re_type == "Symm" and np.linalg.eigvalsh(fit.tau).min() < -1e-10:
        warnings.warn(
            "tssem1 (REM, re_type='Symm'): the estimated between-study covariance matrix is not "
            "positive semidefinite; consider re_type='Diag'.",
            ConvergenceWarning,
            stacklevel=3,
        )
    rows, cols = fit.tau_index
    tau_labels = [
        f"tau2[{labels[a]}]" if a == b else f"tau[{labels[a]},{labels[b]}]"
        for a, b in zip(rows, cols)
    ]
    se_all = np.sqrt(np.diagonal(fit.vcov_all))
    tau2_se = np.full(q, np.nan)
    diag_param = rows == cols
    tau2_se[rows[diag_param]] = se_all[q:][diag_param]
    n_params = fit.vcov_all.shape[0]
    q_p = q_pvalue(fit.q_stat, fit.q_df)
    rem_fit = {
        "minus2LL": fit.minus2ll,
        "n_observed": fit.n_observed,
        "n_parameters": n_params,
        "df": fit.n_observed - n_params,
        "Q": fit.q_stat,
        "Q_df": fit.q_df,
        "Q_p": q_p,
        "n": float(data.n.sum()),
    }
    return TSSEM1Result(
        method="REM",
        re_type=re_type,
        minus2LL=fit.minus2ll,
        converged=opt.converged,
        message=opt.message,
        iterations=opt.iterations,
        grad_norm=opt.grad_norm,
        Q=fit.q_stat,
        Q_df=fit.q_df,
        Q_p=q_p,
        nonpd_studies=nonpd,
        _fit=tuple((key, float(value)) for key, value in rem_fit.items()),
        _tau2=frozen(vechs_inverse(tau2, data.p, diagonal=np.nan)),
        _tau2_se=frozen(vechs_inverse(tau2_se, data.p, diagonal=np.nan))
        if re_type != "Zero"
        else None,
        _i2=frozen(vechs_inverse(fit.i2, data.p, diagonal=np.nan)),
        _tau2_matrix=frozen(fit.tau),
        _vcov_all=frozen(fit.vcov_all),
        _vcov_all_labels=tuple(labels + tau_labels),
        **_common(data, fit.rho, fit.vcov_all[:q, :q]),
    )


def _warn_optimum(opt, what: str) -> None:
    if not opt.converged:
        warnings.warn(
            f"tssem1 ({what}) did not converge: {opt.message} after {opt.iterations} iterations "
            f"(largest gradient element {opt.grad_norm:.3g}). Check for studies with extreme "
            "correlations or very small n; for REM try re_type='Diag' or 'Zero'.",
            ConvergenceWarning,
            stacklevel=4,
        )


def _warn_pooled(result: TSSEM1Result) -> None:
    smallest = float(np.linalg.eigvalsh(result._pooled).min())
    if smallest <= 0:
        warnings.warn(
            f"tssem1 ({result.method}): the pooled correlation matrix is not positive definite "
            f"(smallest eigenvalue {smallest:.3g}); stage 2 needs a positive definite matrix. "
            "Check "
            "correlations reported by few studies.",
            ConvergenceWarning,
            stacklevel=3,
        )


# --- the univariate-r approach -----------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class UniRResult:
    """Result of :func:`uni_r`; matrices come back as fresh DataFrames.

    Attributes
    ----------
    n_harmonic : float
        Harmonic mean of the total sample sizes behind the p (p - 1) / 2 correlations (unrounded).
    n_studies : int
    """

    n_harmonic: float
    n_studies: int
    _variables: tuple[str, ...]
    _r_mean: np.ndarray
    _r_se: np.ndarray
    _r_sd: np.ndarray
    _k: np.ndarray
    _n: np.ndarray

    @property
    def variables(self) -> list[str]:
        """Variable names in input order."""
        return list(self._variables)

    @property
    def r_mean(self) -> pd.DataFrame:
        """Sample-size-weighted mean correlations (unit diagonal)."""
        return symmetric_frame(self._r_mean, self._variables)

    @property
    def r_se(self) -> pd.DataFrame:
        """Sampling-error SD of a correlation at the mean sample size (NaN diagonal)."""
        return symmetric_frame(self._r_se, self._variables)

    @property
    def r_sd(self) -> pd.DataFrame:
        """Estimated SD of the population correlations, truncated at 0 (NaN diagonal)."""
        return symmetric_frame(self._r_sd, self._variables)

    @property
    def pattern_k(self) -> pd.DataFrame:
        """Number of studies per cell (diagonal: studies measuring the variable)."""
        return symmetric_frame(self._k, self._variables).astype(int)

    @property
    def pattern_n(self) -> pd.DataFrame:
        """Total sample size per cell (diagonal: per variable)."""
        return symmetric_frame(self._n, self._variables).astype(int)

    def summary(self) -> pd.DataFrame:
        """One row per correlation: label, r_mean, se, sd, k, N."""
        rows, cols = vechs_indices(len(self._variables))
        return pd.DataFrame(
            {
                "label": vechs_labels(self.variables),
                "r_mean": self._r_mean[rows, cols],
                "se": self._r_se[rows, cols],
                "sd": self._r_sd[rows, cols],
                "k": self._k[rows, cols].astype(int),
                "N": self._n[rows, cols].astype(int),
            }
        )

    def __repr__(self) -> str:
        body = self.summary().to_string(index=False, float_format=lambda v: f"{v:.4f}")
        head = (
            f"UniRResult({self.n_studies} studies, {len(self._variables)} variables, "
            f"harmonic N = {self.n_harmonic:.1f})"
        )
        return "\n".join([head] + ["  " + line for line in body.splitlines()])


def uni_r(
    matrices: Sequence[Any], n: Sequence[float], variables: Sequence[str] | None = None
) -> UniRResult:
    """The univariate-r approach: each correlation averaged on its own (Viswesvaran & Ones, 1995).

    Per correlation, over the k studies that report it with total N: the n-weighted mean r
    (Schmidt & Hunter, 2015, eq. 3.1), the n-weighted observed variance s2 (eq. 3.2), the
    sampling-error variance at the mean sample size, se2 = (1 - r^2)^2 / (N / k - 1) (eq. 3.7),
    and the SD of the population correlations sqrt(max(s2 - se2, 0)). ``r_se`` is sqrt(se2), as
    metaSEM's ``uniR1`` reports it. ``n_harmonic`` is the harmonic mean of the per-correlation N,
    the sample size the approach uses when fitting a structural model to ``r_mean``.
    Prefer :func:`tssem1`; this approach ignores the dependence among correlations (Cheung &
    Chan, 2005).

    Parameters
    ----------
    matrices, n, variables
        As for :func:`tssem1`.

    Returns
    -------
    UniRResult
        ``r_mean``, ``r_se``, ``r_sd`` (p x p DataFrames), ``n_harmonic``, ``pattern_k``,
        ``pattern_n``, ``summary()``.

    References
    ----------
    Schmidt, F. L., & Hunter, J. E. (2015). *Methods of Meta-Analysis* (3rd ed.). Sage.
    Viswesvaran, C., & Ones, D. S. (1995). Theory testing: Combining psychometric meta-analysis
    and structural equations modeling. *Personnel Psychology*, 48, 865-885.

    Examples
    --------
    >>> import numpy as np
    >>> import masem
    >>> r = [np.array([[1, .5], [.5, 1]]), np.array([[1, .3], [.3, 1]])]
    >>> round(float(masem.uni_r(r, [100, 300]).r_mean.iloc[1, 0]), 3)
    0.35
    """
    data = prepare_studies(matrices, n, variables)
    # uniR1 averages every value given (metaSEM), also one against a NaN diagonal.
    w = np.where(data.reported, data.n[:, None], 0.0)
    total = w.sum(axis=0)
    k = data.reported.sum(axis=0)
    r = np.nan_to_num(data.r)
    mean = (w * r).sum(axis=0) / total
    s2 = (w * (r - mean) ** 2).sum(axis=0) / total
    se2 = (1.0 - mean**2) ** 2 / (total / k - 1.0)
    sd = np.sqrt(np.maximum(s2 - se2, 0.0))
    k_cell, n_cell = cell_counts(data, used=False)
    return UniRResult(
        n_harmonic=float(total.size / np.sum(1.0 / total)),
        n_studies=data.k,
        _variables=data.variables,
        _r_mean=frozen(vechs_inverse(mean, data.p)),
        _r_se=frozen(vechs_inverse(np.sqrt(se2), data.p, diagonal=np.nan)),
        _r_sd=frozen(vechs_inverse(sd, data.p, diagonal=np.nan)),
        _k=frozen(k_cell),
        _n=frozen(n_cell),
    )
