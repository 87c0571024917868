"""APA tables (masem.report.tables): are numbers formatted as the APA manual asks (leading zeros, p-values,
intervals, thousands), do the CSV, Markdown, LaTeX and HTML exports carry exactly the formatted cells
(round trips, escaping; an underscore inside a word stays as typed in Markdown), and do the shortcut
tables show the numbers of the result objects they were built from? A saturated model (df = 0) has
no p-value, RMSEA or TLI (a dash and a sentence in the note, never NaN or "p < .001"); a parameter
table's note explains only the symbols the table shows (no "Var = variance" without a variance)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import masem
from masem.report.tables import MISSING, format_ci, format_number, format_p, latex_escape

# Half a unit in the last printed decimal: the largest difference rounding can make.
HALF_3 = 0.5e-3 + 1e-12
HALF_2 = 0.5e-2 + 1e-12


def _number(text: str) -> float:
    """Parse a formatted cell back ('.412', '-.05', '0.123', '10,665')."""
    return float(text.replace(",", "").replace("−", "-"))


def _ci(text: str) -> tuple[float, float]:
    lo, hi = text.strip("[]").split(", ")
    return _number(lo), _number(hi)


# ----------------------------------------------------------------------------------------------
# Single values
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "decimals", "bounded", "expected"),
    [
        (0.41249, 3, False, "0.412"),
        (0.41249, 3, True, ".412"),
        (-0.05, 2, True, "-.05"),
        (-0.0004, 3, False, "0.000"),  # a value that rounds to zero has no sign
        (-0.0004, 3, True, ".000"),
        (1.0, 2, True, "1.00"),  # a bounded statistic can still be 1
        (-1.5, 1, False, "-1.5"),
        (12.0, 0, False, "12"),
        (float("nan"), 3, False, MISSING),
        (None, 3, True, MISSING),
    ],
)
def test_format_number_follows_the_leading_zero_rule(value, decimals, bounded, expected) -> None:
    assert format_number(value, decimals, bounded) == expected


def test_format_number_refuses_a_bounded_value_above_one_and_bad_decimals() -> None:
    with pytest.raises(masem.DataError, match="exceeds 1"):
        format_number(1.7, bounded=True)
    with pytest.raises(masem.DataError, match="decimals"):
        format_number(0.5, decimals=-1)
    with pytest.raises(masem.DataError, match="decimals"):
        format_number(0.5, decimals=True)


@pytest.mark.parametrize(
    ("p", "expected"),
    [(0.0231, ".023"), (0.05, ".050"), (0.00096, "< .001"), (0.001, ".001"), (1e-300, "< .001"),
     (0.0, "< .001"), (0.99996, "> .999"), (1.0, "> .999"), (0.5, ".500"), (float("nan"), MISSING)],
)
def test_format_p_is_exact_to_three_decimals_and_bounded_below(p, expected) -> None:
    assert format_p(p) == expected


def test_format_p_refuses_values_outside_the_unit_interval() -> None:
    with pytest.raises(masem.DataError, match="p-value"):
        format_p(1.2)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0.0, max_value=1.0, allow_nan=False))
def test_format_p_never_misstates_a_p_value(p: float) -> None:
    text = format_p(p)
    if text == "< .001":
        assert p < 0.001
    elif text == "> .999":
        assert p >= 0.9995
    else:
        assert text.startswith(".") and abs(float("0" + text) - p) <= HALF_3


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1.0, max_value=1.0, allow_nan=False), st.integers(min_value=0, max_value=6))
def test_bounded_numbers_round_trip_within_half_a_unit(x: float, decimals: int) -> None:
    text = format_number(x, decimals, bounded=True)
    assert not re.match(r"^-?0\.", text), "a bounded statistic has no leading zero"
    assert abs(_number(text) - x) <= 0.5 * 10.0**-decimals + 1e-12


def test_format_ci_writes_one_bracketed_cell() -> None:
    assert format_ci(0.3123, 0.3752, 2, bounded=True) == "[.31, .38]"
    assert format_ci(-0.063, -0.039) == "[-0.063, -0.039]"
    assert format_ci(float("nan"), float("nan")) == MISSING


# ----------------------------------------------------------------------------------------------
# The generic builder
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def tidy() -> pd.DataFrame:
    return pd.DataFrame({
        "label": ["PE_JS", "PE_TP", "JS_TP"],
        "estimate": [0.5531, 0.3624, -0.0004],
        "se": [0.011, 0.013, 0.02],
        "p": [1e-12, 0.0231, 0.98],
        "ci_lower": [0.531, 0.337, -0.04],
        "ci_upper": [0.576, 0.387, 0.04],
        "k": [46, 45, 23],
        "N": [18235, 14438, 6109],
    })


def test_apa_table_merges_intervals_and_formats_each_kind_of_column(tidy) -> None:
    before = tidy.copy()
    table = masem.apa_table(tidy, "Pooled correlations", "A note.", bounded=["estimate", "ci_lower", "ci_upper"],
                            decimals=2, number=2)
    pd.testing.assert_frame_equal(tidy, before)  # input not modified
    body = table.body
    assert list(body.columns) == ["Parameter", "Estimate", "SE", "p", "95% CI", "k", "N"]
    assert body.iloc[0].tolist() == ["PE_JS", ".55", "0.01", "< .001", "[.53, .58]", "46", "18,235"]
    assert body.iloc[2].tolist() == ["JS_TP", ".00", "0.02", ".980", "[-.04, .04]", "23", "6,109"]
    assert table.align == ("l", "r", "r", "r", "r", "r", "r")
    assert table.heading == "Table 2. Pooled correlations"
    assert repr(table).startswith("Table 2. Pooled correlations\n") and repr(table).endswith("Note. A note.")


def test_adjusted_and_named_p_values_are_printed_as_p_values(tidy) -> None:
    # Issue 18: a Holm-adjusted p or a PET p printed as 0.00 would read as a tiny effect size.
    frame = tidy.assign(p_holm=[3e-12, 0.0693, 1.0], PET_p=[0.0004, 0.5, 0.012],
                        egger_p_fdr_bh=[0.2, 0.04, 0.9])
    body = masem.apa_table(frame, "Adjusted").body
    assert body["p (Holm)"].tolist() == ["< .001", ".069", "> .999"]
    assert body["PET_p"].tolist() == ["< .001", ".500", ".012"]
    assert body["egger_p (FDR, BH)"].tolist() == [".200", ".040", ".900"]


def test_apa_table_selects_and_renames_columns_and_keeps_a_named_index(tidy) -> None:
    table = masem.apa_table(tidy, "Selected", columns={"label": "Pair", "ci_lower": "95% CI (Wald)",
                                                        "ci_upper": "", "k": "Studies"}, level=0.9)
    assert list(table.body.columns) == ["Pair", "95% CI (Wald)", "Studies"]
    indexed = masem.apa_table(tidy.set_index("label").rename_axis("Relation"), "Indexed", level=0.9)
    assert indexed.body.columns[0] == "Relation" and indexed.body.iloc[1, 0] == "PE_TP"
    assert "90% CI" in indexed.body.columns  # the level shows in the heading


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frame": [1, 2]}, "DataFrame"),
        ({"title": "  "}, "title"),
        ({"columns": ["nope"]}, "not in the frame"),
        ({"bounded": ["nope"]}, "bounded names"),
        ({"decimals": 2.5}, "decimals"),
        ({"decimals": {"se": -1}}, "decimals"),
        ({"level": 95}, "level"),
        ({"number": 0}, "number"),
        ({"bounded": ["se", "N"]}, "exceeds 1"),
    ],
)
def test_apa_table_rejects_bad_arguments_with_a_clear_message(tidy, kwargs, message) -> None:
    arguments = {"frame": tidy, "title": "T"} | kwargs
    with pytest.raises(masem.DataError, match=message):
        masem.apa_table(arguments.pop("frame"), arguments.pop("title"), **arguments)


# ----------------------------------------------------------------------------------------------
# Exports
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def awkward() -> masem.APATable:
    """Cells with every character an export format must escape."""
    frame = pd.DataFrame({
        "relation": ["a|b *c*", 'say "hi", 50% & $5 #1 a_b {x} ~ ^ \\', "T_LEAD → T_EMP"],
        "estimate": [-0.25, 1.5, np.nan],
        "p-value": [0.0004, 0.2, 0.051],
        "ci_lower": [-0.4, 1.1, np.nan],
        "ci_upper": [-0.1, 1.9, np.nan],
        "chi2": [184.8135, 0.0, 3.0],
    })
    return masem.apa_table(frame, "Odd_cells & 100% {escaping}", "τ² and χ² are < 1_000 & more.", number=3)


def test_csv_export_round_trips_the_formatted_cells(awkward, tmp_path) -> None:
    path = masem.export_table(awkward, tmp_path / "sub" / "table.csv")
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, awkward.body, check_dtype=False)
    assert path.read_bytes().count(b"\r") == 0


def _markdown_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
            rows.append([re.sub(r"\\(.)", r"\1", c.strip()) for c in cells])
    return rows


def test_markdown_export_round_trips_and_escapes_pipes_and_emphasis(awkward, tmp_path) -> None:
    text = masem.export_table(awkward, tmp_path / "table.md").read_text(encoding="utf-8")
    rows = _markdown_rows(text)
    assert rows[0] == list(awkward.body.columns)
    assert rows[1] == [":" + "-" * (len(c) - 1) if a == "l" else "-" * (len(c) - 1) + ":"
                       for c, a in zip(rows[1], awkward.align)]  # left / right alignment markers
    assert rows[2:] == awkward.body.values.tolist()
    assert "a\\|b \\*c\\*" in text  # a pipe would split the cell, asterisks would turn italic
    # An underscore inside a word cannot start emphasis (CommonMark), so it stays as typed.
    assert text.startswith("**Table 3**\n\n*Odd_cells & 100% {escaping}*\n")
    assert "\n*Note.* τ² and χ² are < 1_000 & more.\n" in text


def test_markdown_escapes_underscores_only_where_they_could_mean_emphasis() -> None:
    table = masem.apa_table(pd.DataFrame({"x": [1.0]}), "model2a_indirect_exact, _a_ and b_")
    assert "*model2a_indirect_exact, \\_a\\_ and b\\_*" in table.to_markdown()


def test_latex_export_escapes_special_characters_and_symbols(awkward, tmp_path) -> None:
    text = masem.export_table(awkward, tmp_path / "table.tex").read_text(encoding="utf-8")
    assert r'say "hi", 50\% \& \$5 \#1 a\_b \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{}' in text
    assert r"T\_LEAD \ensuremath{\rightarrow} T\_EMP" in text
    assert r"\caption{Odd\_cells \& 100\% \{escaping\}}" in text
    assert r"\textit{Note.} \ensuremath{\tau}\textsuperscript{2} and \ensuremath{\chi}\textsuperscript{2} are \textless{} 1\_000 \& more." in text
    assert r"\ensuremath{-}0.250" in text and r"[\ensuremath{-}0.400, \ensuremath{-}0.100]" in text
    assert r"\textless{} .001" in text  # p-values keep APA's "< .001"
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrrrr}"):
        assert rule in text
    body = text.split("\\midrule\n")[1].split("\\bottomrule")[0].strip().splitlines()
    assert len(body) == 3
    for line in body:  # every & left unescaped is a column separator: 5 columns, 4 separators
        assert len(re.findall(r"(?<!\\)&", line)) == 4
    assert masem.report.tables.APATable.to_latex(awkward, label="tab:odd").count(r"\label{tab:odd}") == 1


def test_latex_escape_leaves_hyphens_inside_words_alone() -> None:
    assert latex_escape("EX-01, 1995-2024") == "EX-01, 1995-2024"
    assert latex_escape("-.12") == r"\ensuremath{-}.12"


def test_html_is_escaped_captioned_and_identical_on_every_render(awkward, tmp_path) -> None:
    first = masem.export_table(awkward, tmp_path / "a.html").read_text(encoding="utf-8")
    assert first == awkward.to_html() == awkward._repr_html_()
    assert "&lt; .001" in first and "a|b *c*" in first and "<strong>Table 3</strong>" in first
    assert "<em>Note.</em>" in first
    assert awkward.style.hide(axis="index") is not None  # a Styler a notebook can restyle


def test_export_refuses_unknown_formats_and_plain_frames(awkward, tidy, tmp_path) -> None:
    with pytest.raises(masem.DataError, match="suffix '.xlsx'"):
        masem.export_table(awkward, tmp_path / "t.xlsx")
    with pytest.raises(masem.DataError, match="apa_table"):
        masem.export_table(tidy, tmp_path / "t.csv")


# ----------------------------------------------------------------------------------------------
# Shortcuts: the cells show the numbers of the result objects
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fits():
    rho = np.array([[1.0, 0.4, 0.3], [0.4, 1.0, 0.5], [0.3, 0.5, 1.0]])
    rng = np.random.default_rng(11)
    matrices = []
    for _ in range(8):
        noise = rng.normal(0, 0.03, (3, 3))
        m = rho + (noise + noise.T) / 2
        np.fill_diagonal(m, 1.0)
        matrices.append(m)
    n = [120, 250, 300, 90, 400, 150, 220, 180]
    with masem.collect_notes():
        stage1 = masem.tssem1(matrices, n, method="REM", variables=["X_1", "M", "Y"])
    model = "M ~ a*X_1\nY ~ b*M + X_1\nX_1 ~~ 1*X_1\nab := a*b"
    stage2 = masem.tssem2(stage1, model)
    boot = masem.tssem.indirect(stage2, n_boot=200, seed=3, progress=False)
    return stage1, stage2, boot


def test_apa_stage1_shows_the_pooled_correlations(fits) -> None:
    stage1, _, _ = fits
    table = masem.apa_stage1(stage1, number=1)
    body = table.body
    assert body["Correlation"].tolist() == ["X_1–M", "X_1–Y", "M–Y"]  # names with '_' kept whole
    summary = stage1.summary()
    for cell, value in zip(body["r"], summary["estimate"]):
        assert cell.startswith((".", "-.")) and abs(_number(cell) - value) <= HALF_3
    for cell, lo, hi in zip(body["95% CI"], summary["ci_lower"], summary["ci_upper"]):
        a, b = _ci(cell)
        assert abs(a - lo) <= HALF_3 and abs(b - hi) <= HALF_3
    assert body["k"].tolist() == [str(k) for k in summary["k"]]
    for cell, value in zip(body["I² (%)"], summary["I2"]):
        assert abs(_number(cell) - 100 * value) <= 0.05 + 1e-9  # one decimal, in percent
    assert "random-effects" in table.note.lower() and f"N = {stage1.total_n:,}" in table.note


def test_apa_correlations_is_a_lower_triangle_of_the_pooled_matrix(fits) -> None:
    stage1, _, _ = fits
    body = masem.apa_correlations(stage1).body
    assert body["Variable"].tolist() == ["1. X_1", "2. M", "3. Y"]
    pooled = stage1.pooled.to_numpy()
    for i in range(3):
        for j in range(3):
            cell = body.iloc[i, j + 1]
            if j < i:
                assert abs(_number(cell) - pooled[i, j]) <= HALF_2
            else:
                assert cell == (MISSING if i == j else "")
    with pytest.raises(masem.DataError, match="same variables"):
        masem.apa_correlations(pd.DataFrame(np.eye(2), index=["a", "b"], columns=["b", "a"]))


def test_apa_parameters_shows_estimates_intervals_and_the_bootstrap(fits) -> None:
    _, stage2, boot = fits
    table = masem.apa_parameters(stage2, bootstrap=boot)
    body = table.body
    inspect = stage2.inspect()
    assert body["Parameter"].tolist()[:3] == ["X_1 → M", "M → Y", "X_1 → Y"]
    assert body["Parameter"].tolist()[-1] == "ab = a*b"
    assert body["Label"].tolist()[:3] == ["a", "b", ""]  # automatic labels are not shown
    for cell, value in zip(body["Estimate"], inspect["Estimate"]):
        assert abs(_number(cell) - value) <= HALF_3
    for cell, lo, hi in zip(body["95% CI (Wald)"], inspect["ci.lower"], inspect["ci.upper"]):
        a, b = _ci(cell)
        assert abs(a - lo) <= HALF_3 and abs(b - hi) <= HALF_3
    boot_ab = boot.summary().set_index("parameter").loc["ab"]
    a, b = _ci(body["95% CI (bootstrap)"].iloc[-1])
    assert abs(a - boot_ab["ci_lower"]) <= HALF_3 and abs(b - boot_ab["ci_upper"]) <= HALF_3
    assert "seed 3" in table.note
    defined = masem.apa_parameters(stage2, which="defined").body
    assert defined["Parameter"].tolist() == ["ab = a*b"] and "95% CI (bootstrap)" not in defined
    with pytest.raises(masem.DataError, match="which"):
        masem.apa_parameters(stage2, which="some")


def test_apa_fit_shows_the_fit_statistics(fits) -> None:
    stage1, saturated, _ = fits
    restricted = masem.tssem2(stage1, "M ~ a*X_1\nY ~ b*M\nX_1 ~~ 1*X_1")  # df = 1
    fit = restricted.fit_stats()
    table = masem.apa_fit({"model A": restricted, "model B": saturated})
    row = table.body.iloc[0]
    assert row["Model"] == "model A" and row["df"] == f"{fit['df']:g}"
    assert abs(_number(row["χ²"]) - fit["chi2"]) <= HALF_2
    assert row["CFI"] == format_number(fit["CFI"], bounded=True)
    assert row["RMSEA 90% CI"] == format_ci(fit["RMSEA_lower"], fit["RMSEA_upper"])
    assert row["p"] == format_p(fit["p_value"]) and row["TLI"] == format_number(fit["TLI"])
    with pytest.raises(masem.DataError, match="not tssem2"):
        masem.apa_fit({"x": "not a fit"})


def test_apa_fit_of_a_saturated_model_has_no_p_rmsea_or_tli(fits) -> None:
    """APA: a statistic that does not exist is an empty cell (a dash), never 'p < .001' or NaN."""
    _, saturated, _ = fits
    assert saturated.fit_stats()["df"] == 0
    table = masem.apa_fit({"model B": saturated})
    row = table.body.iloc[0]
    assert row["df"] == "0" and row["χ²"] == "0.00"
    assert [row[c] for c in ("p", "RMSEA", "RMSEA 90% CI", "TLI")] == [MISSING] * 4
    assert row["SRMR"] == "0.000" and row["CFI"] == "1.000"
    assert "The model is saturated (df = 0)" in table.note and "χ² has no test (no p)" in table.note
    assert not re.search(r"\bnan\b", table.to_markdown(), re.IGNORECASE)


def test_parameter_note_explains_only_the_symbols_in_the_table(fits) -> None:
    stage1, saturated, _ = fits
    note = masem.apa_parameters(saturated).note
    assert "→ = regression path" in note and "↔" not in note and "Var = variance" not in note
    correlated = masem.tssem2(stage1, "Y ~ b*M\nM ~~ X_1\nX_1 ~~ 1*X_1\nM ~~ 1*M")
    note = masem.apa_parameters(correlated).note
    assert "↔ = covariance" in note and "Var = variance" not in note
    factor = masem.tssem2(stage1, "F =~ 1*X_1 + M + Y\nF ~~ NA*F + v*F")  # a free variance row
    assert "Var(F)" in masem.apa_parameters(factor).body["Parameter"].tolist()
    assert "Var = variance" in masem.apa_parameters(factor).note


def test_apa_meta_back_transforms_to_r_on_request() -> None:
    yi = masem.escalc("ZCOR", [0.30, 0.45, 0.38, 0.20, 0.41], [120, 80, 200, 150, 95])
    res = masem.meta(yi["yi"], yi["vi"], method="REML")
    body = masem.apa_meta({"PE-TP": res}, transf="z2r").body
    assert list(body.columns) == ["Relation", "k", "r", "95% CI", "95% PI", "τ²", "I² (%)", "Q", "p(Q)"]
    assert abs(_number(body.loc[0, "r"]) - np.tanh(res.estimate)) <= HALF_3
    a, b = _ci(body.loc[0, "95% CI"])
    assert abs(a - np.tanh(res.ci_lower)) <= HALF_3 and abs(b - np.tanh(res.ci_upper)) <= HALF_3
    z_scale = masem.apa_meta({"PE-TP": res}).body
    assert abs(_number(z_scale.loc[0, "Estimate"]) - res.estimate) <= HALF_3
    with pytest.raises(masem.DataError, match="transf"):
        masem.apa_meta({"PE-TP": res}, transf="log")
