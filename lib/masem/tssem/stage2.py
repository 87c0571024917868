"""TSSEM stage 2: weighted least squares fit of a structural model to the pooled correlation matrix.

The stage-1 pooled correlations r (vechs order) and their sampling covariance V are the data.
A model written in lavaan syntax (see :mod:`masem.model`) implies correlations rho(theta), and
stage 2 minimises (Cheung & Chan, 2005; Browne, 1984)

    F(theta) = (r - rho(theta))' V^-1 (r - rho(theta)).

The minimum is the model chi-square on q - k degrees of freedom (q correlations, k free
parameters), plus one per constraint of the model that holds as an equality (an ``==`` line, or a
``<`` / ``>`` line at its bound). By default (``diag_constraints=False``) the error variances are
not parameters: as in metaSEM's ``wls``, the (residual) variance of every variable with a free
incoming path, latent ones included, follows from diag(Sigma) = 1, and so does any free variance
of an observed variable. With ``diag_constraints=True`` the free variances are parameters and
diag(Sigma) = 1 is imposed on them as nonlinear constraints, each adding one degree of freedom
(Cheung, 2015, ch. 7).

Standard errors come from 2 x the inverse of the full Hessian of F (with constraints, from the
bordered Hessian, as OpenMx reports them); intervals are Wald or likelihood-based (the profile
of F rising by qchisq(.95, 1)). The optimiser is a Gauss-Newton SQP with Levenberg-Marquardt
damping and analytic Jacobians; it and the inference are the engine of :mod:`masem.tssem._wls`,
which the multi-group fit (:mod:`masem.tssem.multigroup`) shares.

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
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from masem._util import frozen
from masem.effects import vechs_labels
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.model import Evaluator, RAMModel, lavaan_to_ram
from masem.tssem._wls import (
    Z_975,
    Problem,
    Stage2Result,
    check_counts,
    check_estimable,
    check_identified,
    check_model_variables,
    constraint_rows,
    defined_estimates,
    definitions,
    estimate_covariance,
    fit_constrained,
    fit_indices,
    parameter_lines,
    profile_intervals,
    solve,
    stage1_inputs,
    stage2_target,
    start_values,
    warn_negative_variances,
    warn_undefined,
)

__all__ = ["RefitResult", "TSSEM2Result", "refit", "tssem2"]

_INTERVALS = ("wald", "profile")


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class TSSEM2Result(Stage2Result):
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
        Whether the error variances were free parameters under diag(Sigma) = 1.
    intervals : str
        ``"wald"`` or ``"profile"``: how ``ci.lower`` / ``ci.upper`` were computed.
    converged, message, iterations, grad_norm
        Optimiser report; ``grad_norm`` is the max-norm of the gradient of the Lagrangian.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n)
    >>> fit = masem.tssem2(s1, "Math ~ Spatial + Verbal\\nSpatial ~~ Verbal")
    >>> fit.coefficients.round(3).to_dict()
    {'MathonSpatial': 0.342, 'MathonVerbal': 0.245, 'SpatialwithVerbal': 0.157}
    """

    intervals: str
    _ci: np.ndarray = field(repr=False)
    _rows: tuple[tuple[str, str, str, str, int, bool], ...] = field(repr=False)
    _constraints: tuple[tuple, ...] = field(repr=False)
    _defined: tuple[tuple[str, str, float, float, float, float], ...] = field(repr=False)
    _implied: np.ndarray = field(repr=False)
    _A: np.ndarray = field(repr=False)
    _S: np.ndarray = field(repr=False)
    _sample: np.ndarray = field(repr=False)
    _acov: np.ndarray = field(repr=False)
    _problem: Problem = field(repr=False)  # parsed model and L^-1 of V, reused by refit()

    _family = "tssem2()"

    @property
    def defined(self) -> pd.Series:
        """Values of the ``:=`` definitions at the estimates, by name (empty without
        definitions).
        """
        names, values = [d[0] for d in self._defined], [d[2] for d in self._defined]
        return pd.Series(values, index=names, name="Estimate", dtype=float)

    @property
    def sample_vector(self) -> pd.Series:
        """The pooled correlations the model was fitted to (vechs order, labels ``row_col``)."""
        return pd.Series(self._sample.copy(), index=vechs_labels(list(self.variables)), name="r")

    @property
    def acov(self) -> pd.DataFrame:
        """Sampling covariance matrix of :attr:`sample_vector` (its inverse is the WLS weight
        matrix).
        """
        labels = vechs_labels(list(self.variables))
        return pd.DataFrame(self._acov.copy(), index=labels, columns=labels)

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
        return pd.DataFrame(
            np.eye(len(self.variables), len(v)), index=list(self.variables), columns=v
        )

    def inspect(self) -> pd.DataFrame:
        """Parameter table: free parameters (one row per model element), then ``:=`` definitions.

        Columns: lval, op, rval, label, Estimate, Std. Err, z-value, p-value, ci.lower, ci.upper,
        default (True for a parameter that metaSEM's lavaan2RAM adds where the syntax is silent,
        e.g. the covariance of two exogenous variables; see ``masem.lavaan_to_ram(model)
        .describe()``). Loadings appear as ``indicator ~ factor`` (semopy's form).
        """
        se = np.sqrt(np.diag(self._vcov))
        rows = []
        for lval, op, rval, label, k, default in self._rows:
            est, lo, hi = self._estimates[k], self._ci[k, 0], self._ci[k, 1]
            rows.append((lval, op, rval, label, est, se[k], lo, hi, default))
        for name, expression, value, s, lo, hi in self._defined:
            rows.append((name, ":=", expression, name, value, s, lo, hi, False))
        return self._parameter_table(["lval", "op", "rval", "label"], rows)

    @property
    def constraints(self) -> pd.DataFrame:
        """The model's ``==``, ``<`` and ``>`` constraints at the estimates: line, lhs, op, rhs,
        value (lhs - rhs), active (True for an equality, and for an inequality held at its bound;
        each active constraint adds one degree of freedom).
        """
        columns = ["line", "lhs", "op", "rhs", "value", "active"]
        return pd.DataFrame(list(self._constraints), columns=columns)

    def _fitted_data(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        return ((self._sample, self._acov),)

    def _repr_head(self) -> str:
        return f"method={self.method!r}, variables={len(self.variables)}, n={self.n}"


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
        """One row per free parameter, then per definition: parameter, type, estimate."""
        return pd.DataFrame(
            {
                "parameter": list(self.names) + list(self.defined_names),
                "type": ["parameter"] * len(self.names) + ["defined"] * len(self.defined_names),
                "estimate": np.concatenate([self.estimates, self.defined_values]),
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
    """Second stage of two-stage structural equation modelling (TSSEM): fit a model to pooled
    correlations.

    Parameters
    ----------
    stage1 : tssem1 result
        Any object with ``pooled`` (p x p DataFrame, unit diagonal), ``vcov`` (q x q DataFrame in
        vechs order, labels ``row_col``), ``total_n``, ``variables`` and ``method``. Variables the
        model does not use are left out (their rows and columns of ``vcov`` dropped).
    model : str
        lavaan syntax (``=~``, ``~``, ``~~``, several names on either side, labels ``a*x``, fixed
        values ``1*x``, ``NA*x``, ``start(0.2)*x``, ``:=`` definitions, ``==`` / ``<`` / ``>``
        constraints), read with the defaults of metaSEM's ``lavaan2RAM`` (see
        :func:`masem.lavaan_to_ram`; ``masem.lavaan_to_ram(model).describe()`` shows the model as
        read). Constraints are fitted by constrained WLS: each equality, and each inequality
        held at its bound, adds one degree of freedom, and standard errors come from the bordered
        Hessian over them (as OpenMx reports them); ``result.constraints`` lists them.
    diag_constraints : bool
        False (default): the (residual) variances of dependent variables (latent ones too) and any
        free variance of an observed variable are computed from diag(Sigma) = 1 and are not
        parameters, as in metaSEM's ``wls``; a value the syntax fixed for such a variance is not
        used (a warning says so). True: free variances are parameters and diag(Sigma) = 1 is
        imposed on them as nonlinear constraints (one degree of freedom each); their standard
        errors come from the bordered Hessian, as OpenMx reports them.
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
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> s2 = masem.tssem2(s1, "Math ~ Spatial + Verbal\\nSpatial ~~ Verbal")
    >>> s2.inspect()[["lval", "op", "rval", "Estimate"]].round(3)
          lval  op     rval  Estimate
    0     Math   ~  Spatial     0.340
    1     Math   ~   Verbal     0.240
    2  Spatial  ~~   Verbal     0.165
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
    variables, pooled, acov, total_n, method = stage1_inputs(stage1)
    probe = lavaan_to_ram(model)
    check_model_variables(probe, variables)
    used = [v for v in variables if v in probe.observed]
    ram = probe.with_observed(used)
    r, V, chol = stage2_target(variables, pooled, acov, used)
    return _fit(ram, r, V, chol, int(total_n), method, bool(diag_constraints), intervals)


def refit(result: TSSEM2Result, r: ArrayLike, start: str | ArrayLike | None = None) -> RefitResult:
    """Refit a stage-2 model to other pooled correlations with the same weight matrix, estimates
    only.

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
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> s2 = masem.tssem2(s1, "Verbal ~ a*Spatial\\nMath ~ b*Verbal\\nab := a*b")
    >>> again = masem.refit(s2, s2.sample_vector)
    >>> bool(abs(again.coefficients - s2.coefficients).max() < 1e-8)
    True
    """
    if not isinstance(result, TSSEM2Result):
        raise ModelError(
            f"result must be a tssem2() result, got {type(result).__name__}; fit the model with "
            "masem.tssem2 first"
        )
    labels = vechs_labels(list(result.variables))
    r = _refit_vector(r, labels, "r", "correlation")
    problem = result._problem.with_data(r)
    ev = problem.ev
    if start is None:
        x0 = result._estimates
    elif isinstance(start, str) and start == "data":
        x0 = start_values(ev, r)
    elif isinstance(start, str):
        raise ModelError(
            f"start must be None, 'data' or one value per free parameter, got {start!r}"
        )
    else:
        x0 = _refit_vector(start, list(ev.names), "start", "free parameter")
    try:
        sol = fit_constrained(problem, x0, active=result._problem.active)
        check_identified(sol, ev.names, parameter_lines(ev))
        defined = definitions(ev, sol.x, sol.state)
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
            raise DataError(
                f"{argument} is labelled {index}; expected one {what} for each of {labels}"
            )
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
# Fitting
# ----------------------------------------------------------------------------------------------


def _fit(
    ram: RAMModel,
    r: np.ndarray,
    V: np.ndarray,
    chol: np.ndarray,
    n: int,
    method: str,
    diag: bool,
    intervals: str,
) -> TSSEM2Result:
    """Fit the model to r with weights V^-1: estimates, covariance, fit indices, definitions,
    intervals.
    """
    ev = Evaluator(ram, computed=not diag)
    check_estimable(ev)
    q = len(r)
    if ev.n == 0:
        raise ModelError("the model has no free parameters; nothing to estimate")
    problem = Problem.from_cholesky(ev, r, chol)
    held = ev.n_constraints + len(problem.equalities)
    check_counts(ev.n, held, q, f"({', '.join(ev.names)}) ")
    sol = solve(problem, start_values(ev, r), "stage 2")
    problem = problem.with_active(sol.active)
    x, st = sol.x, sol.state
    vcov = estimate_covariance(problem, sol)
    indep = float(np.sum((problem.chol_inv @ r) ** 2))  # r'Wr: the independence model's chi2
    srmr = float(np.sqrt(np.mean((r - st["rho"]) ** 2)))
    df = q - ev.n + ev.n_constraints + problem.n_model_constraints
    fit = fit_indices(max(sol.f, 0.0), df, indep, q, n, srmr, ev.n_constraints)
    warn_negative_variances(ram.variables, st["S"])
    defined = defined_estimates(ev, x, st, vcov)
    warn_undefined([name for name, _, value, _ in defined if not np.isfinite(value)])
    ci, d_ci = _intervals(problem, sol, vcov, ev, defined, intervals)
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
        _rows=tuple((c.row, c.op, c.col, c.name, k, bool(c.default)) for c, _, _, k in ev.cells),
        _constraints=constraint_rows(problem, sol),
        _defined=tuple(
            (name, expression, value, se, float(lo), float(hi))
            for (name, expression, value, se), (lo, hi) in zip(defined, d_ci)
        ),
        _fit=tuple(fit.items()),
        _implied=frozen(st["sigma"]),
        _A=frozen(st["A"]),
        _S=frozen(st["S"]),
        _sample=frozen(r),
        _acov=frozen(V),
        _problem=problem,
    )


def _intervals(problem: Problem, sol, vcov: np.ndarray, ev: Evaluator, defined: list, how: str):
    """95% intervals of the parameters and of the definitions: Wald or likelihood-based."""
    if how != "wald":
        return profile_intervals(problem, sol, vcov, ev)
    x, se = sol.x, np.sqrt(np.diag(vcov))
    ci = np.column_stack([x - Z_975 * se, x + Z_975 * se])
    if not defined:
        return ci, np.zeros((0, 2))
    d_values = np.array([value for _, _, value, _ in defined])
    d_se = np.array([se for _, _, _, se in defined])
    return ci, np.column_stack([d_values - Z_975 * d_se, d_values + Z_975 * d_se])
