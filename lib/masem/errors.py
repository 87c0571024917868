"""Exceptions and warnings raised by masem.

Every error a user can trigger with bad input is a subclass of :class:`ValueError`, so code that
already catches ``ValueError`` keeps working; the message names the study, variable, row or option
and the offending value, and says what to do about it.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class DataError(ValueError):
    """Input data that cannot be analysed: bad correlations, sample sizes, files or shapes."""


class ModelError(ValueError):
    """A model specification that cannot be fitted: syntax errors, unknown variables,
    non-identification.
    """


class ConvergenceWarning(UserWarning):
    """Numerical trouble in a fit whose result is still returned (non-convergence, a bound, a
    singular Hessian).
    """


@contextmanager
def collect_notes(stream: TextIO | None = None) -> Iterator[list[str]]:
    """Report masem's numerical notes in a block as plain text lines instead of warnings.

    Notebooks and scripts that want every :class:`ConvergenceWarning` visible in their output
    (not on stderr, where nbval and reports treat it as noise) wrap the fit in this block; each
    note is printed as ``Note: ...`` when the block ends, and the list is also returned. Other
    warnings pass through unchanged.

    Parameters
    ----------
    stream : text file, optional
        Where the notes are printed; standard output when None.

    Returns
    -------
    list of str
        (yielded by the ``with`` block) the notes, filled in when the block ends.

    Examples
    --------
    >>> import warnings
    >>> with collect_notes() as notes:
    ...     warnings.warn("tau2 at its lower bound for A_B", ConvergenceWarning)
    Note: tau2 at its lower bound for A_B
    >>> notes
    ['tau2 at its lower bound for A_B']
    """
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        yield notes
    for item in caught:
        if issubclass(item.category, ConvergenceWarning):
            notes.append(str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    for note in notes:
        print(f"Note: {note}", file=stream if stream is not None else sys.stdout)


@contextmanager
def relabel_notes(prefix: str, stacklevel: int = 3) -> Iterator[None]:
    """Re-issue the ConvergenceWarnings of an inner fit once each, prefixed with what was fitted.

    Functions that fit many models (one per pair, group or trim-and-fill step) use it so a note
    says which fit it is about (``"group 'service': tau2 ..."``) and appears once, not per
    iteration. Other warnings pass through unchanged.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: set[str] = set()
    for item in caught:
        if not issubclass(item.category, ConvergenceWarning):
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
        elif str(item.message) not in seen:
            seen.add(str(item.message))
            warnings.warn(
                f"{prefix}: {item.message}", ConvergenceWarning, stacklevel=stacklevel + 1
            )
