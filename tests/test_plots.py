"""Figures: does every plot carry a title and labelled axes, refuse malformed input clearly, and
save byte-identical PNGs on reruns (so committed figures do not churn)?"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from masem import DataError, plots


def _counts() -> pd.DataFrame:
    names = ["A", "B", "C"]
    return pd.DataFrame([[5, 2, 1], [2, 4, 3], [1, 3, 6]], index=names, columns=names)


def test_pair_heatmap_labels_and_lower_triangle() -> None:
    ax = plots.pair_heatmap(_counts(), "Samples per pair", "number of samples")
    assert ax.get_title() == "Samples per pair"
    assert ax.get_xlabel() and ax.get_ylabel()
    # Lower triangle with the diagonal: 6 annotated cells of the 9.
    assert len(ax.texts) == 6
    plt.close("all")


def test_pair_heatmap_refuses_unlabelled_or_non_square() -> None:
    with pytest.raises(DataError, match="square"):
        plots.pair_heatmap(pd.DataFrame(np.ones((2, 3))), "t", "c")


def test_sample_size_histogram_marks_median_and_refuses_bad_n() -> None:
    ax = plots.sample_size_histogram([50, 100, 200, 400, 800], "Sizes")
    assert "median = 200" in ax.get_legend().get_texts()[0].get_text()
    assert "log scale" in ax.get_xlabel()
    plt.close("all")
    with pytest.raises(DataError, match="positive"):
        plots.sample_size_histogram([50, 0, 10], "Sizes")


def test_conceptual_model_has_every_edge() -> None:
    dot = plots.conceptual_model({"X1": "x one", "X2": "x two"}, ("M", "mediator"), {"Y": "why"}, title="T")
    source = dot.source
    for edge in ("X1 -> M", "X2 -> M", "M -> Y"):
        assert edge in source


def test_save_figure_is_byte_reproducible(tmp_path) -> None:
    def draw(path):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        ax.set_title("line")
        plots.save_figure(fig, path)
        plt.close(fig)
        return path.read_bytes()

    assert draw(tmp_path / "a" / "one.png") == draw(tmp_path / "two.png")


def test_precision_by_k_draws_one_series_per_method() -> None:
    table = pd.DataFrame({"k": [3, 10, 40], "se": [0.08, 0.04, 0.02]})
    ax = plots.precision_by_k({"REM": table, "FEM": table * 0.5}, "Precision")
    assert len(ax.collections) == 2 and ax.get_title() == "Precision"
    plt.close("all")
    with pytest.raises(DataError, match="lacks the column"):
        plots.precision_by_k({"REM": table.drop(columns="se")}, "Precision")


def test_path_diagram_draws_paths_loadings_and_covariances() -> None:
    from types import SimpleNamespace

    table = pd.DataFrame(
        {
            "lval": ["Y", "x1", "X", "F"],
            "op": ["~", "~", "~~", ":="],
            "rval": ["X", "F", "F", "a*b"],
            "Estimate": [0.5, 0.7, 0.3, 0.1],
            "p-value": [0.001, 0.2, 0.01, 0.5],
        }
    )
    result = SimpleNamespace(inspect=lambda: table, variables=("Y", "X", "x1"), latent=("F",))
    source = plots.path_diagram(result, title="T").source
    assert "X -> Y [label=0.50" in source and "style=bold" in source
    assert "F -> x1" in source  # loadings run from the factor to its indicator
    assert "dir=both" in source  # the covariance
    assert "a*b" not in source  # defined parameters are not arrows


def test_interval_plot_one_series_per_method() -> None:
    table = pd.DataFrame(
        {
            "parameter": ["a", "b", "a", "b"],
            "method": ["Wald", "Wald", "profile", "profile"],
            "estimate": [0.2, -0.1, 0.2, -0.1],
            "lower": [0.1, -0.2, 0.12, -0.21],
            "upper": [0.3, 0.0, 0.31, 0.01],
        }
    )
    ax = plots.interval_plot(table, "Indirect effects")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert len(ax.get_legend().get_texts()) == 2
    plt.close("all")
    with pytest.raises(DataError, match="lacks the column"):
        plots.interval_plot(table.drop(columns="upper"), "t")


def test_path_diagram_can_omit_non_significant_paths() -> None:
    from types import SimpleNamespace

    table = pd.DataFrame(
        {"lval": ["Y", "Y"], "op": ["~", "~"], "rval": ["X", "Z"], "Estimate": [0.5, 0.01], "p-value": [0.001, 0.7]}
    )
    result = SimpleNamespace(inspect=lambda: table, variables=("Y", "X", "Z"), latent=())
    source = plots.path_diagram(result, omit_above_p=0.05).source
    assert "X -> Y" in source and "Z -> Y" not in source
