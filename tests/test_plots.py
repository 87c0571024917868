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
