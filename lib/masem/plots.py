"""Figures for the notebooks: evidence maps, distributions and the conceptual model.

Every function draws on a matplotlib ``Axes`` (created when not given) and returns it, with a
title, axis labels and units, so a notebook cell stays one line. :func:`save_figure` writes PNG
files byte-for-byte reproducibly (no timestamp or version in the metadata).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import graphviz
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker, transforms
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle
from scipy import stats

from masem.bias import TrimFillResult
from masem.errors import DataError


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save a figure as PNG, creating the folder; metadata stripped so reruns give identical bytes."""
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


def _plain_log_axis(ax: Axes) -> None:
    """Log-scaled x axis labelled with plain counts at 1, 2 and 5 times the powers of ten (10, 20, 50, ...).

    Matplotlib's default labels minor ticks as 2x10^1, 3x10^1, ..., which collide on a short axis.
    """
    ax.set_xscale("log")
    axis = ax.xaxis
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:,.0f}"))
    axis.set_minor_formatter(ticker.NullFormatter())


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
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes
        Within a row, the methods that row has are spread evenly around it (a row with fewer
        methods, e.g. a moderator with two groups among one with three, stays centred).
    """
    _require_columns(intervals, {"parameter", "method", "estimate", "lower", "upper"}, "interval_plot: the table")
    parameters = list(dict.fromkeys(intervals["parameter"]))
    methods = list(dict.fromkeys(intervals["method"]))
    ax = _axes(ax, (7, 0.45 * len(parameters) * max(len(methods), 1) / 2 + 1.5))
    # Dodge within each row over the methods that row has, so rows with fewer methods stay centred.
    present = {name: [m for m in methods if m in set(group["method"])]
               for name, group in intervals.groupby("parameter", sort=False)}
    step = 0.8 / max(max(len(row) for row in present.values()), 1)
    for method in methods:
        rows = intervals[intervals["method"] == method].set_index("parameter").reindex(parameters)
        y = np.array([i + (present[name].index(method) - (len(present[name]) - 1) / 2) * step
                      if method in present[name] else np.nan for i, name in enumerate(parameters)])
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


def correction_plot(table: pd.DataFrame, title: str, ax: Axes | None = None) -> Axes:
    """Observed (``r_mean``) and corrected (``rho``) correlations per relation, joined by a line.

    Parameters
    ----------
    table : DataFrame
        A :func:`masem.bivariate_table` result (columns ``name``, ``r_mean``, ``rho``).
    title : str
        Figure title.
    """
    _require_columns(table, {"name", "r_mean", "rho"}, "correction_plot: the table")
    ax = _axes(ax, (7, 0.4 * len(table) + 1.5))
    y = np.arange(len(table))
    ax.hlines(y, table["r_mean"], table["rho"], color="grey", linewidth=1)
    ax.scatter(table["r_mean"], y, label="observed (mean r)", color="#4C72B0", zorder=3)
    ax.scatter(table["rho"], y, label="corrected for unreliability (rho)", color="#C44E52", zorder=3)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(y, table["name"])
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel("correlation with psychological empowerment")
    ax.set_ylabel("construct")
    ax.legend(frameon=False)
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


#: Two-sided p-value below which a diagram draws an estimate as significant (thick, dark arrow).
SIGNIFICANCE = 0.05
_SIGNIFICANT_TEXT = "p < .05"  # SIGNIFICANCE as the captions write it
_NOT_SIGNIFICANT = "grey60"
_CAPTION_WIDTH = 110  # characters per caption line: about the width of a 12-variable diagram


def _edge_label(value: float, decimals: int) -> str:
    """HTML-like graphviz label with a white background, so a label stays legible where a line crosses it."""
    rounded = round(float(value), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0, so no "-0.00"
    return (f'<<table border="0" cellborder="0" cellpadding="1" bgcolor="white"><tr><td>{rounded:.{decimals}f}'
            "</td></tr></table>>")


def _edge_style(p_value: float, colour: str) -> dict[str, str]:
    """Thick arrow in ``colour`` when p < :data:`SIGNIFICANCE`, thin grey otherwise (labels in the same colour)."""
    if p_value < SIGNIFICANCE:
        return {"color": colour, "fontcolor": colour, "penwidth": "2"}
    return {"color": _NOT_SIGNIFICANT, "fontcolor": "grey40", "penwidth": "1"}


def _wrap(items: Sequence[str], width: int) -> list[str]:
    """Join ``items`` with "; " into lines of at most ``width`` characters (an item is never split)."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += f"; {item}"
        else:
            lines.append(item)
    return lines


