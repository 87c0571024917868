"""Univariate meta-analysis of correlations: effect sizes, fixed/random effects, meta-regression,
subgroups.

:func:`escalc` turns correlations and sample sizes into effect sizes (r or Fisher's z) with
their sampling variances; :func:`meta` pools them with a fixed- or random-effects model;
:func:`meta_regression` adds moderators; :func:`subgroup` fits one model per group and tests
the differences between the groups. All three models run through the one numerical core in
:mod:`masem.meta._rma`, and the numbers follow metafor's conventions (Viechtbauer, 2010), so that
``meta(yi, vi, method="REML")`` reports what ``rma(yi, vi, method="REML")`` does.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, stats

from masem._util import check_level, choose, deprecated, frozen
from masem.errors import ConvergenceWarning, DataError, ModelError, relabel_notes
from masem.meta import _rma

__all__ = [
    "MetaRegressionResult",
    "MetaResult",
    "SubgroupResult",
    "escalc",
    "meta",
    "meta_regression",
    "subgroup",
]

_MEASURES = ("COR", "ZCOR")
_VTYPES = ("LS", "AV")
_TESTS = ("z", "knha")
_CONFINT_ROWS = ["tau^2", "tau", "I^2(%)", "H^2"]


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _vector(x: Any, name: str, allow_missing: bool = False) -> tuple[np.ndarray, pd.Index | None]:
    """A 1-D float array from a list, array or Series (None -> NaN), and the Series index if any."""
    index = x.index if isinstance(x, pd.Series) else None
    if isinstance(x, (pd.DataFrame, str, bytes, Mapping)) or np.ndim(x) != 1:
        raise DataError(
            f"{name} must be a one-dimensional sequence of numbers; got {type(x).__name__} "
            f"with shape {np.shape(x)}."
        )
    values = list(x.tolist() if hasattr(x, "tolist") else x)
    try:
        out = np.array([np.nan if v is None or v is pd.NA else v for v in values], dtype=float)
    except (TypeError, ValueError):
        bad = next(v for v in values if not _is_number(v))
        raise DataError(f"{name} must contain numbers only; found {bad!r}.") from None
    if not allow_missing and np.isnan(out).any():
        pos = int(np.flatnonzero(np.isnan(out))[0])
        where = f"label {_plain(index[pos])!r}" if index is not None else f"position {pos + 1}"
        raise DataError(
            f"{name} is missing (NaN) at {where}; drop the studies with missing values "
            f"first (e.g. DataFrame.dropna())."
        )
    return out, index


def _plain(x: Any) -> Any:
    """A numpy scalar as the Python scalar it holds (for readable messages)."""
    return x.item() if isinstance(x, np.generic) else x


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _labels(labels: Any, index: pd.Index | None, k: int) -> tuple:
    """Study labels: given ones, else a Series' own (non-default) index, else 1..k (as metafor)."""
    if labels is not None:
        out = tuple(labels.tolist() if hasattr(labels, "tolist") else labels)
        if len(out) != k:
            raise DataError(
                f"labels has {len(out)} entries but there are {k} studies; give one label per "
                "study."
            )
        if len(set(out)) != k:
            dup = pd.Index(out)[pd.Index(out).duplicated()][0]
            raise DataError(f"labels must be unique; {dup!r} occurs more than once.")
        return out
    if index is not None and not index.equals(pd.RangeIndex(k)):
        return tuple(index.tolist())
    return tuple(range(1, k + 1))


def _study(labels: tuple, pos: int) -> str:
    label = _plain(labels[pos])
    return f"study {label}" if isinstance(label, int) else f"study {label!r}"


