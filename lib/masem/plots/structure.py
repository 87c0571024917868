"""Figures of structural models: path diagrams (graphviz), loadings, paths by group and by level.

The diagram functions return a ``graphviz.Digraph``; the others draw on a matplotlib ``Axes``
(created when not given), set a title, axis labels and units, and return the ``Axes``; save
with :func:`masem.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import graphviz
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from masem.errors import DataError
from masem.plots._base import _axes, _require_columns

__all__ = [
    "conceptual_model",
    "factor_diagram",
    "level_plot",
    "loading_plot",
    "path_diagram",
    "paths_by_group",
]

_INTERVAL_NAMES = {"wald": "Wald", "profile": "profile likelihood"}


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
    dot = graphviz.Digraph(
        "conceptual_model", graph_attr={"rankdir": "LR", "splines": "spline", "nodesep": "0.25"}
    )
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
_NOT_SIGNIFICANT_TEXT = "p ≥ .05"
_NOT_SIGNIFICANT = "grey60"
_CAPTION_WIDTH = 110  # characters per caption line: about the width of a 12-variable diagram


def _edge_label(value: float, decimals: int) -> str:
    """HTML-like graphviz label with a white background, so a label stays legible where a line
    crosses it.
    """
    rounded = round(float(value), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0, so no "-0.00"
    return (
        '<<table border="0" cellborder="0" cellpadding="1" '
        f'bgcolor="white"><tr><td>{rounded:.{decimals}f}'
        "</td></tr></table>>"
    )


def _edge_style(p_value: float, colour: str) -> dict[str, str]:
    """Thick arrow in ``colour`` when p < :data:`SIGNIFICANCE`, thin grey otherwise (labels in the
    same colour).
    """
    if p_value < SIGNIFICANCE:
        return {"color": colour, "fontcolor": colour, "penwidth": "2"}
    return {"color": _NOT_SIGNIFICANT, "fontcolor": "grey40", "penwidth": "1"}


def _wrap(items: Sequence[str], width: int) -> list[str]:
    """Join ``items`` with "; " into lines of at most ``width`` characters (an item is never
    split).
    """
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += f"; {item}"
        else:
            lines.append(item)
    return lines


def _covariance_kinds(table: pd.DataFrame, endogenous: set[str]) -> list[str]:
    """What the drawn ``~~`` arrows between two variables are, in the caption's words."""
    rows = table[(table["op"] == "~~") & (table["lval"] != table["rval"])]
    residual = [a in endogenous and b in endogenous for a, b in zip(rows["lval"], rows["rval"])]
    kinds = []
    if any(residual):
        kinds.append("covariances of the residuals of dependent variables")
    if not all(residual):
        kinds.append("covariances of independent variables")
    return kinds


def _caption(
    title: str,
    codes: Sequence[str],
    names: Mapping[str, str] | None,
    drawn: pd.DataFrame,
    endogenous: set[str],
    not_drawn: Sequence[str] = (),
) -> str:
    """Graph caption: the title, a code = name key, and a key to what is drawn and what is not.

    The key names only the arrow styles that appear (thick dark for p < .05, thin grey for
    p >= .05; dashed two-headed arrows for covariances, saying of which variables) and
    lists what the model holds but the diagram leaves out. Returned as an HTML-like graphviz
    label with left-aligned lines ("" when there is nothing to say).
    """
    if names is not None and not isinstance(names, Mapping):
        raise DataError(
            f"names must map variable codes to readable names (a dict), got {type(names).__name__}"
        )
    lines = [title] if title else []
    if names:
        lines += _wrap(
            [f"{code} = {names[code]}" for code in codes if code in names and names[code] != code],
            _CAPTION_WIDTH,
        )
    key = []
    significant = drawn["p-value"] < SIGNIFICANCE
    if significant.any():
        key.append(f"thick dark arrows: {_SIGNIFICANT_TEXT}")
    if (~significant).any():
        key.append(f"thin grey arrows: {_NOT_SIGNIFICANT_TEXT}")
    kinds = _covariance_kinds(drawn, endogenous)
    if kinds:
        key.append(f"dashed two-headed arrows: {' and '.join(kinds)}")
    if not_drawn:
        key.append(f"not drawn: {', '.join(not_drawn)}")
    if key:
        key[0] = key[0][0].upper() + key[0][1:]
        wrapped = _wrap(key, _CAPTION_WIDTH)
        lines += [line + ";" for line in wrapped[:-1]] + [wrapped[-1] + "."]
    if not lines:
        return ""
    return "<" + "".join(f'{escape(line)}<br align="left"/>' for line in lines) + ">"