def _caption(title: str, codes: Sequence[str], names: Mapping[str, str] | None, nonsignificant: bool,
             covariances: bool) -> str:
    """Graph caption: the title, a code = name key, and a key to the arrow styles actually drawn.

    Returned as an HTML-like graphviz label with left-aligned lines ("" when there is nothing to say).
    """
    if names is not None and not isinstance(names, Mapping):
        raise DataError(f"names must map variable codes to readable names (a dict), got {type(names).__name__}")
    lines = [title] if title else []
    if names:
        lines += _wrap([f"{code} = {names[code]}" for code in codes if code in names and names[code] != code],
                       _CAPTION_WIDTH)
    key = []
    if nonsignificant:
        key.append(f"thick dark arrows: {_SIGNIFICANT_TEXT}; thin grey arrows: not significant")
    if covariances:
        key.append("dashed two-headed arrows: correlations")
    if key:
        text = "; ".join(key)
        lines.append(text[0].upper() + text[1:] + ".")
    if not lines:
        return ""
    return "<" + "".join(f'{escape(line)}<br align="left"/>' for line in lines) + ">"


def path_diagram(
    result,
    title: str = "",
    decimals: int = 2,
    show_covariances: bool = True,
    omit_above_p: float | None = None,
    names: Mapping[str, str] | None = None,
) -> graphviz.Digraph:
    """Path diagram of a fitted stage-2 model, each arrow labelled with its estimate.

    Stage-2 models are fitted to a correlation matrix, so the estimates are standardized.
    Regression paths are arrows, thick and dark when p < .05 and thin grey otherwise (labels in
    the same colour); loadings run from the factor (ellipse) to its indicators; covariances among
    exogenous variables are dashed two-headed arrows. Every label sits in a small white box beside
    its own arrow (graphviz places it as part of the layout), so crossing lines do not hide it.

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
    names : mapping of str to str, optional
        Variable code -> readable name; the caption then lists ``code = name`` for every box drawn.

    Returns
    -------
    graphviz.Digraph
        Render with ``.pipe(format="png")``. A key to the arrow styles is added to the caption
        when non-significant arrows or covariances are drawn. With many correlated predictors,
        ``show_covariances=False`` keeps the diagram readable.

    Raises
    ------
    DataError
        If ``names`` is not a mapping.
    """
    table = result.inspect()
    latent = set(result.latent)
    dot = graphviz.Digraph("path_diagram", graph_attr={"rankdir": "LR", "splines": "spline", "nodesep": "0.6",
                                                       "ranksep": "0.8"})
    dot.attr("node", fontname="Helvetica", fontsize="11")
    dot.attr("edge", fontname="Helvetica", fontsize="10")
    for name in result.variables:
        dot.node(name, name, shape="box", style="rounded")
    for name in result.latent:
        dot.node(name, name, shape="ellipse")
    table = table[table["op"].isin(["~", "~~"])]
    if omit_above_p is not None:
        table = table[table["p-value"] < omit_above_p]
    if not show_covariances:
        table = table[table["op"] == "~"]
    table = table[table["lval"] != table["rval"]]  # variances are not arrows
    for row in table.to_dict("records"):
        label = _edge_label(row["Estimate"], decimals)
        if row["op"] == "~":
            style = _edge_style(row["p-value"], "#0B3C5D" if row["rval"] in latent else "black")
            dot.edge(row["rval"], row["lval"], label=label, **style)
        else:
            style = _edge_style(row["p-value"], "grey30")
            dot.edge(row["lval"], row["rval"], label=label, dir="both", style="dashed", constraint="false", **style)
    caption = _caption(title, [*result.variables, *result.latent], names,
                       nonsignificant=bool((table["p-value"] >= SIGNIFICANCE).any()),
                       covariances=bool((table["op"] == "~~").any()))
    if caption:
        dot.attr(label=caption, labelloc="b", labeljust="l", fontname="Helvetica", fontsize="12")
    return dot


