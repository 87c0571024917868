"""Forest and funnel plots of a univariate meta-analysis (``masem.plots.forest_plot`` / ``funnel_plot``).

Questions answered:

- test_forest_plot_rows_diamond_and_weights: does the forest plot carry a title and labelled axes,
  one row per study (square area growing with weight), the pooled diamond spanning the CI, the
  prediction-interval row, and the weight column?
- test_forest_plot_back_transforms_and_fixed_effects: does transf="z2r" put every x value on the
  r scale, and does a fixed-effects fit (no prediction interval) drop that row?
- test_funnel_plot_contours_and_points: is the funnel contour-enhanced (two shaded bands per
  level), with the studies at (yi, sei), the standard-error axis inverted, the pooled line and the
  pseudo-95% limits?
- test_funnel_plot_fisher_z_labels: does scale="fisher_z" name the axes and give the pooled
  estimate on both scales (z and r = tanh z)?
- test_funnel_plot_trim_and_fill_marks_imputed_studies: given a trim-and-fill result, are the k0
  imputed studies open circles at their (yi, sei), distinct from the observed dots, with the
  estimates before and after filling?
- test_bad_input: do malformed results, labels, transformations, contour levels and scales raise DataError?
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.patches import Polygon

from masem import DataError, plots
from masem.meta.bias import trim_and_fill
from masem.meta.univariate import meta

# These tests draw many small data sets, some homogeneous on purpose, so tau2 often lands on 0; the
# ConvergenceWarning that says so is checked in test_stress.py, not here.
pytestmark = pytest.mark.filterwarnings("ignore:.*tau2 is estimated at its lower bound:masem.errors.ConvergenceWarning")

Y = np.array([0.12, 0.35, 0.28, 0.05, 0.41, 0.22])
V = np.array([0.010, 0.020, 0.004, 0.015, 0.030, 0.006])
LABELS = ["Ames 2001", "Baker 2004", "Chen 2010", "Diaz 2012", "Evans 2015", "Fox 2019"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_forest_plot_rows_diamond_and_weights() -> None:
    res = meta(Y, V, method="REML", labels=LABELS)
    ax = plots.forest_plot(res, "Empowerment and job satisfaction")
    assert ax.get_title() == "Empowerment and job satisfaction"
    assert ax.get_xlabel() and ax.get_ylabel()
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[:6] == LABELS
    assert ticks[6] == "Pooled (REML)" and "prediction interval" in ticks[7]
    diamonds = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(diamonds) == 1
    xs = diamonds[0].get_xy()[:, 0]
    # The diamond spans the pooled CI; the rounding is float only.
    assert xs.min() == pytest.approx(res.ci_lower, abs=1e-12) and xs.max() == pytest.approx(res.ci_upper, abs=1e-12)
    squares = next(c for c in ax.collections if len(c.get_offsets()) == 6 and len(c.get_sizes()) == 6)
    np.testing.assert_array_equal(np.argsort(squares.get_sizes()), np.argsort(res.weights))
    texts = [t.get_text() for t in ax.texts]
    assert "weight" in texts and "100%" in texts
    assert f"{res.weights[2]:.1f}%" in texts


def test_forest_plot_back_transforms_and_fixed_effects() -> None:
    res = meta(Y, V, method="FE")
    ax = plots.forest_plot(res, "Fixed effects", labels=[f"s{i}" for i in range(6)], transf="z2r")
    assert "correlation" in ax.get_xlabel()
    squares = next(c for c in ax.collections if len(c.get_offsets()) == 6)
    np.testing.assert_allclose(squares.get_offsets()[:, 0], np.tanh(Y), rtol=1e-12)  # tanh, float rounding only
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[-1] == "Pooled (FE)" and not any("prediction" in t for t in ticks)


def test_funnel_plot_contours_and_points() -> None:
    res = meta(Y, V, method="REML")
    ax = plots.funnel_plot(res, "Funnel plot", contours=(0.90, 0.95, 0.99))
    assert ax.get_title() == "Funnel plot"
    assert "effect size" in ax.get_xlabel() and "standard error" in ax.get_ylabel()
    bottom, top = ax.get_ylim()
    assert bottom > top == 0  # standard error grows downward
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 6  # a band either side of 0 for each of the three levels
    points = next(c for c in ax.collections if len(c.get_offsets()) == 6)
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([Y, np.sqrt(V)]), rtol=1e-12)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "p < 0.01" in legend and "0.05 < p < 0.1" in legend and "pseudo 95% limits" in legend
    assert any(t.startswith("pooled estimate") for t in legend)
    assert "p > 0.1 (not significant)" in legend  # the white region has a legend entry too
    assert plots.funnel_plot(res, "One contour", contours=[0.95]).get_title() == "One contour"


def test_funnel_plot_fisher_z_labels() -> None:
    res = meta(Y, V, method="REML")
    ax = plots.funnel_plot(res, "z", scale="fisher_z")
    assert ax.get_xlabel() == "effect size (Fisher's z)" and ax.get_ylabel() == "standard error of Fisher's z"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"pooled estimate: z = {res.estimate:.3f} (r = {np.tanh(res.estimate):.3f})" in legend


def test_funnel_plot_trim_and_fill_marks_imputed_studies() -> None:
    # Small studies with large effects only: trim-and-fill imputes studies on the left.
    yi = np.array([0.30, 0.32, 0.28, 0.45, 0.50, 0.55, 0.60, 0.31, 0.29, 0.65])
    vi = np.array([0.002, 0.003, 0.002, 0.02, 0.025, 0.03, 0.04, 0.004, 0.003, 0.05])
    filled = trim_and_fill(meta(yi, vi, method="REML"))
    assert filled.k0 > 0
    ax = plots.funnel_plot(filled, "filled", scale="fisher_z")
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert "imputed (trim-and-fill)" in texts and "study" in texts
    observed = next(c for c in ax.collections if c.get_label() == "study")
    imputed = next(c for c in ax.collections if c.get_label() == "imputed (trim-and-fill)")
    np.testing.assert_allclose(observed.get_offsets(), np.column_stack([yi, np.sqrt(vi)]), rtol=1e-12)
    np.testing.assert_allclose(imputed.get_offsets(), filled.filled[["yi", "sei"]].to_numpy(), rtol=1e-12)
    assert np.allclose(imputed.get_facecolors()[:, :3], 1.0)  # open circles: white inside
    assert any(t.startswith(f"pooled estimate after trim-and-fill: z = {filled.estimate:.3f}") for t in texts)
    assert any(t.startswith(f"before trim-and-fill: z = {filled.observed.estimate:.3f}") for t in texts)


def test_bad_input() -> None:
    res = meta(Y, V, method="REML")
    with pytest.raises(DataError, match="needs a fitted univariate meta-analysis"):
        plots.forest_plot({"yi": Y}, "t")
    with pytest.raises(DataError, match="needs a fitted univariate meta-analysis"):
        plots.funnel_plot(object(), "t")
    with pytest.raises(DataError, match="2 labels for 6 studies"):
        plots.forest_plot(res, "t", labels=["a", "b"])
    with pytest.raises(DataError, match="transf must be None or 'z2r'"):
        plots.forest_plot(res, "t", transf="exp")
    for contours in ([], [0.95, 1.2], [0.9, 0.9]):
        with pytest.raises(DataError, match="contours must be distinct confidence levels"):
            plots.funnel_plot(res, "t", contours=contours)
    with pytest.raises(DataError, match="scale must be one of"):
        plots.funnel_plot(res, "t", scale="log odds")
