"""Numbers and p-values as APA writes them (American Psychological Association, 2020, sec. 6.36).

One formatter for every layer: the APA tables of :mod:`masem.report.tables` (which re-exports
:func:`format_number` and :func:`format_p`), the printed summaries of the study layer and the
``masem`` command. Exact p-values to three decimals without the leading zero, ``< .001`` below,
never scientific notation.
"""

from __future__ import annotations

import math
import numbers
import re

import pandas as pd

from masem.errors import DataError

MISSING = "—"  # em dash: APA's mark for an empty cell


def is_missing(value: object) -> bool:
    """None, pandas' NA or a NaN: a cell APA marks with an em dash."""
    return (
        value is None
        or value is pd.NA
        or (isinstance(value, numbers.Real) and math.isnan(float(value)))
    )


def check_decimals(decimals: object, what: str = "decimals") -> int:
    """``decimals`` as an int, refused unless a whole number from 0 to 10."""
    if (
        isinstance(decimals, bool)
        or not isinstance(decimals, numbers.Integral)
        or not 0 <= decimals <= 10
    ):
        raise DataError(f"{what} must be a whole number from 0 to 10, got {decimals!r}")
    return int(decimals)


def format_number(value: float, decimals: int = 3, bounded: bool = False) -> str:
    """One number rounded for an APA table.

    Parameters
    ----------
    value : float
        The number; NaN or None gives an em dash.
    decimals : int, default 3
        Digits after the decimal point.
    bounded : bool, default False
        True for a statistic that cannot exceed 1 in absolute value (a correlation, a proportion,
        a p-value): the leading zero is dropped, as APA asks.

    Returns
    -------
    str
        E.g. ``"0.412"``, ``".412"``, ``"-.050"``; a value that rounds to zero prints without a
        sign.

    Raises
    ------
    masem.DataError
        When ``bounded`` is True and ``|value| > 1`` (the column was marked bounded by mistake).

    Examples
    --------
    >>> format_number(0.41249), format_number(0.41249, bounded=True), format_number(-0.0004)
    ('0.412', '.412', '0.000')
    """
    if is_missing(value):
        return MISSING
    decimals = check_decimals(decimals)
    x = float(value)
    if not math.isfinite(x):
        return "∞" if x > 0 else "-∞"
    if bounded and abs(x) > 1.0:
        raise DataError(
            f"the value {x!r} is marked as bounded by 1 (no leading zero) but exceeds 1; "
            "leave its column out of bounded="
        )
    # Adding 0.0 turns a rounded -0.0 into 0.0, so a tiny negative value never prints as "-0.000".
    text = f"{round(x, decimals) + 0.0:.{decimals}f}"
    if bounded:
        text = re.sub(r"^(-?)0\.", r"\1.", text)
    return text


def format_p(value: float, decimals: int = 3) -> str:
    """A p-value as APA writes it: exact, without leading zero, and ``< .001`` below .001.

    Examples
    --------
    >>> format_p(0.0231), format_p(0.00004), format_p(0.99996), format_p(float("nan"))
    ('.023', '< .001', '> .999', '—')
    """
    if is_missing(value):
        return MISSING
    decimals = check_decimals(decimals)
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise DataError(f"a p-value must lie in [0, 1], got {p!r}")
    smallest = 10.0**-decimals
    if p < smallest:
        return f"< {format_number(smallest, decimals, bounded=True)}"
    if round(p, decimals) >= 1.0:
        return f"> {format_number(1.0 - smallest, decimals, bounded=True)}"
    return format_number(p, decimals, bounded=True)


def p_in_text(p: float) -> str:
    """A p-value as it follows its statistic in a sentence: ``"= .012"`` or ``"< .001"``.

    Examples
    --------
    >>> p_in_text(0.0123), p_in_text(1e-9)
    ('= .012', '< .001')
    """
    text = format_p(p)
    return text if text.startswith(("<", ">")) or text == MISSING else f"= {text}"
