"""Small helpers every layer shares: one progress bar, one option check, one read-only array, one
deprecation note.

Private to masem (any of its modules may use them; nothing here is public API). Keep this module
free of imports beyond numpy and :mod:`masem.errors`, so that every layer can depend on it.
"""

from __future__ import annotations

import difflib
import numbers
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from masem.errors import DataError, ModelError


def progress_bar(total: int, desc: str, unit: str = "fit"):
    """A tqdm progress bar on stderr, counting ``total`` steps of ``unit``.

    tqdm and ipywidgets are imported only when a bar is asked for. ``tqdm.auto`` draws a widget
    in a notebook, but without ipywidgets it first warns and then falls back to the text bar
    anyway; so without ipywidgets the text bar is used directly (Jupyter shows it updating in
    place, like a terminal).
    """
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit=unit)


def choose(
    value: object, options: Sequence[str], name: str, error: type[ValueError] = ModelError
) -> str:
    """The option ``value`` names, matched case-insensitively, in its canonical spelling.

    ``error`` is the exception raised for anything else: :class:`~masem.ModelError` (the default)
    for an option of a model or method, :class:`~masem.DataError` where the function reports
    every bad argument as a data problem (the univariate meta-analysis functions).
    """
    if isinstance(value, str):
        for option in options:
            if value.lower() == option.lower():
                return option
    raise error(f"{name} must be one of {', '.join(repr(o) for o in options)}; got {value!r}.")


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """``"did you mean 'X'?"`` for the known name ``name`` was probably meant to be, else ``""``.

    A name that differs only in case wins (``js`` -> ``JS``); otherwise the closest name by
    :class:`difflib.SequenceMatcher` ratio, compared case-insensitively, when the ratio is at
    least 0.6 (difflib's default cutoff: ``TLF`` -> ``TFL``, ``EMP`` -> ``PE``).
    """
    text = str(name)
    by_lower: dict[str, str] = {}
    for candidate in known:
        by_lower.setdefault(str(candidate).lower(), str(candidate))
    match = by_lower.get(text.lower())
    if match is None:
        close = difflib.get_close_matches(text.lower(), list(by_lower), n=1)
        match = by_lower[close[0]] if close else None
    return f"did you mean {match!r}?" if match is not None and match != text else ""


def frozen(values: ArrayLike | None, dtype: type | np.dtype = float) -> np.ndarray | None:
    """A read-only copy of ``values`` as an array of ``dtype`` (None keeps the dtype; None values
    stay None).

    Results store their arrays this way, so that nothing a caller does to the arrays it reads
    (or passed in) changes a result.
    """
    if values is None:
        return None
    out = np.array(values, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


def check_jobs(n_jobs: object, progress: object) -> None:
    """Refuse an ``n_jobs`` that is not a positive integer or -1, or a ``progress`` that is not a
    bool.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise DataError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs!r}.")
    if not isinstance(progress, (bool, np.bool_)):
        raise DataError(f"progress must be True or False, got {progress!r}.")


def deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that ``old`` (a renamed attribute or argument) still works for one release; ``new``
    replaces it.
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new} instead",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def check_level(level: object, name: str = "level", error: type[ValueError] = DataError) -> float:
    """The coverage ``level`` of an interval (or a credibility level) as a float strictly between 0
    and 1.
    """
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        raise error(f"{name} must be a number between 0 and 1 (e.g. 0.95); got {level!r}.")
    if not 0.0 < float(level) < 1.0:
        raise error(f"{name} must lie strictly between 0 and 1 (e.g. 0.95, not 95); got {level!r}.")
    return float(level)


def tail(level: float) -> float:
    """1 - level, rounded to 12 decimals so that level 0.95 gives exactly 0.05 (not
    0.050000000000000044).
    """
    return round(1.0 - level, 12)


def tracked(items, total: int, desc: str, unit: str = "fit", show: bool = True, size=None):
    """Yield ``items``, advancing a :func:`progress_bar` after each (by ``size(item)``, default 1)
    when ``show``; the bar is closed however the loop ends.
    """
    bar = progress_bar(total, desc, unit) if show else None
    try:
        for item in items:
            yield item
            if bar is not None:
                bar.update(1 if size is None else size(item))
    finally:
        if bar is not None:
            bar.close()