def _left_out(table: pd.DataFrame, drawn: pd.DataFrame, omit_above_p: float | None) -> list[str]:
    """What the model holds but the diagram does not draw, in the caption's words."""
    missing = table[~table.index.isin(drawn.index)]
    out = []
    if omit_above_p is not None and (missing["p-value"] >= omit_above_p).any():
        out.append(f"estimates with p ≥ {_p_text(omit_above_p)}")
    covariances = missing[(missing["op"] == "~~") & (missing["p-value"] < (omit_above_p or 2))]
    if len(covariances):
        out.append(f"{len(covariances)} covariance{'s' if len(covariances) > 1 else ''}")
    return out


def _p_text(p: float) -> str:
    return f"{p:.3f}".rstrip("0").lstrip("0") if p < 1 else f"{p:g}"


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
    the same colour); loadings run from the factor (ellipse) to its indicators; covariances
    between two variables (``~~``) are dashed two-headed arrows that curve out on the side of
    their column: those of dependent variables (residual covariances) on the right, those of
    independent variables on the left. Every label sits in a small white box beside its own
    arrow, so crossing lines do not hide it. The caption keys what is drawn and lists what the
    model holds but the diagram leaves out; variances are never drawn.

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
        Leave out estimates whose p-value is at or above this level (the caption says so).
    names : mapping of str to str, optional
        Variable code -> readable name; the caption then lists ``code = name`` for every box drawn.

    Returns
    -------
    graphviz.Digraph
        Render with ``.pipe(format="png")`` (add ``dpi="300"`` to the graph attributes for
        print). With many correlated predictors, ``show_covariances=False`` keeps the diagram
        readable.

    Raises
    ------
    DataError
        If ``names`` is not a mapping.

    Examples
    --------
    >>> import masem
    >>> from masem.plots import path_diagram
    >>> ex = masem.example_data("Becker92")
    >>> fit = masem.tssem2(masem.tssem1(ex.matrices, ex.n), "Math ~ Spatial + Verbal")
    >>> "thick dark arrows" in path_diagram(fit, title="Becker (1992)").source.lower()
    True
    """
    inspected = result.inspect()
    latent = set(result.latent)
    dot = graphviz.Digraph(
        "path_diagram",
        graph_attr={"rankdir": "LR", "splines": "spline", "nodesep": "0.6", "ranksep": "0.8"},
    )
    dot.attr("node", fontname="Helvetica", fontsize="11")
    dot.attr("edge", fontname="Helvetica", fontsize="10")
    for name in result.variables:
        dot.node(name, name, shape="box", style="rounded")
    for name in result.latent:
        dot.node(name, name, shape="ellipse")
    table = inspected[inspected["op"].isin(["~", "~~"]) & (inspected["lval"] != inspected["rval"])]
    drawn = table
    if omit_above_p is not None:
        drawn = drawn[drawn["p-value"] < omit_above_p]
    if not show_covariances:
        drawn = drawn[drawn["op"] == "~"]
    endogenous = set(inspected.loc[inspected["op"] == "~", "lval"])
    for row in drawn.to_dict("records"):
        label = _edge_label(row["Estimate"], decimals)
        if row["op"] == "~":
            style = _edge_style(row["p-value"], "#0B3C5D" if row["rval"] in latent else "black")
            dot.edge(row["rval"], row["lval"], label=label, **style)
        else:
            _covariance_edge(dot, row, label, endogenous)
    caption = _caption(
        title,
        [*result.variables, *result.latent],
        names,
        drawn,
        endogenous,
        _left_out(table, drawn, omit_above_p),
    )
    if caption:
        dot.attr(label=caption, labelloc="b", labeljust="l", fontname="Helvetica", fontsize="12")
    return dot


def _covariance_edge(dot: graphviz.Digraph, row: dict, label: str, endogenous: set[str]) -> None:
    """A dashed two-headed arrow that curves out on the east side of two dependent variables
    (the right-hand column of a left-to-right diagram) or the west side of two independent ones.
    """
    pair = (row["lval"] in endogenous, row["rval"] in endogenous)
    style = {"style": "dashed", "constraint": "false", **_edge_style(row["p-value"], "grey30")}
    if any(pair) and not all(pair):
        dot.edge(row["lval"], row["rval"], dir="both", label=label, **style)
        return
    side = "e" if all(pair) else "w"
    # graphviz 2.4x draws one arrowhead only on a port-to-port arc with dir=both, so the arc is
    # two single-headed edges on the same route; the label is external, so that it does not
    # become a layout node that pulls the arc across the diagram.
    dot.edge(row["lval"], row["rval"], xlabel=label, tailport=side, headport=side, **style)
    dot.edge(row["rval"], row["lval"], tailport=side, headport=side, **style)


def paths_by_group(
    result,
    title: str,
    ops: Sequence[str] = ("~",),
    xlabel: str = "standardized path coefficient (95% Wald CI)",
    ax: Axes | None = None,
) -> Axes:
    """Dot-and-whisker plot of a multi-group model: each path's estimate and 95% CI, one colour per
    group.

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
            "paths_by_group needs a tssem2_multigroup() result or its inspect() table, got "
            f"{type(result).__name__}."
        )
    needed = {"group", "lval", "op", "rval", "Estimate", "ci.lower", "ci.upper"}
    _require_columns(table, needed, "paths_by_group: the table")
    unknown = [op for op in ops if op not in ("~", "~~", ":=")]
    if unknown:
        raise DataError(f"paths_by_group: ops must be among '~', '~~', ':=', got {unknown}.")
    rows = table[table["op"].isin(list(ops))].copy()
    if rows.empty:
        raise DataError(f"paths_by_group: the table has no rows with op in {list(ops)}.")
    arrow = {
        "~": lambda r: f"{r.rval} → {r.lval}",
        "~~": lambda r: f"{r.lval} ↔ {r.rval}",
        ":=": lambda r: r.lval,
    }
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
            sub["Estimate"],
            y,
            xerr=[sub["Estimate"] - sub["ci.lower"], sub["ci.upper"] - sub["Estimate"]],
            fmt=markers[g % len(markers)],
            color=colour,
            capsize=3,
            markersize=5,
            label=str(group),
        )
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(np.arange(len(paths)), paths)
    ax.set_ylim(len(paths) - 0.5, -0.5)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("path (cause → effect)" if list(ops) == ["~"] else "parameter")
    ax.legend(frameon=False, title="group", loc="best")
    return ax


