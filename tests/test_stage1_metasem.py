"""Conformance of TSSEM stage 1 (``tssem1``, ``uni_r``) with metaSEM 1.5.5.

Questions answered, per expected file in tests/reference/expected/metasem and per block
(``tssem1.FEM``, ``tssem1.REM``, every FEM / REM entry of ``variants``):

- test_pooled_and_coef: is the pooled correlation matrix metaSEM's, with the same vechs labels?
- test_standard_errors_and_vcov: are the SEs and the sampling covariance matrix metaSEM's?
- test_fem_likelihoods_and_fit: (FEM) are -2LL (model, saturated, independence), chi2, df and
  every fit index metaSEM's?
- test_rem_heterogeneity: (REM) are tau2, their SEs (the covariance of all parameters), I2, Q,
  -2LL and the parameter counts metaSEM's?
- test_tau2_bound_warning: does tssem1 warn exactly when metaSEM's tau2 sits on its bound?
- test_uni_r: is the univariate-r approach metaSEM's ``uniR1``?
- test_reference_coverage: do the reference files still cover FEM, REM and uniR1 for every file,
  with 1-based study indices (the guard that keeps this module meaningful)?
- test_other_data_sets: on the data sets without expected values here, do both methods run,
  converge and give sane results, and does FEM refuse exactly the studies it cannot use?
- test_gnambs18_speed: is Gnambs18 (p = 10, k = 113) fast enough single-threaded?
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import masem
from masem.tssem.stage1 import tssem1, uni_r
from conftest import METASEM_FIT_NAMES, REFERENCE, load_reference, ref_matrix, ref_study_matrices
from vocabulary import metasem

EXPECTED_DIR = REFERENCE / "expected" / "metasem"
EXPECTED = sorted(p.stem for p in EXPECTED_DIR.glob("*.json")) if EXPECTED_DIR.exists() else []

# README tolerance for pooled correlations.
POOLED_ATOL = 1e-4
# README tolerance for standard errors.
SE_RTOL = 1e-3
# The SE tolerance carried to (co)variances: var = se^2 doubles the relative error, and
# covariances are scaled by sqrt(v_ii v_jj) so that near-zero off-diagonals are not compared
# relatively.
VCOV_SCALED_TOL = 2e-3
# README tolerance for tau2: 1e-5 absolute or 1e-2 relative, whichever is larger.
TAU2_ATOL, TAU2_RTOL = 1e-5, 1e-2
# README tolerance for I2, chi2 and fit indices: 1e-3 relative, or 1e-6 absolute near 0.
FIT_RTOL, FIT_ATOL = 1e-3, 1e-6
# -2LL is not in the README table. A 1e-4 change in a pooled r moves -2LL by far less than 1e-3
# near the optimum (it is quadratic there), while any convention slip (a log(2 pi) per
# observation, n versus n - 1) moves it by whole units: 1e-3 absolute separates the two.
MINUS2LL_ATOL = 1e-3
# uniR1 is closed form: README tolerance for closed forms (1e-6 relative, 1e-8 absolute).
CLOSED_RTOL, CLOSED_ATOL = 1e-6, 1e-8
# metaSEM's tau2 lower bound is 1e-10; a reference tau2 below this is sitting on it.
TAU2_AT_BOUND = 1e-9


def _blocks(name: str) -> list[tuple[str, dict, dict, list[int]]]:
    """(block id, expected block, expected file, 1-based study indices) for one expected file."""
    expected = load_reference("expected", "metasem", f"{name}.json")
    used = expected["input"]["studies_used_index"]
    out = [
        ("tssem1.FEM", expected["tssem1"]["FEM"], expected, used),
        ("tssem1.REM", expected["tssem1"]["REM"], expected, used),
    ]
    for key, variant in expected.get("variants", {}).items():
        if variant.get("method") in ("FEM", "REM"):
            out.append((f"variants.{key}", variant["stage1"], expected, variant["studies_used_index"]))
    return out


CASES = [(name, block_id) for name in EXPECTED for block_id, *_ in _blocks(name)]


def _inputs(expected: dict, used: list[int]):
    data = load_reference("data", Path(expected["input"]["file"]).name)
    matrices = ref_study_matrices(data)
    picked = [matrices[i - 1] for i in used]  # studies_used_index counts from 1 (R)
    n = [data["n"][i - 1] for i in used]
    return picked, n, data["variables"]


def _method(block_id: str, block: dict) -> str:
    if block_id == "tssem1.FEM":
        return "FEM"
    if block_id == "tssem1.REM":
        return "REM"
    return "REM" if "RE.type" in block else "FEM"


def _run(name: str, block_id: str):
    """Fit one block; returns (result, expected block, list of warnings raised)."""
    block_map = {b: (blk, exp, used) for b, blk, exp, used in _blocks(name)}
    block, expected, used = block_map[block_id]
    matrices, n, variables = _inputs(expected, used)
    method = _method(block_id, block)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tssem1(matrices, n, method=method, variables=variables, re_type=block.get("RE.type", "Diag"))
    return result, block, caught


def _assert_close(actual, expected, rtol, atol, what):
    actual = np.asarray(actual, dtype=float)
    expected = np.array([np.nan if v is None else v for v in np.ravel(expected)], dtype=float).reshape(
        np.shape(expected)
    )
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _assert_vcov(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    scale = np.sqrt(np.outer(np.diagonal(expected), np.diagonal(expected)))
    worst = np.max(np.abs(actual - expected) / scale)
    assert worst <= VCOV_SCALED_TOL, f"{what}: largest scaled difference {worst:.3g}"


@pytest.mark.parametrize(("name", "block_id"), CASES)
def test_pooled_and_coef(name, block_id):
    result, block, _ = _run(name, block_id)
    expected = ref_matrix(block["pooled_matrix"])
    assert list(result.pooled.index) == list(expected.index)
    _assert_close(result.pooled.to_numpy(), expected.to_numpy(), 0, POOLED_ATOL, "pooled matrix")
    summary = result.summary()
    assert summary["label"].tolist() == block["coef_labels"]
    _assert_close(summary["estimate"], block[metasem("pooled")], 0, POOLED_ATOL, "pooled")
    assert result.total_n == block["total_N"]
    assert result.n_studies == block["n_studies"]
    assert result.converged


@pytest.mark.parametrize(("name", "block_id"), CASES)
def test_standard_errors_and_vcov(name, block_id):
    result, block, _ = _run(name, block_id)
    _assert_close(result.summary()["se"], block[metasem("se")], SE_RTOL, 0, "se")
    expected = ref_matrix(block[metasem("vcov")])
    assert list(result.vcov.index) == list(expected.index)
    _assert_vcov(result.vcov.to_numpy(), expected.to_numpy(), "vcov")


FEM_FIT = [*METASEM_FIT_NAMES.items(), *((name, metasem(name)) for name in ("df", "df_indep", "AIC", "BIC", "n"))]


@pytest.mark.parametrize(("name", "block_id"), [c for c in CASES if "FEM" in c[1]])
def test_fem_likelihoods_and_fit(name, block_id):
    result, block, caught = _run(name, block_id)
    assert result.method == "FEM"
    assert not caught, [str(w.message) for w in caught]
    fit = result.fit_stats()
    for ours in ("minus2LL", "saturated_minus2LL", "independence_minus2LL"):
        _assert_close(fit[ours], block[metasem(ours)], 0, MINUS2LL_ATOL, ours)
    assert result.minus2LL == fit["minus2LL"]
    for ours, theirs in FEM_FIT:
        _assert_close(fit[ours], block["fit"][theirs], FIT_RTOL, FIT_ATOL, ours)
    assert fit["n_parameters"] == block[metasem("n_parameters")]  # correlations + study SDs


@pytest.mark.parametrize(("name", "block_id"), [c for c in CASES if "FEM" not in c[1]])
def test_rem_heterogeneity(name, block_id):
    result, block, _ = _run(name, block_id)
    assert result.method == "REM"
    assert result.re_type == block["RE.type"]
    summary = result.summary()
    if block[metasem("tau2")]:
        tau2 = block[metasem("tau2")]
        tol = np.maximum(TAU2_ATOL, TAU2_RTOL * np.abs(tau2))
        assert np.all(np.abs(summary["tau2"].to_numpy() - tau2) <= tol), summary["tau2"]
        _assert_close(masem.vechs(result.tau2_se.to_numpy()), block[metasem("tau2_se")], SE_RTOL, 0, "tau2 se")
    else:
        assert np.all(summary["tau2"] == 0)  # RE.type = "Zero": no between-study variance
    # rho then tau2 in both; this is where a tau2 on its bound must stay in the Hessian
    _assert_vcov(result.vcov_all.to_numpy(), ref_matrix(block["vcov_all"]).to_numpy(), "vcov_all")
    _assert_close(summary["I2"], block[metasem("I2")], FIT_RTOL, FIT_ATOL, "I2")
    _assert_close(result.Q, block[metasem("Q")], FIT_RTOL, FIT_ATOL, "Q")
    assert result.Q_df == block[metasem("Q_df")]
    _assert_close(result.Q_p, block[metasem("Q_p")], FIT_RTOL, FIT_ATOL, "Q p-value")
    _assert_close(result.minus2LL, block[metasem("minus2LL")], 0, MINUS2LL_ATOL, "-2LL")
    fit = result.fit_stats()
    for ours in ("n_observed", "n_parameters", "df"):
        assert fit[ours] == block[metasem(ours)], ours


@pytest.mark.parametrize(("name", "block_id"), [c for c in CASES if "FEM" not in c[1]])
def test_tau2_bound_warning(name, block_id):
    result, block, caught = _run(name, block_id)
    at_bound = [lab for lab, t in zip(block["coef_labels"], block["tau2"]) if t < TAU2_AT_BOUND]
    messages = [str(w.message) for w in caught]
    assert all(issubclass(w.category, masem.ConvergenceWarning) for w in caught), messages
    if at_bound:
        assert len(messages) == 1 and "lower bound" in messages[0], messages
        for label in at_bound:
            assert label in messages[0]
    else:
        assert not messages


@pytest.mark.parametrize("name", EXPECTED)
def test_uni_r(name):
    expected = load_reference("expected", "metasem", f"{name}.json")
    matrices, n, variables = _inputs(expected, expected["input"]["studies_used_index"])
    result = uni_r(matrices, n, variables=variables)
    block = expected["uniR1"]
    _assert_close(result.r_mean.to_numpy(), ref_matrix(block[metasem("r_mean")]).to_numpy(), 0, POOLED_ATOL, "r_mean")
    for ours in ("r_se", "r_sd"):
        theirs = ref_matrix(block[metasem(ours)]).to_numpy()
        _assert_close(getattr(result, ours).to_numpy(), theirs, CLOSED_RTOL, CLOSED_ATOL, ours)
    _assert_close(result.n_harmonic, block[metasem("n_harmonic")], CLOSED_RTOL, 0, "n_harmonic")
    for ours in ("pattern_n", "pattern_k"):
        np.testing.assert_array_equal(getattr(result, ours).to_numpy(), ref_matrix(block[metasem(ours)]).to_numpy())


def test_reference_coverage():
    assert EXPECTED, f"no expected metaSEM files found in {EXPECTED_DIR}"
    for name in EXPECTED:
        expected = load_reference("expected", "metasem", f"{name}.json")
        assert {"FEM", "REM"} <= set(expected.get("tssem1", {})), f"{name}: tssem1 FEM/REM missing"
        assert "uniR1" in expected, f"{name}: uniR1 missing"
        fem, rem = expected["tssem1"]["FEM"], expected["tssem1"]["REM"]
        for key in ("pooled_matrix", "coef", "se", "vcov", "minus2LL", "saturated_minus2LL", "fit"):
            assert key in fem, f"{name}: FEM lacks {key}"
        for key in ("pooled_matrix", "coef", "se", "vcov", "vcov_all", "tau2", "tau2_se", "I2", "Q",
                    "minus2LL"):
            assert key in rem, f"{name}: REM lacks {key}"
        assert rem["RE.type"] == "Diag"
        k_total = expected["input"]["k_total"]
        for block_id, _, _, used in _blocks(name):
            assert used and min(used) >= 1 and max(used) <= k_total, f"{name} {block_id}: indices not 1-based"


OTHER_DATA = ["Becker94", "Mathieu15", "Nohe15A1", "Roorda11", "Cooke16", "Scalco17", "Gnambs18"]


def _fit_quietly(*args, notes=(), **kwargs):
    """Fit, allowing the informative tau2-at-bound warning and the data notes named in ``notes``
    (each must then appear)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tssem1(*args, **kwargs)
    messages = [str(w.message) for w in caught]
    for note in notes:
        assert any(note in m for m in messages), (note, messages)
    unexpected = [m for m in messages if "lower bound" not in m and not any(n in m for n in notes)]
    assert not unexpected, unexpected
    return result


