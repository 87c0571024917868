"""Bias-adjusted MASEM (masem.bias_adjusted_masem).

- test_cell_numbers_are_pet_peese: for a cell of the bundled database, are the diagnostics the
  numbers of masem.meta / masem.egger / masem.pet_peese run by hand on that pair's studies
  (masem.effect_sizes), back-transformed to r?
- test_file_drawer_is_corrected: studies are drawn from a known population and a file drawer
  hides most x-y correlations that are not significant; is the unadjusted pooled x-y correlation
  inflated, and do the adjusted correlation and the adjusted direct path move towards the truth
  (smaller mean bias and mean absolute error over 12 replications)?
- test_adjusted_sampling_covariance: does the refit use V_adj = D C D: the stage-1 correlations
  among the cells' sampling errors, the adjusted standard errors on the diagonal, and the
  stage-1 variance where a cell keeps its stage-1 value?
- test_cells_with_few_studies_are_kept_with_a_note: a cell below min_k keeps its stage-1 value
  with the reason in words; a cell with fewer than 3 studies gets no regression and no crash.
- test_the_two_fits_are_tssem2_fits: is the unadjusted fit tssem2 on stage 1 and the adjusted
  one tssem2 on the adjusted input, and is the comparison their difference?
- test_bad_input_is_refused: wrong data, min_k, alpha, method or variables, and matrices
  corrected for unreliability give a clear error.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import masem
from conftest import ROOT
from masem.data import StudyMatrices

NAMES = ["x", "m", "y"]
# x -> m .4, m -> y .3, x -> y .05: r_xy = .05 + .4 * .3 = .17
TRUTH = np.array([[1.0, 0.4, 0.17], [0.4, 1.0, 0.3 + 0.05 * 0.4], [0.17, 0.32, 1.0]])
MODEL = "m ~ x\ny ~ m + x"


def quiet(func, *args, **kwargs):
    """Run a fit whose per-cell notes (tau2 at 0 in small simulated cells) are not the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)
        return func(*args, **kwargs)


def file_drawer(seed: int, k: int = 60) -> StudyMatrices:
    """k studies of 40 to 400 cases from TRUTH; a file drawer keeps 4 of 5 studies whose x-y
    correlation is not significantly positive (one-sided .025) from reporting it: selection by
    significance, the setting PET-PEESE was built for (Stanley & Doucouliagos, 2014)."""
    rng = np.random.default_rng(seed)
    n = rng.integers(40, 400, size=k)
    matrices = []
    for size in n:
        R = np.corrcoef(rng.multivariate_normal(np.zeros(3), TRUTH, size=int(size)), rowvar=False)
        z = np.arctanh(R[0, 2]) * np.sqrt(size - 3)
        if z < 1.96 and rng.random() < 0.8:
            R[0, 2] = R[2, 0] = np.nan
        matrices.append(pd.DataFrame(R, index=NAMES, columns=NAMES))
    return StudyMatrices(NAMES, matrices, n, [f"s{i + 1}" for i in range(k)])


def test_cell_numbers_are_pet_peese() -> None:
    db = masem.read_database(ROOT / "data" / "individual")
    result = quiet(masem.bias_adjusted_masem, db, "TP ~ PE + JS", variables=["PE", "JS", "TP"])
    row = result.diagnostics().set_index(["var1", "var2"]).loc[("PE", "TP")]
    data = masem.effect_sizes(db, "PE", "TP")
    fit = quiet(masem.meta, data["yi"], data["vi"], method="REML")
    test, pp = quiet(masem.egger, fit), masem.pet_peese(fit)
    assert row["k"] == fit.k and row["N"] == data["n"].sum()
    # The same functions on the same studies: identical up to rounding.
    assert row["r_RE"] == pytest.approx(np.tanh(fit.estimate), abs=1e-12)
    assert row["egger_z"] == pytest.approx(test.statistic, abs=1e-12)
    assert row["egger_p"] == pytest.approx(test.p, abs=1e-12)
    assert row["r_PET"] == pytest.approx(np.tanh(pp.pet_estimate), abs=1e-12)
    assert row["PET_p"] == pytest.approx(pp.pet_p, abs=1e-12)
    assert row["r_PEESE"] == pytest.approx(np.tanh(pp.peese_estimate), abs=1e-12)
    assert row["used"] == pp.chosen and row["r_adjusted"] == pytest.approx(np.tanh(pp.estimate), abs=1e-12)
    se = pp.peese_se if pp.chosen == "PEESE" else pp.pet_se
    assert row["se_adjusted"] == pytest.approx(se * (1 - np.tanh(pp.estimate) ** 2), abs=1e-12)


