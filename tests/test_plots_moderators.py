"""Figures of study characteristics and meta-regressions (``masem.plots.moderators``).

Questions answered:

- test_histogram_groups_share_bins_and_mark_means: does characteristic_histogram draw one
  histogram per group on the same bin edges, with a dashed line at each group's mean, the mean in
  the legend, a title and labelled axes?
- test_bubble_plot_points_line_band_and_truth: are the studies drawn at (moderator value, yi) with
  areas proportional to 1 / (vi + tau2), is the line intercept + slope x, is the band the
  pointwise 95% Wald interval (hand-computed from the coefficients' covariance), and is the truth
  drawn where given?
- test_bad_input: a meta-regression with other moderators, a truth without its columns, values
  without groups raise DataError.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import masem
from masem import DataError
from masem.plots.moderators import bubble_plot, characteristic_histogram

Y = np.array([0.10, 0.45, 0.12, 0.55, 0.25, 0.30])  # residual heterogeneity: tau2 > 0
V = np.array([0.010, 0.020, 0.010, 0.020, 0.015, 0.012])
X = pd.DataFrame({"contact": [0.1, 0.4, 0.6, 0.9, 0.7, 0.3]})


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_histogram_groups_share_bins_and_mark_means() -> None:
    values = [0.2, 0.3, 0.35, 0.7, 0.8, 0.9]
    groups = ["other", "other", "other", "service", "service", "service"]
    ax = characteristic_histogram(values, groups, "Customer contact", "share of the job (0-1)", bins=5)
    bars = ax.patches
    assert len(bars) == 10  # 5 bins for each of the 2 groups
    lefts = sorted({round(bar.get_x(), 12) for bar in bars})
    np.testing.assert_allclose(lefts, np.histogram_bin_edges(values, bins=5)[:-1], atol=1e-12)
    means = sorted(line.get_xdata()[0] for line in ax.get_lines())
    np.testing.assert_allclose(means, [np.mean(values[:3]), np.mean(values[3:])], atol=1e-12)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["other (mean 0.28)", "service (mean 0.80)"]
    assert ax.get_title() and ax.get_xlabel() == "share of the job (0-1)" and ax.get_ylabel() == "number of studies"


def test_bubble_plot_points_line_band_and_truth() -> None:
    fit = masem.meta_regression(Y, V, X)
    truth = pd.DataFrame({"contact": [0.0, 1.0], "z": [0.05, 0.5]})
    ax = bubble_plot(fit, "contact", "Effect by contact", truth=truth, xlabel="contact share")
    points = ax.collections[0]
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([X["contact"], Y]), atol=1e-12)
    weights = 1 / (V + fit.tau2)
    np.testing.assert_allclose(points.get_sizes(), 400 * weights / weights.max(), rtol=1e-12)
    line, true_line = ax.get_lines()
    b0, b1 = fit.coefficients["estimate"]
    grid = line.get_xdata()
    np.testing.assert_allclose(line.get_ydata(), b0 + b1 * grid, atol=1e-12)
    assert grid.min() == pytest.approx(0.1) and grid.max() == pytest.approx(0.9)
    band = ax.collections[1].get_paths()[0].vertices
    cov = fit.vcov.to_numpy()
    se_at_min = np.sqrt(cov[0, 0] + 2 * 0.1 * cov[0, 1] + 0.1**2 * cov[1, 1])
    lowest = b0 + b1 * 0.1 - 1.959963984540054 * se_at_min
    # The band's vertex at x = 0.1 is the lower Wald bound there (float rounding only).
    assert band[np.isclose(band[:, 0], 0.1)][:, 1].min() == pytest.approx(lowest, abs=1e-12)
    np.testing.assert_allclose(true_line.get_xydata(), truth.to_numpy(), atol=0)
    assert ax.get_xlabel() == "contact share" and "Fisher" in ax.get_ylabel() and ax.get_title()


def test_bad_input() -> None:
    two = masem.meta_regression(Y, V, X.assign(year=[2000, 2005, 2010, 2015, 2020, 2001]))
    with pytest.raises(DataError, match="one moderator"):
        bubble_plot(two, "contact", "t")
    with pytest.raises(DataError, match="one moderator"):
        bubble_plot(masem.meta(Y, V), "contact", "t")
    with pytest.raises(DataError, match="truth needs"):
        bubble_plot(masem.meta_regression(Y, V, X), "contact", "t", truth=pd.DataFrame({"x": [1]}))
    with pytest.raises(DataError, match="one group per value"):
        characteristic_histogram([0.1, 0.2], ["a"], "t", "x")
    with pytest.raises(DataError, match="finite"):
        characteristic_histogram([], [], "t", "x")
