"""Likelihood-based (profile) intervals of a one-stage MASEM (Neale & Miller, 1997).

The bound of parameter j is where the profile -2LL, minimised over the other parameters with j
held fixed, rises qchisq(level, 1) above the minimum. Each side is bracketed by steps of 2 SE (or
of 1 where the SE is not available), doubling, and then found by Brent's method; every profile
evaluation is a refit warm-started at the estimates.

References
----------
Neale, M. C., & Miller, M. B. (1997). The use of likelihood-based confidence intervals in genetic
models. *Behavior Genetics*, 27(2), 113-120.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from masem.osmasem._optimize import maximise

# A bound is found to this precision on the parameter's scale.
_XTOL = 1e-7
_MAX_DOUBLINGS = 30


def profile_bounds(
    likelihood,
    estimates: np.ndarray,
    minimum: float,
    lower: np.ndarray,
    vcov: np.ndarray,
    level: float,
) -> np.ndarray:
    """(n, 2) lower and upper likelihood-based bounds of every parameter."""
    target = minimum + float(stats.chi2.ppf(level, 1))
    out = np.empty((estimates.size, 2))
    for j in range(estimates.size):
        var = vcov[j, j]
        step = 2.0 * math.sqrt(var) if np.isfinite(var) and var > 0 else 1.0
        for side, column in ((-1.0, 0), (1.0, 1)):
            out[j, column] = _bound(likelihood, estimates, lower, j, side, step, target)
    return out


def _bound(likelihood, estimates, lower, j, side, step, target) -> float:
    fixed = np.zeros(estimates.size, dtype=bool)
    fixed[j] = True

    def excess(value: float) -> float:
        start = estimates.copy()
        start[j] = value
        return maximise(likelihood, start, lower, fixed=fixed).f - target

    est = estimates[j]
    if side < 0 and est <= lower[j] + 1e-8:
        return float(lower[j])  # a variance at its lower bound: the interval starts there
    inner = est
    for doubling in range(_MAX_DOUBLINGS):
        outer = est + side * step * 2.0**doubling
        if side < 0 and outer <= lower[j]:
            outer = float(lower[j])
            if excess(outer) < 0:
                return outer  # the profile stays below the criterion down to the bound
            break
        if excess(outer) >= 0:
            break
        inner = outer
    else:
        return side * math.inf
    lo, hi = sorted((inner, outer))
    return float(optimize.brentq(excess, lo, hi, xtol=_XTOL, rtol=4 * np.finfo(float).eps))
