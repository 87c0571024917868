"""Figures for the notebooks: evidence maps, distributions and the conceptual model.

Every function draws on a matplotlib ``Axes`` (created when not given) and returns it, with a
title, axis labels and units, so a notebook cell stays one line. :func:`save_figure` writes PNG
files byte-for-byte reproducibly (no timestamp or version in the metadata).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import graphviz
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from masem.errors import DataError


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save a figure as PNG, creating the folder; metadata stripped so reruns give identical bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return path


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax


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
        raise DataError("pair_heatmap needs a square matrix with the same labels on rows and columns")
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


def sample_size_histogram(n: Sequence[int] | pd.Series, title: str, ax: Axes | None = None, unit: str = "participants") -> Axes:
    """Histogram of sample sizes on a log scale, with the median marked."""
    values = np.asarray(n, dtype=float)
    if values.size == 0 or np.any(~np.isfinite(values)) or np.any(values <= 0):
        raise DataError("sample_size_histogram needs positive, finite sample sizes")
    ax = _axes(ax, (6, 3.5))
    bins = np.logspace(np.log10(values.min()), np.log10(values.max()), 20)
    ax.hist(values, bins=bins, color="#4C72B0", edgecolor="white")
    ax.set_xscale("log")
    median = float(np.median(values))
    ax.axvline(median, color="#C44E52", linestyle="--", label=f"median = {median:.0f}")
    ax.set_title(title)
    ax.set_xlabel(f"sample size ({unit}, log scale)")
    ax.set_ylabel("number of samples")
    ax.legend(frameon=False)
    return ax


def precision_by_k(summaries: Mapping[str, pd.DataFrame], title: str, ax: Axes | None = None) -> Axes:
    """Standard error of each pooled correlation against the number of studies behind it.

    Parameters
    ----------
    summaries : mapping
        Method name -> a stage-1 ``summary()`` table with columns ``k`` and ``se``.
    title : str
        Figure title.
    """
    for name, table in summaries.items():
        missing = {"k", "se"} - set(table.columns)
        if missing:
            raise DataError(f"precision_by_k: the table for {name!r} lacks the column(s) {sorted(missing)}")
    ax = _axes(ax, (6.5, 4))
    for (name, table), marker in zip(summaries.items(), "osD^v"):
        ax.scatter(table["k"], table["se"], label=name, marker=marker, alpha=0.75, s=28)
    ax.set_xscale("log")
    ax.set_title(title)
    ax.set_xlabel("studies reporting the pair (k, log scale)")
    ax.set_ylabel("standard error of the pooled r")
    ax.legend(frameon=False)
    return ax


def interval_plot(
    intervals: pd.DataFrame, title: str, xlabel: str = "standardized effect", ax: Axes | None = None
) -> Axes:
    """Point estimates with intervals, one row per parameter, one colour per interval method.

    Parameters
    ----------
    intervals : DataFrame
        Long format with columns ``parameter``, ``method``, ``estimate``, ``lower``, ``upper``.
    title, xlabel : str
        Figure title and the label (with units) of the horizontal axis.
    """
    missing = {"parameter", "method", "estimate", "lower", "upper"} - set(intervals.columns)
    if missing:
        raise DataError(f"interval_plot: the table lacks the column(s) {sorted(missing)}")
    parameters = list(dict.fromkeys(intervals["parameter"]))
    methods = list(dict.fromkeys(intervals["method"]))
    ax = _axes(ax, (7, 0.45 * len(parameters) * max(len(methods), 1) / 2 + 1.5))
    step = 0.8 / max(len(methods), 1)
    for m, method in enumerate(methods):
        rows = intervals[intervals["method"] == method].set_index("parameter").reindex(parameters)
        y = np.arange(len(parameters)) + (m - (len(methods) - 1) / 2) * step
        ax.errorbar(
            rows["estimate"], y,
            xerr=[rows["estimate"] - rows["lower"], rows["upper"] - rows["estimate"]],
            fmt="o", capsize=3, markersize=4, label=method,
        )
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(np.arange(len(parameters)), parameters)
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("effect")
    ax.legend(frameon=False, title="95% interval")
    return ax


def conceptual_model(
    antecedents: Mapping[str, str],
    mediator: tuple[str, str],
    outcomes: Mapping[str, str],
    title: str = "",
) -> graphviz.Digraph:
    """Left-to-right diagram: antecedents -> mediator -> outcomes (codes mapped to readable names).

    Parameters
    ----------
    antecedents, outcomes : mapping
        Construct code -> label shown in the box.
    mediator : (code, label)
        The mediating construct (psychological empowerment).
    title : str
        Caption drawn under the diagram.
    """
    dot = graphviz.Digraph("conceptual_model", graph_attr={"rankdir": "LR", "splines": "spline", "nodesep": "0.25"})
    if title:
        dot.attr(label=title, labelloc="b", fontsize="14")
    dot.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11")
    with dot.subgraph(name="cluster_antecedents") as sub:
        sub.attr(label="Antecedents", style="dashed", color="grey50")
        for code, label in antecedents.items():
            sub.node(code, label, fillcolor="#DCE9F5")
    code, label = mediator
    dot.node(code, label, fillcolor="#F9E3B4", shape="ellipse")
    with dot.subgraph(name="cluster_outcomes") as sub:
        sub.attr(label="Outcomes", style="dashed", color="grey50")
        for out_code, out_label in outcomes.items():
            sub.node(out_code, out_label, fillcolor="#DFF0D8")
    for ante in antecedents:
        dot.edge(ante, code)
    for out_code in outcomes:
        dot.edge(code, out_code)
    return dot


def path_diagram(
    result, title: str = "", decimals: int = 2, show_covariances: bool = True, omit_above_p: float | None = None
) -> graphviz.Digraph:
    """Path diagram of a fitted stage-2 model, each arrow labelled with its estimate.

    Stage-2 models are fitted to a correlation matrix, so the estimates are standardized.
    Regression paths are solid arrows (bold when p < .05), loadings run from the factor (ellipse)
    to its indicators, covariances among exogenous variables are dashed two-headed arrows.

    Parameters
    ----------
    result : TSSEM2Result
        A fitted model (:func:`masem.tssem2`).
    title : str
        Caption under the diagram.
    decimals : int
        Rounding of the edge labels.
    show_covariances : bool
        Draw the ``~~`` covariances between different variables.
    omit_above_p : float, optional
        Leave out paths whose p-value is at or above this level (say so in the title).
    """
    table = result.inspect()
    latent = set(result.latent)
    dot = graphviz.Digraph("path_diagram", graph_attr={"rankdir": "LR", "splines": "spline", "nodesep": "0.3"})
    if title:
        dot.attr(label=title, labelloc="b", fontsize="14")
    dot.attr("node", fontname="Helvetica", fontsize="11")
    dot.attr("edge", fontname="Helvetica", fontsize="10")
    for name in result.variables:
        dot.node(name, name, shape="box", style="rounded")
    for name in result.latent:
        dot.node(name, name, shape="ellipse")
    table = table[table["op"].isin(["~", "~~"])]
    if omit_above_p is not None:
        table = table[table["p-value"] < omit_above_p]
    for row in table.to_dict("records"):
        label = f"{row['Estimate']:.{decimals}f}"
        style = "bold" if row["p-value"] < 0.05 else "solid"
        if row["op"] == "~":
            colour = "#0B3C5D" if row["rval"] in latent else "black"
            dot.edge(row["rval"], row["lval"], label=label, style=style, color=colour)
        elif show_covariances and row["lval"] != row["rval"]:
            dot.edge(row["lval"], row["rval"], label=label, dir="both", style="dashed", color="grey40",
                     constraint="false")
    return dot
