"""Figures of a one-stage MASEM: a moderated path against its moderator."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from masem.errors import DataError
from masem.osmasem import OSMASEMResult
from masem.plots._base import _axes


def moderated_path(
    fit: OSMASEMResult,
    parameter: str,
    moderator: str,
    truth: tuple[float, float] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
) -> Axes:
    """A moderated path (or covariance) of an OSMASEM fit against its moderator, with its band.

    Draws a + b x over the range of the studies' moderator values, its pointwise Wald band at the
    fit's level (:meth:`OSMASEMResult.conditional`), a rug of the studies' values along the
    bottom, and, for simulated data, the true line (dashed).

    Parameters
    ----------
    fit : OSMASEMResult
        A fit with ``moderator`` among its moderators.
    parameter : str
        The moderated parameter (label or ``XonY`` name).
    moderator : str
        The moderator on the x axis.
    truth : (float, float), optional
        The true value at moderator 0 and the true slope, drawn dashed (simulated data only).
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.
    title, xlabel, ylabel : str, optional
        Default: the parameter and moderator names.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import masem
    >>> from masem import plots
    >>> ex = masem.example_data("Nohe15A1")
    >>> lag = ex.moderators[["Lag"]].astype(float)
    >>> data = masem.cor_data(ex.matrices, ex.n, moderators=(lag - lag.mean()) / lag.std())
    >>> model = "W2 ~ a*W1 + S1\\nS2 ~ W1 + S1\\nW2 ~~ S2\\nW1 ~~ 1*W1\\nS1 ~~ 1*S1\\nW1 ~~ S1"
    >>> fit = masem.osmasem(data, model, moderators="Lag", moderate=["a"])
    >>> ax = plots.moderated_path(fit, "a", "Lag", xlabel="time lag (SD from the mean)")
    >>> ax.get_xlabel()
    'time lag (SD from the mean)'
    """
    if not isinstance(fit, OSMASEMResult):
        raise DataError(f"fit must be an osmasem() result, got {type(fit).__name__}")
    observed = fit.per_study()[moderator].to_numpy(dtype=float)
    grid = np.linspace(observed.min(), observed.max(), 101)
    line = fit.conditional(parameter, moderator, grid)
    ax = _axes(ax, (6.0, 4.0))
    ax.fill_between(
        grid,
        line["ci_lower"],
        line["ci_upper"],
        color="tab:blue",
        alpha=0.2,
        label=f"{fit.level:.0%} confidence band",
    )
    ax.plot(grid, line["estimate"], color="tab:blue", label="estimate")
    if truth is not None:
        ax.plot(
            grid, truth[0] + truth[1] * grid, color="black", linestyle="--", label="simulated truth"
        )
    bottom = ax.get_ylim()[0]
    # the studies' moderator values as a rug (the caption explains it, the legend does not)
    ax.plot(observed, np.full(observed.size, bottom), "|", color="grey", markersize=10)
    ax.set_xlabel(xlabel or moderator)
    ax.set_ylabel(ylabel or parameter)
    ax.set_title(title or f"{parameter} by {moderator}")
    ax.legend(frameon=False, fontsize="small")
    return ax
