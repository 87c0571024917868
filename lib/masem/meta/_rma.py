"""The one numerical core of the univariate fixed/random/mixed-effects model (meta,
meta_regression).

Model (Raudenbush, 2009; Viechtbauer, 2005): y = X beta + u + e, u ~ N(0, tau2 I),
e ~ N(0, diag(v)). For a given tau2 the coefficients are the weighted least-squares estimate
with W = diag(1 / (v + tau2)); tau2 comes from one of the estimators in :data:`METHODS`.

Notation: for weights w, W = diag(w), C = (X'WX)^-1 and P = W - W X C X'W, so that P y = W r
(r the weighted residuals), y'Py is the (generalised) Q statistic and tr(P) = E d(y'Py)/d(-tau2)
at the true tau2. P0 is P with the fixed-effects weights 1 / v. Every trace is computed in
O(k p^2) from p x p blocks, never from a k x k matrix, because these functions run inside root
searches and subgroup / simulation loops.

No input validation here: callers (:mod:`masem.meta.univariate`) pass clean float arrays, v > 0 and
X of full column rank with k > p.

References
----------
Morris, C. N. (1983). Parametric empirical Bayes inference: Theory and applications. *Journal
of the American Statistical Association*, 78(381), 47-55.
Paule, R. C., & Mandel, J. (1982). Consensus values and weighting factors. *Journal of Research
of the National Bureau of Standards*, 87(5), 377-385.
Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance estimators in the
random-effects model. *Journal of Educational and Behavioral Statistics*, 30(3), 261-293.
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *Journal of
Statistical Software*, 36(3), 1-48.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize, special

METHODS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "PM")
ITERATIVE = ("ML", "REML", "PM")

# brentq stops when the bracket is below _XTOL_REL * (scale of tau2) + 4 eps |tau2|: far below
# metafor's 1e-5 change criterion, so our tau2 is the root to double precision.
_XTOL_REL = 1e-13
_MAX_DOUBLINGS = 200
_LOG_2PI = float(np.log(2.0 * np.pi))


# --------------------------------------------------------------------------------------------
# Weighted least squares and the traces of P
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WLS:
    """Weighted least squares for weights w: coefficients, residuals, Q = r'Wr, tr(P), tr(PP)."""

    w: np.ndarray
    beta: np.ndarray
    resid: np.ndarray
    q: float
    tr_p: float
    tr_pp: float

    @property
    def py(self) -> np.ndarray:
        """P y = W r."""
        return self.w * self.resid


def wls(y: np.ndarray, w: np.ndarray, X: np.ndarray) -> WLS:
    """Weighted least squares with the traces the tau2 estimators need.

    tr(P) = sum w - tr(C X'W^2X) and tr(PP) = sum w^2 - 2 tr(C X'W^3X) + tr(C X'W^2X C X'W^2X),
    all from one solve of the p x p system X'WX with stacked right-hand sides.
    """
    p = X.shape[1]
    xw = X.T * w
    rhs = np.concatenate([(xw @ y)[:, None], (xw * w) @ X, (xw * (w * w)) @ X], axis=1)
    sol = np.linalg.solve(xw @ X, rhs)
    beta, a2, a3 = sol[:, 0], sol[:, 1 : p + 1], sol[:, p + 1 :]
    resid = y - X @ beta
    return WLS(
        w=w,
        beta=beta,
        resid=resid,
        q=float(np.dot(w * resid, resid)),
        tr_p=float(w.sum() - np.trace(a2)),
        tr_pp=float(np.dot(w, w) - 2.0 * np.trace(a3) + np.sum(a2 * a2.T)),
    )