def _expected_notes(data: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The data notes tssem1 owes this data set (REM, FEM), read from the raw matrices."""
    aside = any(
        row[j] is not None and (m[i][i] is None or m[j][j] is None)
        for m in data["matrices"]
        for i, row in enumerate(m)
        for j in range(len(row))
        if i != j
    )
    common = ("left out of the likelihood",) if aside else ()
    not_pd = ("is not positive definite; REM keeps it",) if False in data["positive_definite"] else ()
    return common + not_pd, common


@pytest.mark.parametrize("name", OTHER_DATA)
def test_other_data_sets(name):
    data = load_reference("data", f"{name}.json")
    matrices = ref_study_matrices(data)
    n, variables = data["n"], data["variables"]
    rem_notes, fem_notes = _expected_notes(data)
    rem = _fit_quietly(matrices, n, method="REM", variables=variables, notes=rem_notes)
    uni = uni_r(matrices, n, variables=variables)
    assert rem.converged, rem.message  # Newton decrement < 1e-11: scale-free, unlike the gradient
    pooled = rem.pooled.to_numpy()
    assert np.all(np.abs(pooled) <= 1) and np.linalg.eigvalsh(pooled).min() > 0
    summary = rem.summary()
    assert np.all(np.isfinite(summary["se"])) and np.all(summary["se"] > 0)
    # REM and the univariate means estimate the same correlations and differ only in their
    # weights; a gap above 0.1 would be a bug, not a modelling difference.
    assert np.max(np.abs(pooled - uni.r_mean.to_numpy())) < 0.1
    assert np.all(summary["tau2"] >= 0) and np.all((summary["I2"] >= 0) & (summary["I2"] <= 1))
    assert rem.Q > 0 and rem.Q_df > 0
    not_pd = [i for i, flag in enumerate(data["positive_definite"]) if flag is False]
    assert rem.nonpd_studies == tuple(f"matrices[{i}]" for i in not_pd)
    incomplete = [i for i, flag in enumerate(data["positive_definite"]) if flag is None]
    if not_pd or incomplete:
        with warnings.catch_warnings(record=True):  # the notes were checked on REM above
            warnings.simplefilter("always", masem.ConvergenceWarning)
            with pytest.raises(masem.DataError, match=rf"matrices\[{(not_pd + incomplete)[0]}\]"):
                tssem1(matrices, n, method="FEM", variables=variables)
        keep = [i for i in range(len(matrices)) if i not in not_pd + incomplete]
        matrices, n = [matrices[i] for i in keep], [n[i] for i in keep]
    fem = _fit_quietly(matrices, n, method="FEM", variables=variables, notes=fem_notes)
    assert fem.converged, fem.message
    fit = fem.fit_stats()
    assert fit["chi2"] >= 0 and fit["df"] > 0
    for index in ("RMSEA", "SRMR", "CFI"):
        assert 0 <= fit[index] <= 1
    assert fit["RMSEA_lower"] <= fit["RMSEA"] <= fit["RMSEA_upper"]
    assert np.all(np.isfinite(fem.summary()["se"]))


def test_gnambs18_speed():
    data = load_reference("data", "Gnambs18.json")
    matrices, n, variables = ref_study_matrices(data), data["n"], data["variables"]
    for method, limit in (("FEM", 5.0), ("REM", 2.0)):  # the brief's single-threaded targets
        start = time.perf_counter()
        result = _fit_quietly(matrices, n, method=method, variables=variables)
        elapsed = time.perf_counter() - start
        assert result.converged
        assert elapsed < limit, f"{method} on Gnambs18 took {elapsed:.2f} s (target {limit} s)"
