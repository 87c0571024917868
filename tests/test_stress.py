"""Stress cases: do the estimators stay correct, or say clearly why not, at the edges of the data?

Questions answered (issue 7):
- correlations near +-1: does stage 1 pool them without leaving (-1, 1), and does stage 2 fit a
  model to them?
- very small (n = 5) and very large (n = 10^7) samples: finite, converged results; with n huge and
  identical studies, the pooled matrix is the population and its standard errors shrink as 1/sqrt(N);
- k = 2 studies and k = 2000 studies: converged, and for k = 2000 the estimates lie within a few
  standard errors of the population;
- p = 25 variables: both stage-1 models converge to a positive definite pooled matrix;
- perfectly homogeneous data (tau2 = 0): REM reports the variance at its bound with a
  ConvergenceWarning that names the correlations, and agrees with the fixed-effects GLS estimate;
  univariate REML returns tau2 = 0 exactly and the fixed-effect estimate;
- a single study observing a pair: REM pools it (k = 1 for that cell, tau2 on its bound), FEM
  refuses the incomplete study with a message naming it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import masem

P3 = np.array([[1, 0.3, 0.2], [0.3, 1, 0.25], [0.2, 0.25, 1]])


def sample_matrices(rho: np.ndarray, n: np.ndarray, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.corrcoef(rng.multivariate_normal(np.zeros(len(rho)), rho, size=int(size)), rowvar=False) for size in n]


def fit1(matrices, n, method: str = "REM", **kwargs) -> tuple[masem.TSSEM1Result, list[str]]:
    """tssem1 with its warnings collected (they are part of what these tests check)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = masem.tssem1(matrices, n, method=method, **kwargs)
    assert all(issubclass(w.category, masem.ConvergenceWarning) for w in caught), [str(w.message) for w in caught]
    return result, [str(w.message) for w in caught]


def assert_usable(result: masem.TSSEM1Result) -> None:
    pooled = result.pooled.to_numpy()
    assert result.converged, result.message
    assert np.all(np.isfinite(pooled)) and np.all(np.abs(pooled[~np.eye(len(pooled), dtype=bool)]) < 1)
    assert np.linalg.eigvalsh(pooled).min() > 0
    se = result.pooled_se.to_numpy()[~np.eye(len(pooled), dtype=bool)]
    assert np.all(np.isfinite(se)) and np.all(se > 0)


@pytest.mark.parametrize("method", ["REM", "FEM"])
def test_correlations_near_one(method: str) -> None:
    rho = np.array([[1, 0.995, 0.3], [0.995, 1, 0.3], [0.3, 0.3, 1]])
    result, _ = fit1(sample_matrices(rho, np.full(10, 200), seed=1), [200] * 10, method)
    assert_usable(result)
    # 10 x 200 participants: the SE of r near .995 is about (1 - r^2) / sqrt(2000) ~ 2e-4.
    assert result.pooled.iloc[0, 1] == pytest.approx(0.995, abs=0.003)
    fit = masem.tssem2(result, "x2 ~ x1 + x3\nx1 ~~ x3\nx1 ~~ 1*x1\nx3 ~~ 1*x3")
    assert fit.converged and np.isfinite(fit.inspect()["Std. Err"]).all()


@pytest.mark.parametrize("method", ["REM", "FEM"])
def test_tiny_samples(method: str) -> None:
    result, _ = fit1(sample_matrices(P3, np.full(10, 5), seed=2), [5] * 10, method)
    assert_usable(result)


@pytest.mark.parametrize("method", ["REM", "FEM"])
def test_huge_identical_samples_recover_the_population(method: str) -> None:
    result, _ = fit1([P3.copy() for _ in range(5)], [10**7] * 5, method)
    assert_usable(result)
    # Exact data: only optimiser tolerance (~1e-8 relative) separates the estimate from P3.
    np.testing.assert_allclose(result.pooled.to_numpy(), P3, atol=1e-7)
    # SE of r at N = 5e7 is (1 - r^2) / sqrt(N): within 1% (REM adds tau2 ~ 1e-10, negligible).
    expected = (1 - P3[1, 0] ** 2) / np.sqrt(5 * 10**7)
    assert result.pooled_se.iloc[1, 0] == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("method", ["REM", "FEM"])
def test_two_studies(method: str) -> None:
    result, _ = fit1(sample_matrices(P3, np.array([100, 150]), seed=3), [100, 150], method)
    assert_usable(result)
    assert result.n_studies == 2