def gls(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> WLS:
    """:func:`wls` with the random-effects weights 1 / (v + tau2)."""
    return wls(y, 1.0 / (v + tau2), X)


def _trace_pd(w: np.ndarray, X: np.ndarray, d: np.ndarray) -> float:
    """tr(P D) for D = diag(d): sum w d - tr(C X' diag(w^2 d) X)."""
    xw = X.T * w
    return float(np.dot(w, d) - np.trace(np.linalg.solve(xw @ X, (xw * (w * d)) @ X)))


def _trace_pmpm(w: np.ndarray, X: np.ndarray, m: np.ndarray) -> float:
    """tr(P M P M) for M = diag(m): the variance of the quadratic form y'Py is 2 tr(PMPM).

    With P M = WM - W X C X'W M: tr(PMPM) = sum (w m)^2 - 2 tr(C X' diag(w^3 m^2) X)
    + tr(C B C B), B = X' diag(w^2 m) X.
    """
    xw = X.T * w
    wm = w * m
    a = xw @ X
    cb = np.linalg.solve(a, (xw * wm) @ X)
    c3 = np.linalg.solve(a, (xw * (wm * wm)) @ X)
    return float(np.dot(wm, wm) - 2.0 * np.trace(c3) + np.sum(cb * cb.T))


# --------------------------------------------------------------------------------------------
# tau2 estimators
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tau2Fit:
    """A tau2 estimate with its standard error and how it was found."""

    tau2: float
    se: float  # NaN for FE
    at_bound: bool  # truncated at, or maximised on, the lower bound 0
    converged: bool
    message: str
    iterations: int  # evaluations of the estimating equation (0 for closed forms)
    grad_norm: float  # |estimating equation| at the solution; 0 at the bound when it points outward


def _root(fun, scale: float, lo: float = 0.0) -> tuple[float, bool, str, int, float]:
    """Root of a function positive at ``lo`` and negative far out: bracket by doubling, then
    brentq.
    """
    hi = 2.0 * lo if lo > 0 else scale
    f_hi = fun(hi)
    calls = 1
    while f_hi >= 0:
        if calls > _MAX_DOUBLINGS:
            return (
                hi,
                False,
                f"no sign change of the estimating equation up to tau2 = {hi:.3g}",
                calls,
                abs(f_hi),
            )
        lo, hi = hi, 2.0 * hi
        f_hi = fun(hi)
        calls += 1
    root, info = optimize.brentq(
        fun,
        lo,
        hi,
        xtol=_XTOL_REL * scale,
        rtol=4 * np.finfo(float).eps,
        full_output=True,
        disp=False,
    )
    calls += info.function_calls
    return float(root), bool(info.converged), f"brentq: {info.flag}", calls, abs(float(fun(root)))


def _tau2_scale(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Where to start bracketing a tau2 root: the OLS residual variance, at least the mean v."""
    k, p = X.shape
    return max(wls(y, np.ones(k), X).q / (k - p), float(np.mean(v)))


def estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> Tau2Fit:
    """Estimate tau2 by ``method`` (one of :data:`METHODS`) with its standard error.

    Closed forms (Viechtbauer, 2005; Raudenbush, 2009, for the meta-regression forms), each
    truncated at 0:

    - DL: (QE - (k - p)) / tr(P0) (DerSimonian & Laird, 1986);
    - HE: (r'r - tr(P_ols V)) / (k - p) with OLS residuals r (Hedges, 1983);
    - HS: (QE - k) / sum(1 / v) (Hunter & Schmidt, 2004, inverse-variance form);
    - SJ: tau0 y'P(tau0)y / (k - p), tau0 = r'r / k with OLS residuals (Sidik & Jonkman, 2005).

    Iterative, solved exactly (brentq to ~1e-13 of the tau2 scale) on the estimating equation:

    - ML: y'PPy = tr(W); REML: y'PPy = tr(P) (Viechtbauer, 2005). The (restricted) likelihood
      need not be unimodal in tau2, so every local maximum is bracketed (sign changes of the
      score on a log grid, and 0 when the score is negative there) and the highest is taken;
    - PM: y'Py = k - p (Paule & Mandel, 1982; DerSimonian & Kacker, 2007), a strictly
      decreasing function with one root (or 0 when it is already negative at tau2 = 0).

    Standard errors: ML sqrt(2 / tr(WW)) and REML sqrt(2 / tr(PP)), the inverse expected
    information; DL, HE, HS, SJ sqrt(2 tr(AMAM)) / c for the estimator y'Ay / c + const with
    M = diag(v + tau2), the exact variance of a normal quadratic form; PM
    sqrt(2 / (k - p)) * k / sum(w), w = 1 / (v + tau2): the standard error of a variance
    estimated on k - p degrees of freedom, sqrt(2 / (k - p)) times the typical total variance
    v + tau2 taken as the harmonic mean k / sum(w). This is the standard error metafor reports
    for its PM and EB estimators (Viechtbauer, 2010, ``rma.uni``: "se.tau2"; Morris, 1983, for the
    empirical-Bayes form of the estimating equation); with equal v it is exact for the
    chi-square-distributed PM quadratic form (Paule & Mandel, 1982).
    """
    k, p = X.shape
    if method == "FE":
        return Tau2Fit(
            0.0, np.nan, False, True, "fixed-effects model: tau2 = 0 by assumption", 0, 0.0
        )
    if method in ITERATIVE:
        return _iterative(y, v, X, method)
    if method in ("DL", "HS"):
        w = 1.0 / v
        g0 = wls(y, w, X)
        numer, denom = (g0.q - (k - p), g0.tr_p) if method == "DL" else (g0.q - k, float(w.sum()))
    elif method == "HE":
        w = np.ones(k)
        numer, denom = wls(y, w, X).q - _trace_pd(w, X, v), float(k - p)
    else:  # SJ
        tau0 = wls(y, np.ones(k), X).q / k
        if tau0 <= 0:
            return Tau2Fit(
                0.0, np.nan, True, True, "SJ: the outcomes do not vary (initial estimate 0)", 0, 0.0
            )
        w = 1.0 / (v + tau0)
        numer, denom = wls(y, w, X).q, (k - p) / tau0
    tau2 = max(0.0, numer / denom)
    se = float(np.sqrt(2.0 * _trace_pmpm(w, X, v + tau2)) / denom)
    return Tau2Fit(tau2, se, numer <= 0, True, f"{method}: closed form", 0, 0.0)


def _iterative(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> Tau2Fit:
    k, p = X.shape

    def equation(tau2: float) -> float:
        g = gls(y, v, X, tau2)
        if method == "PM":
            return g.q - (k - p)
        py = g.py
        return 0.5 * (float(np.dot(py, py)) - (float(g.w.sum()) if method == "ML" else g.tr_p))

    scale = _tau2_scale(y, v, X)
    if method == "PM":
        # y'P(tau2)y is strictly decreasing: one root, or none above 0.
        if equation(0.0) <= 0:
            tau2, converged, message, calls, grad = 0.0, True, "tau2 at its lower bound 0", 1, 0.0
        else:
            tau2, converged, message, calls, grad = _root(equation, scale)
    else:
        tau2, converged, message, calls, grad = _global_maximum(y, v, X, method, equation, scale)
    g = gls(y, v, X, tau2)
    if method == "ML":
        se = np.sqrt(2.0 / float(np.dot(g.w, g.w)))
    elif method == "REML":
        se = np.sqrt(2.0 / g.tr_pp)
    else:
        se = np.sqrt(2.0 / (k - p)) * k / float(g.w.sum())
    return Tau2Fit(float(tau2), float(se), tau2 == 0.0, converged, message, calls, grad)


# Grid for locating the local maxima of the (restricted) likelihood: 0, then the tau2 scale times
# powers of 2 from 2^-24 to 2^12. The likelihood of tau2 need not be unimodal (small k, a few
# precise studies far from the rest), so a root search from one start can stop at a local
# maximum; each + to - sign change of the score on this grid brackets one local maximum.
_GRID = np.concatenate([[0.0], 2.0 ** np.arange(-24, 13)])


def _scores(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, taus: np.ndarray, method: str
) -> np.ndarray:
    """The ML / REML score at many tau2 at once (batched p x p solves)."""
    w = 1.0 / (v[None, :] + taus[:, None])
    xwx = np.einsum("tk,ki,kj->tij", w, X, X)
    rhs = np.concatenate(
        [np.einsum("tk,ki,k->ti", w, X, y)[:, :, None], np.einsum("tk,ki,kj->tij", w * w, X, X)],
        axis=2,
    )
    sol = np.linalg.solve(xwx, rhs)
    py = w * (y[None, :] - np.einsum("ti,ki->tk", sol[:, :, 0], X))
    trace = (
        w.sum(axis=1)
        if method == "ML"
        else w.sum(axis=1) - np.trace(sol[:, :, 1:], axis1=1, axis2=2)
    )
    return 0.5 * (np.sum(py * py, axis=1) - trace)


def _global_maximum(y, v, X, method, equation, scale) -> tuple[float, bool, str, int, float]:
    """Every local maximum of the ML / REML likelihood on tau2 >= 0, then the highest one."""
    taus = _GRID * scale
    score = _scores(y, v, X, taus, method)
    calls = len(taus)
    candidates = []  # (tau2, converged, message, grad)
    if score[0] <= 0:
        candidates.append((0.0, True, "tau2 at its lower bound 0", 0.0))
    for i in np.flatnonzero((score[:-1] > 0) & (score[1:] <= 0)):
        root, info = optimize.brentq(
            equation,
            taus[i],
            taus[i + 1],
            xtol=_XTOL_REL * scale,
            rtol=4 * np.finfo(float).eps,
            full_output=True,
            disp=False,
        )
        calls += info.function_calls
        candidates.append(
            (float(root), bool(info.converged), f"brentq: {info.flag}", abs(equation(root)))
        )
    if score[-1] > 0:  # still rising at the top of the grid: follow it outwards
        root, converged, message, more, grad = _root(equation, scale, lo=taus[-1])
        calls += more
        candidates.append((root, converged, message, grad))
    which = 0 if method == "ML" else 1
    lls = [log_likelihoods(y, v, X, c[0], gls(y, v, X, c[0]).beta)[which] for c in candidates]
    best = int(np.argmax(lls))
    tau2, converged, message, grad = candidates[best]
    if len(candidates) > 1:
        others = ", ".join(f"{c[0]:.6g}" for j, c in enumerate(candidates) if j != best)
        message += f"; the highest of {len(candidates)} local maxima (others at tau2 = {others})"
    return tau2, converged, message, calls, grad


# --------------------------------------------------------------------------------------------
# Likelihoods and the Q-profile interval
# --------------------------------------------------------------------------------------------


def log_likelihoods(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, beta: np.ndarray
) -> tuple[float, float]:
    """(ML, REML) log-likelihoods at (beta, tau2).

    ML: -1/2 [k log 2pi + sum log(v + tau2) + r'Wr]. REML (Harville, 1977; the form metafor
    reports): -1/2 [(k - p) log 2pi - log|X'X| + sum log(v + tau2) + log|X'WX| + r'Wr].
    """
    k, p = X.shape
    m = v + tau2
    r = y - X @ beta
    quad = float(np.sum(r * r / m))
    log_det = float(np.sum(np.log(m)))
    ll_ml = -0.5 * (k * _LOG_2PI + log_det + quad)
    log_det_xx = 2.0 * float(np.sum(np.log(np.diag(np.linalg.cholesky(X.T @ X)))))
    log_det_xwx = 2.0 * float(np.sum(np.log(np.diag(np.linalg.cholesky((X.T / m) @ X)))))
    ll_reml = -0.5 * ((k - p) * _LOG_2PI - log_det_xx + log_det + log_det_xwx + quad)
    return ll_ml, ll_reml


def chi2_isf(alpha: float, df: float) -> float:
    """Upper-tail chi2 quantile."""
    return float(special.chdtri(df, alpha))


def chi2_ppf(alpha: float, df: float) -> float:
    """Lower-tail chi2 quantile (via the inverse regularised gamma, exact for small alpha)."""
    return float(2.0 * special.gammaincinv(df / 2.0, alpha))


def q_profile(y: np.ndarray, v: np.ndarray, X: np.ndarray, level: float) -> tuple[float, float]:
    """Q-profile confidence interval for tau2 (Viechtbauer, 2007).

    The bounds solve y'P(tau2)y = chi2_{k-p} quantiles (the upper one for the lower bound);
    y'P(tau2)y is strictly decreasing in tau2, so each root is unique. A bound whose equation
    has no non-negative root is 0.
    """
    k, p = X.shape
    alpha = 1.0 - level
    q0 = gls(y, v, X, 0.0).q
    scale = _tau2_scale(y, v, X)
    bounds = []
    for target in (chi2_isf(alpha / 2, k - p), chi2_ppf(alpha / 2, k - p)):
        if q0 <= target:
            bounds.append(0.0)
        else:
            bounds.append(_root(lambda t, c=target: gls(y, v, X, t).q - c, scale)[0])
    return bounds[0], bounds[1]


# --------------------------------------------------------------------------------------------
# The full model fit
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFit:
    """Everything meta() and meta_regression() report, computed once from (y, v, X, method)."""

    k: int
    p: int
    method: str
    test: str
    level: float
    beta: np.ndarray
    vb: np.ndarray  # covariance of beta (Knapp-Hartung scaled under test="knha")
    se: np.ndarray
    stat: np.ndarray  # z (or t) values
    pval: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    df: int | None  # residual df k - p of the t / F reference distributions; None for z
    crit: float  # critical value of the intervals
    tau: Tau2Fit
    QE: float
    QE_df: int
    QE_p: float
    s2: float  # typical within-study variance (k - p) / tr(P0)
    I2: float  # percent
    H2: float
    weights: np.ndarray  # percent
    QM: float | None
    QM_df: int | None
    QM_p: float | None
    fitstats: tuple[tuple[str, float], ...]


def fit_model(
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    method: str,
    test: str,
    level: float,
    weights: np.ndarray | None = None,
    btt: np.ndarray | None = None,
) -> ModelFit:
    """Fit the fixed-, random- or mixed-effects model (Viechtbauer, 2005; Raudenbush, 2009).

    beta = (X'WX)^-1 X'Wy with W = diag(1 / (v + tau2)) and cov(beta) = (X'WX)^-1. With user
    weights A: beta = (X'AX)^-1 X'Ay and cov(beta) = (X'AX)^-1 X'A M A X (X'AX)^-1 with
    M = diag(v + tau2), exact for fixed weights; tau2 is still estimated from the
    inverse-variance model. ``test="knha"`` multiplies cov(beta) by r'Wr / (k - p) and uses t
    and F reference distributions with k - p df (Knapp & Hartung, 2003). ``btt``: indices of
    the coefficients in the omnibus Wald test QM (chi2 with m df, or QM / m ~ F(m, k - p)
    under knha).

    Heterogeneity: QE = y'P0y ~ chi2(k - p) under homogeneity (Cochran, 1954). With s2 the
    typical within-study variance (Higgins & Thompson, 2002), I2 = 100 tau2 / (tau2 + s2) and
    H2 = (tau2 + s2) / s2; for the fixed-effects model I2 = 100 max(0, QE - (k - p)) / QE and
    H2 = QE / (k - p), which is what metafor reports there.
    """
    k, p = X.shape
    tau = estimate_tau2(y, v, X, method)
    m = v + tau.tau2
    a = 1.0 / m if weights is None else weights
    xa = X.T * a
    cho = linalg.cho_factor(xa @ X, lower=True)
    bread = linalg.cho_solve(cho, xa)  # (X'AX)^-1 X'A
    beta = bread @ y
    vb = linalg.cho_solve(cho, np.eye(p)) if weights is None else (bread * m) @ bread.T
    resid = y - X @ beta
    if test == "knha":
        vb = vb * float(np.sum(resid * resid / m)) / (k - p)
        df = k - p
        crit = float(-special.stdtrit(df, (1.0 - level) / 2.0))
    else:
        df = None
        crit = float(-special.ndtri((1.0 - level) / 2.0))
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    pval = 2.0 * (
        special.stdtr(df, -np.abs(stat)) if df is not None else special.ndtr(-np.abs(stat))
    )

    g0 = wls(y, 1.0 / v, X)
    qe, s2 = g0.q, (k - p) / g0.tr_p
    if method == "FE":
        i2 = 100.0 * max(0.0, qe - (k - p)) / qe if qe > 0 else 0.0
        h2 = qe / (k - p)
    else:
        i2 = 100.0 * tau.tau2 / (tau.tau2 + s2)
        h2 = (tau.tau2 + s2) / s2

    qm = qm_df = qm_p = None
    if btt is not None and len(btt):
        b = beta[btt]
        qm_df = len(btt)
        qm = float(b @ np.linalg.solve(vb[np.ix_(btt, btt)], b))
        if df is not None:
            qm /= qm_df
            qm_p = float(special.fdtrc(qm_df, df, qm))
        else:
            qm_p = float(special.chdtrc(qm_df, qm))

    return ModelFit(
        k=k,
        p=p,
        method=method,
        test=test,
        level=level,
        beta=beta,
        vb=vb,
        se=se,
        stat=stat,
        pval=pval,
        ci_lower=beta - crit * se,
        ci_upper=beta + crit * se,
        df=df,
        crit=crit,
        tau=tau,
        QE=qe,
        QE_df=k - p,
        QE_p=float(special.chdtrc(k - p, qe)),
        s2=s2,
        I2=i2,
        H2=h2,
        weights=a / a.sum() * 100.0,
        QM=qm,
        QM_df=qm_df,
        QM_p=qm_p,
        fitstats=_fitstats(y, v, X, method, tau.tau2, beta),
    )


def _fitstats(y, v, X, method, tau2, beta) -> tuple[tuple[str, float], ...]:
    """logLik, deviance, AIC, BIC, AICc as metafor defines them.

    REML fits report the restricted log-likelihood, deviance -2 logLik and n = k - p; all other
    methods the ML log-likelihood, the deviance against the saturated model (each y_i its own
    mean, tau2 = 0: log-likelihood -1/2 sum log(2 pi v_i)) and n = k. Parameters: the p
    coefficients, plus tau2 unless FE. AICc uses max(n, npar + 2) for n, which keeps it finite
    when k is tiny.
    """
    k, p = X.shape
    ll_ml, ll_reml = log_likelihoods(y, v, X, tau2, beta)
    npar = p + (0 if method == "FE" else 1)
    if method == "REML":
        ll, n, dev = ll_reml, k - p, -2.0 * ll_reml
    else:
        ll, n = ll_ml, k
        dev = -2.0 * (ll_ml + 0.5 * float(np.sum(np.log(2.0 * np.pi * v))))
    n_c = max(n, npar + 2)
    return (
        ("logLik", ll),
        ("deviance", dev),
        ("AIC", -2.0 * ll + 2.0 * npar),
        ("BIC", -2.0 * ll + npar * np.log(n)),
        ("AICc", -2.0 * ll + 2.0 * npar * n_c / (n_c - npar - 1)),
    )
