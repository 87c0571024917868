"""Numerical machinery shared by the estimators: a bounded Newton optimiser with exact Hessians,
batched inverses of positive definite matrices, and missing-data patterns.

Private to masem (any estimator may use it; nothing here is public API). Keep it free of imports
beyond numpy, scipy and :mod:`masem.errors`, so that every estimator layer can depend on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.linalg import get_lapack_funcs

from masem.errors import DataError, ModelError

_potrf, _potri, _posv = get_lapack_funcs(("potrf", "potri", "posv"), dtype=np.float64)
# Up to this order spd_inverses inverts a stack in numpy's batched calls: below it their lower
# per-call overhead wins, above it the m^3 / 2.3 m^3 flop saving of potri does (measured).
_BATCHED_MAX = 24


def patterns(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group rows of a boolean (k, m) mask by identical pattern, in order of first appearance.

    Returns ``[(columns, rows), ...]``: the indices of the True columns and of the studies sharing
    them.
    Studies with the same pattern share every index map and are evaluated as one batch.
    """
    rows_of: dict[bytes, list[int]] = {}
    for i, row in enumerate(mask):
        rows_of.setdefault(row.tobytes(), []).append(i)
    return [(np.flatnonzero(mask[rows[0]]), np.array(rows)) for rows in rows_of.values()]


class Hessian(Protocol):
    """What :func:`newton_minimize` needs from a Hessian."""

    def solve(self, rhs: np.ndarray, free: np.ndarray, damping: float) -> np.ndarray:
        """(H + damping * diag(H)) restricted to ``free`` solved for rhs; zero elsewhere.

        Raises numpy.linalg.LinAlgError when that matrix is not positive definite.
        """


class DenseHessian:
    """A small dense Hessian, solved by Cholesky."""

    def __init__(self, matrix: np.ndarray):
        self.matrix = matrix

    def solve(self, rhs: np.ndarray, free: np.ndarray, damping: float) -> np.ndarray:
        every = bool(free.all())
        h, b = (self.matrix, rhs) if every else (self.matrix[np.ix_(free, free)], rhs[free])
        if damping:
            h = h + damping * np.diag(np.abs(np.diagonal(h)) + 1e-12)
        _, step, info = _posv(h, b, lower=True)  # copies h and b: self.matrix stays as it is
        if info != 0:
            raise np.linalg.LinAlgError("the Hessian is not positive definite")
        if every:
            return step
        out = np.zeros_like(rhs)
        out[free] = step
        return out


def ram_inverse(A: np.ndarray) -> np.ndarray:
    """``(I - A)^-1`` of a RAM path matrix, or of a stack of them (``A`` of shape (..., m, m)).

    The RAM model's implied covariance is ``F (I - A)^-1 S (I - A)^-T F'`` (McArdle & McDonald,
    1984); ``I - A`` is singular only when the paths form a loop with unit gain, which is a fault of
    the model (or of the current parameter values), so it is reported as a :class:`ModelError`.
    """
    try:
        return np.linalg.inv(np.eye(A.shape[-1]) - A)
    except np.linalg.LinAlgError:
        raise ModelError(
            "I - A is singular at the current parameter values: the paths form a loop with "
            "unit gain; check the model's feedback loops"
        ) from None


