"""The stage-2 engine: weighted least squares of a correlation structure, and the fit results' base.

What :func:`masem.tssem2` and :func:`masem.tssem2_multigroup` share, so that neither re-implements
the other (private to :mod:`masem.tssem`):

- the inputs: the pooled correlations and their sampling covariance from a stage-1 result
  (:func:`stage1_inputs`), restricted to the model's variables (:func:`subset_variables`);
- the problem F(theta) = (r - rho(theta))' V^-1 (r - rho(theta)) with its constrained
  Gauss-Newton solver (:class:`Problem`), data-based start values, the full Hessian;
- the inference: identification, the covariance of the estimates, ``:=`` definitions by the
  delta method, fit indices, likelihood-based (profile) intervals, the numerical notes;
- :class:`Stage2Result`, the base class of both results: coefficients, vcov, fit_stats(), the
  parameter table, the repr, and the likelihood-ratio terms that :func:`masem.compare` tests.

References
----------
Browne, M. W. (1984). Asymptotically distribution-free methods for the analysis of covariance
structures. *British Journal of Mathematical and Statistical Psychology*, 37, 62-83.
Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
approach. *Psychological Methods*, 10(1), 40-64.
Neale, M. C., & Miller, M. B. (1997). The use of likelihood-based confidence intervals in genetic
models. *Behavior Genetics*, 27, 113-120.
Nocedal, J., & Wright, S. J. (2006). *Numerical optimization* (2nd ed.). Springer.
Pek, J., & Wu, H. (2015). Profile likelihood-based confidence intervals and regions for structural
equation models. *Psychometrika*, 80, 1123-1145.
Steiger, J. H. (1990). Structural model evaluation and modification: An interval estimation
approach. *Multivariate Behavioral Research*, 25, 173-180.
"""

from __future__ import annotations

import abc
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import linalg, optimize, special, stats

from masem._util import frozen
from masem.effects import vechs_labels
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.lrt import ComparableFit, LRTerms
from masem.model import Evaluator, RAMModel, did_you_mean

# ----------------------------------------------------------------------------------------------
# The WLS problem and its solver
# ----------------------------------------------------------------------------------------------

CHI2_95 = float(stats.chi2.ppf(0.95, 1))  # 3.841459: the likelihood-based 95% criterion
Z_975 = float(stats.norm.ppf(0.975))


@dataclass
class Solution:
    x: np.ndarray
    f: float
    converged: bool
    iterations: int
    message: str
    grad_norm: float
    multipliers: np.ndarray
    state: dict = field(repr=False)
    active: tuple[int, ...] = ()  # the inequality constraints held at their bound