_META_FIELDS = ("yi", "vi", "weights", "estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper")


def _meta_arrays(result, caller: str) -> dict:
    """The study-level and pooled values a forest or funnel plot needs from a :func:`masem.meta` result."""
    missing = [name for name in _META_FIELDS if not hasattr(result, name)]
    if missing:
        raise DataError(
            f"{caller} needs a fitted univariate meta-analysis (masem.meta); "
            f"{type(result).__name__} lacks {missing}."
        )
    yi = np.asarray(result.yi, dtype=float)
    vi = np.asarray(result.vi, dtype=float)
    if yi.ndim != 1 or yi.size == 0 or yi.shape != vi.shape or not (np.all(np.isfinite(yi)) and np.all(vi > 0)):
        raise DataError(
            f"{caller}: the result must hold finite effect sizes yi and positive variances vi, one per study."
        )
    return {
        "yi": yi,
        "vi": vi,
        "weights": np.asarray(result.weights, dtype=float),
        "level": float(getattr(result, "level", 0.95)),
        **{name: getattr(result, name) for name in _META_FIELDS[3:]},
    }


def _z2r_or_identity(transf: str | None):
    if transf is None:
        return lambda x: np.asarray(x, dtype=float)
    if transf == "z2r":
        return np.tanh
    raise DataError(f"transf must be None or 'z2r' (Fisher's z back to r), got {transf!r}.")