def _columns(dot: graphviz.Digraph, columns: tuple[list[str], ...], latent: list[str]) -> None:
    """Indicators, factors and outcomes as three columns, each in the model's order from the top."""
    for column in columns:
        with dot.subgraph() as same:
            same.attr(rank="same")
            for name in column:
                same.node(
                    name,
                    name,
                    shape="ellipse" if name in latent else "box",
                    style="" if name in latent else "rounded",
                )
            for upper, lower in zip(column, column[1:]):  # keep the order from top to bottom
                same.edge(upper, lower, style="invis")


def _correlation_edge(dot: graphviz.Digraph, row: dict, label: str, left, right, latent) -> None:
    """A dashed two-headed arrow; correlations within a column bulge outwards, away from the
    arrows entering that column.
    """
    ports = {}
    for column, side in ((left, "w"), (right, "e")):
        if row["lval"] in column and row["rval"] in column:
            ports = {"tailport": side, "headport": side}
    # An indicator's correlation with an outcome runs left to right like the paths, so it takes
    # part in the layout (constraint) and finds its own lane below or above the factor. Within a
    # column, a label would become a layout node left of the column and pull the arc across the
    # paths; an external label (placed after the layout) leaves it outside.
    within = bool(ports) or row["lval"] in latent or row["rval"] in latent
    dot.edge(
        row["lval"],
        row["rval"],
        dir="both",
        style="dashed",
        constraint="false" if within else "true",
        **{"xlabel" if ports else "label": label},
        **ports,
        **_edge_style(row["p-value"], "grey30"),
    )


def _require(table: pd.DataFrame, columns: set[str], what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"{what} must be a DataFrame, got {type(table).__name__}")
    missing = columns - set(table.columns)
    if missing:
        raise DataError(f"{what} lacks the column(s) {sorted(missing)}")
    if table.empty:
        raise DataError(f"{what} has no rows: nothing to draw")


def _dodged(
    ax: Axes,
    groups: list,
    categories: list,
    frame: pd.DataFrame,
    key: str,
    y_col: str,
    est: str,
    lower: str,
    upper: str,
    label,
) -> None:
    """One dot-and-whisker series per group, shifted vertically so the groups do not overlap."""
    if frame.duplicated([key, y_col]).any():
        twice = (
            frame.loc[frame.duplicated([key, y_col]), [key, y_col]]
            .drop_duplicates()
            .to_numpy()
            .tolist()
        )
        raise DataError(
            f"the table has more than one row for {twice} ({key}, {y_col}): one row each, please"
        )
    step = 0.7 / max(len(groups), 1)
    for g, group in enumerate(groups):
        rows = frame[frame[key] == group].set_index(y_col).reindex(categories)
        y = np.arange(len(categories)) + (g - (len(groups) - 1) / 2) * step
        ax.errorbar(
            rows[est],
            y,
            xerr=[rows[est] - rows[lower], rows[upper] - rows[est]],
            fmt="o",
            capsize=3,
            markersize=5,
            label=label(group),
        )


