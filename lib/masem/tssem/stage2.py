"""TSSEM stage 2: weighted least squares fit of a structural model to the pooled correlation matrix.

The stage-1 pooled correlations r (vechs order) and their sampling covariance V are the data.
A model written in lavaan syntax (see :mod:`masem.model`) implies correlations rho(theta), and
stage 2 minimises (Cheung & Chan, 2005; Browne, 1984)

    F(theta) = (r - rho(theta))' V^-1 (r - rho(theta)).

The minimum is the model chi-square on q - k degrees of freedom (q correlations, k free
parameters). By default (``diag_constraints=False``) the error variances of the observed
variables are not parameters: they follow from diag(Sigma) = 1. With ``diag_constraints=True``
they are free and diag(Sigma) = 1 is imposed as nonlinear constraints, each adding one degree of
freedom (Cheung, 2015, ch. 7).

Standard errors come from 2 x the inverse of the full Hessian of F (with constraints, from the
bordered Hessian, as OpenMx reports them); intervals are Wald or likelihood-based (the profile
of F rising by qchisq(.95, 1)). The optimiser is a Gauss-Newton SQP with Levenberg-Marquardt
damping and analytic Jacobians.

:func:`refit` fits the model of a :func:`tssem2` result to other correlations with the same weight
matrix through the same optimiser, reusing the parsed model and the Cholesky factor of V and
skipping the inference (standard errors, intervals, fit indices): the parametric bootstrap of
:mod:`masem.tssem.indirect` is built on it.

References
----------
Browne, M. W. (1984). Asymptotically distribution-free methods for the analysis of covariance
structures. *British Journal of Mathematical and Statistical Psychology*, 37, 62-83.
Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
approach. *Psychological Methods*, 10(1), 40-64.
Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.
Neale, M. C., & Miller, M. B. (1997). The use of likelihood-based confidence intervals in genetic
models. *Behavior Genetics*, 27, 113-120.
Nocedal, J., & Wright, S. J. (2006). *Numerical optimization* (2nd ed.). Springer.
Pek, J., & Wu, H. (2015). Profile likelihood-based confidence intervals and regions for structural
equation models. *Psychometrika*, 80, 1123-1145.
Steiger, J. H. (1990). Structural model evaluation and modification: An interval estimation
approach. *Multivariate Behavioral Research*, 25, 173-180.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, optimize, special, stats

from masem._util import frozen
from masem.model.definitions import evaluate as evaluate_definition
from masem.effects import vechs_labels
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.model import Evaluator, RAMModel, lavaan_to_ram

if TYPE_CHECKING:
    from masem.tssem.multigroup import MultigroupTSSEM2Result

__all__ = ["RefitResult", "TSSEM2Result", "compare", "refit", "tssem2"]

CHI2_95 = float(stats.chi2.ppf(0.95, 1))  # 3.841459: the likelihood-based 95% criterion
Z_975 = float(stats.norm.ppf(0.975))
_INTERVALS = ("wald", "profile")


# ----------------------------------------------------------------------------------------------
# The WLS problem and its solver
# ----------------------------------------------------------------------------------------------


@dataclass
class _Solution:
    x: np.ndarray
    f: float
    converged: bool
    iterations: int
    message: str
    grad_norm: float
    multipliers: np.ndarray
    state: dict = field(repr=False)


class _Problem:
    """F(theta) = ||L^-1 (r - rho(theta))||^2 with V = L L', subject to h(theta) = 0 (diag = 1) and
    optionally one more equality g(theta) = t (a profiled parameter or definition)."""

    def __init__(self, evaluator: Evaluator, r: np.ndarray, chol_inv: np.ndarray):
        self.ev = evaluator
        self.r = r
        self.chol_inv = chol_inv

    @classmethod
    def from_cholesky(cls, evaluator: Evaluator, r: np.ndarray, chol: np.ndarray) -> _Problem:
        # L^-1 once: each evaluation is then two small matrix products.
        return cls(evaluator, r, frozen(linalg.solve_triangular(chol, np.eye(len(r)), lower=True)))

    def with_data(self, r: np.ndarray) -> _Problem:
        """The same model and weight matrix fitted to other correlations (what refit() solves)."""
        return _Problem(self.ev, r, self.chol_inv)

    def state(self, x: np.ndarray, extra=None) -> dict:
        st = self.ev.evaluate(x)
        z = self.chol_inv @ (self.r - st["rho"])
        G = self.chol_inv @ st["J"]
        c, Jc = st["h"], st["Jh"]
        if extra is not None:
            fn, t = extra[0], extra[1]
            value, grad = fn(x, st)
            c = np.append(c, value - t)
            Jc = np.vstack([Jc, grad])
        st.update(z=z, G=G, f=float(z @ z), c=c, Jc=Jc)
        return st

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """Full Hessian of F: 2 G'G exactly, plus the residual term -2 sum_k (W e)_k d2 rho_k by
        forward differences of the analytic Jacobian (the term is small, so O(h) is ample)."""
        st = self.state(x)
        weights = self.chol_inv.T @ st["z"]  # W e
        H = 2.0 * st["G"].T @ st["G"]
        n = len(x)
        second = np.empty((n, n))
        for j in range(n):
            h = 1e-7 * max(1.0, abs(x[j]))
            up = x.copy()
            up[j] += h
            second[:, j] = (self.ev.evaluate(up)["J"] - st["J"]).T @ weights / h
        H -= second + second.T
        return H

    def solve(self, x0: np.ndarray, extra=None, max_iter: int = 300, xtol: float = 1e-10) -> _Solution:
        """Gauss-Newton SQP with Levenberg-Marquardt damping and an exact l1 merit function.

        Each step solves [[G'G + lam D, Jc'], [Jc, 0]] [d; w] = [G'z; -c], the Gauss-Newton model
        of F with linearised constraints; its fixed points are exactly the KKT points of
        min F s.t. c = 0, with multipliers 2w (Nocedal & Wright, 2006, ch. 18).
        """
        x = np.asarray(x0, dtype=float).copy()
        st = self.state(x, extra)
        n = len(x)
        lam, mu = 1e-3, 0.0
        # A nonlinear profile target g(theta) = t (a ':=' definition): without its curvature in the
        # Hessian of the Lagrangian, Gauss-Newton SQP converges only linearly (dozens of steps).
        # Its Hessian changes little over the few steps of a warm-started profile fit: one
        # finite-difference evaluation at the start serves the whole solve.
        curvature = self._target_curvature(x, extra[0]) if extra is not None and len(extra) > 2 and extra[2] else None
        w_target = 0.0
        message = "iteration limit reached"
        converged = False
        iterations = 0
        for iterations in range(1, max_iter + 1):
            G, z, c, Jc = st["G"], st["z"], st["c"], st["Jc"]
            m = len(c)
            H = G.T @ G
            if curvature is not None:
                H = H + w_target * curvature
            g = G.T @ z
            K = np.zeros((n + m, n + m))
            K[:n, :n] = H + lam * np.diag(np.maximum(np.diag(H), 1e-12))
            K[:n, n:] = Jc.T
            K[n:, :n] = Jc
            try:
                sol = np.linalg.solve(K, np.concatenate([g, -c]))
            except np.linalg.LinAlgError:
                sol = None
            if sol is None or not np.all(np.isfinite(sol)):
                lam = max(10.0 * lam, 1e-3)
                if lam > 1e12:
                    message = "the Gauss-Newton system is singular"
                    break
                continue
            delta, omega = sol[:n], sol[n:]
            if curvature is not None:
                w_target = float(omega[-1])
            # Parameters of a correlation structure are O(1): a longer step only comes from a
            # nearly singular Gauss-Newton model far from the solution, so shorten it.
            longest = np.max(np.abs(delta), initial=0.0)
            if longest > 1.0:
                delta = delta / longest
            feasible = m == 0 or np.max(np.abs(c)) <= 1e-10
            small = np.max(np.abs(delta) / (1.0 + np.abs(x))) <= xtol
            if feasible and small and lam <= 1e-2:
                converged, message = True, "converged: step below tolerance"
                break
            mu = max(mu, 4.0 * np.max(np.abs(omega), initial=0.0))  # above the multipliers 2 w
            merit = st["f"] + mu * np.sum(np.abs(c))
            predicted = (
                2.0 * g @ delta - delta @ H @ delta + mu * (np.sum(np.abs(c)) - np.sum(np.abs(c + Jc @ delta)))
            )
            if feasible and predicted <= 1e-15 * (1.0 + merit):
                converged, message = True, "converged: no further decrease possible"
                break
            step, new, ratio = self._try(x, delta, extra, merit, predicted, mu)
            if ratio <= 1e-4 and m and new is not None:
                # Second-order correction: the curvature of the constraints, not a bad direction,
                # may spoil the step; pull the trial point back onto the constraints and retry.
                correction = -np.linalg.lstsq(Jc, new["c"], rcond=None)[0]
                step, new, ratio = self._try(x, delta + correction, extra, merit, predicted, mu)
            if ratio > 1e-4:
                x, st = x + step, new
                if ratio > 0.75:
                    lam = lam / 10.0 if lam > 1e-10 else 0.0
                elif ratio < 0.25:
                    lam = max(2.0 * lam, 1e-8)
            else:
                lam = max(10.0 * lam, 1e-3)
                if lam > 1e12:
                    # No step decreases F any more: an optimum only if the KKT conditions hold.
                    stationary = _kkt(st)[0] <= 1e-6 * (1.0 + st["f"])
                    converged = stationary and (m == 0 or np.max(np.abs(c)) <= 1e-8)
                    message = "converged: no further decrease possible" if converged else "stalled"
                    break
        grad_norm, multipliers = _kkt(st)
        return _Solution(
            x=x,
            f=st["f"],
            converged=converged,
            iterations=iterations,
            message=message,
            grad_norm=grad_norm,
            multipliers=multipliers,
            state=st,
        )


    def _target_curvature(self, x: np.ndarray, fn) -> np.ndarray:
        """Hessian of a profile target g(theta) by forward differences of its analytic gradient."""
        n = len(x)
        _, grad = fn(x, self.ev.evaluate(x))
        out = np.empty((n, n))
        for j in range(n):
            h = 1e-7 * max(1.0, abs(x[j]))
            up = x.copy()
            up[j] += h
            out[:, j] = (fn(up, self.ev.evaluate(up))[1] - grad) / h
        return 0.5 * (out + out.T)

    def _try(self, x, step, extra, merit, predicted, mu) -> tuple[np.ndarray, dict | None, float]:
        """Evaluate a trial step: (step, state at x + step, actual / predicted merit decrease)."""
        try:
            new = self.state(x + step, extra)
        except ModelError:  # I - A singular at the trial point
            return step, None, -np.inf
        actual = merit - (new["f"] + mu * np.sum(np.abs(new["c"])))
        if not np.isfinite(actual) or predicted <= 0:
            return step, new, -np.inf
        return step, new, actual / predicted


def _kkt(st: dict) -> tuple[float, np.ndarray]:
    """Max-norm of the gradient of the Lagrangian, with least-squares multipliers nu:
    grad F + Jc' nu = 0, grad F = -2 G'z."""
    grad = -2.0 * st["G"].T @ st["z"]
    Jc = st["Jc"]
    if Jc.shape[0] == 0:
        return float(np.max(np.abs(grad), initial=0.0)), np.zeros(0)
    nu = np.linalg.lstsq(Jc.T, -grad, rcond=None)[0]
    return float(np.max(np.abs(grad + Jc.T @ nu))), nu


# ----------------------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class TSSEM2Result:
    """Result of :func:`tssem2` (immutable; DataFrames are built fresh on every access).

    Attributes
    ----------
    model : str
        The lavaan syntax.
    method : str
        The stage-1 method (e.g. ``"REM"``, ``"FEM"``).
    variables, latent : tuple of str
        Observed variables used (stage-1 order) and latent variables.
    n : int
        Total sample size of stage 1 (the N of RMSEA and BIC).
    diag_constraints : bool
    intervals : str
        ``"wald"`` or ``"profile"``: how ``ci.lower`` / ``ci.upper`` were computed.
    converged, message, iterations, grad_norm
        Optimiser report; ``grad_norm`` is the max-norm of the gradient of the Lagrangian.
    """

    model: str
    method: str
    variables: tuple[str, ...]
    latent: tuple[str, ...]
    n: int
    diag_constraints: bool
    intervals: str
    converged: bool
    message: str
    iterations: int
    grad_norm: float
    _names: tuple[str, ...] = field(repr=False)
    _estimates: np.ndarray = field(repr=False)
    _vcov: np.ndarray = field(repr=False)
    _ci: np.ndarray = field(repr=False)
    _rows: tuple[tuple[str, str, str, str, int], ...] = field(repr=False)
    _defined: tuple[tuple[str, str, float, float, float, float], ...] = field(repr=False)
    _fit: tuple[tuple[str, float], ...] = field(repr=False)
    _implied: np.ndarray = field(repr=False)
    _A: np.ndarray = field(repr=False)
    _S: np.ndarray = field(repr=False)
    _sample: np.ndarray = field(repr=False)
    _acov: np.ndarray = field(repr=False)
    _problem: _Problem = field(repr=False)  # parsed model and L^-1 of V, reused by refit()

    @property
    def coefficients(self) -> pd.Series:
        """Free parameter estimates by label."""
        return pd.Series(self._estimates.copy(), index=list(self._names), name="Estimate")

    @property
    def defined(self) -> pd.Series:
        """Values of the ``:=`` definitions at the estimates, by name (empty without definitions)."""
        names, values = [d[0] for d in self._defined], [d[2] for d in self._defined]
        return pd.Series(values, index=names, name="Estimate", dtype=float)

    @property
    def sample_vector(self) -> pd.Series:
        """The pooled correlations the model was fitted to (vechs order, labels ``row_col``)."""
        return pd.Series(self._sample.copy(), index=vechs_labels(list(self.variables)), name="r")

    @property
    def acov(self) -> pd.DataFrame:
        """Sampling covariance matrix of :attr:`sample_vector` (its inverse is the WLS weight matrix)."""
        labels = vechs_labels(list(self.variables))
        return pd.DataFrame(self._acov.copy(), index=labels, columns=labels)

    @property
    def vcov(self) -> pd.DataFrame:
        """Sampling covariance matrix of the free parameters."""
        names = list(self._names)
        return pd.DataFrame(self._vcov.copy(), index=names, columns=names)

    @property
    def implied(self) -> pd.DataFrame:
        """Model-implied correlation matrix of the observed variables."""
        v = list(self.variables)
        return pd.DataFrame(self._implied.copy(), index=v, columns=v)

    @property
    def A(self) -> pd.DataFrame:
        """Estimated asymmetric paths (row regressed on column)."""
        v = list(self.variables + self.latent)
        return pd.DataFrame(self._A.copy(), index=v, columns=v)

    @property
    def S(self) -> pd.DataFrame:
        """Estimated (residual) variances and covariances, computed error variances included."""
        v = list(self.variables + self.latent)
        return pd.DataFrame(self._S.copy(), index=v, columns=v)

    @property
    def F(self) -> pd.DataFrame:
        """Filter matrix selecting the observed variables."""
        v = list(self.variables + self.latent)
        return pd.DataFrame(np.eye(len(self.variables), len(v)), index=list(self.variables), columns=v)

    def inspect(self) -> pd.DataFrame:
        """Parameter table: free parameters (one row per model element), then ``:=`` definitions.

        Columns: lval, op, rval, label, Estimate, Std. Err, z-value, p-value, ci.lower, ci.upper.
        Loadings appear as ``indicator ~ factor`` (semopy's form).
        """
        se = np.sqrt(np.diag(self._vcov))
        rows = []
        for lval, op, rval, label, k in self._rows:
            rows.append((lval, op, rval, label, self._estimates[k], se[k], self._ci[k, 0], self._ci[k, 1]))
        for name, expression, value, s, lo, hi in self._defined:
            rows.append((name, ":=", expression, name, value, s, lo, hi))
        table = pd.DataFrame(
            rows, columns=["lval", "op", "rval", "label", "Estimate", "Std. Err", "ci.lower", "ci.upper"]
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            z = table["Estimate"] / table["Std. Err"]
        table.insert(6, "z-value", z)
        table.insert(7, "p-value", 2.0 * stats.norm.sf(np.abs(z)))
        return table

    def summary(self) -> pd.DataFrame:
        """Same as :meth:`inspect`."""
        return self.inspect()

    def fit_stats(self) -> pd.Series:
        """chi2, df, p_value, RMSEA and its 90% CI, SRMR, CFI, TLI, n, AIC, BIC, independence model."""
        return pd.Series(dict(self._fit), name="fit", dtype=float)

    def _same_data(self, other: TSSEM2Result) -> bool:
        """Fitted to the same pooled correlations and weights (what a chi-square difference test needs)?"""
        return (
            self.variables == other.variables
            and self._sample.shape == other._sample.shape
            and np.allclose(self._sample, other._sample, rtol=0, atol=1e-12)
            and np.allclose(self._acov, other._acov, rtol=1e-10, atol=0)
        )

    def __repr__(self) -> str:
        fit = dict(self._fit)
        status = "converged" if self.converged else f"NOT converged ({self.message})"
        return (
            f"TSSEM2Result(method={self.method!r}, variables={len(self.variables)}, n={self.n}, "
            f"free={len(self._names)}, chi2({fit['df']:g})={fit['chi2']:.4f}, p={fit['p_value']:.4g}, "
            f"RMSEA={fit['RMSEA']:.4f}, CFI={fit['CFI']:.4f}, SRMR={fit['SRMR']:.4f}, {status})"
        )


@dataclass(frozen=True, repr=False, eq=False)
class RefitResult:
    """Result of :func:`refit` (immutable; arrays are read-only, pandas objects built on access).

    Attributes
    ----------
    names : tuple of str
        Free parameters, in the order of ``TSSEM2Result.coefficients``.
    defined_names : tuple of str
        The ``:=`` definitions, in the order of the syntax.
    estimates, defined_values : numpy.ndarray
        Values of the free parameters and of the definitions (NaN where a definition cannot be
        evaluated).
    chi2 : float
        The minimum of the fit function, F(theta_hat).
    converged, message, iterations, grad_norm
        Optimiser report; ``grad_norm`` is the max-norm of the gradient of the Lagrangian.
    """

    names: tuple[str, ...]
    defined_names: tuple[str, ...]
    estimates: np.ndarray
    defined_values: np.ndarray
    chi2: float
    converged: bool
    message: str
    iterations: int
    grad_norm: float

    @property
    def coefficients(self) -> pd.Series:
        """Free parameter estimates by label."""
        return pd.Series(self.estimates.copy(), index=list(self.names), name="Estimate")

    @property
    def defined(self) -> pd.Series:
        """Values of the ``:=`` definitions by name."""
        values = self.defined_values.copy()
        return pd.Series(values, index=list(self.defined_names), name="Estimate", dtype=float)

    def summary(self) -> pd.DataFrame:
        """One row per free parameter, then per definition: parameter, type, Estimate."""
        return pd.DataFrame(
            {
                "parameter": list(self.names) + list(self.defined_names),
                "type": ["parameter"] * len(self.names) + ["defined"] * len(self.defined_names),
                "Estimate": np.concatenate([self.estimates, self.defined_values]),
            }
        )

    def __repr__(self) -> str:
        status = "converged" if self.converged else f"NOT converged ({self.message})"
        return (
            f"RefitResult(free={len(self.names)}, defined={len(self.defined_names)}, "
            f"chi2={self.chi2:.4f}, iterations={self.iterations}, {status})"
        )


# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------


def tssem2(
    stage1,
    model: str,
    diag_constraints: bool = False,
    intervals: str = "wald",
) -> TSSEM2Result:
    """Second stage of two-stage structural equation modelling (TSSEM): fit a model to pooled correlations.

    Parameters
    ----------
    stage1 : tssem1 result
        Any object with ``pooled`` (p x p DataFrame, unit diagonal), ``vcov`` (q x q DataFrame in
        vechs order, labels ``row_col``), ``total_n``, ``variables`` and ``method``. Variables the
        model does not use are left out (their rows and columns of ``vcov`` dropped).
    model : str
        lavaan syntax (``=~``, ``~``, ``~~``, labels ``a*x``, fixed values ``1*x``,
        ``start(0.2)*x``, ``:=`` definitions), translated as metaSEM's ``lavaan2RAM`` does.
    diag_constraints : bool
        False (default): error variances of the observed variables are computed from
        diag(Sigma) = 1 and are not parameters. True: they are free parameters and diag(Sigma) = 1
        is imposed as nonlinear constraints (one degree of freedom each); their standard errors
        come from the bordered Hessian, as OpenMx reports them.
    intervals : {"wald", "profile"}
        95% intervals: Wald (estimate +- 1.96 SE) or likelihood-based (profile of F rising by
        qchisq(.95, 1) = 3.84; metaSEM's ``intervals.type = "LB"``), for parameters and definitions.

    Returns
    -------
    TSSEM2Result
        ``inspect()``, ``fit_stats()``, ``coefficients``, ``defined``, ``vcov``, ``implied``, ``A``,
        ``S``, ``F``, and the data fitted: ``sample_vector`` and ``acov`` (see also :func:`refit`).

    References
    ----------
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10(1), 40-64.
    Browne, M. W. (1984). Asymptotically distribution-free methods for the analysis of covariance
    structures. *British Journal of Mathematical and Statistical Psychology*, 37, 62-83.
    Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.
    Neale, M. C., & Miller, M. B. (1997). The use of likelihood-based confidence intervals in
    genetic models. *Behavior Genetics*, 27, 113-120.
    Pek, J., & Wu, H. (2015). Profile likelihood-based confidence intervals and regions for
    structural equation models. *Psychometrika*, 80, 1123-1145.

    Examples
    --------
    >>> import masem
    >>> s2 = masem.tssem2(s1, "Math ~ Spatial + Verbal\\nSpatial ~~ Verbal\\n"
    ...                       "Spatial ~~ 1*Spatial\\nVerbal ~~ 1*Verbal")  # doctest: +SKIP
    >>> s2.inspect()  # doctest: +SKIP
    """
    if not isinstance(diag_constraints, (bool, np.bool_)):
        raise ModelError(f"diag_constraints must be True or False, got {diag_constraints!r}")
    if intervals not in _INTERVALS:
        raise ModelError(
            f"intervals must be one of {list(_INTERVALS)}, got {intervals!r} (metaSEM's "
            "intervals.type 'z' is 'wald' here and 'LB' is 'profile')"
        )
    if not isinstance(model, str):
        raise ModelError(f"model must be lavaan syntax in a str, got {type(model).__name__}")
    variables, pooled, acov, total_n, method = _stage1_inputs(stage1)
    probe = lavaan_to_ram(model)
    _check_model_variables(probe, variables)
    used = [v for v in variables if v in probe.observed]
    ram = probe.with_observed(used)
    r, V = _subset(variables, pooled, acov, used)
    try:
        chol = np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        raise DataError(
            f"the stage-1 sampling covariance matrix of {used} is not positive definite; "
            "re-run stage 1 or drop variables with too few studies"
        ) from None
    return _fit(ram, r, V, chol, int(total_n), method, bool(diag_constraints), intervals)


def compare(
    restricted: TSSEM2Result | MultigroupTSSEM2Result, general: TSSEM2Result | MultigroupTSSEM2Result
) -> pd.DataFrame:
    """Chi-square difference test of two nested stage-2 models fitted to the same stage-1 data.

    Parameters
    ----------
    restricted, general : TSSEM2Result or MultigroupTSSEM2Result
        The restricted (more degrees of freedom) and the general model: two :func:`tssem2` fits, or
        two :func:`masem.tssem2_multigroup` fits to the same groups (e.g. paths equal vs free).

    Returns
    -------
    pandas.DataFrame
        One row: chi2 and df of both models, their difference and its p-value.

    References
    ----------
    Cheung, M. W.-L., & Chan, W. (2005). *Psychological Methods*, 10(1), 40-64 (the chi-square
    statistics of nested stage-2 models differ by a chi-square on the difference in df).
    """
    from masem.tssem.multigroup import MultigroupTSSEM2Result  # noqa: F811 (at call time: multigroup imports this module)

    for name, res in (("restricted", restricted), ("general", general)):
        if not isinstance(res, (TSSEM2Result, MultigroupTSSEM2Result)):
            raise ModelError(
                f"{name} must be a tssem2() or tssem2_multigroup() result, got {type(res).__name__}"
            )
    if type(restricted) is not type(general):
        raise ModelError(
            "compare a tssem2() fit with a tssem2() fit, and a tssem2_multigroup() fit with a "
            f"tssem2_multigroup() fit; got {type(restricted).__name__} and {type(general).__name__}"
        )
    if not restricted._same_data(general):
        raise ModelError(
            "the two models were not fitted to the same stage-1 data (variables "
            f"{list(restricted.variables)} vs {list(general.variables)}); a chi-square difference "
            "test needs the same pooled matrix"
        )
    fr, fg = dict(restricted._fit), dict(general._fit)
    d_df = fr["df"] - fg["df"]
    if d_df <= 0:
        raise ModelError(
            f"the restricted model has {fr['df']:g} df and the general one {fg['df']:g}; the "
            "restricted model must have more degrees of freedom (are the arguments swapped?)"
        )
    d_chi2 = fr["chi2"] - fg["chi2"]
    if d_chi2 < -1e-6 * max(1.0, fg["chi2"]):
        warnings.warn(
            f"the restricted model fits better than the general one (chi2 {fr['chi2']:.4f} < "
            f"{fg['chi2']:.4f}): the models are not nested or one fit did not converge",
            ConvergenceWarning,
            stacklevel=2,
        )
    d_chi2 = max(d_chi2, 0.0)
    return pd.DataFrame(
        {
            "chi2_restricted": [fr["chi2"]],
            "df_restricted": [fr["df"]],
            "chi2_general": [fg["chi2"]],
            "df_general": [fg["df"]],
            "chi2_diff": [d_chi2],
            "df_diff": [d_df],
            "p_value": [float(stats.chi2.sf(d_chi2, d_df))],
        }
    )


def refit(result: TSSEM2Result, r: ArrayLike, start: str | ArrayLike | None = None) -> RefitResult:
    """Refit a stage-2 model to other pooled correlations with the same weight matrix, estimates only.

    The model of ``result`` is fitted to ``r`` by the WLS function of :func:`tssem2`,
    F(theta) = (r - rho(theta))' V^-1 (r - rho(theta)), with V the stage-1 sampling covariance
    ``result.acov`` and the same ``diag_constraints``. The parsed model and the Cholesky factor of
    V are reused, and the standard errors, intervals and fit indices are not computed, so a refit
    costs a fraction of a :func:`tssem2` call: the building block of the parametric bootstrap
    (:func:`masem.tssem.indirect`), of simulations and of sensitivity analyses.

    Parameters
    ----------
    result : TSSEM2Result
        A :func:`tssem2` fit; its model, weight matrix and (by default) estimates are reused.
    r : array-like or pandas.Series
        q pooled correlations in vechs order (``result.sample_vector.index``; a Series is aligned
        by those labels). Values need not form a positive definite matrix.
    start : None, "data" or array-like, default None
        Start values of the optimiser. None: the estimates of ``result`` (a warm start, fastest
        when r is near ``result.sample_vector``). ``"data"``: the data-based start values of
        :func:`tssem2`, so that the estimates are exactly those of a full :func:`tssem2` fit of
        r. Or one value per free parameter (a Series is aligned by ``result.coefficients.index``).

    Returns
    -------
    RefitResult
        ``estimates`` and ``defined_values`` (also as ``coefficients`` and ``defined``),
        ``chi2``, ``converged``, ``message``, ``iterations``, ``grad_norm``, ``summary()``.

    Raises
    ------
    ModelError
        If the model is not (locally) identified at the refitted estimates, or the fit cannot be
        computed there (as :func:`tssem2` would). A refit that does not converge, or a definition
        that cannot be evaluated, gives a :class:`masem.ConvergenceWarning` instead.

    References
    ----------
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10(1), 40-64.
    Browne, M. W. (1984). Asymptotically distribution-free methods for the analysis of covariance
    structures. *British Journal of Mathematical and Statistical Psychology*, 37, 62-83.

    Examples
    --------
    >>> import masem
    >>> s2 = masem.tssem2(s1, "m ~ a*x\\ny ~ b*m\\nx ~~ 1*x\\nab := a*b")  # doctest: +SKIP
    >>> again = masem.refit(s2, s2.sample_vector)  # doctest: +SKIP
    >>> again.coefficients  # doctest: +SKIP
    """
    if not isinstance(result, TSSEM2Result):
        raise ModelError(
            f"result must be a tssem2() result, got {type(result).__name__}; fit the model with masem.tssem2 first"
        )
    labels = vechs_labels(list(result.variables))
    r = _refit_vector(r, labels, "r", "correlation")
    problem = result._problem.with_data(r)
    ev = problem.ev
    if start is None:
        x0 = result._estimates
    elif isinstance(start, str) and start == "data":
        x0 = _start_values(ev, r)
    elif isinstance(start, str):
        raise ModelError(f"start must be None, 'data' or one value per free parameter, got {start!r}")
    else:
        x0 = _refit_vector(start, list(ev.names), "start", "free parameter")
    try:
        sol = problem.solve(x0)
        _check_identified(sol, ev)
        defined = _definitions(ev, sol.x, sol.state)
    except np.linalg.LinAlgError as exc:
        raise ModelError(
            f"the refit failed with a singular matrix ({exc}); the model cannot be fitted to these "
            "correlations: check them, or simplify the model"
        ) from None
    if not sol.converged:
        warnings.warn(
            f"the refit did not converge after {sol.iterations} iterations ({sol.message}); give "
            "start values closer to the solution (start=...) or simplify the model",
            ConvergenceWarning,
            stacklevel=2,
        )
    d_values = np.array([value for value, _ in defined.values()], dtype=float)
    if not np.all(np.isfinite(d_values)):
        undefined = [name for name, value in zip(defined, d_values) if not np.isfinite(value)]
        warnings.warn(
            f"the definition(s) {undefined} cannot be evaluated at the refitted estimates; their "
            "values are NaN",
            ConvergenceWarning,
            stacklevel=2,
        )
    return RefitResult(
        names=ev.names,
        defined_names=tuple(defined),
        estimates=frozen(sol.x),
        defined_values=frozen(d_values),
        chi2=max(sol.f, 0.0),
        converged=sol.converged,
        message=sol.message,
        iterations=sol.iterations,
        grad_norm=sol.grad_norm,
    )


def _refit_vector(values: ArrayLike, labels: list[str], argument: str, what: str) -> np.ndarray:
    """A finite float vector with one value per label; a Series is aligned by its labels."""
    if isinstance(values, pd.Series):
        index = list(map(str, values.index))
        if sorted(index) != sorted(labels):
            raise DataError(f"{argument} is labelled {index}; expected one {what} for each of {labels}")
        values = values.set_axis(index).loc[labels]
    x = np.array(values, dtype=float)  # a copy: the caller's array is never touched
    if x.shape != (len(labels),):
        raise DataError(
            f"{argument} must hold one {what} for each of {labels} ({len(labels)} values), "
            f"got shape {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        bad = [label for label, value in zip(labels, x) if not np.isfinite(value)]
        raise DataError(f"{argument} has missing or non-finite values for {bad}")
    return x


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------


def _check_model_variables(
    probe: RAMModel, variables: list[str], where: str = "", missing_error: type[ValueError] = ModelError
) -> None:
    """Refuse a model whose observed variables are not all in the stage-1 data, or whose factors
    share a name with a stage-1 variable; ``where`` prefixes the message (e.g. a group name), and
    ``missing_error`` is raised for absent variables (a DataError when one group's data lack them)."""
    unknown = [v for v in probe.observed if v not in variables]
    if unknown:
        raise missing_error(
            f"{where}the model uses {unknown}, which {'is' if len(unknown) == 1 else 'are'} not in the "
            f"stage-1 data; available variables: {variables}"
        )
    clash = [v for v in probe.latent if v in variables]
    if clash:
        raise ModelError(
            f"{where}latent variable(s) {clash} have the name of observed stage-1 variables; rename the factors"
        )


def _stage1_inputs(stage1) -> tuple[list[str], np.ndarray, np.ndarray, float, str]:
    needed = ("pooled", "vcov", "total_n", "variables")
    missing = [a for a in needed if not hasattr(stage1, a)]
    if missing:
        raise DataError(
            f"stage1 must be a tssem1() result (an object with .pooled, .vcov, .total_n and "
            f".variables); {type(stage1).__name__} lacks {['.' + a for a in missing]}"
        )
    variables = [str(v) for v in stage1.variables]
    p = len(variables)
    if p < 2 or len(set(variables)) != p:
        raise DataError(f"stage1.variables must name at least two distinct variables, got {variables}")
    pooled = stage1.pooled
    if isinstance(pooled, pd.DataFrame):
        names = [list(map(str, pooled.index)), list(map(str, pooled.columns))]
        if any(sorted(n) != sorted(variables) for n in names):
            raise DataError(
                f"stage1.pooled is labelled {names[1]} but stage1.variables is {variables}; "
                "they must name the same variables"
            )
        pooled = pooled.set_axis(names[0], axis=0).set_axis(names[1], axis=1).loc[variables, variables]
    R = np.asarray(pooled, dtype=float)
    if R.shape != (p, p):
        raise DataError(f"stage1.pooled must be {p} x {p} (variables {variables}), got shape {R.shape}")
    if not np.all(np.isfinite(R)):
        bad = [variables[i] for i in range(p) if not np.all(np.isfinite(R[i]))]
        raise DataError(f"stage1.pooled has missing or non-finite values in the rows of {bad}")
    if not np.allclose(R, R.T, atol=1e-8) or not np.allclose(np.diag(R), 1.0, atol=1e-8):
        raise DataError("stage1.pooled must be a symmetric correlation matrix with a unit diagonal")
    labels = vechs_labels(variables)
    q = len(labels)
    vcov = stage1.vcov
    if isinstance(vcov, pd.DataFrame):
        index = list(map(str, vcov.index))
        if index != labels:
            if sorted(index) != sorted(labels):
                raise DataError(
                    f"stage1.vcov rows must be the vechs labels {labels}, got {index}"
                )
            vcov = vcov.loc[labels, labels]
    V = np.asarray(vcov, dtype=float)
    if V.shape != (q, q):
        raise DataError(f"stage1.vcov must be {q} x {q} for {p} variables, got shape {V.shape}")
    if not np.all(np.isfinite(V)) or not np.allclose(V, V.T, rtol=1e-8, atol=1e-14):
        raise DataError("stage1.vcov must be a finite symmetric matrix")
    total_n = stage1.total_n
    if not np.isscalar(total_n) or not np.isfinite(total_n) or total_n <= 1:
        raise DataError(f"stage1.total_n must be a sample size above 1, got {total_n!r}")
    method = str(getattr(stage1, "method", "unknown"))
    return variables, R, 0.5 * (V + V.T), float(total_n), method


def _subset(variables: list[str], R: np.ndarray, V: np.ndarray, used: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """vechs(R) and V restricted to the variables the model uses (metaSEM's subset.variables)."""
    labels = vechs_labels(variables)
    keep = [labels.index(lab) for lab in vechs_labels(used)]
    idx = [variables.index(v) for v in used]
    sub = R[np.ix_(idx, idx)]
    rows, cols = np.triu_indices(len(used), k=1)
    return sub[cols, rows], V[np.ix_(keep, keep)]


# ----------------------------------------------------------------------------------------------
# Fitting
# ----------------------------------------------------------------------------------------------


def _fit(
    ram, r: np.ndarray, V: np.ndarray, chol: np.ndarray, n: int, method: str, diag: bool, intervals: str
) -> TSSEM2Result:
    ev = Evaluator(ram, computed=not diag)
    q = len(r)
    k = ev.n
    if k == 0:
        raise ModelError("the model has no free parameters; nothing to estimate")
    if k - ev.n_constraints > q:
        raise ModelError(
            f"the model is not identified: {k - ev.n_constraints} free parameters "
            f"({', '.join(ev.names)}) but only {q} correlations; fix or equate parameters"
        )
    problem = _Problem.from_cholesky(ev, r, chol)
    sol = problem.solve(_start_values(ev, r))
    x = sol.x
    if not sol.converged:
        warnings.warn(
            f"stage 2 did not converge after {sol.iterations} iterations ({sol.message}); the "
            "estimates are unreliable: give start values (e.g. start(0.5)*x) or simplify the model",
            ConvergenceWarning,
            stacklevel=3,
        )
    _check_identified(sol, ev)
    H = problem.hessian(x)
    vcov = _vcov(H, sol.state["Jc"], ev.names)
    st = sol.state
    chi2 = max(sol.f, 0.0)
    df = q - k + ev.n_constraints
    indep = float(np.sum((problem.chol_inv @ r) ** 2))  # r'Wr: the independence model's chi2
    resid = r - st["rho"]
    fit = _fit_indices(chi2, df, indep, q, n, float(np.sqrt(np.mean(resid**2))), ev.n_constraints)
    _warn_negative_variances(ev, st)

    se = np.sqrt(np.diag(vcov))
    defined = _definitions(ev, x, st)
    d_values = np.array([v for v, _ in defined.values()])
    undefined = [name for name, (value, _) in defined.items() if not np.isfinite(value)]
    if undefined:
        warnings.warn(
            f"the definition(s) {undefined} cannot be evaluated at the estimates (e.g. the log or "
            "square root of a negative value, or a division by zero); their rows are NaN",
            ConvergenceWarning,
            stacklevel=3,
        )
    d_se = np.array([math.sqrt(max(g @ vcov @ g, 0.0)) for _, g in defined.values()])
    if intervals == "wald":
        ci = np.column_stack([x - Z_975 * se, x + Z_975 * se])
        d_ci = np.column_stack([d_values - Z_975 * d_se, d_values + Z_975 * d_se]) if defined else np.zeros((0, 2))
    else:
        ci, d_ci = _profile_intervals(problem, sol, vcov, ev)

    rows = []
    for c, i, j, kk in ev.cells:
        rows.append((c.row, c.op, c.col, c.name, kk))
    d_rows = tuple(
        (d.name, d.expression, float(d_values[i]), float(d_se[i]), float(d_ci[i, 0]), float(d_ci[i, 1]))
        for i, d in enumerate(ram.definitions)
    )
    sigma = st["sigma"].copy()
    return TSSEM2Result(
        model=ram.syntax,
        method=method,
        variables=ram.observed,
        latent=ram.latent,
        n=int(n),
        diag_constraints=diag,
        intervals=intervals,
        converged=sol.converged,
        message=sol.message,
        iterations=sol.iterations,
        grad_norm=sol.grad_norm,
        _names=ev.names,
        _estimates=frozen(x),
        _vcov=frozen(vcov),
        _ci=frozen(ci),
        _rows=tuple(rows),
        _defined=d_rows,
        _fit=tuple(fit.items()),
        _implied=frozen(sigma),
        _A=frozen(st["A"]),
        _S=frozen(st["S"]),
        _sample=frozen(r),
        _acov=frozen(V),
        _problem=problem,
    )


def _start_values(ev: Evaluator, r: np.ndarray) -> np.ndarray:
    """Data-based start values where the syntax gives none: paths between observed variables from
    the regression on the pooled correlations, loadings from the indicators' correlations (a
    FABIN-like sqrt(r_xy r_xz / r_yz)), covariances of exogenous observed variables from the
    pooled correlations; the rest keeps metaSEM's defaults (0.1 paths, 0.5 variances, 0 covariances).
    """
    p = ev.p
    R = np.eye(p)
    rows, cols = np.triu_indices(p, k=1)
    R[cols, rows] = R[rows, cols] = r
    obs = {v: i for i, v in enumerate(ev.ram.observed)}
    latent = set(ev.ram.latent)
    user = {c.name for c in ev.ram.cells if c.start is not None}
    indicators: dict[str, list[int]] = {}
    predictors: dict[str, list[int]] = {}
    for c, _, _, _ in ev.cells:
        if c.matrix == "A" and c.row in obs:
            if c.col in latent:
                indicators.setdefault(c.col, []).append(obs[c.row])
            elif c.col in obs:
                predictors.setdefault(c.row, []).append(obs[c.col])
    endogenous = {c.row for c in ev.ram.cells if c.matrix == "A"}
    x = ev.start.copy()
    done = set(user)
    for c, _, _, k in ev.cells:
        if ev.names[k] in done:
            continue
        done.add(ev.names[k])
        if c.matrix == "A" and c.row in obs and c.col in latent:
            x[k] = _loading_start(R, obs[c.row], [i for i in indicators[c.col] if i != obs[c.row]])
        elif c.matrix == "A" and c.row in obs and c.col in obs:
            xs = predictors[c.row]
            try:
                beta = np.linalg.solve(R[np.ix_(xs, xs)], R[xs, obs[c.row]])
            except np.linalg.LinAlgError:
                continue
            x[k] = beta[xs.index(obs[c.col])]
        elif c.kind == "covariance" and c.row in obs and c.col in obs and not {c.row, c.col} & endogenous:
            x[k] = R[obs[c.row], obs[c.col]]
    if ev.n_constraints:
        x = _feasible_error_variances(ev, x, user)
    return x


def _feasible_error_variances(ev: Evaluator, x: np.ndarray, user: set[str]) -> np.ndarray:
    """Start the constrained error variances where diag(Sigma) = 1 holds at the other start values."""
    try:
        computed = Evaluator(ev.ram, computed=True)
    except ModelError:  # equal error variances cannot be solved for; keep the defaults
        return x
    position = {name: k for k, name in enumerate(ev.names)}
    try:
        _, S, _ = computed.matrices(x[[position[name] for name in computed.names]])
    except ModelError:
        return x
    x = x.copy()
    for name, d in zip(computed.computed_names, computed.diag_obs):
        if name not in user:
            x[position[name]] = S[d, d]
    return x


def _loading_start(R: np.ndarray, i: int, others: list[int]) -> float:
    if len(others) >= 2:
        values = [
            abs(R[i, j] * R[i, k] / R[j, k])
            for a, j in enumerate(others)
            for k in others[a + 1 :]
            if abs(R[j, k]) > 0.05
        ]
        estimate = math.sqrt(np.mean(values)) if values else 0.5
    elif others:
        estimate = math.sqrt(abs(R[i, others[0]]))
    else:
        estimate = 0.5
    return float(np.clip(estimate, 0.1, 0.95))


def _check_identified(sol: _Solution, ev: Evaluator) -> None:
    """A singular information matrix (on the constraint surface) means a non-identified model."""
    G, Jc = sol.state["G"], sol.state["Jc"]
    info = G.T @ G
    if Jc.shape[0]:
        Z = linalg.null_space(Jc)
        info = Z.T @ info @ Z
    else:
        Z = np.eye(len(ev.names))
    w, vecs = np.linalg.eigh(info)
    if w[0] <= 1e-10 * max(w[-1], 1e-300):
        direction = Z @ vecs[:, 0]
        involved = [ev.names[i] for i in np.flatnonzero(np.abs(direction) > 0.1)]
        raise ModelError(
            "the model is not identified: the information matrix is singular, so "
            f"{', '.join(involved)} can change together without changing the fit; fix one of "
            "them (e.g. 1*x), equate them with a shared label, or add indicators"
        )


def _vcov(H: np.ndarray, Jc: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """2 H^-1, or with constraints the top-left block of [[H/2, C'], [C, 0]]^-1 (as OpenMx)."""
    n = len(names)
    m = Jc.shape[0]
    K = np.zeros((n + m, n + m))
    K[:n, :n] = 0.5 * H
    K[:n, n:] = Jc.T
    K[n:, :n] = Jc
    Z = linalg.null_space(Jc) if m else np.eye(n)
    w, vecs = np.linalg.eigh(Z.T @ H @ Z)
    if w[0] <= 0.0:
        direction = Z @ vecs[:, 0]
        involved = [names[i] for i in np.flatnonzero(np.abs(direction) > 0.1)]
        warnings.warn(
            "the Hessian of the fit function is not positive definite at the solution (direction "
            f"of {', '.join(involved)}); standard errors are not available: try other start "
            "values or a simpler model",
            ConvergenceWarning,
            stacklevel=4,
        )
        return np.full((n, n), np.nan)
    return np.linalg.inv(K)[:n, :n]


def _warn_negative_variances(ev: Evaluator, st: dict) -> None:
    S = st["S"]
    variables = list(ev.ram.variables)
    negative = [variables[i] for i in range(len(variables)) if S[i, i] < 0.0]
    if negative:
        warnings.warn(
            f"the (error) variance of {negative} is negative (a Heywood case): the model does "
            "not fit these correlations properly; consider respecifying it",
            ConvergenceWarning,
            stacklevel=4,
        )


def _definitions(ev: Evaluator, x: np.ndarray, st: dict) -> dict[str, tuple[float, np.ndarray]]:
    """Value and gradient (wrt the free parameters) of every ':=' definition, in order."""
    values = ev.label_values(x, st)
    out = {}
    for d in ev.ram.definitions:
        values[d.name] = out[d.name] = evaluate_definition(d, values, ev.n)
    return out


def _fit_indices(chi2: float, df: int, indep: float, df_indep: int, n: int, srmr: float, n_con: int) -> dict:
    """Fit statistics as metaSEM reports them for WLS (Cheung, 2015, ch. 2; Steiger, 1990)."""
    if df > 0:
        p_value = float(stats.chi2.sf(chi2, df))
        rmsea = math.sqrt(max(chi2 - df, 0.0) / (n - 1) / df)
        lower, upper = _rmsea_interval(chi2, df, n)
        tli = ((indep / df_indep) - (chi2 / df)) / ((indep / df_indep) - 1.0)
    else:
        # A saturated model: chi2 is ~0 with a point mass at 0, RMSEA 0 and TLI undefined.
        p_value, rmsea, lower, upper, tli = 0.0, 0.0, 0.0, 0.0, math.nan
    denominator = max(indep - df_indep, chi2 - df, 0.0)
    cfi = 1.0 - max(chi2 - df, 0.0) / denominator if denominator > 0 else 1.0
    return {
        "chi2": chi2,
        "df": float(df),
        "p_value": p_value,
        "RMSEA": rmsea,
        "RMSEA_lower": lower,
        "RMSEA_upper": upper,
        "SRMR": srmr,
        "CFI": cfi,
        "TLI": tli,
        "n": float(n),
        "AIC": chi2 - 2.0 * df,
        "BIC": chi2 - math.log(n) * df,
        "chi2_indep": indep,
        "df_indep": float(df_indep),
        "n_constraints": float(n_con),
    }


def _rmsea_interval(chi2: float, df: int, n: int) -> tuple[float, float]:
    """90% interval of RMSEA from the noncentral chi-square (Steiger & Lind; Browne & Cudeck, 1993)."""

    def noncentrality(prob: float) -> float:
        def excess(lam: float) -> float:
            cdf = special.chdtr(df, chi2) if lam == 0.0 else special.chndtr(chi2, df, lam)
            return cdf - prob

        if excess(0.0) <= 0.0:
            return 0.0
        hi = max(chi2, 1.0)
        while excess(hi) > 0.0:
            hi *= 2.0
        return optimize.brentq(excess, 0.0, hi, xtol=1e-12, rtol=1e-12)

    scale = (n - 1) * df
    return math.sqrt(noncentrality(0.95) / scale), math.sqrt(noncentrality(0.05) / scale)


# ----------------------------------------------------------------------------------------------
# Likelihood-based (profile) intervals
# ----------------------------------------------------------------------------------------------


def _profile_intervals(problem: _Problem, sol: _Solution, vcov: np.ndarray, ev: Evaluator):
    """95% profile intervals: where min F with the target held fixed rises by 3.84 above F_min.

    For a definition g(theta) the inner problem is min F subject to g(theta) = t, solved with the
    same constrained Gauss-Newton iterations (Neale & Miller, 1997; Pek & Wu, 2015).
    """
    x = sol.x
    n = len(x)
    eye = np.eye(n)
    # (name, g(theta) -> (value, gradient), whether g is curved: definitions are, parameters not)
    targets: list[tuple[str, Callable, bool]] = []
    for k, name in enumerate(ev.names):
        targets.append((name, lambda th, st, k=k: (float(th[k]), eye[k]), False))
    for d in ev.ram.definitions:
        targets.append((d.name, lambda th, st, name=d.name: _definitions(ev, th, st)[name], True))
    bounds = np.full((len(targets), 2), np.nan)
    for i, (name, fn, curved) in enumerate(targets):
        est, grad = fn(x, sol.state)
        var = float(grad @ vcov @ grad)
        if not np.isfinite(var) or var <= 0.0:
            _warn_bound(name, "its standard error is not available", stacklevel=5)
            continue
        step = vcov @ grad / var  # d theta / d t along the quadratic approximation of the profile
        for side, direction in enumerate((-1.0, 1.0)):
            bounds[i, side] = _profile_bound(problem, sol, fn, curved, est, math.sqrt(var), step, direction, name)
    return bounds[: len(ev.names)], bounds[len(ev.names) :]


def _profile_bound(problem, sol, fn, curved, est, sd, step, direction, name) -> float:
    """Newton-bisection on z(t) = sqrt(P(t) - F_min), nearly linear in t, for z = sqrt(3.84)."""
    target = math.sqrt(CHI2_95)
    f_min = sol.f
    inside, outside = est, None
    t = est + direction * target * sd
    x0 = sol.x + step * (t - est)
    for _ in range(60):
        inner = problem.solve(x0, extra=(fn, t, curved))
        if not inner.converged:
            _warn_bound(name, f"the profile fit at {t:.6g} did not converge ({inner.message})")
            return math.nan
        z = math.sqrt(max(inner.f - f_min, 0.0))
        slope = -inner.multipliers[-1]  # dP/dt (envelope theorem)
        if abs(z - target) < 1e-9:
            return t
        if z < target:
            inside = t
        else:
            outside = t
        candidate = None
        if z > 0.0 and slope * direction > 0.0:
            candidate = t + (target - z) * 2.0 * z / slope
        lo, hi = sorted((inside, outside)) if outside is not None else (None, None)
        if outside is not None and (candidate is None or not lo < candidate < hi):
            candidate = 0.5 * (inside + outside)
        elif outside is None and (candidate is None or (candidate - inside) * direction <= 0.0):
            candidate = inside + 2.0 * (inside - est) if inside != est else t + direction * sd
        if abs(candidate - est) > 1e3 * sd:
            _warn_bound(name, "the profile does not reach the 3.84 criterion (the bound is not finite)")
            return math.nan
        if abs(candidate - t) <= 1e-12 * (1.0 + abs(t)):
            return candidate
        x0 = inner.x + step * (candidate - t)
        t = candidate
    _warn_bound(name, "the root search did not converge")
    return math.nan


def _warn_bound(name: str, why: str, stacklevel: int = 6) -> None:
    warnings.warn(
        f"no likelihood-based bound for {name}: {why}; use intervals='wald' for this model",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )
