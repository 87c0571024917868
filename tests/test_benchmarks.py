"""Do the speed-ups of stage 1 compute what the plain formulas compute, and does the scaling
benchmark simulate the data it says it does?

Every fast path is checked against a slow, obviously correct version of the same quantity:
LAPACK's Cholesky-based inverses against numpy's inverse and log-determinant, the one-gather
trace formula against the explicit traces, the padded batch of the random-effects likelihood
against one batch per missing-data pattern, the vectorised input screen against the per-study
checks, and the scoring fallback against the expected information it promises. The simulator of
benchmarks/scaling.py is checked for its documented design (30% missing, every pair covered,
deterministic in the seed).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

import masem
from masem import _linalg as common
from masem.data import matrices as study_matrices
from masem.tssem.stage1 import fem as stage1_fem
from masem.tssem.stage1 import rem as stage1_rem
from masem.effects import olkin_siotani, vechs_indices

SCALING = Path(__file__).resolve().parents[1] / "benchmarks" / "scaling.py"


@pytest.fixture(scope="module")
def scaling():
    spec = importlib.util.spec_from_file_location("scaling_benchmark", SCALING)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spd_stack(rng: np.random.Generator, k: int, m: int) -> np.ndarray:
    a = rng.normal(size=(k, m, m))
    return a @ a.transpose(0, 2, 1) + m * np.eye(m)


@pytest.mark.parametrize("m", [3, common._BATCHED_MAX + 6])  # the batched and the per-matrix path
def test_spd_inverses_match_numpy(m):
    stack = _spd_stack(np.random.default_rng(m), 5, m)
    logdet, inverse = common.spd_inverses(stack)
    # Both are backward-stable factorisations of well-conditioned matrices (condition < 10^2 here):
    # agreement to a few hundred ulps.
    np.testing.assert_allclose(inverse, np.linalg.inv(stack), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(logdet, np.linalg.slogdet(stack)[1], rtol=1e-13)
    if m > common._BATCHED_MAX:  # potri fills one triangle, mirrored: exactly symmetric
        assert np.array_equal(inverse, inverse.transpose(0, 2, 1))


@pytest.mark.parametrize("m", [3, common._BATCHED_MAX + 6])
def test_spd_inverses_refuse_an_indefinite_matrix(m):
    stack = _spd_stack(np.random.default_rng(1), 3, m)
    stack[1] -= 2 * np.linalg.eigvalsh(stack[1]).max() * np.eye(m)
    assert common.spd_inverses(stack) is None


def test_trace_pairs_is_the_trace_it_names():
    rng = np.random.default_rng(7)
    p = 5
    x, y = (_spd_stack(rng, 1, p)[0] for _ in range(2))
    rows, cols = vechs_indices(p)
    expected = np.empty((rows.size, rows.size))
    for a, (j, k) in enumerate(zip(rows, cols)):
        e_a = np.zeros((p, p))
        e_a[j, k] = e_a[k, j] = 1.0
        for b, (l, m) in enumerate(zip(rows, cols)):
            e_b = np.zeros((p, p))
            e_b[l, m] = e_b[m, l] = 1.0
            expected[a, b] = np.trace(x @ e_a @ y @ e_b)
    # Sums of four products of O(10) numbers: rounding at 1e-13 relative.
    np.testing.assert_allclose(stage1_fem._trace_pairs(x, y, rows, cols), expected, rtol=1e-12)


def _missing_studies(rng: np.random.Generator, k: int, p: int) -> tuple[list[np.ndarray], np.ndarray]:
    """k correlation matrices with one or two variables dropped at random (many patterns)."""
    truth = np.full((p, p), 0.3) + 0.7 * np.eye(p)
    n = rng.integers(80, 300, size=k)
    out = []
    for i in range(k):
        sample = rng.multivariate_normal(np.zeros(p), truth, size=n[i])
        r = np.corrcoef(sample, rowvar=False)
        drop = rng.choice(p, size=rng.integers(0, 3), replace=False)
        r[drop, :] = np.nan
        r[:, drop] = np.nan
        out.append(r)
    return out, n


@pytest.mark.parametrize("re_type", ["Diag", "Symm", "Zero"])
def test_padded_batch_equals_one_batch_per_pattern(monkeypatch, re_type):
    rng = np.random.default_rng(11)
    matrices, n = _missing_studies(rng, 30, 4)
    data = study_matrices.prepare_studies(matrices, n, None)
    acov = olkin_siotani(study_matrices.weighted_mean_matrix(data))
    monkeypatch.setattr(stage1_rem, "BATCH_OVERHEAD", 10**9)  # always pad
    padded = stage1_rem.REMObjective(data, acov, re_type)
    monkeypatch.setattr(stage1_rem, "BATCH_OVERHEAD", 0)  # never pad
    grouped = stage1_rem.REMObjective(data, acov, re_type)
    assert len(padded.batches) == 1 < len(grouped.batches)
    q = data.q
    x = np.concatenate([np.full(q, 0.25), np.full(padded.n_tau, 0.0)])
    x[q:][padded.tau_rows == padded.tau_cols] = 0.004
    f_pad, g_pad, h_pad = padded(x, True)
    f_grp, g_grp, h_grp = grouped(x, True)
    # Same sums in a different order (and LU against Cholesky inverses): rounding only.
    np.testing.assert_allclose(f_pad, f_grp, rtol=1e-12)
    np.testing.assert_allclose(g_pad, g_grp, rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(h_pad.matrix, h_grp.matrix, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(padded.q_statistic(), grouped.q_statistic(), rtol=1e-10)


def test_padded_and_grouped_fits_agree(monkeypatch):
    rng = np.random.default_rng(12)
    matrices, n = _missing_studies(rng, 40, 5)
    fits = {}
    for overhead in (10**9, 0):
        monkeypatch.setattr(stage1_rem, "BATCH_OVERHEAD", overhead)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", masem.ConvergenceWarning)  # a tau2 may sit on its bound
            fits[overhead] = masem.tssem1(matrices, n)
    a, b = fits[10**9], fits[0]
    # Both converge to a Newton decrement below 1e-11: estimates agree far below any reported digit.
    np.testing.assert_allclose(a.pooled, b.pooled, atol=1e-8)
    np.testing.assert_allclose(a.vcov, b.vcov, rtol=1e-6, atol=1e-12)
    assert a.minus2LL == pytest.approx(b.minus2LL, abs=1e-8)


def test_scoring_fallback_uses_the_expected_information_only_when_needed():
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])
    expected = np.array([[2.0, 0.0], [0.0, 4.0]])
    calls = []

    def build():
        calls.append(1)
        return expected

    rhs, free = np.array([2.0, 4.0]), np.array([True, True])
    step = common.ScoringFallbackHessian(indefinite, build).solve(rhs, free, 0.0)
    np.testing.assert_allclose(step, [1.0, 1.0])  # expected^-1 rhs
    assert calls == [1]
    definite = np.array([[2.0, 1.0], [1.0, 2.0]])
    step = common.ScoringFallbackHessian(definite, build).solve(rhs, free, 0.0)
    np.testing.assert_allclose(step, np.linalg.solve(definite, rhs), atol=1e-14)  # [0, 2]: rounding near 0
    assert calls == [1]  # not built when the observed Hessian is positive definite


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda m: m.__setitem__((0, 1), np.inf), "correlations must be finite"),
        (lambda m: m.__setitem__((0, 1), np.nan), "give both triangles"),
        (lambda m: m.__setitem__((0, 1), m[0, 1] + 0.01), "not symmetric"),
        (lambda m: m.__setitem__((2, 2), 0.9), "diagonal entry"),
        (lambda m: (m.__setitem__((0, 1), 1.2), m.__setitem__((1, 0), 1.2)), "outside [-1, 1]"),
    ],
)
def test_vectorised_screen_finds_the_study_the_per_study_check_words(change, fragment):
    good = np.array([[1.0, 0.3, 0.2], [0.3, 1.0, 0.4], [0.2, 0.4, 1.0]])
    stack = np.stack([good, good.copy(), good.copy()])
    change(stack[1])
    assert study_matrices._flag_invalid(stack).tolist() == [False, True, False]
    with pytest.raises(masem.DataError, match=r"matrices\[1\]") as info:
        masem.tssem1(list(stack), [100, 120, 90])
    assert fragment in str(info.value)


def test_scaling_simulation_has_the_documented_design(scaling):
    for k, p in [(25, 20), (200, 8), (50, 4)]:
        matrices, n = scaling.simulate(k, p)
        assert len(matrices) == k and n.min() >= 30
        rows, cols = np.tril_indices(p, k=-1)
        observed = np.array([~np.isnan(m[rows, cols]) for m in matrices])
        assert observed.any(axis=0).all()  # every pair reported by some study
        measured = np.array([~np.isnan(np.diagonal(m)) for m in matrices])
        # Whole variables are dropped: a pair is missing exactly when one of its variables is.
        assert np.array_equal(observed, measured[:, rows] & measured[:, cols])
        # The design's expected share is exactly 30%; with k studies the realised share has a
        # standard error below 0.25 / sqrt(k) (between-study sd of the share < 0.25), so 4 SEs:
        assert abs(scaling.missing_share(matrices) - 0.30) < 1.0 / np.sqrt(k)
        again, n_again = scaling.simulate(k, p)
        assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(matrices, again))
        assert np.array_equal(n, n_again)


def test_growth_exponents_recover_a_known_power_law(scaling):
    import pandas as pd

    ks, ps = [100, 200, 400, 800], [8, 12, 16, 20]
    table = pd.DataFrame(
        [{"method": "REM", "k": k, "p": p, "seconds": 1e-6 * k**1.0 * p**4.0} for k in ks for p in ps]
    )
    out = scaling.growth_exponents(table).set_index(["in", "at"])["exponent"]
    # An exact power law: OLS on the log scale returns its exponents to rounding.
    assert out[("k", "k>=100, p>=8")] == pytest.approx(1.0, abs=1e-10)
    assert out[("p", "k>=100, p>=8")] == pytest.approx(4.0, abs=1e-10)
    assert out[("p", "k=800")] == pytest.approx(4.0, abs=1e-10)


def test_bootstrap_runs_unchanged_on_another_joblib_backend():
    # The Dask / Ray recipe of benchmarks/README.md relies on indirect() sending its refits through
    # whichever joblib backend is active; the threading backend stands in for a cluster here.
    import joblib

    rng = np.random.default_rng(3)
    truth = np.array([[1.0, 0.4, 0.2], [0.4, 1.0, 0.5], [0.2, 0.5, 1.0]])
    n = rng.integers(100, 400, size=8)
    matrices = [np.corrcoef(rng.multivariate_normal(np.zeros(3), truth, size=k), rowvar=False) for k in n]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)  # tau2 may sit on its bound
        stage1 = masem.tssem1(matrices, n, variables=["x", "m", "y"])
    fit = masem.tssem2(stage1, "m ~ a*x\ny ~ b*m\nab := a*b")
    serial = masem.tssem.indirect(fit, n_boot=100, seed=5, n_jobs=1, progress=False)
    with joblib.parallel_config(backend="threading"):
        threaded = masem.tssem.indirect(fit, n_boot=100, seed=5, n_jobs=-1, progress=False)
    # Same draws, same refits, only run elsewhere: identical to the last bit.
    assert np.array_equal(serial.draws, threaded.draws, equal_nan=True)