def forest_plot(
    result,
    title: str,
    labels: Sequence[str] | None = None,
    transf: str | None = None,
    ax: Axes | None = None,
    xlabel: str | None = None,
) -> Axes:
    """Forest plot of a univariate meta-analysis: one row per study, the pooled diamond, the prediction interval.

    Each study is a square (area proportional to its weight in the pooled estimate) with its
    confidence interval at the result's level; the text columns on the right give the estimate,
    the interval and the weight in percent. The pooled estimate is a diamond spanning its
    confidence interval, the prediction interval (random-effects models) a bar on the row below it.

    Parameters
    ----------
    result : MetaResult
        A fitted model from :func:`masem.meta` (needs ``yi``, ``vi``, ``weights``, ``estimate``,
        ``ci_lower``, ``ci_upper``, ``pi_lower``, ``pi_upper``; ``labels`` and ``level`` when present).
    title : str
        Figure title.
    labels : sequence of str, optional
        Study labels (default: the result's labels, else "Study 1", ...).
    transf : {None, "z2r"}
        ``"z2r"`` back-transforms Fisher's z to the correlation scale (``tanh``) for display.
    ax : Axes, optional
        Where to draw; a new figure sized to the number of studies otherwise.
    xlabel : str, optional
        Horizontal-axis label (default names the scale).

    Returns
    -------
    matplotlib.axes.Axes

    References
    ----------
    Lewis, S., & Clarke, M. (2001). Forest plots: Trying to see the wood and the trees. *BMJ*, 322, 1479-1480.
    """
    data = _meta_arrays(result, "forest_plot")
    back = _z2r_or_identity(transf)
    k = data["yi"].size
    if labels is None:
        labels = getattr(result, "labels", None) or [f"Study {i + 1}" for i in range(k)]
    labels = [str(x) for x in labels]
    if len(labels) != k:
        raise DataError(f"forest_plot: {len(labels)} labels for {k} studies; give one label per study.")
    crit = stats.norm.ppf(0.5 + data["level"] / 2)
    half = crit * np.sqrt(data["vi"])
    est, lo, hi = back(data["yi"]), back(data["yi"] - half), back(data["yi"] + half)
    weights = data["weights"]
    ax = _axes(ax, (8, 0.28 * k + 2.2))
    rows = np.arange(k)
    ax.hlines(rows, lo, hi, color="black", linewidth=1)
    sizes = 15 + 150 * weights / max(float(np.nanmax(weights)), 1e-12)
    ax.scatter(est, rows, s=sizes, marker="s", color="#4C72B0", zorder=3)
    pooled_row = k + 0.8
    p_est, p_lo, p_hi = (float(back(data[name])) for name in ("estimate", "ci_lower", "ci_upper"))
    diamond = Polygon(
        [(p_lo, pooled_row), (p_est, pooled_row - 0.4), (p_hi, pooled_row), (p_est, pooled_row + 0.4)],
        closed=True, color="#C44E52", zorder=4,
    )
    ax.add_patch(diamond)
    level_pct = f"{100 * data['level']:g}%"
    tick_rows = list(rows) + [pooled_row]
    tick_labels = labels + [f"Pooled ({getattr(result, 'method', 'model')})"]
    text_at = transforms.blended_transform_factory(ax.transAxes, ax.transData)
    has_pi = data["pi_lower"] is not None and np.isfinite(data["pi_lower"])
    if has_pi:
        pi_row = pooled_row + 1
        pi_lo, pi_hi = float(back(data["pi_lower"])), float(back(data["pi_upper"]))
        ax.errorbar(p_est, pi_row, xerr=[[p_est - pi_lo], [pi_hi - p_est]], fmt="none", ecolor="#C44E52",
                    elinewidth=1.2, capsize=4)
        tick_rows.append(pi_row)
        tick_labels.append(f"{level_pct} prediction interval")
        ax.text(1.02, pi_row, f"[{pi_lo:.2f}, {pi_hi:.2f}]", transform=text_at, fontsize=8, va="center")
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.axvline(p_est, color="#C44E52", linewidth=0.8, linestyle=":")
    ax.set_yticks(tick_rows, tick_labels)
    ax.set_ylim(tick_rows[-1] + 0.8, -1.2)
    ax.text(1.02, -0.9, f"estimate [{level_pct} CI]", transform=text_at, fontsize=8, fontweight="bold", va="center")
    ax.text(1.32, -0.9, "weight", transform=text_at, fontsize=8, fontweight="bold", va="center")
    for row, e, a, b, w in zip(rows, est, lo, hi, weights):
        ax.text(1.02, row, f"{e:.2f} [{a:.2f}, {b:.2f}]", transform=text_at, fontsize=8, va="center")
        ax.text(1.32, row, f"{w:.1f}%", transform=text_at, fontsize=8, va="center")
    ax.text(1.02, pooled_row, f"{p_est:.2f} [{p_lo:.2f}, {p_hi:.2f}]", transform=text_at, fontsize=8,
            fontweight="bold", va="center")
    ax.text(1.32, pooled_row, "100%", transform=text_at, fontsize=8, fontweight="bold", va="center")
    ax.set_title(title)
    default_xlabel = "correlation r (back-transformed from Fisher's z)" if transf == "z2r" else "effect size (scale of yi)"
    ax.set_xlabel(xlabel or default_xlabel)
    ax.set_ylabel("study (square area = weight)")
    return ax


_SCALES = {
    "yi": ("effect size (scale of yi)", "standard error (scale of yi)"),
    "fisher_z": ("effect size (Fisher's z)", "standard error of Fisher's z"),
}


