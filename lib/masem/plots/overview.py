"""Overview figures: where the evidence is (pairs, sample sizes, precision) and many intervals side
by side.

Every function draws on a matplotlib ``Axes`` (created when not given) and returns it, with a
title, axis labels and units, so a notebook cell stays one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.axes import Axes

from masem._util import deprecated
from masem.errors import DataError
from masem.plots._base import _axes, _plain_log_axis, _require_columns


def pair_heatmap(
    values: pd.DataFrame,
    title: str,
    colorbar_label: str,
    ax: Axes | None = None,
    fmt: str = ".0f",
    cmap: str = "Blues",
    center: float | None = None,
) -> Axes:
    """Heatmap of a square, labelled matrix (lower triangle and diagonal), e.g. studies per pair.

    Parameters
    ----------
    values : DataFrame
        Square matrix with the same variables as index and columns; NaN cells stay blank.
    title, colorbar_label : str
        Figure title and the label (with units) of the colour scale.
    fmt : str
        Format of the annotated numbers.
    cmap, center : str, float
        Colour map, and the value at its centre for diverging scales (e.g. 0 for correlations).
    """
    if values.shape[0] != values.shape[1] or list(values.index) != list(values.columns):
        raise DataError(
            "pair_heatmap needs a square matrix with the same labels on rows and columns"
        )
    p = values.shape[0]
    ax = _axes(ax, (0.55 * p + 2.5, 0.5 * p + 1.5))
    mask = np.triu(np.ones((p, p), dtype=bool), k=1)
    sns.heatmap(
        values.astype(float),
        mask=mask,
        annot=True,
        fmt=fmt,
        cmap=cmap,
        center=center,
        linewidths=0.5,
        cbar_kws={"label": colorbar_label},
        annot_kws={"fontsize": 8},
        ax=ax,
    )
    ax.set_title(title)
    ax.set_xlabel("construct")
    ax.set_ylabel("construct")
    return ax


def sample_size_histogram(
    n: Sequence[int] | pd.Series, title: str, ax: Axes | None = None, unit: str = "participants"
) -> Axes:
    """Histogram of sample sizes on a log scale, with the median marked.

    The log axis is labelled with plain numbers at 1, 2 and 5 times the powers of ten (10, 20, 50,
    100, ...), and the count axis with whole numbers, since both count people or samples.

    Parameters
    ----------
    n : sequence of int or Series
        One sample size per sample; positive and finite.
    title : str
        Figure title.
    ax : Axes, optional
        Where to draw.
    unit : str
        What ``n`` counts, for the axis label (e.g. "employees", "teams").

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    DataError
        If ``n`` is empty or holds a value that is not positive and finite.
    """
    values = np.asarray(n, dtype=float)
    if values.size == 0 or np.any(~np.isfinite(values)) or np.any(values <= 0):
        raise DataError("sample_size_histogram needs positive, finite sample sizes")
    ax = _axes(ax, (6, 3.5))
    bins = np.logspace(np.log10(values.min()), np.log10(values.max()), 20)
    ax.hist(values, bins=bins, color="#4C72B0", edgecolor="white")
    _plain_log_axis(ax)
    ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    median = float(np.median(values))
    ax.axvline(median, color="#C44E52", linestyle="--", label=f"median = {median:.0f}")
    ax.set_title(title)
    ax.set_xlabel(f"sample size ({unit}, log scale)")
    ax.set_ylabel("number of samples")
    ax.legend(frameon=False)
    return ax


def precision_by_k(
    summaries: Mapping[str, pd.DataFrame], title: str, ax: Axes | None = None
) -> Axes:
    """Standard error of each pooled correlation against the number of studies behind it.

    Parameters
    ----------
    summaries : mapping
        Method name -> a stage-1 ``summary()`` table with columns ``k`` and ``se``.
    title : str
        Figure title.
    """
    for name, table in summaries.items():
        _require_columns(table, {"k", "se"}, f"precision_by_k: the table for {name!r}")
    ax = _axes(ax, (6.5, 4))
    for (name, table), marker in zip(summaries.items(), "osD^v"):
        ax.scatter(table["k"], table["se"], label=name, marker=marker, alpha=0.75, s=28)
    _plain_log_axis(ax)
    ax.set_title(title)
    ax.set_xlabel("studies reporting the pair (k, log scale)")
    ax.set_ylabel("standard error of the pooled r")
    ax.legend(frameon=False)
    return ax


def _renamed_bounds(intervals: pd.DataFrame) -> pd.DataFrame:
    """Accept the columns ``lower`` / ``upper`` of earlier versions for one more release."""
    if (
        isinstance(intervals, pd.DataFrame)
        and {"lower", "upper"} <= set(intervals.columns)
        and not ({"ci_lower", "ci_upper"} & set(intervals.columns))
    ):
        deprecated("interval_plot with columns lower / upper", "ci_lower / ci_upper", stacklevel=4)
        return intervals.rename(columns={"lower": "ci_lower", "upper": "ci_upper"})
    return intervals


def interval_plot(
    intervals: pd.DataFrame, title: str, xlabel: str = "standardized effect", ax: Axes | None = None
) -> Axes:
    """Point estimates with intervals, one row per parameter, one colour per interval method.

    Parameters
    ----------
    intervals : DataFrame
        Long format with columns ``parameter``, ``method``, ``estimate``, ``ci_lower``, ``ci_upper``
        (e.g. :func:`masem.tssem.interval_table`).
    title, xlabel : str
        Figure title and the label (with units) of the horizontal axis.
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes
        Within a row, the methods that row has are spread evenly around it (a row with fewer
        methods, e.g. a moderator with two groups among one with three, stays centred).
    """
    intervals = _renamed_bounds(intervals)
    _require_columns(
        intervals,
        {"parameter", "method", "estimate", "ci_lower", "ci_upper"},
        "interval_plot: the table",
    )
    parameters = list(dict.fromkeys(intervals["parameter"]))
    methods = list(dict.fromkeys(intervals["method"]))
    ax = _axes(ax, (7, 0.45 * len(parameters) * max(len(methods), 1) / 2 + 1.5))
    # Dodge within each row over the methods that row has, so rows with fewer methods stay centred.
    present = {
        name: [m for m in methods if m in set(group["method"])]
        for name, group in intervals.groupby("parameter", sort=False)
    }
    step = 0.8 / max(max(len(row) for row in present.values()), 1)
    for method in methods:
        rows = intervals[intervals["method"] == method].set_index("parameter").reindex(parameters)
        y = np.array(
            [
                i + (present[name].index(method) - (len(present[name]) - 1) / 2) * step
                if method in present[name]
                else np.nan
                for i, name in enumerate(parameters)
            ]
        )
        ax.errorbar(
            rows["estimate"],
            y,
            xerr=[rows["estimate"] - rows["ci_lower"], rows["ci_upper"] - rows["estimate"]],
            fmt="o",
            capsize=3,
            markersize=4,
            label=method,
        )
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(np.arange(len(parameters)), parameters)
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("effect")
    ax.legend(frameon=False, title="95% interval")
    return ax
