"""Figures of the robustness checks: leave-one-study-out influence and parameter recovery.

Like :mod:`masem.plots`, every function draws on matplotlib axes (created when not given), sets a
title, axis labels and units, and returns the axes; save with :func:`masem.plots.save_figure`.
The dot-and-whisker plot of analysis variants is :func:`masem.plots.interval_plot` applied to
:meth:`masem.VariantComparison.interval_table`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from masem.errors import DataError
from masem.study.robustness import DFBETAS_CUTOFF, LeaveOneOutResult

__all__ = ["influence_plot", "recovery_plot"]

_Z975 = 1.959964


def influence_plot(
    result: LeaveOneOutResult,
    parameter: str,
    title: str,
    label_top: int = 3,
    ax: Axes | None = None,
) -> Axes:
    """The estimate of ``parameter`` without each study, against the full-data estimate and its 95%
    CI.

    Studies are in database order along the horizontal axis; the ``label_top`` studies with the
    largest absolute influence are named. Points outside the shaded band would change the
    estimate by more than its uncertainty.

    Parameters
    ----------
    result : LeaveOneOutResult or DataFrame
        From :func:`masem.leave_one_out`, or its ``table`` (e.g. read back from a CSV file).
    parameter : str
        A parameter label or ``:=`` name of the model.
    title : str
    label_top : int, default 3
    ax : matplotlib Axes, optional
    """
    if isinstance(result, LeaveOneOutResult):
        table = result.table
    elif isinstance(result, pd.DataFrame):
        needed = {
            "omitted",
            "parameter",
            "estimate",
            "full_estimate",
            "full_se",
            "influence",
            "dfbetas",
        }
        if needed - set(result.columns):
            raise DataError(
                "influence_plot: the table lacks the column(s) "
                f"{sorted(needed - set(result.columns))}"
            )
        table = result
    else:
        raise DataError(
            f"result must be a leave_one_out() result or its table, got {type(result).__name__}."
        )
    rows = table[table["parameter"] == parameter].reset_index(drop=True)
    if rows.empty:
        raise DataError(
            f"unknown parameter {parameter!r}; the model has "
            f"{list(dict.fromkeys(table['parameter']))}."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.8))
    full, se = float(rows["full_estimate"].iloc[0]), float(rows["full_se"].iloc[0])
    x = np.arange(len(rows))
    ax.axhspan(
        full - _Z975 * se,
        full + _Z975 * se,
        color="#4C72B0",
        alpha=0.15,
        label="95% CI, all studies",
    )
    ax.axhline(full, color="#4C72B0", linewidth=1.2, label="estimate, all studies")
    flagged = rows["dfbetas"].abs() > DFBETAS_CUTOFF
    ax.scatter(
        x[~flagged],
        rows.loc[~flagged, "estimate"],
        s=12,
        color="#333333",
        label="without the study",
    )
    if flagged.any():
        ax.scatter(
            x[flagged], rows.loc[flagged, "estimate"], s=24, color="#C44E52", label="|DFBETAS| > 1"
        )
    top = (
        rows["influence"]
        .abs()
        .sort_values(ascending=False, kind="stable")
        .index[: max(label_top, 0)]
    )
    for i in top:
        ax.annotate(
            rows.at[i, "omitted"],
            (x[i], rows.at[i, "estimate"]),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=8,
        )
    ax.set_xlim(-2, len(rows) + 1)
    ax.set_xticks([])
    ax.set_xlabel(f"omitted study ({len(rows)} studies, database order)")
    ax.set_ylabel(f"{parameter} (standardized)")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8, loc="best")
    return ax


def recovery_plot(
    summary: pd.DataFrame,
    parameters: Sequence[str],
    title: str,
    axes: Sequence[Axes] | None = None,
) -> Sequence[Axes]:
    """Bias and 95% interval coverage per parameter and approach, with Monte Carlo error bars.

    Parameters
    ----------
    summary : DataFrame
        :meth:`masem.RecoveryResult.summary` (columns approach, parameter, bias, bias_mcse,
        coverage, coverage_mcse); several results may be concatenated with distinct approach
        names.
    parameters : list of str
        Parameters to show, top to bottom.
    title : str
    axes : two matplotlib Axes, optional
        Left: bias; right: coverage.

    Returns
    -------
    The two Axes. Error bars are +-1.96 Monte Carlo standard errors.
    """
    needed = {"approach", "parameter", "bias", "bias_mcse", "coverage", "coverage_mcse"}
    missing = needed - set(summary.columns)
    if missing:
        raise DataError(f"recovery_plot: the summary lacks the column(s) {sorted(missing)}")
    parameters = list(parameters)
    unknown = [p for p in parameters if p not in set(summary["parameter"])]
    if unknown:
        raise DataError(f"recovery_plot: unknown parameter(s) {unknown}")
    approaches = list(dict.fromkeys(summary["approach"]))
    if axes is None:
        fig, axes = plt.subplots(
            1,
            2,
            figsize=(10, 0.38 * len(parameters) * max(len(approaches), 2) / 2 + 1.8),
            sharey=True,
        )
        fig.suptitle(title)
    else:
        axes[0].figure.suptitle(title)
    step = 0.8 / len(approaches)
    for a, approach in enumerate(approaches):
        rows = summary[summary["approach"] == approach].set_index("parameter").reindex(parameters)
        y = np.arange(len(parameters)) + (a - (len(approaches) - 1) / 2) * step
        axes[0].errorbar(
            rows["bias"],
            y,
            xerr=_Z975 * rows["bias_mcse"],
            fmt="o",
            capsize=2,
            markersize=4,
            label=approach,
        )
        axes[1].errorbar(
            rows["coverage"],
            y,
            xerr=_Z975 * rows["coverage_mcse"],
            fmt="o",
            capsize=2,
            markersize=4,
            label=approach,
        )
    axes[0].axvline(0, color="grey", linewidth=0.8)
    axes[1].axvline(0.95, color="grey", linewidth=0.8)
    axes[0].set_yticks(np.arange(len(parameters)), parameters)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("parameter")
    axes[0].set_xlabel("bias (mean estimate - true value, standardized units)")
    axes[1].set_xlabel("coverage of the 95% interval (proportion)")
    axes[0].set_title("bias")
    axes[1].set_title("interval coverage (line: 0.95)")
    handles, labels = axes[0].get_legend_handles_labels()
    # below both panels, where it hides no point
    axes[0].figure.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=len(approaches),
        frameon=False,
    )
    return axes
