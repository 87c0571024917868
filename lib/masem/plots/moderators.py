"""Figures of study characteristics and of what they moderate: a continuous characteristic by
group, and a meta-regression on one continuous moderator (a bubble plot).

Every function draws on a matplotlib ``Axes`` (created when not given) and returns it, with a
title, axis labels and units, so a notebook cell stays one line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from scipy import stats

from masem.errors import DataError
from masem.meta.univariate import MetaRegressionResult
from masem.plots._base import _axes


def characteristic_histogram(
    values: Sequence[float] | pd.Series,
    groups: Sequence[str] | pd.Series,
    title: str,
    xlabel: str,
    bins: int = 20,
    ax: Axes | None = None,
) -> Axes:
    """Histograms of one continuous study characteristic, one per group, on shared bins, each
    group's mean marked.

    Parameters
    ----------
    values : sequence of float or Series
        One value per study (e.g. the customer-contact share); finite.
    groups : sequence of str or Series
        The group of each study (e.g. the industry), in the order of ``values``.
    title, xlabel : str
        Figure title and the horizontal-axis label (with its unit).
    bins : int, default 20
        Number of equal-width bins spanning all values.
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    DataError
        If ``values`` is empty or not finite, or ``groups`` has another length.

    Examples
    --------
    >>> from masem.plots.moderators import characteristic_histogram
    >>> ax = characteristic_histogram([0.2, 0.3, 0.7, 0.8], ["other", "other", "service",
    ...                               "service"], "Customer contact", "share of the job")
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['other (mean 0.25)', 'service (mean 0.75)']
    """
    x = np.asarray(values, dtype=float)
    g = np.asarray(groups, dtype=object)
    if x.size == 0 or not np.all(np.isfinite(x)) or g.shape != x.shape:
        raise DataError(
            "characteristic_histogram needs finite values and one group per value; got "
            f"{x.size} values and {g.size} groups"
        )
    ax = _axes(ax, (6, 3.5))
    edges = np.histogram_bin_edges(x, bins=bins)
    for level in sorted(set(g)):
        chosen = x[g == level]
        mean = float(chosen.mean())
        patches = ax.hist(chosen, bins=edges, alpha=0.55, label=f"{level} (mean {mean:.2f})")[2]
        ax.axvline(mean, color=patches[0].get_facecolor(), linestyle="--", alpha=1.0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("number of studies")
    ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # counts of studies
    ax.legend(frameon=False, fontsize=8)
    return ax


def _line(result: MetaRegressionResult, moderator: str, grid: np.ndarray) -> tuple:
    """The fitted line over ``grid`` and its pointwise confidence band at the result's level."""
    beta = result.coefficients.set_index("name")["estimate"]
    vcov = result.vcov.loc[["intrcpt", moderator], ["intrcpt", moderator]].to_numpy()
    design = np.column_stack([np.ones_like(grid), grid])
    fitted = design @ beta[["intrcpt", moderator]].to_numpy()
    se = np.sqrt(np.einsum("ij,jk,ik->i", design, vcov, design))
    crit = stats.norm.ppf(0.5 + result.level / 2)
    return fitted, fitted - crit * se, fitted + crit * se


def bubble_plot(
    result: MetaRegressionResult,
    moderator: str,
    title: str,
    truth: pd.DataFrame | None = None,
    xlabel: str | None = None,
    ylabel: str = "Fisher's z of the observed correlation",
    ax: Axes | None = None,
) -> Axes:
    """A meta-regression on one continuous moderator: every study as a bubble, the fitted line
    with its confidence band, and (optionally) the true line.

    Each study's effect size is drawn against its moderator value, the bubble's area
    proportional to its weight in the mixed-effects model, 1 / (vi + tau2) (metafor's
    ``regplot``; Viechtbauer, 2010). The fitted line is intercept + slope x with its pointwise
    Wald band at the result's level.

    Parameters
    ----------
    result : MetaRegressionResult
        A :func:`masem.meta_regression` with an intercept and the one moderator ``moderator``.
    moderator : str
        The moderator's coefficient name (the column name of the moderator).
    title : str
        Figure title.
    truth : DataFrame, optional
        The true line: columns ``moderator`` and ``z`` (e.g. from
        :func:`masem.study.moderator_truth.moderator_truth`), drawn dashed.
    xlabel, ylabel : str
        Axis labels (with units); ``xlabel`` defaults to the moderator's name.
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    DataError
        If ``result`` is not a meta-regression with exactly an intercept and ``moderator``, or
        ``truth`` lacks its columns.

    References
    ----------
    Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *Journal of
    Statistical Software*, 36(3), 1-48.

    Examples
    --------
    >>> import masem
    >>> import pandas as pd
    >>> from masem.plots.moderators import bubble_plot
    >>> fit = masem.meta_regression([0.10, 0.32, 0.21, 0.55], [0.01, 0.02, 0.01, 0.02],
    ...                             pd.DataFrame({"contact": [0.1, 0.4, 0.6, 0.9]}))
    >>> ax = bubble_plot(fit, "contact", "Effect by contact")
    >>> ax.get_xlabel(), len(ax.collections[0].get_offsets())
    ('contact', 4)
    """
    if not isinstance(result, MetaRegressionResult) or list(result.names) != ["intrcpt", moderator]:
        names = list(getattr(result, "names", []))
        raise DataError(
            f"bubble_plot needs a meta_regression with an intercept and the one moderator "
            f"{moderator!r}; got coefficients {names}"
        )
    if truth is not None and not {moderator, "z"} <= set(truth.columns):
        raise DataError(f"bubble_plot: truth needs the columns {moderator!r} and 'z'")
    x = result.design[moderator].to_numpy()
    ax = _axes(ax, (7, 4.5))
    weights = 1.0 / (result.vi + result.tau2)
    ax.scatter(
        x,
        result.yi,
        s=400 * weights / weights.max(),
        alpha=0.45,
        color="#4C72B0",
        edgecolor="#1f3b63",
        label="studies (area: weight)",
    )
    grid = np.linspace(x.min(), x.max(), 100)
    fitted, lower, upper = _line(result, moderator, grid)
    ax.plot(grid, fitted, color="#C44E52", label="meta-regression")
    ax.fill_between(
        grid,
        lower,
        upper,
        color="#C44E52",
        alpha=0.15,
        label=f"{round(100 * result.level)}% confidence band",
    )
    if truth is not None:
        ax.plot(
            truth[moderator], truth["z"], color="black", linestyle="--", label="simulated truth"
        )
    ax.set_title(title)
    ax.set_xlabel(xlabel or moderator)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=8)
    return ax
