"""Figures: does every plot carry a title and labelled axes, refuse malformed input clearly, and
save byte-identical PNGs on reruns (so committed figures do not churn)? Are figures and diagrams
saved for print (PNG at 300 dpi with its resolution tag, SVG and PDF on request)? Do path
diagrams grey out non-significant arrows, draw covariances as dashed arcs (residual covariances
of dependent variables on their side), explain their codes, key exactly the styles drawn in one
wording and list what they leave out, and keep every estimate off the other arrows (also when columns are fixed by hand)? Are
log-scaled sample-size axes labelled with plain numbers?"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import json
import re

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


def test_sample_size_histogram_ticks_are_plain_numbers() -> None:
    """Log-axis ticks read 20, 50, 100, ... (no 2x10^1 that collide), count ticks are whole numbers."""
    fig, ax = plt.subplots()
    plots.sample_size_histogram([17, 25, 33, 46, 46, 60, 90, 173], "Teams", ax=ax, unit="teams")
    fig.canvas.draw()
    low, high = ax.get_xlim()
    shown = [t for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
    assert [t.get_text() for t in shown] == ["20", "50", "100"]
    assert not [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]
    assert all(float(y).is_integer() for y in ax.get_yticks())
    plt.close(fig)


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


def test_figures_are_saved_for_print(tmp_path) -> None:
    """300 dpi PNGs (the resolution tag included) and vector copies on request."""
    import struct

    import masem

    def dpi_of(png: bytes) -> float:
        at = png.index(b"pHYs")
        per_metre, _, unit = struct.unpack(">IIB", png[at + 4: at + 13])
        assert unit == 1 and png.count(b"pHYs") == 1  # pixels per metre, one chunk
        return per_metre * 0.0254

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.set_title("t")
    plots.save_figure(fig, tmp_path / "f.png", formats=("svg", "pdf"))
    plt.close(fig)
    assert dpi_of((tmp_path / "f.png").read_bytes()) == pytest.approx(300, abs=0.01)  # 11811 px/m
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-" and b"<svg" in (tmp_path / "f.svg").read_bytes()
    ex = masem.example_data("Becker92")
    fit = masem.tssem2(masem.tssem1(ex.matrices, ex.n), "Math ~ Spatial + Verbal")
    diagram = plots.path_diagram(fit)
    png = plots.save_diagram(diagram, tmp_path / "d.png", formats=("svg", "pdf", "gv")).read_bytes()
    assert dpi_of(png) == pytest.approx(300, abs=0.01)
    default = struct.unpack(">I", diagram.pipe(format="png")[16:20])[0]  # dot's PNGs: 96 dpi
    # 2%: the drawing is laid out in points and rounded to whole pixels at each resolution.
    assert struct.unpack(">I", png[16:20])[0] == pytest.approx(default * 300 / 96, rel=0.02)
    assert (tmp_path / "d.gv").read_text(encoding="utf-8") == diagram.source
    assert (tmp_path / "d.pdf").read_bytes()[:5] == b"%PDF-"


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
    assert re.search(r"X -> Y \[[^\]]*>0\.50<", source)
    assert "F -> x1" in source  # loadings run from the factor to its indicator
    # The covariance of two independent variables: a dashed arc on their (west) side, drawn as
    # two single-headed edges on one route (graphviz 2.4x draws one head only with dir=both).
    there, back = _edge(source, "X", "F"), _edge(source, "F", "X")
    assert "style=dashed" in there and "tailport=w" in there and "headport=w" in back
    assert "xlabel=" in there and "label" not in back
    assert "covariances of independent variables" in source
    assert "a*b" not in source  # defined parameters are not arrows


def test_path_diagram_draws_residual_covariances_and_says_what_is_left_out() -> None:
    from types import SimpleNamespace

    table = pd.DataFrame(
        {"lval": ["M", "Y1", "Y2", "Y1", "X"], "op": ["~", "~", "~", "~~", "~~"],
         "rval": ["X", "M", "M", "Y2", "X"], "Estimate": [0.5, 0.4, 0.3, 0.1, 1.0],
         "p-value": [0.001, 0.001, 0.2, 0.02, float("nan")]}
    )
    result = SimpleNamespace(inspect=lambda: table, variables=("X", "M", "Y1", "Y2"), latent=())
    source = plots.path_diagram(result, title="T").source
    arc = _edge(source, "Y1", "Y2")  # residual covariance: on the east side of the outcomes
    assert "tailport=e" in arc and "headport=e" in arc and "style=dashed" in arc
    caption = source[source.index("label=<"):]
    assert "Thick dark arrows: p &lt; .05; thin grey arrows: p ≥ .05;" in caption
    assert "dashed two-headed arrows: covariances of the residuals of dependent variables." in caption
    assert "bold" not in caption and "not drawn" not in caption  # one wording, nothing left out
    assert "X -> X" not in source  # variances are not arrows
    hidden = plots.path_diagram(result, show_covariances=False, omit_above_p=0.05).source
    assert "Not drawn" not in hidden and "not drawn: estimates with p ≥ .05, 1 covariance." in hidden
    assert "Y1 -> Y2" not in hidden and "thin grey" not in hidden


def _edge(source: str, tail: str, head: str, invisible: bool = False) -> str:
    """The attribute list of the (visible, unless ``invisible``) edge tail -> head in a graphviz source."""
    found = [attrs for attrs in re.findall(rf"\b{tail} -> {head} \[(.*)\]", source)
             if ("style=invis" in attrs) == invisible]
    assert len(found) == 1, f"expected one edge {tail} -> {head}, found {found}"
    return found[0]


def test_path_diagram_greys_non_significant_arrows_and_explains_codes() -> None:
    from types import SimpleNamespace

    table = pd.DataFrame(
        {"lval": ["M", "Y", "Y"], "op": ["~", "~", "~"], "rval": ["X", "M", "X"],
         "Estimate": [0.5, 0.4, -0.003], "p-value": [0.001, 0.01, 0.8]}
    )
    result = SimpleNamespace(inspect=lambda: table, variables=("X", "M", "Y"), latent=())
    names = {"X": "Leadership", "M": "Empowerment & motivation", "Y": "Job satisfaction"}
    source = plots.path_diagram(result, title="Model <1>", names=names).source
    significant, grey = _edge(source, "X", "M"), _edge(source, "X", "Y")
    assert "penwidth=2" in significant and "color=black" in significant
    assert "penwidth=1" in grey and "color=grey60" in grey
    # -0.003 rounds to zero: shown as 0.00, not -0.00.
    assert ">0.00<" in grey and "-0.00" not in source
    # The caption: the title, one code = name entry per box (HTML-escaped), and the arrow key.
    assert "Model &lt;1&gt;" in source
    for code, name in names.items():
        assert f"{code} = {name.replace('&', '&amp;')}" in source
    assert "Thick dark arrows: p &lt; .05; thin grey arrows: p ≥ .05." in source
    # Only significant arrows drawn: no key to grey arrows, no names without a mapping.
    plain = plots.path_diagram(result, omit_above_p=0.05).source
    assert "thin grey" not in plain and " = " not in plain and "not drawn: estimates with p ≥ .05" in plain
    with pytest.raises(DataError, match="names must map"):
        plots.path_diagram(result, names=["X", "M"])


def _label_hits(dot) -> list[tuple[str, str]]:
    """(labelled edge, other edge) pairs where the other edge's drawn curve enters the label's box.

    Lays the graph out with graphviz (JSON output), samples every edge's Bezier curve and tests
    the points against each edge label's box (label position +- half the box of a 4-character
    number at 10 pt: 28 x 14 points).
    """
    layout = json.loads(dot.pipe(format="json"))
    names = {node["_gvid"]: node["name"] for node in layout["objects"]}
    edges = []
    for edge in layout["edges"]:
        points = np.array([[float(v) for v in tok.split(",")] for tok in edge["pos"].split()
                           if not tok.startswith(("e,", "s,"))])
        t = np.linspace(0, 1, 40)[:, None]
        curve = np.vstack([(1 - t) ** 3 * points[i] + 3 * (1 - t) ** 2 * t * points[i + 1]
                           + 3 * (1 - t) * t ** 2 * points[i + 2] + t ** 3 * points[i + 3]
                           for i in range(0, len(points) - 3, 3)])
        label = [float(v) for v in edge["lp"].split(",")] if "lp" in edge else None
        edges.append((f"{names[edge['tail']]}->{names[edge['head']]}", curve, label))
    return [(name, other) for name, _, label in edges if label is not None
            for other, curve, _ in edges if other != name
            and np.any((np.abs(curve[:, 0] - label[0]) < 14) & (np.abs(curve[:, 1] - label[1]) < 7))]


def test_path_diagram_labels_stay_off_other_arrows() -> None:
    """A mediation model with direct paths (the shape of notebook 05): no label sits on another arrow."""
    from types import SimpleNamespace

    predictors, outcomes = ["A1", "A2", "A3", "A4", "A5"], ["O1", "O2", "O3", "O4"]
    rows = [("M", p, 0.2) for p in predictors] + [(o, "M", 0.4) for o in outcomes]
    rows += [("O1", "A1", 0.1), ("O1", "A3", 0.1), ("O1", "A4", 0.05), ("O2", "A1", 0.17), ("O4", "A1", 0.12),
             ("O4", "A2", 0.06), ("Y", "O4", 0.38), ("Z", "O1", -0.24), ("Z", "O2", -0.28)]
    table = pd.DataFrame(rows, columns=["lval", "rval", "Estimate"]).assign(op="~", **{"p-value": 0.001})
    result = SimpleNamespace(inspect=lambda: table, variables=(*predictors, "M", *outcomes, "Y", "Z"), latent=())
    assert _label_hits(plots.path_diagram(result)) == []


def test_interval_plot_one_series_per_method() -> None:
    table = pd.DataFrame(
        {
            "parameter": ["a", "b", "a", "b"],
            "method": ["Wald", "Wald", "profile", "profile"],
            "estimate": [0.2, -0.1, 0.2, -0.1],
            "ci_lower": [0.1, -0.2, 0.12, -0.21],
            "ci_upper": [0.3, 0.0, 0.31, 0.01],
        }
    )
    ax = plots.interval_plot(table, "Indirect effects")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert len(ax.get_legend().get_texts()) == 2
    plt.close("all")
    with pytest.raises(DataError, match="lacks the column"):
        plots.interval_plot(table.drop(columns="ci_upper"), "t")
    # The columns lower / upper of earlier versions still work for one release, with a warning.
    with pytest.warns(DeprecationWarning, match="ci_lower / ci_upper"):
        ax = plots.interval_plot(table.rename(columns={"ci_lower": "lower", "ci_upper": "upper"}), "t")
    assert len(ax.get_legend().get_texts()) == 2
    plt.close("all")


def test_path_diagram_can_omit_non_significant_paths() -> None:
    from types import SimpleNamespace

    table = pd.DataFrame(
        {"lval": ["Y", "Y"], "op": ["~", "~"], "rval": ["X", "Z"], "Estimate": [0.5, 0.01], "p-value": [0.001, 0.7]}
    )
    result = SimpleNamespace(inspect=lambda: table, variables=("Y", "X", "Z"), latent=())
    source = plots.path_diagram(result, omit_above_p=0.05).source
    assert "X -> Y" in source and "Z -> Y" not in source


def test_factor_diagram_greys_non_significant_arrows_and_names_codes() -> None:
    from types import SimpleNamespace

    from masem.plots.structure import factor_diagram

    table = pd.DataFrame(
        {"lval": ["a", "b", "c", "Y", "Z", "Y", "c"], "op": ["~", "~", "~", "~", "~", "~~", "~~"],
         "rval": ["F", "F", "F", "F", "F", "Z", "Z"], "Estimate": [0.7, 0.6, 0.5, 0.4, 0.02, 0.1, 0.05],
         "p-value": [0.001, 0.001, 0.001, 0.001, 0.6, 0.01, 0.3]}
    )
    result = SimpleNamespace(inspect=lambda: table, variables=("a", "b", "c", "Y", "Z"), latent=("F",))
    source = factor_diagram(result, ["a", "b", "c"], title="T", names={"F": "Factor", "Y": "Outcome"}).source
    assert "penwidth=2" in _edge(source, "a", "F") and "color=grey60" in _edge(source, "F", "Z")
    assert "F = Factor" in source and "Y = Outcome" in source and "thin grey arrows: p ≥ .05" in source
    assert "dashed two-headed arrows: covariances of the residuals of dependent variables" in source
    # The indicators keep the model's order from top to bottom (invisible edges a -> b -> c).
    assert _edge(source, "a", "b", invisible=True) and _edge(source, "b", "c", invisible=True)
    # Correlations: within the outcome column drawn on the outside (east ports), across the middle not.
    assert "tailport=e" in _edge(source, "Y", "Z") and "port" not in _edge(source, "c", "Z")


def test_interval_plot_centres_rows_with_fewer_methods() -> None:
    """Row "a" has two of the three methods: its two dots sit symmetrically around the row, not off to one side."""
    table = pd.DataFrame(
        {"parameter": ["a", "a", "b", "b", "b"], "method": ["m1", "m2", "m1", "m2", "m3"],
         "estimate": [0.1, 0.2, 0.3, 0.4, 0.5], "ci_lower": [0.0] * 5, "ci_upper": [0.6] * 5}
    )
    ax = plots.interval_plot(table, "t")
    y = {bars.get_label(): bars.lines[0].get_ydata() for bars in ax.containers}
    assert y["m1"][0] + y["m2"][0] == pytest.approx(0.0)  # row "a" at y = 0; exact arithmetic up to float
    assert y["m1"][1] + y["m3"][1] == pytest.approx(2.0) and y["m2"][1] == pytest.approx(1.0)
    plt.close("all")


def test_precision_by_k_log_axis_has_plain_ticks() -> None:
    table = pd.DataFrame({"k": [3, 8, 19, 45], "se": [0.08, 0.05, 0.03, 0.02]})
    ax = plots.precision_by_k({"REM": table}, "Precision")
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    labels = [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
    # Plain numbers at 1, 2, 5 x 10^k (how many depends on matplotlib's margins, not on us).
    assert {"5", "10", "20"} <= set(labels) and all(t.replace(",", "").isdigit() for t in labels)
    assert ax.get_xscale() == "log"
    plt.close("all")


def test_arrange_columns_fixes_columns_and_order_and_ties_labels() -> None:
    """Does arrange_columns put each column on one rank in the given order, tie labels to their
    arrows, and refuse unknown or repeated names clearly?"""
    from types import SimpleNamespace

    table = pd.DataFrame({"lval": ["M", "M", "Y"], "op": "~", "rval": ["A", "B", "M"],
                          "Estimate": [0.3, 0.2, 0.4], "p-value": 0.001})
    result = SimpleNamespace(inspect=lambda: table, variables=("A", "B", "M", "Y"), latent=())
    drawn = plots.path_diagram(result)
    before = drawn.source
    diagram = plots.arrange_columns(drawn, [["B", "A"], ["M"], ["Y"]])
    assert drawn.source == before  # the diagram given is not changed
    source = diagram.source
    assert source.count("rank=same") == 3
    # the order within a column is kept by an invisible edge from the upper to the lower node
    assert re.search(r"B -> A \[style=invis\]", source)
    assert "decorate=true" in source
    with pytest.raises(DataError, match="not variables of the diagram"):
        plots.arrange_columns(plots.path_diagram(result), [["A", "Q"]])
    with pytest.raises(DataError, match="more than one place"):
        plots.arrange_columns(plots.path_diagram(result), [["A"], ["A", "B"]])
    with pytest.raises(DataError, match="list of columns"):
        plots.arrange_columns(plots.path_diagram(result), "AB")