def test_file_drawer_is_corrected() -> None:
    errors = {"stage 1": [], "adjusted": [], "path before": [], "path after": []}
    for seed in range(12):
        result = quiet(masem.bias_adjusted_masem, file_drawer(seed), MODEL)
        cell = result.diagnostics().set_index(["var1", "var2"]).loc[("x", "y")]
        assert cell["used"] in ("PET", "PEESE")
        errors["stage 1"].append(cell["r_stage1"] - 0.17)
        errors["adjusted"].append(cell["r_adjusted"] - 0.17)
        paths = result.comparison().set_index("parameter")
        errors["path before"].append(paths.loc["yonx", "unadjusted_estimate"] - 0.05)
        errors["path after"].append(paths.loc["yonx", "adjusted_estimate"] - 0.05)
    bias = {name: float(np.mean(values)) for name, values in errors.items()}
    size = {name: float(np.mean(np.abs(values))) for name, values in errors.items()}
    # The file drawer inflates the pooled correlation (by about .02 here); PET-PEESE removes most
    # of that bias on average over 12 data sets (a single data set can go either way), and the
    # typical error of the correlation and of the direct path shrinks.
    assert bias["stage 1"] > 0.01
    assert abs(bias["adjusted"]) < 0.5 * bias["stage 1"]
    assert abs(bias["path after"]) < 0.5 * abs(bias["path before"])
    assert size["adjusted"] < size["stage 1"] and size["path after"] < size["path before"]


def test_adjusted_sampling_covariance() -> None:
    db = masem.read_database(ROOT / "data" / "individual")
    variables = ["HPWP", "PE", "JS", "TP", "CSAT"]
    result = quiet(masem.bias_adjusted_masem, db, "TP ~ PE + JS", variables=variables)
    labels = masem.vechs_labels(list(result.stage1.variables))
    V = result.stage1.vcov.loc[labels, labels].to_numpy()
    V_adj = result.adjusted_input.vcov.loc[labels, labels].to_numpy()
    diag = result.diagnostics()
    # The same correlation structure, the adjusted variances (exact constructions).
    corr = V / np.sqrt(np.outer(np.diag(V), np.diag(V)))
    corr_adj = V_adj / np.sqrt(np.outer(np.diag(V_adj), np.diag(V_adj)))
    np.testing.assert_allclose(corr_adj, corr, atol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(V_adj)), diag["se_adjusted"], rtol=1e-12)
    kept = (diag["used"] == "stage 1").to_numpy()
    assert kept.any() and (~kept).any()
    # A kept cell's variance is the stage-1 one, rescaled by 1: equal up to rounding.
    np.testing.assert_allclose(np.diag(V_adj)[kept], np.diag(V)[kept], rtol=1e-12)
    assert np.all(np.diag(V_adj)[~kept] > 0)


def test_cells_with_few_studies_are_kept_with_a_note() -> None:
    m = file_drawer(3, k=12)
    for i in range(10):  # only two studies report x-y
        m.matrices[i].loc["x", "y"] = m.matrices[i].loc["y", "x"] = np.nan
    m.matrices[10].loc["x", "y"] = m.matrices[10].loc["y", "x"] = 0.2
    m.matrices[11].loc["x", "y"] = m.matrices[11].loc["y", "x"] = 0.1
    result = quiet(masem.bias_adjusted_masem, m, MODEL, min_k=10)
    table = result.diagnostics().set_index(["var1", "var2"])
    assert table.loc[("x", "y"), "k"] == 2 and table.loc[("x", "y"), "used"] == "stage 1"
    assert "too few for any regression" in table.loc[("x", "y"), "reason"]
    assert table.loc[("x", "m"), "used"] == "PET" or table.loc[("x", "m"), "used"] == "PEESE"
    strict = quiet(masem.bias_adjusted_masem, m, MODEL, min_k=13).diagnostics()
    assert (strict["used"] == "stage 1").all()
    assert strict["reason"].str.contains("< min_k = 13").sum() == 2
    # Kept cells carry the stage-1 value itself (the default rtol of 1e-7 is ample).
    np.testing.assert_allclose(strict["r_adjusted"], strict["r_stage1"])


def test_the_two_fits_are_tssem2_fits() -> None:
    result = quiet(masem.bias_adjusted_masem, file_drawer(1), MODEL)
    again = masem.tssem2(result.stage1, MODEL)
    adjusted = masem.tssem2(result.adjusted_input, MODEL)
    table = result.comparison().set_index("parameter")
    np.testing.assert_array_equal(table["unadjusted_estimate"], again.coefficients.loc[table.index])
    np.testing.assert_array_equal(table["adjusted_estimate"], adjusted.coefficients.loc[table.index])
    np.testing.assert_array_equal(table["difference"], table["adjusted_estimate"] - table["unadjusted_estimate"])
    assert "PET-PEESE adjusted" in result.adjusted.method
    assert "3 cells" in repr(result)


def test_bad_input_is_refused() -> None:
    m = file_drawer(2, k=20)
    with pytest.raises(masem.DataError, match="StudyDatabase .* or StudyMatrices"):
        masem.bias_adjusted_masem([np.eye(3)], MODEL)
    with pytest.raises(masem.ModelError, match="min_k .* at least 3 .* got 2"):
        masem.bias_adjusted_masem(m, MODEL, min_k=2)
    with pytest.raises(masem.ModelError, match="alpha .* got 1.5"):
        masem.bias_adjusted_masem(m, MODEL, alpha=1.5)
    with pytest.raises(masem.ModelError, match="method must be one of"):
        masem.bias_adjusted_masem(m, MODEL, method="ML")
    corrected = StudyMatrices(m.variables, m.matrices, m.n, m.study_ids, corrected=True)
    with pytest.raises(masem.DataError, match="corrected for unreliability"):
        masem.bias_adjusted_masem(corrected, MODEL)
    with pytest.raises(masem.DataError, match=r"variables \['x', 'y'\] differ"):
        masem.bias_adjusted_masem(m, MODEL, variables=["x", "y"])