def loading_plot(
    table: pd.DataFrame,
    title: str,
    population: Mapping[str, float] | None = None,
    population_label: str = "population value",
    ax: Axes | None = None,
) -> Axes:
    """Standardized loadings with 95% intervals, one row per indicator, one colour per interval
    kind.

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
    _require(
        table,
        {"indicator", "loading", "ci_lower", "ci_upper", "interval"},
        "loading_plot: the table",
    )
    indicators = list(dict.fromkeys(table["indicator"]))
    kinds = list(dict.fromkeys(table["interval"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.6 * len(indicators) + 1.6))
    _dodged(
        ax,
        kinds,
        indicators,
        table,
        "interval",
        "indicator",
        "loading",
        "ci_lower",
        "ci_upper",
        lambda kind: f"estimate, {_INTERVAL_NAMES.get(kind, kind)} 95% interval",
    )
    if population is not None:
        unknown = [v for v in population if v not in indicators]
        if unknown:
            raise DataError(
                f"loading_plot: population values for {unknown}, which are not in the table "
                f"{indicators}"
            )
        y = [indicators.index(v) for v in population]
        ax.scatter(
            list(population.values()),
            y,
            marker="x",
            s=70,
            color="black",
            zorder=4,
            label=population_label,
        )
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
        pooled correlations (``r``, ``r_ci_lower``, ``r_ci_upper``).
    ax : Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    DataError
        If ``value`` is unknown or the table lacks a column or rows.
    """
    columns = {"path": ("estimate", "ci_lower", "ci_upper"), "r": ("r", "r_ci_lower", "r_ci_upper")}
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
    result,
    indicators: Sequence[str],
    title: str = "",
    decimals: int = 2,
    names: Mapping[str, str] | None = None,
) -> graphviz.Digraph:
    """Path diagram of a factor model: indicators on the left, factors in the middle, outcomes on
    the right.

    :func:`masem.plots.path_diagram` draws every variable in one flow from left to right, which
    piles the loadings and the outcome paths of a factor model on top of each other. Here the
    indicators form a column left of their factor, every other observed variable a column on the
    right, so loadings and structural paths point away from the factor on either side. Edges carry
    the standardized estimates, each in a white box beside its arrow; arrows are thick and dark
    when p < .05, thin grey otherwise; residual covariances are dashed two-headed arrows. The
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
        raise DataError(
            "factor_diagram needs a model with a latent factor; use masem.plots.path_diagram"
        )
    if isinstance(indicators, str) or not indicators:
        raise DataError(
            "factor_diagram: indicators must be a non-empty list of variable names, got "
            f"{indicators!r}"
        )
    observed = list(result.variables)
    unknown = [v for v in indicators if v not in observed]
    if unknown:
        raise DataError(
            f"factor_diagram: indicators {unknown} are not observed variables of the model "
            f"{observed}"
        )
    left = [v for v in observed if v in set(indicators)]
    right = [v for v in observed if v not in set(indicators)]
    dot = graphviz.Digraph(
        "factor_diagram",
        graph_attr={
            "rankdir": "LR",
            "nodesep": "0.5",
            "ranksep": "1.1",
            "splines": "spline",
            "forcelabels": "true",
        },
    )
    dot.attr("node", fontname="Helvetica", fontsize="11")
    dot.attr("edge", fontname="Helvetica", fontsize="10")
    _columns(dot, (left, latent, right), latent)
    table = result.inspect()
    table = table[table["op"].isin(["~", "~~"]) & (table["lval"] != table["rval"])]
    for row in table.to_dict("records"):
        label = _edge_label(row["Estimate"], decimals)
        if row["op"] == "~" and row["lval"] in left:
            # Loading: drawn from the indicator back to the factor so the indicator stays on the
            # left.
            dot.edge(
                row["lval"],
                row["rval"],
                label=label,
                dir="back",
                **_edge_style(row["p-value"], "#0B3C5D"),
            )
        elif row["op"] == "~":
            colour = "#0B3C5D" if row["rval"] in latent else "black"
            dot.edge(row["rval"], row["lval"], label=label, **_edge_style(row["p-value"], colour))
        else:
            _correlation_edge(dot, row, label, left, right, latent)
    endogenous = set(table.loc[table["op"] == "~", "lval"])
    caption = _caption(title, [*left, *latent, *right], names, table, endogenous)
    if caption:
        dot.attr(label=caption, labelloc="b", labeljust="l", fontname="Helvetica", fontsize="12")
    return dot
