"""Likelihood-based (profile) intervals for chosen parameters of a fitted stage-2 model.

``tssem2(..., intervals="profile")`` computes the profile interval of every free parameter and
definition; a simulation study that needs them only for the paths and ``:=`` effects calls
:func:`profile_bounds` on a Wald fit instead, with the same stage-2 machinery (``_wls``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from masem.errors import DataError, ModelError
from masem.tssem._wls import profile_intervals
from masem.tssem.stage2 import TSSEM2Result

__all__ = ["profile_bounds"]


def profile_bounds(fit: TSSEM2Result, names: Sequence[str] | None = None) -> pd.DataFrame:
    """95% profile-likelihood intervals of some free parameters and ``:=`` definitions of a fit.

    The bounds are the values at which the WLS fit function, minimised with the parameter (or
    definition) held fixed, rises by qchisq(.95, 1) = 3.84 above its minimum, exactly as
    :func:`masem.tssem2` computes them with ``intervals="profile"`` (Neale & Miller, 1997; Pek &
    Wu, 2015), but only for ``names``.

    Parameters
    ----------
    fit : TSSEM2Result
        A converged :func:`masem.tssem2` fit (any ``intervals``).
    names : sequence of str, optional
        Labels of free parameters and definitions (``fit.coefficients.index``,
        ``fit.defined.index``); default all of them.

    Returns
    -------
    pandas.DataFrame
        parameter, ci_lower, ci_upper: one row per name, in the order of ``names``. A bound that
        cannot be found is NaN, with a :class:`masem.ConvergenceWarning` naming it.

    References
    ----------
    Neale, M. C., & Miller, M. B. (1997). The use of likelihood-based confidence intervals in
    genetic models. *Behavior Genetics*, 27, 113-120.
    Pek, J., & Wu, H. (2015). Profile likelihood-based confidence intervals and regions for
    structural equation models. *Psychometrika*, 80, 1123-1145.

    Examples
    --------
    >>> import masem
    >>> from masem.tssem.profile import profile_bounds
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> model = "Verbal ~ a*Spatial\\nMath ~ b*Verbal\\nab := a*b"
    >>> mine = profile_bounds(masem.tssem2(s1, model), ["ab"]).set_index("parameter")
    >>> full = masem.tssem2(s1, model, intervals="profile").inspect().set_index("label")
    >>> bool(abs(mine.loc["ab", "ci_lower"] - full.loc["ab", "ci.lower"]) < 1e-8)
    True
    """
    if not isinstance(fit, TSSEM2Result):
        raise ModelError(f"fit must be a tssem2() result, got {type(fit).__name__}.")
    if not fit.converged:
        raise ModelError(
            f"the fit did not converge ({fit.message}); profile bounds need an optimum."
        )
    available = list(fit.coefficients.index) + list(fit.defined.index)
    names = available if names is None else [str(n) for n in names]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise DataError(f"unknown parameter(s) {unknown}; the fit has {available}.")
    problem = fit._problem
    # A converged fit is its own solution: one more solve from the estimates returns at once, with
    # the state (Jacobians, multipliers) the profile search starts from.
    solution = problem.solve(fit._estimates)
    bounds, defined = profile_intervals(
        problem, solution, np.asarray(fit._vcov), problem.ev, only=set(names)
    )
    table = pd.DataFrame(
        np.vstack([bounds, defined]), index=available, columns=["ci_lower", "ci_upper"]
    )
    return table.loc[names].rename_axis("parameter").reset_index()