def _effects(yi: Any, vi: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Validated effect sizes, sampling variances and study labels."""
    y, idx_y = _vector(yi, "yi")
    v, idx_v = _vector(vi, "vi")
    if len(y) != len(v):
        raise DataError(
            f"yi has {len(y)} values but vi has {len(v)}; give one sampling variance per effect "
            "size."
        )
    lab = _labels(labels, idx_y if idx_y is not None else idx_v, len(y))
    for name, arr in (("yi", y), ("vi", v)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise DataError(
                f"{name} of {_study(lab, bad[0])} is {float(arr[bad[0]])!r}; every value must be "
                "finite."
            )
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        raise DataError(
            f"vi of {_study(lab, bad[0])} is {float(v[bad[0]])!r}; sampling variances must be "
            "positive "
            f"(a correlation of exactly +-1 or a tiny sample gives none)."
        )
    return y, v, lab


def _check_k(k: int, p: int, method: str, what: str = "the model") -> None:
    if k - p < 1:
        raise DataError(
            f"{what} has {_n_studies(k)} for {p} coefficient(s); method {method!r} needs at least "
            f"{p + 1} (k - p >= 1) to estimate heterogeneity. Add studies or drop moderators."
        )


def _n_studies(n: int) -> str:
    return f"{n} study" if n == 1 else f"{n} studies"


TAU2_AT_BOUND = "tau2 is estimated at its lower bound 0"


def _warn_tau2(tau: _rma.Tau2Fit, method: str, residual: bool = False) -> None:
    """Say in words when tau2 did not converge or sits on its bound (issue: no silent trouble)."""
    if not tau.converged:
        warnings.warn(
            f"tau2 ({method}) did not converge: {tau.message}. The estimate is the last value "
            "tried; check the data for extreme yi or vi, or use a closed-form estimator "
            "(method='DL').",
            ConvergenceWarning,
            stacklevel=3,
        )
    elif method != "FE" and tau.at_bound:
        what = "residual heterogeneity (after the moderators)" if residual else "heterogeneity"
        warnings.warn(
            f"{TAU2_AT_BOUND} ({method}): the studies show no {what} beyond sampling error, so the "
            "random-effects result equals the fixed-effect one. This is a valid estimate, but "
            "tau2's "
            "standard error is not meaningful there; report the Q-profile interval (confint()) for "
            "tau2.",
            ConvergenceWarning,
            stacklevel=3,
        )


def _fmt_p(p: float) -> str:
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


# --------------------------------------------------------------------------------------------
# escalc
# --------------------------------------------------------------------------------------------


def escalc(
    measure: str, ri: ArrayLike, ni: ArrayLike, vtype: str = "LS", labels: Any = None
) -> pd.DataFrame:
    """Effect sizes and sampling variances of correlations, as metafor's ``escalc``.

    Parameters
    ----------
    measure : {"COR", "ZCOR"}
        ``"COR"``: the raw correlation, ``yi = ri``. ``"ZCOR"``: Fisher's z, ``yi = atanh(ri)``.
    ri : array_like
        Correlations, strictly between -1 and 1.
    ni : array_like
        Sample sizes: above 1 for COR, above 3 for ZCOR (need not be whole numbers). A row with
        a missing ri or ni (NaN / None) gives a missing row (NaN yi and vi), as in metafor;
        drop such rows before :func:`meta`, which refuses them.
    vtype : {"LS", "AV"}
        Sampling variance of COR: ``"LS"`` (default) the large-sample ``(1 - ri^2)^2 / (ni - 1)``;
        ``"AV"`` the same with ri replaced by the ni-weighted mean correlation (Hunter &
        Schmidt, 2004), which makes the variance independent of the study's own r. ZCOR's
        variance ``1 / (ni - 3)`` does not depend on r, so vtype does not change it.
    labels : sequence, optional
        Row labels; default the index of ``ri`` when it is a Series, otherwise 0..k-1.

    Returns
    -------
    pandas.DataFrame
        Columns ``yi`` and ``vi``, one row per correlation in input order.

    References
    ----------
    Fisher, R. A. (1921). On the "probable error" of a coefficient of correlation deduced from a
    small sample. *Metron*, 1, 3-32.
    Hunter, J. E., & Schmidt, F. L. (2004). *Methods of Meta-Analysis* (2nd ed.). Sage.
    Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *Journal of
    Statistical Software*, 36(3), 1-48.

    Examples
    --------
    >>> from masem.meta.univariate import escalc
    >>> escalc("ZCOR", [0.3, 0.5], [53, 103]).round(4)
           yi    vi
    0  0.3095  0.02
    1  0.5493  0.01
    """
    measure_c = choose(measure, _MEASURES, "measure", DataError)
    vtype_c = choose(vtype, _VTYPES, "vtype", DataError)
    r, idx = _vector(ri, "ri", allow_missing=True)
    n, _ = _vector(ni, "ni", allow_missing=True)
    if len(r) != len(n):
        raise DataError(
            f"ri has {len(r)} values but ni has {len(n)}; give one sample size per correlation."
        )
    if labels is not None:
        index = pd.Index(_labels(labels, None, len(r)))
    else:
        index = idx if idx is not None else pd.RangeIndex(len(r))
    observed = ~np.isnan(r) & ~np.isnan(n)
    bad = np.flatnonzero(observed & ((r <= -1) | (r >= 1) | ~np.isfinite(r)))
    if bad.size:
        raise DataError(
            f"ri of row {_plain(index[bad[0]])!r} is {float(r[bad[0]])!r}; correlations must lie "
            f"strictly between -1 and 1."
        )
    n_min = 3 if measure_c == "ZCOR" else 1
    bad = np.flatnonzero(observed & (~np.isfinite(n) | (n <= n_min)))
    if bad.size:
        raise DataError(
            f"ni of row {_plain(index[bad[0]])!r} is {float(n[bad[0]])!r}; {measure_c} needs "
            "sample "
            f"sizes above {n_min} (its variance divides by ni - {n_min})."
        )
    # Missing rows stay missing (NaN in, NaN out), as in metafor; nothing below divides by them.
    r_obs = np.where(observed, r, 0.0)
    n_obs = np.where(observed, n, n_min + 1.0)
    if measure_c == "ZCOR":
        yi, vi = np.arctanh(r_obs), 1.0 / (n_obs - 3.0)
    else:
        if vtype_c == "AV":
            if not observed.any():
                raise DataError("vtype='AV' needs at least one observed correlation to average.")
            r_use = np.sum(n[observed] * r[observed]) / np.sum(n[observed])
        else:
            r_use = r_obs
        yi, vi = r_obs, (1.0 - r_use**2) ** 2 / (n_obs - 1.0)
    yi, vi = np.where(observed, yi, np.nan), np.where(observed, vi, np.nan)
    return pd.DataFrame({"yi": yi, "vi": vi}, index=index)


# --------------------------------------------------------------------------------------------
# Results shared by meta() and meta_regression()
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False, kw_only=True)
class _Heterogeneity:
    """Fields and methods shared by the meta-analysis and meta-regression results."""

    k: int
    method: str
    test: str
    level: float
    df: int | None
    tau2: float
    tau2_se: float
    tau2_at_bound: bool
    I2: float
    H2: float
    converged: bool
    message: str
    iterations: int
    grad_norm: float
    _y: np.ndarray
    _v: np.ndarray
    _X: np.ndarray
    _weights: np.ndarray
    _labels: tuple
    _s2: float
    _fitstats: tuple[tuple[str, float], ...]

    @property
    def tau(self) -> float:
        """Square root of tau2."""
        return float(np.sqrt(self.tau2))

    @property
    def yi(self) -> np.ndarray:
        """Effect sizes used (read-only)."""
        return self._y

    @property
    def vi(self) -> np.ndarray:
        """Sampling variances used (read-only)."""
        return self._v

    @property
    def weights(self) -> np.ndarray:
        """Weight of each study in percent (sums to 100; read-only)."""
        return self._weights

    @property
    def labels(self) -> list:
        """Study labels, in the order of ``yi``."""
        return list(self._labels)

    def fit_stats(self) -> pd.Series:
        """logLik, deviance, AIC, BIC, AICc (restricted likelihood for REML, ML otherwise; as
        metafor's ``fitstats``).
        """
        return pd.Series(dict(self._fitstats), name="fit", dtype=float)

    @property
    def fitstats(self) -> pd.Series:
        """Deprecated alias of :meth:`fit_stats` (removed in the next release)."""
        deprecated("fitstats", "fit_stats()")
        return self.fit_stats()

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """Confidence intervals for tau^2, tau, I^2 (percent) and H^2 by the Q-profile method.

        The bounds solve Q(tau2) = chi2 quantiles of k - p df, Q(tau2) being the generalised Q
        statistic with weights 1 / (vi + tau2) (Viechtbauer, 2007), found by exact root finding;
        a bound below 0 is reported as 0. tau, I^2 = 100 tau2 / (tau2 + s2) and H^2 = (tau2 +
        s2) / s2 (s2 the typical within-study variance) are monotone in tau2, so their bounds
        are the transformed tau2 bounds. The ``estimate`` column is the fitted model's. For the
        fixed-effects model tau2 is 0 by assumption and the bounds are NaN (metafor refuses).

        References
        ----------
        Viechtbauer, W. (2007). Confidence intervals for the amount of heterogeneity in
        meta-analysis. *Statistics in Medicine*, 26, 37-52.
        """
        level = check_level(level)
        estimate = [self.tau2, self.tau, self.I2, self.H2]
        if self.method == "FE":
            lb = ub = [np.nan] * 4
        else:
            t_lb, t_ub = _rma.q_profile(self._y, self._v, self._X, level)
            lb = [t_lb, np.sqrt(t_lb), 100 * t_lb / (t_lb + self._s2), (t_lb + self._s2) / self._s2]
            ub = [t_ub, np.sqrt(t_ub), 100 * t_ub / (t_ub + self._s2), (t_ub + self._s2) / self._s2]
        return pd.DataFrame(
            {"estimate": estimate, "ci_lower": lb, "ci_upper": ub}, index=_CONFINT_ROWS
        )

    def _heterogeneity_lines(self) -> list[str]:
        lines = []
        if self.method != "FE":
            se = f" (SE = {self.tau2_se:.4f})" if np.isfinite(self.tau2_se) else ""
            lines += [
                f"tau^2 (between-study variance):          {self.tau2:.4f}{se}",
                f"tau (SD of the true effects):            {self.tau:.4f}",
            ]
        lines += [
            f"I^2 (heterogeneity / total variability): {self.I2:.2f}%",
            f"H^2 (total / sampling variability):      {self.H2:.2f}",
        ]
        if self.tau2_at_bound:
            lines.append(
                "note: tau^2 is at its lower bound 0 (no heterogeneity beyond sampling error)."
            )
        if not self.converged:
            lines.append(f"note: tau^2 did not converge ({self.message}).")
        return lines


def _model_name(method: str, moderators: bool) -> str:
    if method == "FE":
        return "Fixed-effects model" + (" with moderators" if moderators else "")
    return (
        "Mixed-effects model" if moderators else "Random-effects model"
    ) + f" (tau^2 estimator: {method})"


# --------------------------------------------------------------------------------------------
# meta()
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False, kw_only=True)
class MetaResult(_Heterogeneity):
    """Result of :func:`meta`: a fixed- or random-effects meta-analysis.

    Attributes
    ----------
    k, method, test, level : the fit's settings; ``df`` is k - 1 under ``test="knha"``, else None.
    estimate, se, z, p, ci_lower, ci_upper : the pooled effect; ``z`` is a t value under knha.
    tau2, tau2_se, tau, I2 (percent), H2 : heterogeneity (tau2 = 0, tau2_se NaN for FE).
    Q, Q_df, Q_p : Cochran's test of homogeneity.
    pi_lower, pi_upper : prediction interval for a new true effect (NaN for FE, as metafor).
    yi, vi, weights (percent), labels : the data and the weights used (read-only).
    converged, message, iterations, grad_norm, tau2_at_bound : how tau2 was found.
    """

    estimate: float
    se: float
    z: float
    p: float
    ci_lower: float
    ci_upper: float
    Q: float
    Q_df: int
    Q_p: float
    pi_lower: float
    pi_upper: float
    user_weights: np.ndarray | None

    def predict(self, transf: str | None = None, level: float | None = None) -> pd.DataFrame:
        """The pooled estimate with its confidence and prediction interval, as metafor's
        ``predict``.

        Parameters
        ----------
        transf : {None, "z2r"}
            ``"z2r"`` back-transforms Fisher's z to r (tanh) for pred and every bound; the
            standard error has no counterpart on the r scale and is NaN (metafor gives NA).
        level : float, optional
            Interval level; default the fit's.

        Returns
        -------
        pandas.DataFrame
            One row: pred, se, ci_lower, ci_upper, pi_lower, pi_upper (metafor's ci.lb, ci.ub,
            pi.lb, pi.ub). The prediction interval is
            pred +- crit sqrt(se^2 + tau2) (Higgins, Thompson & Spiegelhalter, 2009), with crit
            from the normal, or from t(k - 1) under knha; NaN for FE, where metafor gives none.
        """
        level = self.level if level is None else check_level(level)
        if transf is not None and transf != "z2r":
            raise DataError(f"transf must be None or 'z2r'; got {transf!r}.")
        if self.df is None:
            crit = stats.norm.isf((1 - level) / 2)
        else:
            crit = stats.t.isf((1 - level) / 2, self.df)
        row = {
            "pred": self.estimate,
            "se": self.se,
            "ci_lower": self.estimate - crit * self.se,
            "ci_upper": self.estimate + crit * self.se,
            "pi_lower": np.nan,
            "pi_upper": np.nan,
        }
        if self.method != "FE":
            half = crit * np.sqrt(self.se**2 + self.tau2)
            row["pi_lower"], row["pi_upper"] = self.estimate - half, self.estimate + half
        if transf == "z2r":
            row = {
                key: (np.nan if key == "se" else float(np.tanh(val))) for key, val in row.items()
            }
        return pd.DataFrame([row])

    def summary(self) -> pd.DataFrame:
        """One row: method, k, estimate, se, z, p, CI, PI, tau2, tau2_se, tau, I2, H2, Q, Q_df, Q_p,
        df (NaN for z).
        """
        return pd.DataFrame(
            [
                {
                    "method": self.method,
                    "k": self.k,
                    "estimate": self.estimate,
                    "se": self.se,
                    "z": self.z,
                    "p": self.p,
                    "ci_lower": self.ci_lower,
                    "ci_upper": self.ci_upper,
                    "pi_lower": self.pi_lower,
                    "pi_upper": self.pi_upper,
                    "tau2": self.tau2,
                    "tau2_se": self.tau2_se,
                    "tau": self.tau,
                    "I2": self.I2,
                    "H2": self.H2,
                    "Q": self.Q,
                    "Q_df": self.Q_df,
                    "Q_p": self.Q_p,
                    "df": np.nan if self.df is None else self.df,
                }
            ]
        )

    def __repr__(self) -> str:
        stat = "tval" if self.df is not None else "zval"
        pct = round(100 * self.level)
        lines = [f"{_model_name(self.method, False)}, k = {self.k}", ""]
        lines += self._heterogeneity_lines()
        lines += [
            "",
            f"Test for heterogeneity: Q(df = {self.Q_df}) = {self.Q:.4f}, p {_p_text(self.Q_p)}",
            "",
            f"Pooled estimate ({pct}% CI):",
        ]
        table = pd.DataFrame(
            {
                "estimate": [f"{self.estimate:.4f}"],
                "se": [f"{self.se:.4f}"],
                stat: [f"{self.z:.4f}"],
                "pval": [_fmt_p(self.p)],
                "ci.lb": [f"{self.ci_lower:.4f}"],
                "ci.ub": [f"{self.ci_upper:.4f}"],
            }
        )
        lines += table.to_string(index=False).splitlines()
        if self.method != "FE":
            lines.append(
                f"prediction interval ({pct}%): [{self.pi_lower:.4f}, {self.pi_upper:.4f}]"
            )
        if self.df is not None:
            lines.append(f"Knapp-Hartung adjustment: t and CI with df = {self.df}")
        return "\n".join(lines)


def _p_text(p: float) -> str:
    return "< .0001" if p < 1e-4 else f"= {p:.4f}"


def meta(
    yi: ArrayLike,
    vi: ArrayLike,
    method: str = "REML",
    weights: ArrayLike | None = None,
    test: str = "z",
    level: float = 0.95,
    labels: Sequence[Any] | None = None,
) -> MetaResult:
    """Fixed- or random-effects meta-analysis of effect sizes (metafor's ``rma``).

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and their sampling variances (e.g. from :func:`escalc`), at least 2.
    method : {"REML", "ML", "PM", "DL", "HE", "HS", "SJ", "FE"}
        ``"FE"`` fits the fixed-effects (common-effect) model; the others estimate the
        between-study variance tau2 of the random-effects model: restricted maximum likelihood
        (default), maximum likelihood, Paule-Mandel, DerSimonian-Laird, Hedges, Hunter-Schmidt,
        Sidik-Jonkman (see Notes).
    weights : array_like, optional
        User weights (positive) instead of the inverse-variance weights, as metafor's
        ``weights=``; tau2 is still estimated with inverse-variance weights.
    test : {"z", "knha"}
        Normal-theory inference, or the Knapp & Hartung (2003) adjustment (t with k - 1 df and a
        rescaled standard error). knha with user weights is not supported.
    level : float
        Level of the confidence and prediction intervals (default 0.95).
    labels : sequence, optional
        Study labels; default the index of ``yi`` when it is a Series with its own labels,
        otherwise 1..k.

    Returns
    -------
    MetaResult
        ``estimate``, ``se``, ``z``, ``p``, ``ci_lower``, ``ci_upper``, ``tau2``, ``tau2_se``,
        ``I2`` (percent), ``H2``, ``Q``, ``Q_df``, ``Q_p``, ``pi_lower``, ``pi_upper``,
        ``confint()``, ``predict()``, ``fit_stats()``, ``summary()``.

    Notes
    -----
    tau2 estimators (Viechtbauer, 2005; Veroniki et al., 2016), each truncated at 0:
    DL = (Q - (k - 1)) / (sum w - sum w^2 / sum w), w = 1 / vi (DerSimonian & Laird, 1986);
    HE = unweighted sample variance of yi minus the mean vi (Hedges, 1983);
    HS = (Q - k) / sum w (Hunter & Schmidt, 2004, inverse-variance form as metafor);
    SJ: tau0 sum w0 (yi - mu0)^2 / (k - 1), w0 = 1 / (vi + tau0), tau0 = sum (yi - mean y)^2 / k
    (Sidik & Jonkman, 2005); ML and REML maximise the (restricted) likelihood and PM solves
    sum w (yi - mu)^2 = k - 1 (Paule & Mandel, 1982): all three are solved exactly (root finding
    on the estimating equation to ~1e-13 relative), not stopped early as metafor (1e-5); when
    the (restricted) likelihood has several local maxima, the highest is reported and
    ``message`` lists the others.
    Standard errors of tau2: inverse expected information for ML / REML, the variance of the
    quadratic form for DL, HE, HS, SJ, the delta method for PM (see
    :func:`masem.meta._rma.estimate_tau2`).

    The pooled estimate is sum w* yi / sum w*, w* = 1 / (vi + tau2), with variance 1 / sum w*
    (with user weights a: sum a yi / sum a, variance sum a^2 (vi + tau2) / (sum a)^2). I2 and
    H2 use Higgins & Thompson's (2002) typical within-study variance; for FE they come from Q
    (I2 = 100 max(0, Q - df) / Q, H2 = Q / df), as metafor reports them.

    A tau2 estimate of 0 is a valid estimate (the data show no heterogeneity beyond sampling
    error), but tau2's standard error means nothing on the bound: it sets ``tau2_at_bound``, is
    noted in the printout, and raises a :class:`~masem.ConvergenceWarning` that says so. A
    ConvergenceWarning is also raised when the root search for ML / REML / PM fails.

    References
    ----------
    DerSimonian, R., & Laird, N. (1986). Meta-analysis in clinical trials. *Controlled Clinical
    Trials*, 7, 177-188.
    Hedges, L. V. (1983). A random effects model for effect sizes. *Psychological Bulletin*, 93,
    388-395.
    Higgins, J. P. T., & Thompson, S. G. (2002). Quantifying heterogeneity in a meta-analysis.
    *Statistics in Medicine*, 21, 1539-1558.
    Hunter, J. E., & Schmidt, F. L. (2004). *Methods of Meta-Analysis* (2nd ed.). Sage.
    Knapp, G., & Hartung, J. (2003). Improved tests for a random effects meta-regression with a
    single covariate. *Statistics in Medicine*, 22, 2693-2710.
    Paule, R. C., & Mandel, J. (1982). Consensus values and weighting factors. *Journal of
    Research of the National Bureau of Standards*, 87, 377-385.
    Sidik, K., & Jonkman, J. N. (2005). Simple heterogeneity variance estimation for
    meta-analysis. *Journal of the Royal Statistical Society C*, 54, 367-384.
    Veroniki, A. A., et al. (2016). Methods to estimate the between-study variance and its
    uncertainty in meta-analysis. *Research Synthesis Methods*, 7, 55-79.
    Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. *Journal of Educational and Behavioral Statistics*, 30, 261-293.

    Examples
    --------
    >>> from masem.meta.univariate import escalc, meta
    >>> es = escalc("ZCOR", [0.10, 0.30, 0.35, 0.20, 0.50], [60, 120, 80, 200, 45])
    >>> res = meta(es["yi"], es["vi"], method="DL")
    >>> round(res.estimate, 4), round(res.tau2, 4), res.k
    (0.2849, 0.0075, 5)
    """
    method_c = choose(method, _rma.METHODS, "method", DataError)
    test_c = choose(test, _TESTS, "test", DataError)
    level = check_level(level)
    y, v, lab = _effects(yi, vi, labels)
    _check_k(len(y), 1, method_c)
    a = None
    if weights is not None:
        if test_c == "knha":
            raise DataError(
                "test='knha' with user weights is not supported; use test='z' or drop weights."
            )
        a, _ = _vector(weights, "weights")
        if len(a) != len(y):
            raise DataError(f"weights has {len(a)} values but there are {len(y)} studies.")
        bad = np.flatnonzero(~np.isfinite(a) | (a <= 0))
        if bad.size:
            raise DataError(
                f"weight of {_study(lab, bad[0])} is {float(a[bad[0]])!r}; weights must be "
                "positive and finite."
            )
    X = np.ones((len(y), 1))
    fit = _rma.fit_model(y, v, X, method_c, test_c, level, weights=a)
    _warn_tau2(fit.tau, method_c)
    if method_c == "FE":
        pi = (np.nan, np.nan)
    else:
        half = fit.crit * float(np.sqrt(fit.se[0] ** 2 + fit.tau.tau2))
        pi = (float(fit.beta[0]) - half, float(fit.beta[0]) + half)
    return MetaResult(
        **_common_fields(fit, y, v, X, lab),
        estimate=float(fit.beta[0]),
        se=float(fit.se[0]),
        z=float(fit.stat[0]),
        p=float(fit.pval[0]),
        ci_lower=float(fit.ci_lower[0]),
        ci_upper=float(fit.ci_upper[0]),
        Q=fit.QE,
        Q_df=fit.QE_df,
        Q_p=fit.QE_p,
        pi_lower=pi[0],
        pi_upper=pi[1],
        user_weights=None if a is None else frozen(a),
    )


def _common_fields(
    fit: _rma.ModelFit, y: np.ndarray, v: np.ndarray, X: np.ndarray, lab: tuple
) -> dict:
    return dict(
        k=fit.k,
        method=fit.method,
        test=fit.test,
        level=fit.level,
        df=fit.df,
        tau2=fit.tau.tau2,
        tau2_se=fit.tau.se,
        tau2_at_bound=fit.tau.at_bound,
        I2=fit.I2,
        H2=fit.H2,
        converged=fit.tau.converged,
        message=fit.tau.message,
        iterations=fit.tau.iterations,
        grad_norm=fit.tau.grad_norm,
        _y=frozen(y),
        _v=frozen(v),
        _X=frozen(X),
        _weights=frozen(fit.weights),
        _labels=lab,
        _s2=fit.s2,
        _fitstats=fit.fitstats,
    )


# --------------------------------------------------------------------------------------------
# meta_regression()
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False, kw_only=True)
class MetaRegressionResult(_Heterogeneity):
    """Result of :func:`meta_regression`: a fixed- or mixed-effects meta-regression.

    Attributes
    ----------
    coefficients : DataFrame (name, estimate, se, z, p, ci_lower, ci_upper); ``z`` is t under knha.
    vcov : DataFrame, covariance of the coefficients.
    QM, QM_df, QM_p : omnibus test of the moderators (chi2, or F with (QM_df, df) under knha).
    QE, QE_df, QE_p : test for residual heterogeneity.
    tau2, tau2_se, tau, I2 (percent), H2 : residual heterogeneity.
    R2 : percent of heterogeneity accounted for (see :func:`meta_regression`).
    k, n_dropped, dropped : studies used, and the labels of those dropped for a missing moderator.
    """

    names: tuple[str, ...]
    QM: float
    QM_df: int
    QM_p: float
    QE: float
    QE_df: int
    QE_p: float
    R2: float
    dropped: tuple
    _vb: np.ndarray
    _coef: tuple

    @property
    def n_dropped(self) -> int:
        """Number of studies dropped because a moderator was missing."""
        return len(self.dropped)

    @property
    def coefficients(self) -> pd.DataFrame:
        """Coefficients: name, estimate, se, z (t under knha), p, ci_lower, ci_upper."""
        return pd.DataFrame(
            list(self._coef), columns=["name", "estimate", "se", "z", "p", "ci_lower", "ci_upper"]
        )

    @property
    def coef(self) -> pd.DataFrame:
        """Deprecated alias of :attr:`coefficients` (removed in the next release)."""
        deprecated("coef", "coefficients")
        return self.coefficients

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the coefficients."""
        return pd.DataFrame(self._vb, index=list(self.names), columns=list(self.names))

    @property
    def design(self) -> pd.DataFrame:
        """The design matrix used (one row per study used, labelled)."""
        return pd.DataFrame(self._X, index=list(self._labels), columns=list(self.names))

    def summary(self) -> pd.DataFrame:
        """The coefficient table (same as ``coefficients``)."""
        return self.coefficients

    def __repr__(self) -> str:
        stat = "tval" if self.df is not None else "zval"
        head = f"{_model_name(self.method, True)}, k = {self.k}"
        if self.dropped:
            head += f" ({_n_studies(self.n_dropped)} dropped for a missing moderator)"
        lines = [head, ""]
        lines += self._heterogeneity_lines()
        if np.isfinite(self.R2):
            lines.append(f"R^2 (heterogeneity accounted for):       {self.R2:.2f}%")
        lines += [
            "",
            f"Test for residual heterogeneity: QE(df = {self.QE_df}) = {self.QE:.4f}, p "
            f"{_p_text(self.QE_p)}",
        ]
        if np.isfinite(self.QM):
            dist = (
                f"F(df1 = {self.QM_df}, df2 = {self.df})"
                if self.df is not None
                else f"QM(df = {self.QM_df})"
            )
            lines.append(f"Test of moderators: {dist} = {self.QM:.4f}, p {_p_text(self.QM_p)}")
        lines += ["", f"Coefficients ({round(100 * self.level)}% CI):"]
        table = self.coefficients.rename(
            columns={"z": stat, "p": "pval", "ci_lower": "ci.lb", "ci_upper": "ci.ub"}
        )
        table["pval"] = [_fmt_p(p) for p in table["pval"]]
        lines += table.to_string(index=False, float_format=lambda x: f"{x:.4f}").splitlines()
        return "\n".join(lines)


def _design_from_frame(
    frame: pd.DataFrame, intercept: bool
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Dummy-code a moderator frame like R's model.matrix with factor() columns.

    Numeric columns enter as they are; other columns (strings, booleans, pandas Categorical)
    are treatment-coded with the first level as reference: the Categorical's category order,
    otherwise the sorted distinct values. Rows with any missing moderator are dropped (the
    returned mask marks the rows kept); levels are taken from the rows kept.
    """
    if frame.shape[1] == 0:
        raise ModelError("moderators has no columns; give at least one moderator (or use meta()).")
    keep = ~frame.isna().any(axis=1).to_numpy()
    columns, names = [], []
    full_coding = not intercept  # without an intercept the first factor keeps all its levels (as R)
    if intercept:
        columns.append(np.ones(int(keep.sum())))
        names.append("intrcpt")
    for col in frame.columns:
        series = frame[col][keep]
        categorical = isinstance(series.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(series.dtype)
            and not pd.api.types.is_bool_dtype(series.dtype)
        )
        if not categorical:
            columns.append(series.to_numpy(dtype=float))
            names.append(str(col))
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            present = set(series.dropna())
            levels = [lev for lev in series.cat.categories if lev in present]
        else:
            try:
                levels = sorted(set(series))
            except TypeError:
                raise ModelError(
                    f"moderator {col!r} mixes value types that cannot be ordered "
                    f"({sorted({type(x).__name__ for x in series})}); convert it to one type "
                    f"or to a pandas Categorical."
                ) from None
        values = series.to_numpy(dtype=object)
        for lev in levels if full_coding else levels[1:]:
            columns.append((values == lev).astype(float))
            names.append(f"{col}[{_level_str(lev)}]")
        full_coding = False
    X = np.column_stack(columns) if columns else np.empty((int(keep.sum()), 0))
    return X, names, keep


_PATSY_FACTOR = re.compile(r"^C\(([^,()]+)\)\[T\.(.*)\]$")
_INTEGRAL_FLOAT = re.compile(r"^(-?\d+)\.0$")


def _level_str(level: Any) -> str:
    """A factor level as R prints it: an integral float such as 2.0 (a numeric column with NaN) as
    2.
    """
    text = str(_plain(level))
    match = _INTEGRAL_FLOAT.match(text)
    return match.group(1) if match else text


def _design_from_formula(
    formula: str, data: pd.DataFrame
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Design matrix of a patsy formula on ``data``; rows with a missing moderator dropped."""
    import patsy

    if not isinstance(data, pd.DataFrame):
        raise ModelError(
            f"a formula moderator ({formula!r}) needs data= as a pandas DataFrame; "
            f"got {type(data).__name__}."
        )
    # An empty evaluation environment: the formula sees data's columns and patsy's own helpers
    # (C, I, ...), nothing from the caller's namespace.
    env = patsy.EvalEnvironment([{}])
    frame = data.reset_index(drop=True)
    try:
        design = patsy.dmatrix(
            formula, frame, eval_env=env, NA_action="drop", return_type="dataframe"
        )
    except patsy.PatsyError as exc:
        raise ModelError(
            f"cannot build the moderators from formula {formula!r} (a formula sees only the "
            f"columns of data and patsy's helpers such as C() and I()): {exc}"
        ) from None
    keep = np.zeros(len(frame), dtype=bool)
    keep[design.index.to_numpy()] = True
    names = []
    for name in design.columns:
        match = _PATSY_FACTOR.match(name)
        if name == "Intercept":
            names.append("intrcpt")
        elif match:
            names.append(f"{match.group(1).strip()}[{_level_str(match.group(2))}]")
        else:
            names.append(name.replace("[T.", "["))
    return design.to_numpy(dtype=float), names, keep


def _moderator_frame(moderators: Any, k: int) -> pd.DataFrame:
    if isinstance(moderators, pd.DataFrame):
        frame = moderators.reset_index(drop=True)
    elif isinstance(moderators, pd.Series):
        frame = moderators.reset_index(drop=True).to_frame(
            name=moderators.name if moderators.name is not None else "x"
        )
    else:
        arr = np.asarray(moderators, dtype=object)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ModelError(
                f"moderators must be a DataFrame, Series, 1-D or 2-D array or a formula string; "
                f"got shape {arr.shape}."
            )
        frame = pd.DataFrame(
            arr, columns=[f"x{j + 1}" for j in range(arr.shape[1])]
        ).infer_objects()
    if len(frame) != k:
        raise DataError(
            f"moderators has {len(frame)} rows but there are {k} studies; give one row per study."
        )
    return frame


def _check_rank(X: np.ndarray, names: list[str]) -> None:
    """Refuse a design whose columns are linearly dependent, naming the redundant ones."""
    if X.shape[1] == 0:
        raise ModelError("the model has no coefficients (no intercept and no moderators).")
    scale = np.linalg.norm(X, axis=0)
    zero = [names[j] for j in np.flatnonzero(scale == 0)]
    if zero:
        raise ModelError(
            f"moderator column(s) {zero} are all zero in the studies used; drop them or "
            f"merge levels."
        )
    _, r, piv = linalg.qr(X / scale, mode="economic", pivoting=True)
    tol = max(X.shape) * np.finfo(float).eps * abs(r[0, 0]) * 1e3
    rank = int(np.sum(np.abs(np.diag(r)) > tol))
    if rank < X.shape[1]:
        redundant = [names[j] for j in piv[rank:]]
        raise ModelError(
            f"the moderators are collinear: {redundant} can be written as a combination of the "
            f"other columns; drop them or merge levels."
        )


def meta_regression(
    yi: ArrayLike | str,
    vi: ArrayLike | str,
    moderators: Any,
    method: str = "REML",
    test: str = "z",
    data: pd.DataFrame | None = None,
    level: float = 0.95,
    labels: Sequence[Any] | None = None,
    intercept: bool = True,
) -> MetaRegressionResult:
    """Fixed- or mixed-effects meta-regression (metafor's ``rma(yi, vi, mods=...)``).

    Parameters
    ----------
    yi, vi : array_like or str
        Effect sizes and sampling variances, one per study; or column names of ``data``.
    moderators : DataFrame, Series, array_like or str
        A DataFrame (or Series / array) of moderators: numeric columns enter as they are,
        other columns (strings, booleans, pandas Categorical) are dummy-coded with the first
        level as reference (the Categorical's order, otherwise sorted), like R's ``factor()``.
        Or a patsy formula such as ``"~ C(struct) + year"`` evaluated on ``data`` (only its
        columns and patsy's helpers are visible to the formula). Rows are matched to yi by
        position. Studies with a missing moderator are dropped; ``dropped`` lists them.
    method, test, level : as in :func:`meta`.
    data : DataFrame, optional
        Needed for a formula, or when yi / vi are column names.
    labels : sequence, optional
        Study labels (default: the index of ``data``, of a Series yi, or 1..k).
    intercept : bool
        Add an intercept (DataFrame moderators only; a formula says ``- 1`` itself).

    Returns
    -------
    MetaRegressionResult
        ``coefficients`` (names ``"intrcpt"``, ``"<column>"`` or ``"<column>[<level>]"``), ``QM``,
        ``QE``, ``tau2`` (residual), ``I2``, ``H2``, ``R2``, ``confint()``, ``fit_stats()``.

    Notes
    -----
    The model y = X beta + u + e, u ~ N(0, tau2), is fitted by the shared core of :func:`meta`
    with the same tau2 estimators in their meta-regression form (Raudenbush, 2009). QM is the
    Wald test of all coefficients but the intercept (of all when there is none); QE = the
    residual Q with weights 1 / vi on k - p df. R2 (percent, as metafor stores it) is
    max(0, 100 (tau2_0 - tau2) / tau2_0) with tau2_0 from the intercept-only model with the same
    method on the same studies; NaN when tau2_0 = 0 (no heterogeneity to account for) or when
    the model has no intercept. For FE it is the relative reduction of QE / df, max(0, 100
    (H2_0 - H2) / H2_0), which is what metafor stores for FE models.

    References
    ----------
    Raudenbush, S. W. (2009). Analyzing effect sizes: Random-effects models. In H. Cooper, L. V.
    Hedges, & J. C. Valentine (Eds.), *The Handbook of Research Synthesis and Meta-Analysis*
    (2nd ed., pp. 295-315). Russell Sage Foundation.
    Thompson, S. G., & Higgins, J. P. T. (2002). How should meta-regression analyses be
    undertaken and interpreted? *Statistics in Medicine*, 21, 1559-1573.
    Viechtbauer, W., Lopez-Lopez, J. A., Sanchez-Meca, J., & Marin-Martinez, F. (2015). A
    comparison of procedures to test for moderators in mixed-effects meta-regression models.
    *Psychological Methods*, 20, 360-374.

    Examples
    --------
    >>> import pandas as pd
    >>> from masem.meta.univariate import meta_regression
    >>> df = pd.DataFrame({"yi": [0.1, 0.3, 0.35, 0.2, 0.5, 0.45],
    ...                    "vi": [0.02, 0.01, 0.015, 0.005, 0.03, 0.01],
    ...                    "design": ["a", "b", "b", "a", "b", "a"]})
    >>> mr = meta_regression("yi", "vi", "~ C(design)", data=df, method="FE")
    >>> mr.coefficients["name"].tolist()
    ['intrcpt', 'design[b]']
    """
    method_c = choose(method, _rma.METHODS, "method", DataError)
    test_c = choose(test, _TESTS, "test", DataError)
    level = check_level(level)
    if data is not None and not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame; got {type(data).__name__}.")
    if isinstance(yi, str) or isinstance(vi, str):
        if data is None:
            raise DataError("yi / vi are given as column names; pass the DataFrame as data=.")
        missing = [c for c in (yi, vi) if isinstance(c, str) and c not in data.columns]
        if missing:
            raise DataError(f"column(s) {missing} not found in data; it has {list(data.columns)}.")
        yi = data[yi] if isinstance(yi, str) else yi
        vi = data[vi] if isinstance(vi, str) else vi
    if labels is None and data is not None and not data.index.equals(pd.RangeIndex(len(data))):
        labels = data.index
    y, v, lab = _effects(yi, vi, labels)
    if isinstance(moderators, str):
        if data is None:
            raise ModelError(
                f"a formula moderator ({moderators!r}) needs data= as a pandas DataFrame."
            )
        if len(data) != len(y):
            raise DataError(f"data has {len(data)} rows but there are {len(y)} studies.")
        X, names, keep = _design_from_formula(moderators, data)
    else:
        X, names, keep = _design_from_frame(_moderator_frame(moderators, len(y)), intercept)
    dropped = tuple(lab[i] for i in np.flatnonzero(~keep))
    y, v = y[keep], v[keep]
    lab = tuple(lab[i] for i in np.flatnonzero(keep))
    _check_rank(X, names)
    _check_k(
        len(y),
        X.shape[1],
        method_c,
        what=f"the meta-regression ({len(dropped)} studies dropped)"
        if dropped
        else "the meta-regression",
    )
    has_intercept = "intrcpt" in names
    btt = np.array([j for j, name in enumerate(names) if name != "intrcpt"], dtype=int)
    fit = _rma.fit_model(y, v, X, method_c, test_c, level, btt=btt)
    _warn_tau2(fit.tau, method_c, residual=True)
    coef = tuple(
        (
            names[j],
            float(fit.beta[j]),
            float(fit.se[j]),
            float(fit.stat[j]),
            float(fit.pval[j]),
            float(fit.ci_lower[j]),
            float(fit.ci_upper[j]),
        )
        for j in range(len(names))
    )
    return MetaRegressionResult(
        **_common_fields(fit, y, v, X, lab),
        names=tuple(names),
        QM=np.nan if fit.QM is None else fit.QM,
        QM_df=0 if fit.QM_df is None else fit.QM_df,
        QM_p=np.nan if fit.QM_p is None else fit.QM_p,
        QE=fit.QE,
        QE_df=fit.QE_df,
        QE_p=fit.QE_p,
        R2=_r2(y, v, fit, method_c) if has_intercept else np.nan,
        dropped=dropped,
        _vb=frozen(fit.vb),
        _coef=coef,
    )


def _r2(y: np.ndarray, v: np.ndarray, fit: _rma.ModelFit, method: str) -> float:
    """Percent of heterogeneity accounted for (see meta_regression's Notes)."""
    X0 = np.ones((len(y), 1))
    if method == "FE":
        h2_0 = _rma.gls(y, v, X0, 0.0).q / (len(y) - 1)
        return max(0.0, 100.0 * (h2_0 - fit.H2) / h2_0) if h2_0 > 0 else np.nan
    tau2_0 = _rma.estimate_tau2(y, v, X0, method).tau2
    return max(0.0, 100.0 * (tau2_0 - fit.tau.tau2) / tau2_0) if tau2_0 > 0 else np.nan


# --------------------------------------------------------------------------------------------
# subgroup()
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class SubgroupResult:
    """Result of :func:`subgroup`.

    Attributes
    ----------
    table : DataFrame, one row per group (group, k, estimate, se, ci_lower, ci_upper, tau2, I2,
        Q, Q_df, Q_p).
    Q_between, df, p : test of the differences between the group estimates.
    results : dict of group -> :class:`MetaResult`.
    method, k, dropped : estimator, studies used, labels of studies without a group.
    """

    method: str
    k: int
    Q_between: float
    df: int
    p: float
    dropped: tuple
    _results: tuple

    @property
    def results(self) -> dict:
        """Each group's :class:`MetaResult` (a fresh dict)."""
        return dict(self._results)

    @property
    def table(self) -> pd.DataFrame:
        """One row per group: the group's pooled estimate, its interval, k and tau2."""
        rows = []
        for group, res in self._results:
            rows.append(
                {
                    "group": group,
                    "k": res.k,
                    "estimate": res.estimate,
                    "se": res.se,
                    "ci_lower": res.ci_lower,
                    "ci_upper": res.ci_upper,
                    "tau2": res.tau2,
                    "I2": res.I2,
                    "Q": res.Q,
                    "Q_df": res.Q_df,
                    "Q_p": res.Q_p,
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """The per-group table (same as ``table``)."""
        return self.table

    def __repr__(self) -> str:
        lines = [f"Subgroup analysis ({self.method}), k = {self.k}, {len(self._results)} groups"]
        if self.dropped:
            lines[0] += f" ({_n_studies(len(self.dropped))} without a group dropped)"
        body = self.table.to_string(index=False, float_format=lambda x: f"{x:.4f}")
        lines += body.splitlines()
        lines.append(
            f"Test of group differences: Q(df = {self.df}) = {self.Q_between:.4f}, p "
            f"{_p_text(self.p)}"
        )
        return "\n".join(lines)


def subgroup(
    yi: ArrayLike,
    vi: ArrayLike,
    groups: ArrayLike,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    labels: Sequence[Any] | None = None,
) -> SubgroupResult:
    """Subgroup analysis: a separate model per group and a test of the group differences.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances.
    groups : array_like
        Group of each study (missing = study dropped). Groups are reported in the order of a
        pandas Categorical, otherwise sorted.
    method, test, level, labels : as in :func:`meta`; every group is fitted with ``method``.

    Returns
    -------
    SubgroupResult
        ``table`` (one row per group), ``Q_between``, ``df``, ``p``, ``results``.

    Notes
    -----
    Each group gets its own tau2 (metafor's "separate tau2" subgroup approach: one ``rma`` per
    group), and the group estimates are compared with a fixed-effects test,
    Q_between = sum_g (b_g - b_bar)^2 / se_g^2 with b_bar the inverse-variance weighted mean of
    the group estimates, referred to chi2 with G - 1 df (Borenstein et al., 2009, ch. 19). This
    differs from the mixed-effects meta-regression (:func:`meta_regression` with the group as a
    factor), which assumes one tau2 common to all groups; use that when the groups are small.
    Every group needs at least 2 studies, and there must be at least 2 groups.

    References
    ----------
    Borenstein, M., Hedges, L. V., Higgins, J. P. T., & Rothstein, H. R. (2009). *Introduction
    to Meta-Analysis*. Wiley.

    Examples
    --------
    >>> from masem.meta.univariate import subgroup
    >>> sg = subgroup([0.1, 0.2, 0.5, 0.6], [0.01, 0.02, 0.01, 0.02], ["a", "a", "b", "b"],
    ...               method="FE")
    >>> sg.table["group"].tolist(), sg.df
    (['a', 'b'], 1)
    """
    method_c = choose(method, _rma.METHODS, "method", DataError)
    y, v, lab = _effects(yi, vi, labels)
    if isinstance(groups, (str, bytes)) or np.ndim(groups) != 1:
        raise DataError(
            f"groups must be a one-dimensional sequence with one group per study; got {groups!r}."
        )
    g = groups if isinstance(groups, pd.Series) else pd.Series(list(groups))
    g = g.reset_index(drop=True)
    if len(g) != len(y):
        raise DataError(f"groups has {len(g)} entries but there are {len(y)} studies.")
    keep = ~g.isna().to_numpy()
    if isinstance(g.dtype, pd.CategoricalDtype):
        present = set(g.dropna())
        levels = [lev for lev in g.cat.categories if lev in present]
    else:
        try:
            levels = sorted(set(g[keep]))
        except TypeError:
            raise DataError(
                "groups mixes value types that cannot be ordered; convert them to strings."
            ) from None
    if len(levels) < 2:
        raise DataError(
            f"subgroup needs at least 2 groups; found {len(levels)} ({levels}). Use meta() for one "
            "group."
        )
    values = g.to_numpy(dtype=object)
    results = []
    for level_name in levels:
        idx = np.flatnonzero(keep & (values == level_name))
        if len(idx) < 2:
            raise DataError(
                f"group {_plain(level_name)!r} has {_n_studies(len(idx))}; every group needs at "
                "least 2 "
                f"(merge it with another group or drop it)."
            )
        with relabel_notes(f"subgroup, group {_plain(level_name)!r}"):
            res = meta(
                y[idx],
                v[idx],
                method=method_c,
                test=test,
                level=level,
                labels=[lab[i] for i in idx],
            )
        results.append((level_name, res))
    est = np.array([res.estimate for _, res in results])
    w = 1.0 / np.array([res.se for _, res in results]) ** 2
    mean = float(np.sum(w * est) / np.sum(w))
    q_between = float(np.sum(w * (est - mean) ** 2))
    df = len(results) - 1
    return SubgroupResult(
        method=method_c,
        k=int(keep.sum()),
        Q_between=q_between,
        df=df,
        p=float(stats.chi2.sf(q_between, df)),
        dropped=tuple(lab[i] for i in np.flatnonzero(~keep)),
        _results=tuple(results),
    )