@pytest.mark.slow
@pytest.mark.parametrize("method", ["REM", "FEM"])
def test_two_thousand_studies(method: str) -> None:
    n = np.random.default_rng(4).integers(50, 500, 2000)
    result, _ = fit1(sample_matrices(P3, n, seed=5), n, method)
    assert_usable(result)
    z = (result.pooled.to_numpy() - P3)[np.tril_indices(3, -1)] / result.pooled_se.to_numpy()[np.tril_indices(3, -1)]
    # No heterogeneity was simulated: the estimates are unbiased, |z| < 4 fails about once in 10^4.
    assert np.all(np.abs(z) < 4), z


@pytest.mark.slow
@pytest.mark.parametrize("method", ["REM", "FEM"])
def test_twenty_five_variables(method: str) -> None:
    rng = np.random.default_rng(6)
    loadings = rng.uniform(0.4, 0.8, 25)
    rho = np.outer(loadings, loadings)
    np.fill_diagonal(rho, 1)
    n = rng.integers(100, 400, 40)
    result, _ = fit1(sample_matrices(rho, n, seed=7), n, method)
    assert_usable(result)
    assert result.pooled.shape == (25, 25)


def test_homogeneous_data_put_tau2_on_its_bound_and_agree_with_gls() -> None:
    matrices = [P3.copy() for _ in range(4)]
    n = [100, 200, 150, 120]
    rem, notes = fit1(matrices, n, "REM")
    zero, _ = fit1(matrices, n, "REM", re_type="Zero")
    assert any("tau2 at its lower bound" in note and "x2_x1" in note for note in notes)
    tau2 = rem.tau2.to_numpy()[np.tril_indices(3, -1)]
    assert np.all(tau2 < 1e-8)
    # tau2 at its 1e-10 floor moves the estimates by far less than 1e-6.
    np.testing.assert_allclose(rem.pooled.to_numpy(), zero.pooled.to_numpy(), atol=1e-6)


def test_univariate_reml_with_identical_effects_equals_fixed_effect() -> None:
    with pytest.warns(masem.ConvergenceWarning, match=r"tau2 is estimated at its lower bound 0 \(REML\).*confint"):
        reml = masem.meta([0.2] * 5, [0.01, 0.02, 0.01, 0.03, 0.02], method="REML")
    fe = masem.meta([0.2] * 5, [0.01, 0.02, 0.01, 0.03, 0.02], method="FE")
    assert reml.tau2 == 0 and reml.tau2_at_bound
    assert reml.estimate == pytest.approx(fe.estimate, abs=1e-12)
    assert reml.se == pytest.approx(fe.se, abs=1e-12)


def test_single_study_observing_a_pair() -> None:
    matrices = sample_matrices(P3, np.full(6, 100), seed=8)
    for m in matrices[1:]:
        m[0, 2] = m[2, 0] = np.nan
    rem, notes = fit1(matrices, [100] * 6, "REM")
    assert_usable(rem)
    assert rem.k_per_cell.iloc[2, 0] == 1
    assert any("x3_x1" in note for note in notes)
    with pytest.raises(masem.DataError, match=r"5 studies measure .*matrices\[1\] \(x1-x3\);.*matrices\[5\]"):
        masem.tssem1(matrices, [100] * 6, method="FEM")


def test_univariate_meta_with_twenty_thousand_studies() -> None:
    rng = np.random.default_rng(9)
    res = masem.meta(rng.normal(0.2, 0.1, 20000), np.full(20000, 0.01), method="REML")
    assert res.converged
    # True tau2 = 0.1^2 - 0.01 = 0; sampling-noise SD of the estimate ~ 0.01 * sqrt(2 / 20000).
    assert res.tau2 < 5e-4
    assert res.estimate == pytest.approx(0.2, abs=0.005)


def test_notes_of_inner_fits_say_which_fit_and_appear_once() -> None:
    yi = [0.2, 0.2, 0.2, 0.5, 0.1, 0.8]
    vi = [0.01, 0.02, 0.01, 0.01, 0.02, 0.01]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        masem.subgroup(yi, vi, ["a", "a", "a", "b", "b", "b"])
    notes = [str(w.message) for w in caught]
    # Group a is homogeneous (tau2 = 0), group b is not: exactly one note, naming group a.
    assert len(notes) == 1 and notes[0].startswith("subgroup, group 'a': tau2 is estimated at its lower bound"), notes
