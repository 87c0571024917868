"""What every figure function shares: saving reproducibly, creating axes, checking table columns.

Private to :mod:`masem.plots` except :func:`save_figure`, which the package re-exports.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from masem.errors import DataError


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save a figure as PNG, creating the folder; metadata stripped so reruns give identical
    bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return path


def _require_columns(table: pd.DataFrame, columns: set[str], what: str) -> None:
    """Raise a DataError naming the columns a plotting function needs but ``table`` lacks."""
    missing = columns - set(table.columns)
    if missing:
        raise DataError(f"{what} lacks the column(s) {sorted(missing)}")


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax


def _plain_log_axis(ax: Axes) -> None:
    """Log-scaled x axis labelled with plain counts at 1, 2 and 5 times the powers of ten (10, 20,
    50, ...).

    Matplotlib's default labels minor ticks as 2x10^1, 3x10^1, ..., which collide on a short axis.
    """
    ax.set_xscale("log")
    axis = ax.xaxis
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:,.0f}"))
    axis.set_minor_formatter(ticker.NullFormatter())
