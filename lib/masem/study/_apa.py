"""p-values as APA writes them, for the reprs of the study layer (private to masem.study).

The APA tables of :mod:`masem.report.tables` format their own p columns (``format_p``); the
study layer sits below the report layer and cannot import it, so its printed summaries use this.
"""

from __future__ import annotations

import math


def apa_p(p: float) -> str:
    """``"< .001"`` below .001, ``"> .999"`` above .999, else three decimals without the leading
    zero (American Psychological Association, 2020, sec. 6.36); never scientific notation.
    """
    if p is None or not math.isfinite(p):
        return "—"
    if p < 0.001:
        return "< .001"
    if round(p, 3) >= 1.0:
        return "> .999"
    return f"{p:.3f}".lstrip("0")
