"""Small-study effects and publication bias for univariate meta-analyses.

Every function takes a fitted :func:`masem.meta` result (``failsafe_n`` takes the effect sizes):
:func:`funnel_data` gives the points of a funnel plot, :func:`egger` the regression test for
funnel-plot asymmetry, :func:`trim_and_fill` Duval & Tweedie's nonparametric correction,
:func:`failsafe_n` the fail-safe numbers of Rosenthal and Orwin, :func:`pet_peese` Stanley &
Doucouliagos' meta-regression estimates of the effect of an infinitely precise study.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from masem._util import choose
from masem.errors import ConvergenceWarning, DataError, ModelError, relabel_notes
from masem.meta.univariate import TAU2_AT_BOUND, MetaResult, meta, meta_regression

__all__ = [
    "EggerResult",
    "FailsafeResult",
    "PetPeeseResult",
    "TrimFillResult",
    "egger",
    "failsafe_n",
    "funnel_data",
    "pet_peese",
    "trim_and_fill",
]

_EGGER_MODELS = ("rma", "lm")
_ESTIMATORS = ("L0", "R0")
_SIDES = ("left", "right")
_FAILSAFE = ("Rosenthal", "Orwin")


def _check_result(result: object, caller: str) -> MetaResult:
    if not isinstance(result, MetaResult):
        raise DataError(
            f"{caller} needs a fitted univariate meta-analysis from meta(); got "
            f"{type(result).__name__}."
        )
    return result


def _refuse_user_weights(result: MetaResult, caller: str) -> None:
    if result.user_weights is not None:
        raise ModelError(
            f"{caller} refits the model with inverse-variance weights and does not support a "
            "meta() "
            "result fitted with user weights; refit without weights= first."
        )


def funnel_data(result: MetaResult) -> pd.DataFrame:
    """The points of a funnel plot: each study's effect size and standard error.

    Parameters
    ----------
    result : MetaResult
        A fitted model from :func:`masem.meta`.

    Returns
    -------
    pandas.DataFrame
        Columns ``label``, ``yi``, ``sei`` (``sqrt(vi)``), in the order of the fit.

    Examples
    --------
    >>> from masem.meta.univariate import meta
    >>> res = meta([0.1, 0.3, 0.2], [0.01, 0.04, 0.02], method="FE")
    >>> funnel_data(res)["sei"].round(3).tolist()
    [0.1, 0.2, 0.141]
    """
    result = _check_result(result, "funnel_data")
    return pd.DataFrame(
        {"label": result.labels, "yi": np.array(result.yi), "sei": np.sqrt(result.vi)}
    )


# --------------------------------------------------------------------------------------------
# Egger's regression test
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class EggerResult:
    """Result of :func:`egger`.

    Attributes
    ----------
    model : str
        ``"rma"`` (mixed-effects meta-regression on the standard error) or ``"lm"`` (classical
        Egger).
    statistic, df, p : float, int or None, float
        Test of the slope on the standard error (funnel asymmetry): a z value (``df`` None) or,
        for ``"lm"`` and Knapp-Hartung fits, a t value on ``df`` degrees of freedom.
    slope, slope_se : float
        The slope on sei and its standard error.
    limit_estimate, limit_se, limit_ci_lower, limit_ci_upper : float
        The intercept: the expected effect of a study with standard error 0, with its CI.
    tau2 : float
        Residual between-study variance of the ``"rma"`` model (0 for FE and for ``"lm"``).
    k, level : int, float
    """

    model: str
    method: str
    k: int
    statistic: float
    df: int | None
    p: float
    slope: float
    slope_se: float
    limit_estimate: float
    limit_se: float
    limit_ci_lower: float
    limit_ci_upper: float
    tau2: float
    level: float

    def summary(self) -> pd.DataFrame:
        """One row with every field."""
        return pd.DataFrame([{name: getattr(self, name) for name in self.__dataclass_fields__}])

    def __repr__(self) -> str:
        kind = {
            "rma": f"mixed-effects meta-regression ({self.method})",
            "lm": "weighted regression (classical Egger)",
        }
        stat = "z" if self.df is None else f"t({self.df})"
        lev = f"{100 * self.level:g}%"
        return (
            f"EggerResult(regression test for funnel plot asymmetry, {kind[self.model]}, predictor "
            f"sei, k = {self.k})\n"
            f"  test for asymmetry: {stat} = {self.statistic:.4f}, p = {self.p:.4g}\n"
            f"  limit estimate (sei -> 0): {self.limit_estimate:.4f} ({lev} CI "
            f"[{self.limit_ci_lower:.4f}, "
            f"{self.limit_ci_upper:.4f}])"
        )


def _wls(y: np.ndarray, x: np.ndarray, v: np.ndarray, level: float) -> dict:
    """Weighted least squares of y on (1, x) with weights 1 / v; t inference on k - 2 df."""
    import statsmodels.api as sm  # statsmodels takes 0.9 s to import: only when a test is run

    fit = sm.WLS(y, sm.add_constant(x, has_constant="add"), weights=1.0 / v).fit()
    ci = fit.conf_int(alpha=1 - level)
    return {
        "intercept": float(fit.params[0]),
        "intercept_se": float(fit.bse[0]),
        "intercept_t": float(fit.tvalues[0]),
        "intercept_p": float(fit.pvalues[0]),
        "intercept_ci": (float(ci[0, 0]), float(ci[0, 1])),
        "slope": float(fit.params[1]),
        "slope_se": float(fit.bse[1]),
        "slope_t": float(fit.tvalues[1]),
        "slope_p": float(fit.pvalues[1]),
        "df": int(round(fit.df_resid)),
    }


def _check_k(k: int, needed: int, caller: str) -> None:
    if k < needed:
        raise DataError(
            f"{caller} regresses the effects on their standard errors and needs at least {needed} "
            f"studies; got k = {k}."
        )


def _check_precisions(sei: np.ndarray, caller: str) -> None:
    if np.ptp(sei) == 0:
        raise DataError(
            f"{caller}: every study has the same standard error ({sei[0]:.4g}), so effects cannot "
            "be "
            "regressed on precision; the test needs studies of different sizes."
        )


def egger(result: MetaResult, model: str = "rma") -> EggerResult:
    """Regression test for funnel-plot asymmetry (small-study effects) with the limit estimate.

    ``model="rma"`` (metafor's ``regtest`` default) adds the standard error ``sei = sqrt(vi)`` as a
    moderator to the fitted model (:func:`masem.meta_regression`, same tau2 estimator and test)
    and tests its slope; ``model="lm"`` is the classical test of Egger et al. (1997), written as
    the weighted regression of ``yi`` on ``sei`` with weights ``1 / vi`` and a free residual
    variance (t test on k - 2 df), which equals the regression of ``yi / sei`` on ``1 / sei``. In
    both the intercept is the limit estimate: the expected effect as ``sei -> 0``.

    Parameters
    ----------
    result : MetaResult
        A fitted model from :func:`masem.meta`.
    model : {"rma", "lm"}
        Mixed-effects meta-regression or classical weighted regression.

    Returns
    -------
    EggerResult
        ``statistic``, ``p``, ``limit_estimate`` with its CI (at the fit's level).

    References
    ----------
    Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis detected
    by a simple, graphical test. *BMJ*, 315, 629-634.
    Sterne, J. A. C., & Egger, M. (2005). Regression methods to detect publication and other bias
    in meta-analysis. In H. R. Rothstein, A. J. Sutton, & M. Borenstein (Eds.), *Publication bias in
    meta-analysis* (pp. 99-110). Wiley.

    Examples
    --------
    >>> from masem.meta.univariate import meta
    >>> res = meta([0.55, 0.42, 0.35, 0.33, 0.30, 0.29], [0.04, 0.02, 0.01, 0.005, 0.002, 0.001],
    ...            method="FE")
    >>> round(egger(res, model="lm").limit_estimate, 3)
    0.247
    """
    result = _check_result(result, "egger")
    model = choose(model, _EGGER_MODELS, "model", DataError)
    y, v = np.array(result.yi), np.array(result.vi)
    sei = np.sqrt(v)
    _check_precisions(sei, "egger")
    if model == "lm":
        _check_k(result.k, 3, "egger(model='lm')")
        fit = _wls(y, sei, v, result.level)
        return EggerResult(
            model="lm",
            method=result.method,
            k=result.k,
            statistic=fit["slope_t"],
            df=fit["df"],
            p=fit["slope_p"],
            slope=fit["slope"],
            slope_se=fit["slope_se"],
            limit_estimate=fit["intercept"],
            limit_se=fit["intercept_se"],
            limit_ci_lower=fit["intercept_ci"][0],
            limit_ci_upper=fit["intercept_ci"][1],
            tau2=0.0,
            level=result.level,
        )
    _refuse_user_weights(result, "egger(model='rma')")
    _check_k(result.k, 3, "egger(model='rma')")
    with relabel_notes("egger (regression on the standard errors)"):
        mr = meta_regression(
            y,
            v,
            pd.DataFrame({"sei": sei}),
            method=result.method,
            test=result.test,
            level=result.level,
            labels=result.labels,
        )
    coef = mr.coefficients.set_index("name")
    return EggerResult(
        model="rma",
        method=result.method,
        k=result.k,
        statistic=float(coef.loc["sei", "z"]),
        df=mr.df,
        p=float(coef.loc["sei", "p"]),
        slope=float(coef.loc["sei", "estimate"]),
        slope_se=float(coef.loc["sei", "se"]),
        limit_estimate=float(coef.loc["intrcpt", "estimate"]),
        limit_se=float(coef.loc["intrcpt", "se"]),
        limit_ci_lower=float(coef.loc["intrcpt", "ci_lower"]),
        limit_ci_upper=float(coef.loc["intrcpt", "ci_upper"]),
        tau2=float(mr.tau2),
        level=result.level,
    )


# --------------------------------------------------------------------------------------------
# Trim and fill
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class TrimFillResult:
    """Result of :func:`trim_and_fill`.

    Attributes
    ----------
    estimator, side : str
        ``"L0"`` or ``"R0"``; the side of the funnel where studies were imputed.
    k0, se_k0, p_k0 : int, float, float or None
        Estimated number of missing studies, its standard error and (R0 only) the p-value of the
        test of no missing studies.
    k, k_total : int
        Observed studies, and observed plus filled.
    iterations, converged : int, bool
        Trim-and-fill iterations until k0 stopped changing.
    observed, result : MetaResult
        The model on the observed data, and the same model refitted to the filled data set.
    estimate, se, ci_lower, ci_upper, tau2 : float
        Shortcuts to the filled model's pooled estimate.
    """

    estimator: str
    side: str
    k0: int
    se_k0: float
    p_k0: float | None
    k: int
    k_total: int
    iterations: int
    converged: bool
    observed: MetaResult
    result: MetaResult
    _filled_y: tuple[float, ...]
    _filled_v: tuple[float, ...]

    @property
    def estimate(self) -> float:
        """The pooled estimate."""
        return self.result.estimate

    @property
    def se(self) -> float:
        """Standard error of the filled estimate."""
        return self.result.se

    @property
    def ci_lower(self) -> float:
        """Lower bound of its confidence interval."""
        return self.result.ci_lower

    @property
    def ci_upper(self) -> float:
        """Upper bound of its confidence interval."""
        return self.result.ci_upper

    @property
    def tau2(self) -> float:
        """Between-study variance of the filled model."""
        return self.result.tau2

    @property
    def filled(self) -> pd.DataFrame:
        """The imputed studies: label (``filled 1``, ...), yi, vi, sei."""
        v = np.array(self._filled_v)
        return pd.DataFrame(
            {
                "label": [f"filled {i + 1}" for i in range(self.k0)],
                "yi": np.array(self._filled_y),
                "vi": v,
                "sei": np.sqrt(v),
            }
        )

    def summary(self) -> pd.DataFrame:
        """One row: estimator, side, k0, se_k0, p_k0, k, k_total, the filled and the observed
        estimate.
        """
        return pd.DataFrame(
            [
                {
                    "estimator": self.estimator,
                    "side": self.side,
                    "k0": self.k0,
                    "se_k0": self.se_k0,
                    "p_k0": np.nan if self.p_k0 is None else self.p_k0,
                    "k": self.k,
                    "k_total": self.k_total,
                    "method": self.result.method,
                    "estimate": self.estimate,
                    "se": self.se,
                    "ci_lower": self.ci_lower,
                    "ci_upper": self.ci_upper,
                    "tau2": self.tau2,
                    "estimate_observed": self.observed.estimate,
                    "converged": self.converged,
                }
            ]
        )

    def __repr__(self) -> str:
        lev = f"{100 * self.result.level:g}%"
        p = "" if self.p_k0 is None else f", p = {self.p_k0:.4g}"
        return (
            f"TrimFillResult({self.estimator}, {self.result.method}: {self.k0} studies imputed on "
            f"the {self.side} "
            f"side (SE {self.se_k0:.4f}{p}), k = {self.k} -> {self.k_total})\n"
            f"  observed: {self.observed.estimate:.4f}; filled: {self.estimate:.4f} (SE "
            f"{self.se:.4f}, {lev} CI "
            f"[{self.ci_lower:.4f}, {self.ci_upper:.4f}]), tau2 = {self.tau2:.4f}"
        )


def _var_l0(n: int, k0: float) -> float:
    """Variance of L0 = (4 T_n - n (n + 1)) / (2n - 1) given k0 missing studies (Duval & Tweedie,
    2000b).
    """
    var_t = (
        n * (n + 1) * (2 * n + 1)
        + 10 * k0**3
        + 27 * k0**2
        + 17 * k0
        - 18 * n * k0**2
        - 18 * n * k0
        + 6 * n**2 * k0
    ) / 24
    return 16 * var_t / (2 * n - 1) ** 2


def trim_and_fill(
    result: MetaResult, estimator: str = "L0", side: str | None = None, maxiter: int = 100
) -> TrimFillResult:
    """Duval & Tweedie's trim-and-fill: estimate and impute the studies missing from one side of the
    funnel.

    The studies are put on the scale where the missing ones lie on the left (effects negated when
    ``side="right"``) and sorted by effect size. Starting from k0 = 0, the model (same method
    as ``result``) is fitted to the k - k0 smallest effects; with the deviations ``d_i = y_i -
    mu`` of all k studies and the ranks of ``|d_i|`` (ties averaged), the new k0 is estimated by

    - L0 = (4 T_n - k (k + 1)) / (2k - 1), T_n the sum of the ranks of the positive deviations;
    - R0 = gamma - 1, gamma the length of the run of positive deviations among the largest
    ``|d_i|``;

    rounded and truncated at 0, until k0 no longer changes. The k0 largest effects are then
    mirrored about the last trimmed estimate (``2 mu - y_i``, same ``vi``) and the model is refitted
    to the k + k0 studies. ``se_k0`` is Duval & Tweedie's standard error: for L0 the square root of
    16 Var(T_n) / (2k - 1)^2 with Var(T_n) evaluated at the final unrounded L0 (at 0 should
    an extreme negative L0 make that variance negative), for R0
    ``sqrt(2 k0 + 2)``; ``p_k0`` (R0 only) is the probability of a run at least as long under
    symmetry, ``0.5^(k0 + 1)``.

    Parameters
    ----------
    result : MetaResult
        A fitted model from :func:`masem.meta` (without user weights).
    estimator : {"L0", "R0"}
        Estimator of the number of missing studies.
    side : {"left", "right"}, optional
        Side of the funnel where studies are missing. By default it is chosen from the data as
        metafor does: the side opposite to the sign of the slope in the regression test
        (:func:`egger`, ``model="rma"``): a positive slope (small studies with larger effects)
        means studies are missing on the left.
    maxiter : int
        Maximum number of iterations; a :class:`~masem.ConvergenceWarning` when reached.

    Returns
    -------
    TrimFillResult
        ``k0``, ``se_k0``, ``side``, ``filled`` studies, and the refitted model ``result``.

    References
    ----------
    Duval, S., & Tweedie, R. (2000a). Trim and fill: A simple funnel-plot-based method of testing
    and adjusting for publication bias in meta-analysis. *Biometrics*, 56, 455-463.
    Duval, S., & Tweedie, R. (2000b). A nonparametric "trim and fill" method of accounting for
    publication bias in meta-analysis. *Journal of the American Statistical Association*, 95, 89-98.

    Examples
    --------
    >>> from masem.meta.univariate import meta
    >>> y = [0.45, 0.40, 0.30, 0.28, 0.25, 0.22, 0.20]
    >>> v = [0.040, 0.030, 0.015, 0.010, 0.008, 0.004, 0.002]
    >>> tf = trim_and_fill(meta(y, v, method="FE"))
    >>> tf.side, tf.k0
    ('left', 4)
    """
    result = _check_result(result, "trim_and_fill")
    estimator = choose(estimator, _ESTIMATORS, "estimator", DataError)
    if side is not None:
        side = choose(side, _SIDES, "side", DataError)
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
        raise DataError(f"maxiter must be a positive whole number; got {maxiter!r}.")
    _refuse_user_weights(result, "trim_and_fill")
    k = result.k
    if k < 3:
        raise DataError(f"trim_and_fill needs at least 3 studies; got k = {k}.")
    y_obs, v_obs = np.array(result.yi), np.array(result.vi)
    side = _trim_side(result, side, v_obs)
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * y_obs, kind="stable")
    y, v = sign * y_obs[order], v_obs[order]
    k0, previous, iterations, raw, centre = _trim(result, y, v, estimator, maxiter)
    converged = k0 == previous
    if not converged:
        warnings.warn(
            f"trim_and_fill ({estimator}) did not settle on k0 within {maxiter} iterations "
            f"(last two estimates {previous} and {k0}); increase maxiter or try the other "
            "estimator.",
            ConvergenceWarning,
            stacklevel=2,
        )
    if estimator == "L0":
        # An extreme negative L0 can make the variance formula negative; it then falls back to
        # k0 = 0.
        var_k0 = _var_l0(k, raw)
        se_k0 = float(np.sqrt(var_k0 if var_k0 > 0 else _var_l0(k, 0.0)))
        p_k0 = None
    else:
        se_k0 = float(np.sqrt(2 * k0 + 2))
        p_k0 = 0.5 ** (k0 + 1)
    filled_y = sign * (2 * centre - y[k - k0 :])
    filled_v = v[k - k0 :]
    with relabel_notes("trim_and_fill (observed and filled studies)"):
        refit = (
            result
            if k0 == 0
            else meta(
                np.concatenate([y_obs, filled_y]),
                np.concatenate([v_obs, filled_v]),
                method=result.method,
                test=result.test,
                level=result.level,
                labels=[*result.labels, *(f"filled {i + 1}" for i in range(k0))],
            )
        )
    return TrimFillResult(
        estimator=estimator,
        side=side,
        k0=k0,
        se_k0=se_k0,
        p_k0=p_k0,
        k=k,
        k_total=k + k0,
        iterations=iterations,
        converged=converged,
        observed=result,
        result=refit,
        _filled_y=tuple(filled_y.tolist()),
        _filled_v=tuple(filled_v.tolist()),
    )


def _trim_side(result: MetaResult, side: str | None, v: np.ndarray) -> str:
    """The side on which studies are missing: given, or opposite to Egger's regression slope."""
    if side is not None:
        return side
    if np.ptp(v) == 0:
        raise DataError(
            "trim_and_fill: every study has the same standard error, so the side cannot be chosen "
            "from the regression test; pass side='left' or side='right'."
        )
    return "right" if egger(result, model="rma").slope < 0 else "left"


def _trim(result: MetaResult, y: np.ndarray, v: np.ndarray, estimator: str, maxiter: int) -> tuple:
    """Duval & Tweedie's iterations: k0, the previous k0, iterations, the raw L0 and the centre."""

    def fit(yy: np.ndarray, vv: np.ndarray) -> MetaResult:
        # The trimmed fits only locate the centre; a tau2 of 0 there says nothing about the data.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=TAU2_AT_BOUND, category=ConvergenceWarning)
            return meta(yy, vv, method=result.method, test=result.test, level=result.level)

    k = len(y)
    k0, previous, iterations, raw, centre = 0, -1, 0, 0.0, result.estimate
    while k0 != previous and iterations < maxiter:
        previous = k0
        iterations += 1
        centre = fit(y[: k - k0], v[: k - k0]).estimate
        dev = y - centre
        ranks = stats.rankdata(np.abs(dev))
        if estimator == "L0":
            raw = (4 * ranks[dev > 0].sum() - k * (k + 1)) / (2 * k - 1)
            k0 = max(0, int(np.round(raw)))
        else:
            positive = dev[np.argsort(np.abs(dev), kind="stable")[::-1]] > 0
            run = int(np.argmin(positive)) if not positive.all() else k
            k0 = max(0, run - 1)
        # A trimmed fit needs at least 2 studies.
        k0 = min(k0, k - 2)
    return k0, previous, iterations, raw, centre


# --------------------------------------------------------------------------------------------
# Fail-safe N
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class FailsafeResult:
    """Result of :func:`failsafe_n`.

    Attributes
    ----------
    method : str
        ``"Rosenthal"`` or ``"Orwin"``.
    n : int
        Fail-safe number: the smallest number of added null studies that does the job (ceiling of
        ``n_raw``).
    n_raw : float
        The formula's value (truncated at 0).
    k : int
    target : float or None
        Orwin: the effect size the added studies would pull the mean down to.
    alpha : float or None
        Rosenthal: the one-tailed significance level.
    mean_effect : float
        Orwin: the unweighted mean effect; Rosenthal: Stouffer's combined z, ``|sum z_i| /
        sqrt(k)``.
    p_combined : float or None
        Rosenthal: one-tailed p-value of Stouffer's combined z (in the direction of the effects).
    """

    method: str
    n: int
    n_raw: float
    k: int
    target: float | None
    alpha: float | None
    mean_effect: float
    p_combined: float | None

    def summary(self) -> pd.DataFrame:
        """One row with every field."""
        return pd.DataFrame([{name: getattr(self, name) for name in self.__dataclass_fields__}])

    def __repr__(self) -> str:
        if self.method == "Rosenthal":
            detail = (
                f"to raise Stouffer's combined p ({self.p_combined:.4g}) "
                f"above alpha = {self.alpha:g}"
            )
        else:
            detail = f"to pull the mean effect ({self.mean_effect:.4f}) down to {self.target:.4f}"
        return f"FailsafeResult({self.method}: {self.n} null studies needed {detail}, k = {self.k})"


def failsafe_n(
    yi: ArrayLike,
    vi: ArrayLike,
    method: str = "Rosenthal",
    target: float | None = None,
    alpha: float = 0.05,
) -> FailsafeResult:
    """Fail-safe N: how many unpublished null studies would overturn the conclusion.

    Rosenthal (1979): with ``z_i = yi / sqrt(vi)`` and Stouffer's combined ``Z = sum z_i /
    sqrt(k)``,
    the number of added studies with z = 0 that raises the one-tailed combined p-value to alpha is
    ``(sum z_i)^2 / z_alpha^2 - k`` (in the direction of the effects, so either sign works),
    ``z_alpha`` the upper alpha quantile of the normal (1.645 for .05).
    Orwin (1983): the number of added studies with effect 0 that pulls the unweighted mean effect
    ``ybar`` down to ``target`` is ``k (ybar - target) / target``; target defaults to ``ybar / 2``.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances (vi is used by Rosenthal's method only, but checked).
    method : {"Rosenthal", "Orwin"}
    target : float, optional
        Orwin only: the effect size considered trivial, of the same sign as the mean and smaller in
        size.
    alpha : float
        Rosenthal only: one-tailed significance level.

    Returns
    -------
    FailsafeResult
        ``n`` (whole studies), ``n_raw``, and the ingredients.

    References
    ----------
    Rosenthal, R. (1979). The "file drawer problem" and tolerance for null results. *Psychological
    Bulletin*, 86, 638-641.
    Orwin, R. G. (1983). A fail-safe N for effect size in meta-analysis. *Journal of Educational
    Statistics*, 8, 157-159.

    Examples
    --------
    >>> failsafe_n([0.2, 0.3, 0.25], [0.01, 0.01, 0.01]).n
    18
    >>> failsafe_n([0.2, 0.3, 0.25], [0.01, 0.01, 0.01], method="Orwin", target=0.05).n
    12
    """
    method = choose(method, _FAILSAFE, "method", DataError)
    try:
        y = np.array(yi, dtype=float).reshape(-1)
        v = np.array(vi, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"yi and vi must be sequences of numbers: {exc}") from None
    k = y.size
    if v.size != k:
        raise DataError(f"vi has {v.size} values but yi has {k}; give one variance per study.")
    if k < 2:
        raise DataError(f"failsafe_n needs at least 2 studies; got k = {k}.")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise DataError(f"yi of study {bad[0] + 1} is {y[bad[0]]:g}; effect sizes must be finite.")
    bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
    if bad.size:
        raise DataError(
            f"vi of study {bad[0] + 1} is {v[bad[0]]:g}; sampling variances must be positive and "
            "finite."
        )
    if method == "Rosenthal":
        if target is not None:
            raise DataError("target applies to Orwin's method only; Rosenthal's method uses alpha.")
        if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
            raise DataError(f"alpha must lie strictly between 0 and 1; got {alpha!r}.")
        # Stouffer's sum in the direction of the pooled effect: the file drawer works against
        # either sign.
        z_sum = abs(float(np.sum(y / np.sqrt(v))))
        raw = max(0.0, z_sum**2 / stats.norm.isf(alpha) ** 2 - k)
        mean_effect = z_sum / np.sqrt(k)
        p_combined, used_target, used_alpha = float(stats.norm.sf(mean_effect)), None, float(alpha)
    else:
        mean_effect = float(y.mean())
        if mean_effect == 0:
            raise DataError(
                "the mean effect is 0, so Orwin's fail-safe N is undefined (nothing to pull down)."
            )
        used_target = mean_effect / 2 if target is None else float(target)
        if (
            not np.isfinite(used_target)
            or used_target == 0
            or np.sign(used_target) != np.sign(mean_effect)
        ):
            raise DataError(
                "target must be non-zero and of the same sign as the mean effect "
                f"({mean_effect:.4g}); got {target!r}."
            )
        raw = max(0.0, k * (mean_effect - used_target) / used_target)
        p_combined, used_alpha = None, None
    # The 1e-9 keeps a whole-number result that carries rounding error (Orwin's
    # 12.000000000000002) whole.
    return FailsafeResult(
        method=method,
        n=int(np.ceil(raw - 1e-9)),
        n_raw=float(raw),
        k=k,
        target=used_target,
        alpha=used_alpha,
        mean_effect=float(mean_effect),
        p_combined=p_combined,
    )


# --------------------------------------------------------------------------------------------
# PET-PEESE
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class PetPeeseResult:
    """Result of :func:`pet_peese`.

    Attributes
    ----------
    pet_estimate, pet_se, pet_t, pet_p, pet_ci_lower, pet_ci_upper : float
        PET: intercept of the WLS regression of yi on sei (weights 1 / vi), t test on k - 2 df.
    peese_estimate, peese_se, peese_t, peese_p, peese_ci_lower, peese_ci_upper : float
        PEESE: intercept of the WLS regression of yi on vi.
    chosen : str
        ``"PEESE"`` when PET rejects a zero effect at ``alpha``, else ``"PET"``.
    estimate, ci_lower, ci_upper : float
        The chosen model's intercept and CI.
    k, df, alpha, level : int, int, float, float
    """

    k: int
    df: int
    pet_estimate: float
    pet_se: float
    pet_t: float
    pet_p: float
    pet_ci_lower: float
    pet_ci_upper: float
    peese_estimate: float
    peese_se: float
    peese_t: float
    peese_p: float
    peese_ci_lower: float
    peese_ci_upper: float
    chosen: str
    alpha: float
    level: float

    @property
    def estimate(self) -> float:
        """The estimate of the chosen model (PET or PEESE)."""
        return self.peese_estimate if self.chosen == "PEESE" else self.pet_estimate

    @property
    def ci_lower(self) -> float:
        """Lower bound of its confidence interval."""
        return self.peese_ci_lower if self.chosen == "PEESE" else self.pet_ci_lower

    @property
    def ci_upper(self) -> float:
        """Upper bound of its confidence interval."""
        return self.peese_ci_upper if self.chosen == "PEESE" else self.pet_ci_upper

    def summary(self) -> pd.DataFrame:
        """Two rows (PET, PEESE): model, estimate, se, t, df, p, CI, and whether the rule chose
        it.
        """
        rows = []
        for name in ("PET", "PEESE"):
            pre = name.lower()
            rows.append(
                {
                    "model": name,
                    "predictor": "sei" if name == "PET" else "vi",
                    "estimate": getattr(self, f"{pre}_estimate"),
                    "se": getattr(self, f"{pre}_se"),
                    "t": getattr(self, f"{pre}_t"),
                    "df": self.df,
                    "p": getattr(self, f"{pre}_p"),
                    "ci_lower": getattr(self, f"{pre}_ci_lower"),
                    "ci_upper": getattr(self, f"{pre}_ci_upper"),
                    "chosen": self.chosen == name,
                }
            )
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        lev = f"{100 * self.level:g}%"
        return (
            f"PetPeeseResult(k = {self.k}; PET p = {self.pet_p:.4g} at alpha = {self.alpha:g} -> "
            f"{self.chosen})\n"
            f"  PET:   {self.pet_estimate:.4f} ({lev} CI [{self.pet_ci_lower:.4f}, "
            f"{self.pet_ci_upper:.4f}])\n"
            f"  PEESE: {self.peese_estimate:.4f} ({lev} CI [{self.peese_ci_lower:.4f}, "
            f"{self.peese_ci_upper:.4f}])\n"
            f"  corrected estimate ({self.chosen}): {self.estimate:.4f}"
        )


def pet_peese(result: MetaResult, alpha: float = 0.05) -> PetPeeseResult:
    """PET-PEESE: the effect of a hypothetical study with standard error 0, corrected for
    small-study effects.

    PET (precision-effect test) is the weighted regression ``yi = b0 + b1 sei`` with weights ``1 /
    vi``
    (the classical Egger regression; :func:`egger` with ``model="lm"``), PEESE (precision-effect
    estimate with standard error) ``yi = b0 + b1 vi`` with the same weights; both with a free
    residual variance and t inference on k - 2 df. The conditional rule of Stanley & Doucouliagos
    (2014): if PET rejects ``b0 = 0`` (two-sided at ``alpha``) there is a genuine effect and PEESE's
    intercept, less biased then, is the estimate; otherwise PET's.

    Parameters
    ----------
    result : MetaResult
        A fitted model from :func:`masem.meta` (its yi, vi and level are used).
    alpha : float
        Level of PET's two-sided test of b0 = 0 (0.10 gives the one-tailed 5% test some authors
        use).

    Returns
    -------
    PetPeeseResult
        Both intercepts with their tests and CIs, ``chosen`` and the conditional ``estimate``.

    References
    ----------
    Stanley, T. D., & Doucouliagos, H. (2014). Meta-regression approximations to reduce publication
    selection bias. *Research Synthesis Methods*, 5, 60-78.

    Examples
    --------
    >>> from masem.meta.univariate import meta
    >>> res = meta([0.55, 0.42, 0.35, 0.33, 0.30, 0.29], [0.04, 0.02, 0.01, 0.005, 0.002, 0.001],
    ...            method="FE")
    >>> pet_peese(res).chosen
    'PEESE'
    """
    result = _check_result(result, "pet_peese")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise DataError(f"alpha must lie strictly between 0 and 1; got {alpha!r}.")
    _check_k(result.k, 3, "pet_peese")
    y, v = np.array(result.yi), np.array(result.vi)
    _check_precisions(np.sqrt(v), "pet_peese")
    pet = _wls(y, np.sqrt(v), v, result.level)
    peese = _wls(y, v, v, result.level)
    chosen = "PEESE" if pet["intercept_p"] < alpha else "PET"
    fields = {}
    for name, fit in (("pet", pet), ("peese", peese)):
        fields.update(
            {
                f"{name}_estimate": fit["intercept"],
                f"{name}_se": fit["intercept_se"],
                f"{name}_t": fit["intercept_t"],
                f"{name}_p": fit["intercept_p"],
                f"{name}_ci_lower": fit["intercept_ci"][0],
                f"{name}_ci_upper": fit["intercept_ci"][1],
            }
        )
    return PetPeeseResult(
        k=result.k, df=pet["df"], chosen=chosen, alpha=float(alpha), level=result.level, **fields
    )