def spd_inverses(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Log-determinants and inverses of a stack of symmetric positive definite matrices.

    Returns None when a matrix is not positive definite. Small matrices go through numpy's
    batched Cholesky and inverse in one call each, where the per-call overhead is what counts.
    Larger ones are factored one by one with LAPACK's ``potrf`` and inverted from that factor
    with ``potri``: about m^3 flops, against about 2.3 m^3 for a Cholesky plus numpy's LU-based
    inverse.
    """
    k, m, _ = matrices.shape
    if m <= _BATCHED_MAX:
        try:
            chol = np.linalg.cholesky(matrices)
        except np.linalg.LinAlgError:
            return None
        diagonals = np.diagonal(chol, axis1=1, axis2=2)
        inverse = np.linalg.inv(matrices)
    else:
        diagonals = np.empty((k, m))
        inverse = np.empty_like(matrices)
        for i in range(k):
            chol, info = _potrf(matrices[i], lower=True, clean=False)
            if info != 0:
                return None
            diagonals[i] = np.diagonal(chol)
            inverse[i], info = _potri(chol, lower=True, overwrite_c=True)
            if info != 0:
                return None
        # potri fills the lower triangles only
        inverse = np.where(np.tri(m, dtype=bool), inverse, inverse.transpose(0, 2, 1))
    return 2.0 * np.log(diagonals).sum(axis=1), inverse


class ScoringFallbackHessian(DenseHessian):
    """The observed Hessian where it is positive definite, else the expected information.

    Far from the optimum the observed Hessian of a likelihood can be indefinite; the expected
    (Fisher) information never is, and a step with it is Fisher scoring (Jennrich & Sampson,
    1976, Technometrics 18, 11-17), which makes good progress there. Near the optimum the
    observed Hessian is positive definite and the steps are Newton's, with its fast final
    convergence. ``matrix`` is the observed Hessian (the one standard errors come from).
    """

    def __init__(self, observed: np.ndarray, expected: Callable[[], np.ndarray]):
        super().__init__(observed)
        self.expected = expected  # built only when it is needed

    def solve(self, rhs: np.ndarray, free: np.ndarray, damping: float) -> np.ndarray:
        try:
            return super().solve(rhs, free, damping)
        except np.linalg.LinAlgError:
            return DenseHessian(self.expected()).solve(rhs, free, damping)


@dataclass(frozen=True)
class Optimum:
    x: np.ndarray
    f: float
    grad: np.ndarray
    hessian: Hessian  # at x, as the last evaluation returned it
    converged: bool
    message: str
    iterations: int
    grad_norm: float


Evaluate = Callable[[np.ndarray, bool], tuple[float, np.ndarray | None, Hessian | None]]


def newton_minimize(
    evaluate: Evaluate,
    x0: np.ndarray,
    lower: np.ndarray | None = None,
    *,
    max_iter: int = 200,
    tol: float = 1e-11,
) -> Optimum:
    """Minimise a smooth function with exact gradient and Hessian, simple lower bounds allowed.

    Projected Newton (Bertsekas, 1982, SIAM J. Control Optim. 20, 221-246): variables at their bound
    whose gradient pushes outward are held fixed; the rest take a Levenberg-Marquardt damped Newton
    step (Marquardt, 1963) with backtracking on the Armijo condition. Stops when the Newton
    decrement g' H^-1 g (the expected decrease, in units of the objective) falls below ``tol``.
    ``evaluate(x, True)`` returns (f, gradient, Hessian); ``evaluate(x, False)`` only f, which is
    ``inf`` where x is infeasible (e.g. a matrix that stops being positive definite).
    """
    x = x0.astype(float).copy()
    lo = np.full(x.size, -np.inf) if lower is None else np.asarray(lower, dtype=float)
    x = np.maximum(x, lo)
    f, g, hess = evaluate(x, True)
    if not np.isfinite(f):
        raise DataError(
            "the starting values are infeasible; this is a bug in masem, please report it."
        )
    damping = 0.0
    message = "iteration limit reached"
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        at_bound = x <= lo
        active = at_bound & (g > 0)
        d = None
        for _ in range(60):
            try:
                d = hess.solve(-g, ~active, damping)
            except np.linalg.LinAlgError:
                d = None
                damping = max(10.0 * damping, 1e-8)
                continue
            stuck = at_bound & (d < 0) & ~active if at_bound.any() else None
            if stuck is not None and stuck.any():
                active |= stuck
                continue
            break
        if d is None:
            message = "Hessian could not be made positive definite"
            break
        decrement = float(-g @ d)
        if decrement <= tol:
            if damping == 0.0:
                converged, message = True, "converged: Newton decrement below tolerance"
                break
            damping = 0.0
            continue
        step = 1.0
        accepted = None
        for attempt in range(50):
            x_new = np.maximum(x + step * d, lo)
            # The full step is nearly always taken, so the first trial returns the gradient and
            # Hessian as well; shorter steps are tried on the objective alone.
            trial = evaluate(x_new, attempt == 0)
            if math.isfinite(trial[0]) and trial[0] <= f + 1e-4 * float(g @ (x_new - x)):
                accepted = trial
                break
            step *= 0.5
        if accepted is None:
            if decrement < 1e-10 * max(1.0, abs(f)):
                converged, message = (
                    True,
                    "converged: no further decrease possible at machine precision",
                )
                break
            damping = max(10.0 * damping, 1e-6)
            continue
        x = x_new
        f, g, hess = accepted if accepted[1] is not None else evaluate(x, True)
        damping = damping / 10.0 if damping > 1e-10 else 0.0
    active = (x <= lo) & (g > 0)
    grad_norm = float(np.max(np.abs(np.where(active, 0.0, g)), initial=0.0))
    return Optimum(
        x=x,
        f=float(f),
        grad=g,
        hessian=hess,
        converged=converged,
        message=message,
        iterations=it,
        grad_norm=grad_norm,
    )
