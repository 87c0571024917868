"""Figures for the structure notebooks: factor loadings with intervals, a factor-model path diagram,
and paths compared across levels.

Like :mod:`masem.plots`, every function draws on a matplotlib ``Axes`` (created when not given),
sets a title, axis labels and units, and returns the ``Axes``; save with
:func:`masem.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import graphviz
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from masem.errors import DataError
from masem.plots import SIGNIFICANCE, _caption, _edge_label, _edge_style

__all__ = ["factor_diagram", "level_plot", "loading_plot"]

_INTERVAL_NAMES = {"wald": "Wald", "profile": "profile likelihood"}


def _require(table: pd.DataFrame, columns: set[str], what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"{what} must be a DataFrame, got {type(table).__name__}")
    missing = columns - set(table.columns)
    if missing:
        raise DataError(f"{what} lacks the column(s) {sorted(missing)}")
    if table.empty:
        raise DataError(f"{what} has no rows: nothing to draw")


def _dodged(ax: Axes, groups: list, categories: list, frame: pd.DataFrame, key: str, y_col: str,
            est: str, lower: str, upper: str, label) -> None:
    """One dot-and-whisker series per group, shifted vertically so the groups do not overlap."""
    if frame.duplicated([key, y_col]).any():
        twice = frame.loc[frame.duplicated([key, y_col]), [key, y_col]].drop_duplicates().to_numpy().tolist()
        raise DataError(f"the table has more than one row for {twice} ({key}, {y_col}): one row each, please")
    step = 0.7 / max(len(groups), 1)
    for g, group in enumerate(groups):
        rows = frame[frame[key] == group].set_index(y_col).reindex(categories)
        y = np.arange(len(categories)) + (g - (len(groups) - 1) / 2) * step
        ax.errorbar(
            rows[est], y, xerr=[rows[est] - rows[lower], rows[upper] - rows[est]],
            fmt="o", capsize=3, markersize=5, label=label(group),
        )


def loading_plot(
    table: pd.DataFrame,
    title: str,
    population: Mapping[str, float] | None = None,
    population_label: str = "population value",
    ax: Axes | None = None,
) -> Axes:
    """Standardized loadings with 95% intervals, one row per indicator, one colour per interval kind.

    Parameters
    ----------
    table : DataFrame
        One or more :func:`masem.loading_table` results stacked with ``pandas.concat`` (columns
        ``indicator``, ``loading``, ``ci_lower``, ``ci_upper``, ``interval``).
    title : str
        Figure title.
    population : mapping of indicator to value, optional
        Known values to mark with a cross (in a simulation, the loadings the data were drawn from).
    population_label : str
        Legend entry of the crosses.
    ax : Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    DataError
        If the table lacks a column or rows, or ``population`` names an indicator not in the table.
    """
    _require(table, {"indicator", "loading", "ci_lower", "ci_upper", "interval"}, "loading_plot: the table")
    indicators = list(dict.fromkeys(table["indicator"]))
    kinds = list(dict.fromkeys(table["interval"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.6 * len(indicators) + 1.6))
    _dodged(ax, kinds, indicators, table, "interval", "indicator", "loading", "ci_lower", "ci_upper",
            lambda kind: f"estimate, {_INTERVAL_NAMES.get(kind, kind)} 95% interval")
    if population is not None:
        unknown = [v for v in population if v not in indicators]
        if unknown:
            raise DataError(f"loading_plot: population values for {unknown}, which are not in the table {indicators}")
        y = [indicators.index(v) for v in population]
        ax.scatter(list(population.values()), y, marker="x", s=70, color="black", zorder=4, label=population_label)
    ax.set_yticks(np.arange(len(indicators)), indicators)
    if not ax.yaxis_inverted():  # axes sharing y with an earlier panel are inverted already
        ax.invert_yaxis()
    ax.set_xlim(min(0.0, float(table["ci_lower"].min()) - 0.05), 1.0)
    ax.set_title(title)
    ax.set_xlabel("standardized loading (correlation of the indicator with the factor)")
    ax.set_ylabel("indicator")
    ax.legend(frameon=False, loc="lower left", fontsize=9)
    return ax


def level_plot(
    table: pd.DataFrame,
    title: str,
    value: str = "path",
    ax: Axes | None = None,
) -> Axes:
    """Dot-and-whisker plot of analogous relations, one colour per level of analysis.

    Parameters
    ----------
    table : DataFrame
        :func:`masem.path_summary` results of two or more levels, stacked with ``pandas.concat``.
    title : str
        Figure title.
    value : {"path", "r"}
        Draw the standardized structural paths (``estimate``, ``ci_lower``, ``ci_upper``) or the
        pooled correlations (``r``, ``r_lower``, ``r_upper``).
    ax : Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    DataError
        If ``value`` is unknown or the table lacks a column or rows.
    """
    columns = {"path": ("estimate", "ci_lower", "ci_upper"), "r": ("r", "r_lower", "r_upper")}
    if value not in columns:
        raise DataError(f"level_plot: value must be 'path' or 'r', got {value!r}")
    est, lower, upper = columns[value]
    _require(table, {"relation", "level", est, lower, upper}, "level_plot: the table")
    relations = list(dict.fromkeys(table["relation"]))
    levels = list(dict.fromkeys(table["level"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.6 * len(relations) + 1.6))
    _dodged(ax, levels, relations, table, "level", "relation", est, lower, upper, str)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(np.arange(len(relations)), relations)
    if not ax.yaxis_inverted():  # axes sharing y with an earlier panel are inverted already
        ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel("standardized path coefficient" if value == "path" else "pooled correlation r")
    ax.set_ylabel("relation")
    ax.legend(frameon=False, title="level (95% interval)", fontsize=9)
    return ax


def factor_diagram(
    result, indicators: Sequence[str], title: str = "", decimals: int = 2, names: Mapping[str, str] | None = None
) -> graphviz.Digraph:
    """Path diagram of a factor model: indicators on the left, factors in the middle, outcomes on the right.

    :func:`masem.plots.path_diagram` draws every variable in one flow from left to right, which
    piles the loadings and the outcome paths of a factor model on top of each other. Here the
    indicators form a column left of their factor, every other observed variable a column on the
    right, so loadings and structural paths point away from the factor on either side. Edges carry
    the standardized estimates, each in a white box beside its arrow; arrows are thick and dark
    when p < .05, thin grey otherwise; residual correlations are dashed two-headed arrows. The
    caption adds a key to the arrow styles and, given ``names``, the code = name of every box.

    Parameters
    ----------
    result : TSSEM2Result
        A fitted model with at least one latent factor (:func:`masem.tssem2`).
    indicators : sequence of str
        The observed variables that measure the factors (drawn on the left).
    title : str
        Caption under the diagram.
    decimals : int
        Rounding of the edge labels.
    names : mapping of str to str, optional
        Variable code -> readable name, listed in the caption.

    Returns
    -------
    graphviz.Digraph
        Render with ``.pipe(format="png")``.

    Raises
    ------
    DataError
        If the model has no factor, ``indicators`` is empty or names a variable not in it, or
        ``names`` is not a mapping.
    """
    latent = list(getattr(result, "latent", ()))
    if not latent:
        raise DataError("factor_diagram needs a model with a latent factor; use masem.plots.path_diagram")
    if isinstance(indicators, str) or not indicators:
        raise DataError(f"factor_diagram: indicators must be a non-empty list of variable names, got {indicators!r}")
    observed = list(result.variables)
    unknown = [v for v in indicators if v not in observed]
    if unknown:
        raise DataError(f"factor_diagram: indicators {unknown} are not observed variables of the model {observed}")
    left = [v for v in observed if v in set(indicators)]
    right = [v for v in observed if v not in set(indicators)]
    dot = graphviz.Digraph("factor_diagram", graph_attr={"rankdir": "LR", "nodesep": "0.5", "ranksep": "1.1",
                                                         "splines": "spline", "forcelabels": "true"})
    dot.attr("node", fontname="Helvetica", fontsize="11")
    dot.attr("edge", fontname="Helvetica", fontsize="10")
    for column in (left, latent, right):
        with dot.subgraph() as same:
            same.attr(rank="same")
            for name in column:
                same.node(name, name, shape="ellipse" if name in latent else "box",
                          style="" if name in latent else "rounded")
            for upper, lower in zip(column, column[1:]):  # keep the model's order from top to bottom
                same.edge(upper, lower, style="invis")
    table = result.inspect()
    table = table[table["op"].isin(["~", "~~"]) & (table["lval"] != table["rval"])]
    for row in table.to_dict("records"):
        label = _edge_label(row["Estimate"], decimals)
        if row["op"] == "~" and row["lval"] in left:
            # Loading: drawn from the indicator back to the factor so the indicator stays on the left.
            dot.edge(row["lval"], row["rval"], label=label, dir="back", **_edge_style(row["p-value"], "#0B3C5D"))
        elif row["op"] == "~":
            colour = "#0B3C5D" if row["rval"] in latent else "black"
            dot.edge(row["rval"], row["lval"], label=label, **_edge_style(row["p-value"], colour))
        else:
            # Correlations within a column bulge outwards, away from the arrows entering that column.
            ports = {}
            for column, side in ((left, "w"), (right, "e")):
                if row["lval"] in column and row["rval"] in column:
                    ports = {"tailport": side, "headport": side}
            # An indicator's correlation with an outcome runs left to right like the paths, so it
            # takes part in the layout (constraint) and finds its own lane below or above the factor.
            # Within a column, a label would become a layout node left of the column and pull the
            # arc across the paths; an external label (placed after the layout) leaves it outside.
            within = bool(ports) or row["lval"] in latent or row["rval"] in latent
            dot.edge(row["lval"], row["rval"], dir="both", style="dashed", constraint="false" if within else "true",
                     **{"xlabel" if ports else "label": label}, **ports, **_edge_style(row["p-value"], "grey30"))
    caption = _caption(title, [*left, *latent, *right], names,
                       nonsignificant=bool((table["p-value"] >= SIGNIFICANCE).any()),
                       covariances=bool((table["op"] == "~~").any()))
    if caption:
        dot.attr(label=caption, labelloc="b", labeljust="l", fontname="Helvetica", fontsize="12")
    return dot
