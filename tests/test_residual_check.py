"""Residual checks of a stage-2 fit (masem.residual_check, masem.residual_covariance).

- test_closed_form_of_a_weighted_mean: with a diagonal sampling covariance V and one correlation
  shared by all pairs, the WLS estimate is the inverse-variance weighted mean, so each residual
  and its variance have a closed form, r_i - sum(w r) / sum(w) and v_i - 1 / sum(w); do the
  residuals, their standard errors and z agree with it?
- test_one_degree_of_freedom_gives_sqrt_chi2: with df = 1 the residuals lie on one line, so every
  standardized residual equals +-sqrt(chi2); does each |z| equal the fit's sqrt(chi2)?
- test_standard_errors_match_a_simulation: when the model holds, are the standard errors of the
  residuals the standard deviations of the residuals over refits to r* ~ N(rho, V), and does
  |z| > 1.96 happen about 5% of the time?
- test_constraints_give_the_same_standard_errors: diag_constraints=True reaches the same solution
  through constraints; are the residual standard errors the same as with computed variances?
- test_the_table_matrix_and_marks_agree: do the residuals equal pooled - implied (and
  residual_table, whose callers keep working), is the matrix symmetric with a zero diagonal, and
  does marked() put a star on exactly the cells above the threshold?
- test_exactly_reproduced_cells_are_said_in_words: a saturated model reproduces every cell; is
  that said in a ConvergenceWarning rather than by a silent empty z?
- test_bad_input_is_refused: a non-fit or a threshold outside (0, 1) gives a ModelError.
"""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import masem

NAMES = ["x", "m", "y"]
EQUAL = "x ~~ c*m\nx ~~ c*y\nm ~~ c*y\nx ~~ 1*x\nm ~~ 1*m\ny ~~ 1*y"


def stage1(R: np.ndarray, V: np.ndarray, names: list[str], n: int = 500) -> SimpleNamespace:
    labels = masem.vechs_labels(names)
    return SimpleNamespace(
        pooled=pd.DataFrame(R, index=names, columns=names),
        vcov=pd.DataFrame(V, index=labels, columns=labels),
        total_n=n,
        variables=names,
        method="FEM",
    )


def matrix(r: list[float]) -> np.ndarray:
    """3 x 3 correlation matrix from its vechs vector (m_x, y_x, y_m)."""
    R = np.eye(3)
    R[1, 0] = R[0, 1] = r[0]
    R[2, 0] = R[0, 2] = r[1]
    R[2, 1] = R[1, 2] = r[2]
    return R


def test_closed_form_of_a_weighted_mean() -> None:
    r = np.array([0.30, 0.42, 0.25])
    v = np.array([0.002, 0.004, 0.001])
    fit = masem.tssem2(stage1(matrix(list(r)), np.diag(v), NAMES), EQUAL)
    w = 1.0 / v
    mean = np.sum(w * r) / np.sum(w)
    expected = pd.DataFrame(
        {"label": masem.vechs_labels(NAMES), "residual": r - mean, "se": np.sqrt(v - 1.0 / np.sum(w))}
    ).set_index("label")
    table = masem.residual_check(fit).table
    table.index = [f"{b}_{a}" for a, b in zip(table["var1"], table["var2"])]
    got = table.loc[expected.index]
    # The optimiser stops at a relative step of 1e-10; the closed form is exact.
    np.testing.assert_allclose(got["residual"], expected["residual"], atol=1e-9)
    np.testing.assert_allclose(got["se"], expected["se"], rtol=1e-8)
    np.testing.assert_allclose(got["z"], expected["residual"] / expected["se"], rtol=1e-7)


def test_one_degree_of_freedom_gives_sqrt_chi2() -> None:
    ex = masem.example_data("Hunter83")
    s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    fit = masem.tssem2(
        s1,
        "Job_knowledge ~ Ability\nWork_sample ~ Ability + Job_knowledge\n"
        "Supervisor ~ Job_knowledge + Work_sample",
    )
    stats = fit.fit_stats()
    assert stats["df"] == 1
    z = masem.residual_check(fit).table["z"].abs()
    # An identity of the formula up to the optimiser's precision at the minimum.
    np.testing.assert_allclose(z, math.sqrt(stats["chi2"]), rtol=1e-6)


