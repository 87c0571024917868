"""Figures of a univariate meta-analysis: forest and funnel plots, observed vs corrected
correlations.

Every function draws on a matplotlib ``Axes`` (created when not given) and returns it, with a
title, axis labels and units, so a notebook cell stays one line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import transforms
from matplotlib.axes import Axes
from matplotlib.patches import Polygon, Rectangle
from scipy import stats

from masem.errors import DataError
from masem.meta.bias import TrimFillResult
from masem.plots._base import _axes, _require_columns


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
    ax.scatter(
        table["rho"], y, label="corrected for unreliability (rho)", color="#C44E52", zorder=3
    )
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(y, table["name"])
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel("correlation with psychological empowerment")
    ax.set_ylabel("construct")
    ax.legend(frameon=False)
    return ax


_META_FIELDS = ("yi", "vi", "weights", "estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper")


def _meta_arrays(result, caller: str) -> dict:
    """The study-level and pooled values a forest or funnel plot needs from a :func:`masem.meta`
    result.
    """
    missing = [name for name in _META_FIELDS if not hasattr(result, name)]
    if missing:
        raise DataError(
            f"{caller} needs a fitted univariate meta-analysis (masem.meta); "
            f"{type(result).__name__} lacks {missing}."
        )
    yi = np.asarray(result.yi, dtype=float)
    vi = np.asarray(result.vi, dtype=float)
    if (
        yi.ndim != 1
        or yi.size == 0
        or yi.shape != vi.shape
        or not (np.all(np.isfinite(yi)) and np.all(vi > 0))
    ):
        raise DataError(
            f"{caller}: the result must hold finite effect sizes yi and positive variances vi, one "
            "per study."
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
    """Forest plot of a univariate meta-analysis: one row per study, the pooled diamond, the
    prediction interval.

    Each study is a square (area proportional to its weight in the pooled estimate) with its
    confidence interval at the result's level; the text columns on the right give the estimate,
    the interval and the weight in percent. The pooled estimate is a diamond spanning its
    confidence interval, the prediction interval (random-effects models) a bar on the row below it.

    Parameters
    ----------
    result : MetaResult
        A fitted model from :func:`masem.meta` (needs ``yi``, ``vi``, ``weights``, ``estimate``,
        ``ci_lower``, ``ci_upper``, ``pi_lower``, ``pi_upper``; ``labels`` and ``level`` when
        present).
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
    Lewis, S., & Clarke, M. (2001). Forest plots: Trying to see the wood and the trees. *BMJ*, 322,
    1479-1480.
    """
    data = _meta_arrays(result, "forest_plot")
    back = _z2r_or_identity(transf)
    k = data["yi"].size
    if labels is None:
        labels = getattr(result, "labels", None) or [f"Study {i + 1}" for i in range(k)]
    labels = [str(x) for x in labels]
    if len(labels) != k:
        raise DataError(
            f"forest_plot: {len(labels)} labels for {k} studies; give one label per study."
        )
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
    _pooled_diamond(ax, p_est, p_lo, p_hi, pooled_row)
    level_pct = f"{100 * data['level']:g}%"
    tick_rows = list(rows) + [pooled_row]
    tick_labels = labels + [f"Pooled ({getattr(result, 'method', 'model')})"]
    text_at = transforms.blended_transform_factory(ax.transAxes, ax.transData)
    has_pi = data["pi_lower"] is not None and np.isfinite(data["pi_lower"])
    if has_pi:
        pi_row = pooled_row + 1
        _prediction_bar(ax, back, data, p_est, pi_row, text_at)
        tick_rows.append(pi_row)
        tick_labels.append(f"{level_pct} prediction interval")
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.axvline(p_est, color="#C44E52", linewidth=0.8, linestyle=":")
    ax.set_yticks(tick_rows, tick_labels)
    ax.set_ylim(tick_rows[-1] + 0.8, -1.2)
    ax.text(
        1.02,
        -0.9,
        f"estimate [{level_pct} CI]",
        transform=text_at,
        fontsize=8,
        fontweight="bold",
        va="center",
    )
    ax.text(1.32, -0.9, "weight", transform=text_at, fontsize=8, fontweight="bold", va="center")
    _forest_columns(ax, text_at, zip(rows, est, lo, hi, weights), (pooled_row, p_est, p_lo, p_hi))
    ax.set_title(title)
    default_xlabel = (
        "correlation r (back-transformed from Fisher's z)"
        if transf == "z2r"
        else "effect size (scale of yi)"
    )
    ax.set_xlabel(xlabel or default_xlabel)
    ax.set_ylabel("study (square area = weight)")
    return ax


def _contours(
    ax: Axes, levels: list[float], z: np.ndarray, se_grid: np.ndarray, span: float
) -> None:
    """The shaded significance bands of a contour-enhanced funnel, widest p last."""
    edges = list(z) + [np.inf]
    shades = np.linspace(0.55, 0.85, len(levels))
    alphas = [1 - c for c in levels]
    ax.add_patch(
        Rectangle(
            (0, 0),
            0,
            0,
            facecolor="white",
            edgecolor="grey",
            linewidth=0.8,
            label=f"p > {alphas[0]:g} (not significant)",
        )
    )  # legend entry for the white region
    for j, (z_in, z_out) in enumerate(zip(edges[:-1], edges[1:])):
        outer = (
            np.minimum(z_out * se_grid, span) if np.isfinite(z_out) else np.full_like(se_grid, span)
        )
        inner = np.minimum(z_in * se_grid, span)
        p_hi = f"{alphas[j]:g}"
        label = f"p < {p_hi}" if j == len(levels) - 1 else f"{alphas[j + 1]:g} < p < {p_hi}"
        colour = str(shades[j])
        ax.fill_betweenx(se_grid, inner, outer, color=colour, linewidth=0, label=label)
        ax.fill_betweenx(se_grid, -outer, -inner, color=colour, linewidth=0)


def _funnel_studies(ax: Axes, yi: np.ndarray, sei: np.ndarray, imputed: int) -> None:
    """The observed studies as dots, those imputed by trim-and-fill (the last) as open circles."""
    k_observed = yi.size - imputed
    ax.scatter(yi[:k_observed], sei[:k_observed], s=16, color="black", zorder=3, label="study")
    if imputed:
        ax.scatter(
            yi[k_observed:],
            sei[k_observed:],
            s=24,
            facecolors="white",
            edgecolors="black",
            linewidths=1,
            zorder=3,
            label="imputed (trim-and-fill)",
        )


def _pooled_diamond(ax: Axes, est: float, lo: float, hi: float, row: float) -> None:
    """The pooled estimate as a diamond spanning its confidence interval."""
    diamond = Polygon(
        [(lo, row), (est, row - 0.4), (hi, row), (est, row + 0.4)],
        closed=True,
        color="#C44E52",
        zorder=4,
    )
    ax.add_patch(diamond)


def _prediction_bar(ax: Axes, back, data: dict, est: float, row: float, text_at) -> None:
    """The prediction interval as a bar below the diamond, its bounds written on the right."""
    pi_lo, pi_hi = float(back(data["pi_lower"])), float(back(data["pi_upper"]))
    ax.errorbar(
        est,
        row,
        xerr=[[est - pi_lo], [pi_hi - est]],
        fmt="none",
        ecolor="#C44E52",
        elinewidth=1.2,
        capsize=4,
    )
    ax.text(1.02, row, f"[{pi_lo:.2f}, {pi_hi:.2f}]", transform=text_at, fontsize=8, va="center")


def _forest_columns(ax: Axes, text_at, studies, pooled: tuple) -> None:
    """The text columns on the right: each study's estimate [CI] and weight, then the pooled row."""
    for row, e, a, b, w in studies:
        ax.text(
            1.02, row, f"{e:.2f} [{a:.2f}, {b:.2f}]", transform=text_at, fontsize=8, va="center"
        )
        ax.text(1.32, row, f"{w:.1f}%", transform=text_at, fontsize=8, va="center")
    row, est, lo, hi = pooled
    bold = {"transform": text_at, "fontsize": 8, "fontweight": "bold", "va": "center"}
    ax.text(1.02, row, f"{est:.2f} [{lo:.2f}, {hi:.2f}]", **bold)
    ax.text(1.32, row, "100%", **bold)


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
    Peters, J. L., Sutton, A. J., Jones, D. R., Abrams, K. R., & Rushton, L. (2008).
    Contour-enhanced
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
        raise DataError(
            "funnel_plot: contours must be distinct confidence levels in (0, 1), got "
            f"{list(contours)!r}."
        )
    sei = np.sqrt(data["vi"])
    est = float(data["estimate"])
    ax = _axes(ax, (8, 5))
    se_max = float(sei.max()) * 1.08
    se_grid = np.linspace(0, se_max, 100)
    z = stats.norm.ppf(0.5 + np.array(levels) / 2)
    pseudo = stats.norm.ppf(0.975)
    span = max(np.abs(data["yi"]).max(), abs(est) + pseudo * se_max, z[-1] * se_max) * 1.05
    _contours(ax, levels, z, se_grid, span)

    def value(x: float) -> str:
        return f"z = {x:.3f} (r = {np.tanh(x):.3f})" if scale == "fisher_z" else f"{x:.3f}"

    ax.plot(
        est - pseudo * se_grid,
        se_grid,
        color="black",
        linestyle="--",
        linewidth=0.8,
        label="pseudo 95% limits",
    )
    ax.plot(est + pseudo * se_grid, se_grid, color="black", linestyle="--", linewidth=0.8)
    after = " after trim-and-fill" if before is not None else ""
    ax.axvline(est, color="#C44E52", linewidth=1.2, label=f"pooled estimate{after}: {value(est)}")
    if before is not None:
        ax.axvline(
            before,
            color="#C44E52",
            linewidth=1.2,
            linestyle=":",
            label=f"before trim-and-fill: {value(before)}",
        )
    _funnel_studies(ax, data["yi"], sei, imputed)
    ax.set_xlim(-span, span)
    ax.set_ylim(se_max, 0)
    ax.set_title(title)
    ax.set_xlabel(xlabel or _SCALES[scale][0])
    ax.set_ylabel(_SCALES[scale][1])
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return ax