def funnel_plot(
    result,
    title: str,
    contours: Sequence[float] = (0.90, 0.95, 0.99),
    ax: Axes | None = None,
    xlabel: str | None = None,
    scale: str = "yi",
) -> Axes:
    """Contour-enhanced funnel plot: effect size against its standard error (Peters et al., 2008).

    The standard error runs downward from 0 (most precise studies on top). Shaded bands mark where
    a study would be statistically significant (two-sided test of 0) at the given confidence levels,
    e.g. 0.10 > p > 0.05, 0.05 > p > 0.01 and p < 0.01; the white region (p above the largest
    level, in the legend too) is where results are not significant. Missing studies in the white
    region point to publication bias, in the shaded regions to other causes of asymmetry. The
    pooled estimate is a vertical line with its pseudo-95% limits ``estimate +- 1.96 SE``.

    Given a trim-and-fill result, the observed studies are dots, the imputed ones open circles
    ("imputed (trim-and-fill)"), and the pooled estimate before filling a dotted line beside the
    filled one (Duval & Tweedie, 2000).

    Parameters
    ----------
    result : MetaResult or TrimFillResult
        A fitted model from :func:`masem.meta`, or a :func:`masem.trim_and_fill` result.
    title : str
        Figure title.
    contours : sequence of float
        Confidence levels of the significance contours, each in (0, 1).
    ax : Axes, optional
        Where to draw.
    xlabel : str, optional
        Horizontal-axis label (default: from ``scale``).
    scale : {"yi", "fisher_z"}
        The scale of the effect sizes, for the axis labels; with ``"fisher_z"`` the legend also
        gives the pooled estimate as a correlation (``r = tanh z``).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    DataError
        If ``result`` is not a fitted meta-analysis, ``contours`` are not distinct levels in (0, 1),
        or ``scale`` is unknown.

    References
    ----------
    Peters, J. L., Sutton, A. J., Jones, D. R., Abrams, K. R., & Rushton, L. (2008). Contour-enhanced
    meta-analysis funnel plots help distinguish publication bias from other causes of asymmetry.
    *Journal of Clinical Epidemiology*, 61, 991-996.

    Duval, S., & Tweedie, R. (2000). Trim and fill: A simple funnel-plot-based method of testing and
    adjusting for publication bias in meta-analysis. *Biometrics*, 56, 455-463.
    """
    if scale not in _SCALES:
        raise DataError(f"funnel_plot: scale must be one of {sorted(_SCALES)}, got {scale!r}.")
    imputed, before = 0, None
    if isinstance(result, TrimFillResult):
        imputed, before, result = result.k0, float(result.observed.estimate), result.result
    data = _meta_arrays(result, "funnel_plot")
    levels = sorted(float(c) for c in contours)
    if not levels or any(not 0 < c < 1 for c in levels) or len(set(levels)) != len(levels):
        raise DataError(f"funnel_plot: contours must be distinct confidence levels in (0, 1), got {list(contours)!r}.")
    sei = np.sqrt(data["vi"])
    est = float(data["estimate"])
    ax = _axes(ax, (8, 5))
    se_max = float(sei.max()) * 1.08
    se_grid = np.linspace(0, se_max, 100)
    z = stats.norm.ppf(0.5 + np.array(levels) / 2)
    pseudo = stats.norm.ppf(0.975)
    span = max(np.abs(data["yi"]).max(), abs(est) + pseudo * se_max, z[-1] * se_max) * 1.05
    edges = list(z) + [np.inf]
    shades = np.linspace(0.55, 0.85, len(levels))
    alphas = [1 - c for c in levels]
    ax.add_patch(Rectangle((0, 0), 0, 0, facecolor="white", edgecolor="grey", linewidth=0.8,
                           label=f"p > {alphas[0]:g} (not significant)"))  # legend entry for the white region
    for j, (z_in, z_out) in enumerate(zip(edges[:-1], edges[1:])):
        outer = np.minimum(z_out * se_grid, span) if np.isfinite(z_out) else np.full_like(se_grid, span)
        inner = np.minimum(z_in * se_grid, span)
        p_hi = f"{alphas[j]:g}"
        label = f"p < {p_hi}" if j == len(levels) - 1 else f"{alphas[j + 1]:g} < p < {p_hi}"
        colour = str(shades[j])
        ax.fill_betweenx(se_grid, inner, outer, color=colour, linewidth=0, label=label)
        ax.fill_betweenx(se_grid, -outer, -inner, color=colour, linewidth=0)

    def value(x: float) -> str:
        return f"z = {x:.3f} (r = {np.tanh(x):.3f})" if scale == "fisher_z" else f"{x:.3f}"

    ax.plot(est - pseudo * se_grid, se_grid, color="black", linestyle="--", linewidth=0.8, label="pseudo 95% limits")
    ax.plot(est + pseudo * se_grid, se_grid, color="black", linestyle="--", linewidth=0.8)
    after = " after trim-and-fill" if before is not None else ""
    ax.axvline(est, color="#C44E52", linewidth=1.2, label=f"pooled estimate{after}: {value(est)}")
    if before is not None:
        ax.axvline(before, color="#C44E52", linewidth=1.2, linestyle=":",
                   label=f"before trim-and-fill: {value(before)}")
    k_observed = data["yi"].size - imputed
    ax.scatter(data["yi"][:k_observed], sei[:k_observed], s=16, color="black", zorder=3, label="study")
    if imputed:
        ax.scatter(data["yi"][k_observed:], sei[k_observed:], s=24, facecolors="white", edgecolors="black",
                   linewidths=1, zorder=3, label="imputed (trim-and-fill)")
    ax.set_xlim(-span, span)
    ax.set_ylim(se_max, 0)
    ax.set_title(title)
    ax.set_xlabel(xlabel or _SCALES[scale][0])
    ax.set_ylabel(_SCALES[scale][1])
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return ax