def test_standard_errors_match_a_simulation() -> None:
    # One factor with four indicators (6 correlations, 4 loadings, 2 df); the model holds exactly.
    loadings, n = np.array([0.7, 0.6, 0.5, 0.4]), 400
    names = ["x1", "x2", "x3", "x4"]
    R = np.outer(loadings, loadings)
    np.fill_diagonal(R, 1.0)
    V = masem.olkin_siotani(R, n)
    model = "F =~ x1 + x2 + x3 + x4\nF ~~ 1*F"
    truth = masem.tssem2(stage1(R, V, names, n), model)
    se = masem.residual_check(truth).table.set_index(["var1", "var2"])["se"]
    rng = np.random.default_rng(20110901)
    L = np.linalg.cholesky(V)
    rows, cols = np.triu_indices(4, k=1)
    residuals, z = [], []
    for _ in range(500):
        draw = R.copy()
        draw[rows, cols] = draw[cols, rows] = R[rows, cols] + L @ rng.standard_normal(6)
        fit = masem.tssem2(stage1(draw, V, names, n), model)
        table = masem.residual_check(fit).table.set_index(["var1", "var2"]).loc[se.index]
        residuals.append(table["residual"].to_numpy())
        z.append(table["z"].to_numpy())
    empirical = np.std(np.array(residuals), axis=0, ddof=1)
    # 500 replications estimate an SD to about 3.2% (1 / sqrt(2 * 500)); 12% is 3.7 of those.
    np.testing.assert_allclose(empirical, se.to_numpy(), rtol=0.12)
    share = float(np.mean(np.abs(np.array(z)) > 1.96))
    # 3000 z values from 500 draws (6 per draw, correlated, 2 df): the share of a standard normal
    # beyond 1.96 is .05; .03 to .07 allows for the dependence within a draw.
    assert 0.03 < share < 0.07


def test_constraints_give_the_same_standard_errors() -> None:
    ex = masem.example_data("Hunter83")
    s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    model = "Job_knowledge ~ Ability\nWork_sample ~ Job_knowledge\nSupervisor ~ Work_sample"
    computed = masem.residual_check(masem.tssem2(s1, model)).table
    constrained = masem.residual_check(masem.tssem2(s1, model, diag_constraints=True)).table
    # Two optimisers reach the same minimum to about 1e-8; the SEs follow.
    np.testing.assert_allclose(constrained["se"], computed["se"], rtol=1e-5)
    np.testing.assert_allclose(constrained["residual"], computed["residual"], atol=1e-7)


def test_the_table_matrix_and_marks_agree() -> None:
    ex = masem.example_data("Hunter83")
    s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    fit = masem.tssem2(s1, "Job_knowledge ~ Ability\nWork_sample ~ Job_knowledge\nSupervisor ~ Work_sample")
    check = masem.residual_check(fit, threshold=0.1)
    expected = (s1.pooled - fit.implied).loc[list(fit.variables), list(fit.variables)].copy()
    for name in fit.variables:
        expected.loc[name, name] = 0.0
    # The same subtraction in another order: equal up to rounding.
    pd.testing.assert_frame_equal(check.matrix, expected, atol=1e-12, check_names=False)
    old = masem.residual_table(fit).set_index(["var1", "var2"])
    new = check.table.set_index(["var1", "var2"]).loc[old.index]
    np.testing.assert_array_equal(new["residual"], old["residual"])
    marked = check.marked()
    stars = int(marked.map(lambda text: text.endswith("*")).to_numpy().sum())
    assert stars == check.n_exceeding == int((check.table["residual"].abs() > 0.1).sum()) == 2
    assert check.largest(2)["z"].abs().tolist() == sorted(check.table["z"].abs(), reverse=True)[:2]
    assert "2 of 6 residual correlations exceed 0.1" in repr(check)


def test_exactly_reproduced_cells_are_said_in_words() -> None:
    ex = masem.example_data("Hunter83")
    s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    fit = masem.tssem2(s1, "Supervisor ~ Ability + Job_knowledge\nAbility ~~ Job_knowledge")
    with pytest.warns(masem.ConvergenceWarning, match="reproduces .* exactly"):
        check = masem.residual_check(fit)
    assert check.table["z"].isna().all() and (check.table["se"] == 0).all()


def test_bad_input_is_refused() -> None:
    ex = masem.example_data("Hunter83")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)
        fit = masem.tssem2(
            masem.tssem1(ex.matrices, ex.n, method="FEM"),
            "Supervisor ~ Job_knowledge\nJob_knowledge ~ Ability",  # df = 1, so residuals exist
        )
    with pytest.raises(masem.ModelError, match="threshold .* got 5"):
        masem.residual_check(fit, threshold=5)
    with pytest.raises(masem.ModelError, match="tssem2"):
        masem.residual_check("fit")
    with pytest.raises(masem.ModelError, match="n must be a positive integer"):
        masem.residual_check(fit).largest(0)