class Problem:
    """F(theta) = ||L^-1 (r - rho(theta))||^2 with V = L L', subject to h(theta) = 0 (diag = 1),
    the model's equality constraints, its inequality constraints in ``active`` (held at their
    bound), and optionally one more equality g(theta) = t (a profiled parameter or definition).
    """

    def __init__(self, evaluator: Evaluator, r: np.ndarray, chol_inv: np.ndarray, active=()):
        self.ev = evaluator
        self.r = r
        self.chol_inv = chol_inv
        ops = getattr(evaluator, "constraint_ops", ())
        self.equalities = np.array([k for k, op in enumerate(ops) if op == "=="], dtype=int)
        self.inequalities = tuple(k for k, op in enumerate(ops) if op != "==")
        self.active = tuple(sorted(active))
        self._model_rows = np.concatenate([self.equalities, np.array(self.active, dtype=int)])

    @classmethod
    def from_cholesky(cls, evaluator: Evaluator, r: np.ndarray, chol: np.ndarray) -> Problem:
        # L^-1 once: each evaluation is then two small matrix products.
        return cls(evaluator, r, frozen(linalg.solve_triangular(chol, np.eye(len(r)), lower=True)))

    def with_data(self, r: np.ndarray) -> Problem:
        """The same model and weight matrix fitted to other correlations (what refit() solves)."""
        return Problem(self.ev, r, self.chol_inv)

    def with_active(self, active) -> Problem:
        """The same problem with the inequality constraints ``active`` held at their bound."""
        return Problem(self.ev, self.r, self.chol_inv, active)

    @property
    def n_model_constraints(self) -> int:
        """The model's constraints that count as degrees of freedom: equalities, active
        inequalities.
        """
        return len(self._model_rows)

    def state(self, x: np.ndarray, extra=None) -> dict:
        st = self.ev.evaluate(x)
        z = self.chol_inv @ (self.r - st["rho"])
        G = self.chol_inv @ st["J"]
        c, Jc = st["h"], st["Jh"]
        if self._model_rows.size:
            c = np.concatenate([c, st["g"][self._model_rows]])
            Jc = np.vstack([Jc, st["Jg"][self._model_rows]])
        if extra is not None:
            fn, t = extra[0], extra[1]
            value, grad = fn(x, st)
            c = np.append(c, value - t)
            Jc = np.vstack([Jc, grad])
        st.update(z=z, G=G, f=float(z @ z), c=c, Jc=Jc)
        return st

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """Full Hessian of F: 2 G'G exactly, plus the residual term -2 sum_k (W e)_k d2 rho_k by
        forward differences of the analytic Jacobian (the term is small, so O(h) is ample).
        """
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

    def solve(
        self, x0: np.ndarray, extra=None, max_iter: int = 300, xtol: float = 1e-10
    ) -> Solution:
        """Gauss-Newton SQP with Levenberg-Marquardt damping and an exact l1 merit function.

        Each step solves [[G'G + lam D, Jc'], [Jc, 0]] [d; w] = [G'z; -c], the Gauss-Newton model
        of F with linearised constraints; its fixed points are exactly the KKT points of
        min F s.t. c = 0, with multipliers 2w (Nocedal & Wright, 2006, ch. 18).
        """
        x = np.asarray(x0, dtype=float).copy()
        st = self.state(x, extra)
        n = len(x)
        lam, mu = 1e-3, 0.0
        curved = self._curvatures(x, st, extra)
        weights = np.zeros(0 if curved is None else len(curved[1]))
        message = "iteration limit reached"
        converged = False
        iterations = 0
        for iterations in range(1, max_iter + 1):
            G, z, c, Jc = st["G"], st["z"], st["c"], st["Jc"]
            m = len(c)
            H = G.T @ G
            if curved is not None:
                H = H + np.einsum("k,kij->ij", weights, curved[0])
            g = G.T @ z
            sol = _direction(H, g, c, Jc, lam)
            if sol is None:
                lam = max(10.0 * lam, 1e-3)
                if lam > 1e12:
                    message = "the Gauss-Newton system is singular"
                    break
                continue
            delta, omega = sol[:n], sol[n:]
            if curved is not None:
                weights = omega[curved[1]]
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
                2.0 * g @ delta
                - delta @ H @ delta
                + mu * (np.sum(np.abs(c)) - np.sum(np.abs(c + Jc @ delta)))
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
        return Solution(
            x=x,
            f=st["f"],
            converged=converged,
            iterations=iterations,
            message=message,
            grad_norm=grad_norm,
            multipliers=multipliers,
            state=st,
        )

    def _curvatures(self, x: np.ndarray, st: dict, extra) -> tuple[np.ndarray, np.ndarray] | None:
        """Hessians of the curved constraints and their rows in c, or None when all are linear.

        A nonlinear constraint (c == a*b, a profiled ':=' definition) needs its curvature,
        weighted by its multiplier, in the Hessian of the Lagrangian, or Gauss-Newton SQP
        converges only linearly (dozens of steps). The Hessians change little over a solve: one
        finite-difference evaluation at the start serves it (exact for quadratic constraints).
        """
        hessians, rows = [], []
        first = len(st["h"])
        if self._model_rows.size:
            hessians.extend(self._constraint_curvature(x, self._model_rows))
            rows.extend(range(first, first + self._model_rows.size))
        if extra is not None and len(extra) > 2 and extra[2]:
            hessians.append(self._target_curvature(x, extra[0]))
            rows.append(len(st["c"]) - 1)
        return (np.array(hessians), np.array(rows, dtype=int)) if rows else None

    def _constraint_curvature(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Hessians of the model's constraints ``rows`` by forward differences of their analytic
        gradients (k x n x n).
        """
        n = len(x)
        base = self.ev.evaluate(x)["Jg"][rows]
        out = np.empty((rows.size, n, n))
        for j in range(n):
            h = 1e-7 * max(1.0, abs(x[j]))
            up = x.copy()
            up[j] += h
            out[:, :, j] = (self.ev.evaluate(up)["Jg"][rows] - base) / h
        return 0.5 * (out + out.transpose(0, 2, 1))

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


def _direction(H: np.ndarray, g: np.ndarray, c: np.ndarray, Jc: np.ndarray, lam: float):
    """[d; w] of the damped Gauss-Newton KKT system, or None when it is singular or not finite."""
    n, m = len(g), len(c)
    K = np.zeros((n + m, n + m))
    K[:n, :n] = H + lam * np.diag(np.maximum(np.diag(H), 1e-12))
    K[:n, n:] = Jc.T
    K[n:, :n] = Jc
    try:
        sol = np.linalg.solve(K, np.concatenate([g, -c]))
    except np.linalg.LinAlgError:
        return None
    return sol if np.all(np.isfinite(sol)) else None


def _kkt(st: dict) -> tuple[float, np.ndarray]:
    """Max-norm of the gradient of the Lagrangian, with least-squares multipliers nu:
    grad F + Jc' nu = 0, grad F = -2 G'z.
    """
    grad = -2.0 * st["G"].T @ st["z"]
    Jc = st["Jc"]
    if Jc.shape[0] == 0:
        return float(np.max(np.abs(grad), initial=0.0)), np.zeros(0)
    nu = np.linalg.lstsq(Jc.T, -grad, rcond=None)[0]
    return float(np.max(np.abs(grad + Jc.T @ nu))), nu


# ----------------------------------------------------------------------------------------------
# Inputs: the stage-1 data of a stage-2 fit
# ----------------------------------------------------------------------------------------------


def check_model_variables(
    probe: RAMModel,
    variables: list[str],
    where: str = "",
    missing_error: type[ValueError] = ModelError,
) -> None:
    """Refuse a model whose observed variables are not all in the stage-1 data, or whose factors
    share a name with a stage-1 variable; ``where`` prefixes the message (e.g. a group name), and
    ``missing_error`` is raised for absent variables (a DataError when one group's data lack them).
    """
    unknown = [v for v in probe.observed if v not in variables]
    if unknown:
        named = "; ".join(
            f"'{v}' (line {probe.line_of(v)}){did_you_mean(v, variables)}" for v in unknown
        )
        raise missing_error(
            f"{where}the model uses {named}, which {'is' if len(unknown) == 1 else 'are'} not in "
            f"the stage-1 data; available variables: {variables}"
        )
    clash = [v for v in probe.latent if v in variables]
    if clash:
        named = ", ".join(f"'{v}' (line {probe.line_of(v)})" for v in clash)
        raise ModelError(
            f"{where}the latent variable(s) {named} have the name of observed stage-1 "
            "variables; rename the factors"
        )


def stage1_inputs(stage1) -> tuple[list[str], np.ndarray, np.ndarray, float, str]:
    """variables, pooled matrix, sampling covariance (symmetrised), total N and method of a stage-1
    result.
    """
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
        raise DataError(
            f"stage1.variables must name at least two distinct variables, got {variables}"
        )
    pooled = stage1.pooled
    if isinstance(pooled, pd.DataFrame):
        names = [list(map(str, pooled.index)), list(map(str, pooled.columns))]
        if any(sorted(n) != sorted(variables) for n in names):
            raise DataError(
                f"stage1.pooled is labelled {names[1]} but stage1.variables is {variables}; "
                "they must name the same variables"
            )
        pooled = (
            pooled.set_axis(names[0], axis=0).set_axis(names[1], axis=1).loc[variables, variables]
        )
    R = np.asarray(pooled, dtype=float)
    if R.shape != (p, p):
        raise DataError(
            f"stage1.pooled must be {p} x {p} (variables {variables}), got shape {R.shape}"
        )
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
                raise DataError(f"stage1.vcov rows must be the vechs labels {labels}, got {index}")
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


def subset_variables(
    variables: list[str], R: np.ndarray, V: np.ndarray, used: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """vechs(R) and V restricted to the variables the model uses (metaSEM's subset.variables)."""
    labels = vechs_labels(variables)
    keep = [labels.index(lab) for lab in vechs_labels(used)]
    idx = [variables.index(v) for v in used]
    sub = R[np.ix_(idx, idx)]
    rows, cols = np.triu_indices(len(used), k=1)
    return sub[cols, rows], V[np.ix_(keep, keep)]


def stage2_target(
    variables: list[str], R: np.ndarray, V: np.ndarray, used: list[str], where: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stage-2 data of the variables the model uses: ``r``, ``V`` and the Cholesky factor of V.

    ``where`` (``"group 'service': "``) prefixes the error when V is not positive definite.
    """
    r, V_used = subset_variables(variables, R, V, used)
    try:
        chol = np.linalg.cholesky(V_used)
    except np.linalg.LinAlgError:
        scope = " in this group" if where else ""
        raise DataError(
            f"{where}the stage-1 sampling covariance matrix of {used} is not positive definite; "
            f"re-run stage 1 or drop variables with too few studies{scope}"
        ) from None
    return r, V_used, chol


# ----------------------------------------------------------------------------------------------
# Start values, inference and the numerical notes
# ----------------------------------------------------------------------------------------------


def start_values(ev: Evaluator, r: np.ndarray) -> np.ndarray:
    """Data-based start values where the syntax gives none: paths between observed variables from
    the regression on the pooled correlations, loadings from the indicators' correlations (a
    FABIN-like sqrt(r_xy r_xz / r_yz)), covariances of exogenous observed variables from the
    pooled correlations; the rest keeps metaSEM's defaults (0.1 paths, 0.5 variances, 0
    covariances).
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
        elif (
            c.kind == "covariance"
            and c.row in obs
            and c.col in obs
            and not {c.row, c.col} & endogenous
        ):
            x[k] = R[obs[c.row], obs[c.col]]
    if ev.n_constraints:
        x = _feasible_error_variances(ev, x, user)
    return x


def _feasible_error_variances(ev: Evaluator, x: np.ndarray, user: set[str]) -> np.ndarray:
    """Start the constrained error variances where diag(Sigma) = 1 holds at the other start
    values.
    """
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
    for name, d in zip(computed.computed_names, computed.diag[list(computed._computed_positions)]):
        if name not in user and name in position:
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


def check_estimable(ev: Evaluator, where: str = "") -> None:
    """Refuse what stage 2 cannot estimate, and say where a computed variance replaces one the
    syntax fixed (``where`` prefixes the messages, e.g. a group).
    """
    data_labels = [c for c in ev.ram.cells if c.label is not None and c.label.startswith("data.")]
    if data_labels:
        c = data_labels[0]
        raise ModelError(
            f"{where}line {c.line}: the label '{c.label}' of {c.element} is a definition variable "
            "(metaSEM reads labels starting with 'data.' from the data, in sem() or osmasem()); "
            "stage 2 fits pooled correlations and has no study-level data: remove the label"
        )
    if ev.overridden:
        warnings.warn(
            f"{where}with diag_constraints=False the residual variances of dependent variables "
            f"are computed from diag(Sigma) = 1, as metaSEM's wls does, so the fixed value of "
            f"{', '.join(ev.overridden)} is not used; use diag_constraints=True to keep it",
            ConvergenceWarning,
            stacklevel=4,
        )


def constraint_rows(problem: Problem, sol: Solution) -> tuple[tuple, ...]:
    """One row per constraint of the model: line, lhs, op, rhs, value of lhs - rhs at the
    solution, and whether it is active (every equality; an inequality held at its bound).
    """
    out = []
    g = sol.state.get("g", np.zeros(0))
    signs = {"==": 1.0, ">": 1.0, "<": -1.0}
    for k, con in enumerate(problem.ev.ram.constraints):
        active = con.op == "==" or k in sol.active
        out.append((con.line, con.lhs, con.op, con.rhs, float(g[k] * signs[con.op]), active))
    return tuple(out)


def check_counts(n_free: int, n_constraints: int, q: int, detail: str) -> None:
    """Refuse more free parameters (net of the constraints) than correlations; ``detail`` names
    them.
    """
    if n_free - n_constraints > q:
        raise ModelError(
            f"the model is not identified: {n_free - n_constraints} free parameters {detail}but "
            "only "
            f"{q} correlations; fix or equate parameters"
        )


def fit_constrained(problem: Problem, x0: np.ndarray, extra=None, active=()) -> Solution:
    """Minimise F under all the model's constraints, inequalities included.

    An active-set method (Nocedal & Wright, 2006, sec. 15.2 and 18.2) around
    :meth:`Problem.solve`: the inequalities in the working set are held at their bound as
    equalities; one that the solution violates joins the set, one whose multiplier says the fit
    improves by leaving its bound leaves it, until neither happens (the KKT conditions).
    """
    if not problem.inequalities:
        return problem.solve(x0, extra)
    held = set(active)
    x = np.asarray(x0, dtype=float)
    sol = None
    for _ in range(4 * len(problem.inequalities) + 4):
        current = problem.with_active(held)
        sol = current.solve(x, extra)
        g = sol.state["g"]
        violated = [k for k in problem.inequalities if k not in held and g[k] < -1e-9]
        offset = len(sol.state["h"]) + len(problem.equalities)
        nu = sol.multipliers[offset : offset + len(current.active)]
        # grad F + nu grad g = 0 at the bound: nu > 0 means F falls as g grows, so let go.
        leaving = [(v, k) for k, v in zip(current.active, nu) if v > 1e-7 * (1.0 + abs(sol.f))]
        if not violated and not leaving:
            return replace(sol, active=current.active)
        if violated:
            held.add(min(violated, key=lambda k: g[k]))
        else:
            held.discard(max(leaving)[1])
        x = sol.x
    return replace(
        sol,
        converged=False,
        message="the inequality constraints that hold at their bound did not settle",
        active=tuple(sorted(held)),
    )


def solve(problem: Problem, x0: np.ndarray, what: str) -> Solution:
    """Minimise F from ``x0``; a fit that does not converge is said in words (``what`` names it)."""
    sol = fit_constrained(problem, x0)
    if not sol.converged:
        warnings.warn(
            f"{what} did not converge after {sol.iterations} iterations ({sol.message}); the "
            "estimates are unreliable: give start values (e.g. start(0.5)*x) or simplify the model",
            ConvergenceWarning,
            stacklevel=4,
        )
    return sol


def estimate_covariance(problem: Problem, sol: Solution) -> np.ndarray:
    """The covariance of the estimates at the solution, after checking that the model is
    identified.
    """
    names = problem.ev.names
    check_identified(sol, names, parameter_lines(problem.ev))
    return parameter_covariance(problem.hessian(sol.x), sol.state["Jc"], names)


def parameter_lines(ev) -> dict[str, int]:
    """The model line of each free parameter (its first element), for messages."""
    ram = getattr(ev, "ram", None) or getattr(getattr(ev, "ev", None), "ram", None)
    out: dict[str, int] = {}
    for c in ram.cells if ram is not None else ():
        if c.line:
            out.setdefault(c.name, c.line)
    return out


def check_identified(
    sol: Solution, names: tuple[str, ...], lines: dict[str, int] | None = None
) -> None:
    """A singular information matrix (on the constraint surface) means a non-identified model;
    constraints whose gradients are linearly dependent cannot all be counted.
    """
    G, Jc = sol.state["G"], sol.state["Jc"]
    info = G.T @ G
    if Jc.shape[0] and np.linalg.matrix_rank(Jc) < Jc.shape[0]:
        raise ModelError(
            "the constraints are not independent at the solution (a constraint is written twice, "
            "or follows from the others), so their number cannot be counted in the degrees of "
            "freedom; remove the redundant one"
        )
    if Jc.shape[0]:
        Z = linalg.null_space(Jc)
        info = Z.T @ info @ Z
    else:
        Z = np.eye(len(names))
    w, vecs = np.linalg.eigh(info)
    if w[0] <= 1e-10 * max(w[-1], 1e-300):
        direction = Z @ vecs[:, 0]
        lines = lines or {}
        involved = [
            f"{names[i]} (line {lines[names[i].split('[')[0]]})"
            if names[i].split("[")[0] in lines
            else names[i]
            for i in np.flatnonzero(np.abs(direction) > 0.1)
        ]
        raise ModelError(
            "the model is not identified: the information matrix is singular, so "
            f"{', '.join(involved)} can change together without changing the fit; fix one of "
            "them (e.g. 1*x), equate them with a shared label, or add indicators"
        )


def parameter_covariance(H: np.ndarray, Jc: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
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
            stacklevel=5,
        )
        return np.full((n, n), np.nan)
    out = np.linalg.inv(K)[:n, :n]
    # A parameter that the constraints hold at one value has variance 0; rounding may leave it a
    # hair below.
    d = np.diagonal(out).copy()
    tiny = (d < 0.0) & (d > -1e-10 * max(1.0, float(np.max(np.abs(d)))))
    out[tiny, :] = out[:, tiny] = 0.0
    return out


def warn_negative_variances(variables: Sequence[str], S: np.ndarray, where: str = "") -> None:
    """Say when an (error) variance of the solution is negative; ``where`` prefixes the note (a
    group).
    """
    negative = [variables[i] for i in range(len(variables)) if S[i, i] < 0.0]
    if negative:
        warnings.warn(
            f"{where}the (error) variance of {negative} is negative (a Heywood case): the model "
            "does "
            "not fit these correlations properly; consider respecifying it",
            ConvergenceWarning,
            stacklevel=4,
        )


def definitions(ev: Evaluator, x: np.ndarray, st: dict) -> dict[str, tuple[float, np.ndarray]]:
    """Value and gradient (wrt the free parameters) of every ':=' definition, in order."""
    return ev.defined(x, st)


def defined_estimates(
    ev: Evaluator, x: np.ndarray, st: dict, vcov: np.ndarray, index: np.ndarray | None = None
) -> list[tuple[str, str, float, float]]:
    """name, expression, value and delta-method standard error of every ':=' definition at ``x``.

    ``index`` maps the parameters of ``ev`` to their positions in ``vcov`` (one group of a joint
    multi-group fit); None when ``vcov`` is over the parameters of ``ev`` itself.
    """
    out = []
    for d, (value, grad) in zip(ev.ram.definitions, definitions(ev, x, st).values()):
        if index is not None:
            full = np.zeros(len(vcov))
            full[index] = grad  # within a group every parameter has its own joint position
            grad = full
        out.append(
            (d.name, d.expression, float(value), math.sqrt(max(float(grad @ vcov @ grad), 0.0)))
        )
    return out


def warn_undefined(names: Sequence[str]) -> None:
    """Say which definitions cannot be evaluated at the estimates (their rows are NaN)."""
    if names:
        warnings.warn(
            f"the definition(s) {list(names)} cannot be evaluated at the estimates (e.g. the log "
            "or "
            "square root of a negative value, or a division by zero); their rows are NaN",
            ConvergenceWarning,
            stacklevel=4,
        )


def fit_indices(
    chi2: float, df: int, indep: float, df_indep: int, n: int, srmr: float, n_con: int
) -> dict:
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
    """90% interval of RMSEA from the noncentral chi-square (Steiger & Lind; Browne & Cudeck,
    1993).
    """

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


def profile_intervals(problem: Problem, sol: Solution, vcov: np.ndarray, ev: Evaluator):
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
        targets.append((d.name, lambda th, st, name=d.name: definitions(ev, th, st)[name], True))
    bounds = np.full((len(targets), 2), np.nan)
    loose = None
    for i, (name, fn, curved) in enumerate(targets):
        est, grad = fn(x, sol.state)
        var = float(grad @ vcov @ grad)
        if np.isfinite(var) and var <= 1e-14 * (1.0 + est**2) and sol.state["Jc"].shape[0]:
            if loose is None:
                loose = _without_inequalities(problem, sol, vcov)
            bounds[i] = _pinned_bounds(problem, sol, loose, fn, curved, est, grad, name)
            continue
        if not np.isfinite(var) or var <= 0.0:
            _warn_bound(name, "its standard error is not available", stacklevel=5)
            continue
        step = vcov @ grad / var  # d theta / d t along the quadratic approximation of the profile
        for side, direction in enumerate((-1.0, 1.0)):
            bounds[i, side] = _profile_bound(
                problem, sol, fn, curved, est, math.sqrt(var), step, direction, name
            )
    return bounds[: len(ev.names)], bounds[len(ev.names) :]


def _without_inequalities(problem: Problem, sol: Solution, vcov: np.ndarray) -> np.ndarray:
    """The covariance of the estimates with the inequalities at their bound let go (the bordered
    Hessian over the equalities only): the directions in which a profile may leave a bound.
    """
    if not sol.active:
        return vcov
    rows = sol.state["Jc"].shape[0] - len(sol.active)
    return parameter_covariance(problem.hessian(sol.x), sol.state["Jc"][:rows], problem.ev.names)


def _pinned_bounds(problem, sol, loose, fn, curved, est, grad, name) -> tuple[float, float]:
    """Bounds of a target that the constraints hold at its estimate: the estimate itself on each
    side an equality or a binding inequality blocks; a profile on the side where an inequality
    lets it go.
    """
    var = float(grad @ loose @ grad)
    if not np.isfinite(var) or var <= 1e-14 * (1.0 + est**2):
        return est, est  # held by equalities: the interval is that point
    sd, step = math.sqrt(var), loose @ grad / var
    out = []
    for direction in (-1.0, 1.0):
        probe = sol.x + step * direction * 1e-6 * sd
        g = problem.ev.evaluate(probe)["g"]
        if any(g[k] < 0.0 for k in sol.active):
            out.append(est)  # the inequality at its bound stops the parameter on this side
        else:
            out.append(
                _profile_bound(problem, sol, fn, curved, est, sd, step, direction, name, active=())
            )
    return out[0], out[1]


def _profile_bound(problem, sol, fn, curved, est, sd, step, direction, name, active=None) -> float:
    """Newton-bisection on z(t) = sqrt(P(t) - F_min), nearly linear in t, for z = sqrt(3.84)."""
    active = sol.active if active is None else active
    target = math.sqrt(CHI2_95)
    f_min = sol.f
    inside, outside = est, None
    t = est + direction * target * sd
    x0 = sol.x + step * (t - est)
    for _ in range(60):
        inner = fit_constrained(problem, x0, extra=(fn, t, curved), active=active)
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
            _warn_bound(
                name, "the profile does not reach the 3.84 criterion (the bound is not finite)"
            )
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


# ----------------------------------------------------------------------------------------------
# The fit results' base
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class Stage2Result(ComparableFit):
    """What every stage-2 WLS fit reports: the base of :class:`~masem.TSSEM2Result` and
    :class:`~masem.MultigroupTSSEM2Result` (immutable; DataFrames are built fresh on every access).

    Attributes
    ----------
    model : str
        The lavaan syntax.
    variables, latent : tuple of str
        Observed variables used (stage-1 order) and latent variables.
    n : int
        Total sample size of stage 1 (the N of RMSEA and BIC).
    method : str
        The stage-1 method (e.g. ``"REM"``, ``"FEM"``).
    diag_constraints : bool
        Whether the error variances were free parameters under diag(Sigma) = 1.
    converged, message, iterations, grad_norm
        Optimiser report; ``grad_norm`` is the max-norm of the gradient of the Lagrangian.
    """

    model: str
    variables: tuple[str, ...]
    latent: tuple[str, ...]
    n: int
    method: str
    diag_constraints: bool
    converged: bool
    message: str
    iterations: int
    grad_norm: float
    _names: tuple[str, ...] = field(repr=False)
    _estimates: np.ndarray = field(repr=False)
    _vcov: np.ndarray = field(repr=False)
    _fit: tuple[tuple[str, float], ...] = field(repr=False)

    #: How the user calls the fitting function (names the fit in compare()'s messages).
    _family = "stage 2"

    @property
    def coefficients(self) -> pd.Series:
        """Free parameter estimates by name (``name[group]`` for a multi-group parameter not held
        equal).
        """
        return pd.Series(self._estimates.copy(), index=list(self._names), name="Estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Sampling covariance matrix of the free parameters."""
        names = list(self._names)
        return pd.DataFrame(self._vcov.copy(), index=names, columns=names)

    def fit_stats(self) -> pd.Series:
        """chi2, df, p_value, RMSEA and its 90% CI, SRMR, CFI, TLI, n, AIC, BIC, the independence
        model's chi2 and df, n_constraints (and n_groups for a multi-group fit).
        """
        return pd.Series(dict(self._fit), name="fit", dtype=float)

    @abc.abstractmethod
    def inspect(self) -> pd.DataFrame:
        """Parameter table (see the subclasses)."""

    def summary(self) -> pd.DataFrame:
        """Same as :meth:`inspect`."""
        return self.inspect()

    def lr_terms(self) -> LRTerms:
        """chi2, df and free parameters of the fit, for :func:`masem.compare`."""
        fit = dict(self._fit)
        return LRTerms(
            family=self._family,
            statistic=fit["chi2"],
            statistic_name="chi2",
            df=fit["df"],
            n_parameters=len(self._names),
            data_kind="stage-1 data",
            data_label=self._data_label(),
        )

    def same_data(self, other: object) -> bool:
        """Fitted to the same pooled correlations and weights (what a chi-square difference test
        needs)?
        """
        if type(other) is not type(self) or self._data_key() != other._data_key():
            return False
        return all(
            r.shape == s.shape
            and np.allclose(r, s, rtol=0, atol=1e-12)
            and np.allclose(V, W, rtol=1e-10, atol=0)
            for (r, V), (s, W) in zip(self._fitted_data(), other._fitted_data())
        )

    def _data_key(self) -> tuple:
        """What must be equal for two fits to share their data: the variables (and the groups)."""
        return (self.variables,)

    def _data_label(self) -> str:
        return f"variables {list(self.variables)}"

    @abc.abstractmethod
    def _fitted_data(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """The pooled correlations and their sampling covariance fitted (one pair per group)."""

    @abc.abstractmethod
    def _repr_head(self) -> str:
        """What the repr says before the fit statistics."""

    @staticmethod
    def _parameter_table(lead: list[str], rows: list[tuple]) -> pd.DataFrame:
        """The inspect() table: the ``lead`` columns, Estimate, Std. Err, z-value, p-value,
        ci.lower, ci.upper, default (True for a parameter the syntax did not write: metaSEM's
        lavaan2RAM added it; ``RAMModel.describe()`` says by which rule).
        """
        columns = [*lead, "Estimate", "Std. Err", "ci.lower", "ci.upper", "default"]
        table = pd.DataFrame(rows, columns=columns)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = table["Estimate"] / table["Std. Err"]
        table.insert(len(lead) + 2, "z-value", z)
        table.insert(len(lead) + 3, "p-value", 2.0 * stats.norm.sf(np.abs(z)))
        return table

    def __repr__(self) -> str:
        fit = dict(self._fit)
        status = "converged" if self.converged else f"NOT converged ({self.message})"
        return (
            f"{type(self).__name__}({self._repr_head()}, free={len(self._names)}, "
            f"chi2({fit['df']:g})={fit['chi2']:.4f}, p={fit['p_value']:.4g}, "
            f"RMSEA={fit['RMSEA']:.4f}, "
            f"CFI={fit['CFI']:.4f}, SRMR={fit['SRMR']:.4f}, {status})"
        )