def paths_by_group(
    result,
    title: str,
    ops: Sequence[str] = ("~",),
    xlabel: str = "standardized path coefficient (95% Wald CI)",
    ax: Axes | None = None,
) -> Axes:
    """Dot-and-whisker plot of a multi-group model: each path's estimate and 95% CI, one colour per group.

    Parameters
    ----------
    result : MultigroupTSSEM2Result or DataFrame
        A :func:`masem.tssem2_multigroup` fit, or its ``inspect()`` table (columns ``group``,
        ``lval``, ``op``, ``rval``, ``Estimate``, ``ci.lower``, ``ci.upper``).
    title : str
        Figure title.
    ops : sequence of str
        Which rows to draw: ``"~"`` (paths and loadings, default), ``"~~"`` (covariances),
        ``":="`` (definitions).
    xlabel : str
        Horizontal-axis label, with its units.
    ax : Axes, optional
        Where to draw; a new figure sized to the number of paths otherwise.

    Returns
    -------
    matplotlib.axes.Axes
        Paths are labelled ``cause → effect`` (``a ↔ b`` for covariances); the groups are side by
        side within each row, in the order of the fit; a parameter held equal across groups shows
        the same dot in every colour.
    """
    table = result.inspect() if hasattr(result, "inspect") else result
    if not isinstance(table, pd.DataFrame):
        raise DataError(
            f"paths_by_group needs a tssem2_multigroup() result or its inspect() table, got {type(result).__name__}."
        )
    needed = {"group", "lval", "op", "rval", "Estimate", "ci.lower", "ci.upper"}
    _require_columns(table, needed, "paths_by_group: the table")
    unknown = [op for op in ops if op not in ("~", "~~", ":=")]
    if unknown:
        raise DataError(f"paths_by_group: ops must be among '~', '~~', ':=', got {unknown}.")
    rows = table[table["op"].isin(list(ops))].copy()
    if rows.empty:
        raise DataError(f"paths_by_group: the table has no rows with op in {list(ops)}.")
    arrow = {"~": lambda r: f"{r.rval} → {r.lval}", "~~": lambda r: f"{r.lval} ↔ {r.rval}", ":=": lambda r: r.lval}
    rows["path"] = [arrow[r.op](r) for r in rows.itertuples()]
    paths = list(dict.fromkeys(rows["path"]))
    groups = list(dict.fromkeys(rows["group"]))
    ax = _axes(ax, (7.5, 0.5 * len(paths) + 1.6))
    colours = sns.color_palette("colorblind", len(groups))
    step = 0.7 / max(len(groups), 1)
    markers = "osD^v<>"
    for g, (group, colour) in enumerate(zip(groups, colours)):
        sub = rows[rows["group"] == group].set_index("path").reindex(paths)
        y = np.arange(len(paths)) + (g - (len(groups) - 1) / 2) * step
        ax.errorbar(
            sub["Estimate"], y,
            xerr=[sub["Estimate"] - sub["ci.lower"], sub["ci.upper"] - sub["Estimate"]],
            fmt=markers[g % len(markers)], color=colour, capsize=3, markersize=5, label=str(group),
        )
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(np.arange(len(paths)), paths)
    ax.set_ylim(len(paths) - 0.5, -0.5)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("path (cause → effect)" if list(ops) == ["~"] else "parameter")
    ax.legend(frameon=False, title="group", loc="best")
    return ax
