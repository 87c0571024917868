"""Exceptions and warnings raised by masem.

Every error a user can trigger with bad input is a subclass of :class:`ValueError`, so code that
already catches ``ValueError`` keeps working; the message names the study, variable, row or option
and the offending value, and says what to do about it.
"""

from __future__ import annotations


class DataError(ValueError):
    """Input data that cannot be analysed: bad correlations, sample sizes, files or shapes."""


class ModelError(ValueError):
    """A model specification that cannot be fitted: syntax errors, unknown variables, non-identification."""


class ConvergenceWarning(UserWarning):
    """Numerical trouble in a fit whose result is still returned (non-convergence, a bound, a singular Hessian)."""
