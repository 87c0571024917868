"""Maximum likelihood for a one-stage MASEM: Fisher scoring, then Newton on the observed Hessian.

Far from the optimum the observed Hessian of -2LL can be indefinite; the expected information is
not, and Fisher scoring steps make steady progress there (Jennrich & Sampson, 1976). Once the
expected decrease is small, Newton steps on the observed Hessian (whose theta block needs
central differences of the exact gradient, the costly part) finish with quadratic convergence,
and the same observed Hessian gives the standard errors (OpenMx's convention: SE =
sqrt(diag(2 H^-1))).

References
----------
Jennrich, R. I., & Sampson, P. F. (1976). Newton-Raphson and related algorithms for maximum
likelihood variance component estimation. *Technometrics*, 18(1), 11-17.
"""

from __future__ import annotations

import numpy as np

from masem._linalg import DenseHessian, Optimum, ScoringFallbackHessian, newton_minimize

# Fisher scoring hands over to Newton once its expected decrease of -2LL is below this.
HANDOVER = 1e-2
# Fisher scoring converges linearly; where it is slow (a between-study covariance near singular)
# Newton's steps, with scoring as their fallback, take over after this many.
SCORING_STEPS = 60


def maximise(
    likelihood,
    start: np.ndarray,
    lower: np.ndarray,
    fixed: np.ndarray | None = None,
    max_iter: int = 500,
) -> Optimum:
    """Minimise -2LL from ``start``; parameters where ``fixed`` is True stay at their start."""
    free = np.ones(start.size, dtype=bool) if fixed is None else ~fixed
    base = start.astype(float).copy()

    def full(x: np.ndarray) -> np.ndarray:
        out = base.copy()
        out[free] = x
        return out

    def scoring(x: np.ndarray, want: bool):
        if not want:
            return likelihood.value(full(x)), None, None
        f, g, _, info = likelihood.derivatives(full(x), observed_hessian=False)
        if g is None:
            return f, None, None
        return f, g[free], DenseHessian(info[np.ix_(free, free)])

    def newton(x: np.ndarray, want: bool):
        if not want:
            return likelihood.value(full(x)), None, None
        f, g, hess, info = likelihood.derivatives(full(x), observed_hessian=True)
        if g is None:
            return f, None, None
        return (
            f,
            g[free],
            ScoringFallbackHessian(hess[np.ix_(free, free)], lambda: info[np.ix_(free, free)]),
        )

    lo = lower[free]
    first = newton_minimize(scoring, base[free], lo, max_iter=SCORING_STEPS, tol=HANDOVER)
    second = newton_minimize(newton, first.x, lo, max_iter=max_iter)
    x = full(second.x)
    return Optimum(
        x=x,
        f=second.f,
        grad=second.grad,
        hessian=second.hessian,
        converged=second.converged,
        message=second.message,
        iterations=first.iterations + second.iterations,
        grad_norm=second.grad_norm,
    )
