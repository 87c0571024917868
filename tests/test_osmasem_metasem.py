"""Conformance of the one-stage MASEM (masem.cor_data, masem.osmasem) with metaSEM 1.5.5.

Every file in tests/reference/expected/osmasem is checked, every analysis in it (e.g. Nohe15A1:
four paths moderated by lag, and two covariances moderated by lag). The data of an analysis are
the studies it used (``studies_used_index``) with the moderator as metaSEM used it
(``values_used``, after ``scale()``): metaSEM built its data object on those studies, so the mean
matrix of the sampling covariances is theirs too (``data.matches_metaSEM_data``). Questions
answered, per analysis:

- test_data: are the n-weighted mean matrix and the Olkin-Siotani covariance at it (n = 1)
  metaSEM's ``Cor2DataFrame(acov = "weighted")``?
- test_model_without_moderator / test_model_with_moderator: are -2LL, the number of parameters
  and df, every estimate (paths, covariances, slopes ``a:m`` for metaSEM's ``a_1``) and standard
  error, and tau2 metaSEM's (M0 and M1)?
- test_per_study: are each study's -2LL term and implied correlations metaSEM's (M1)?
- test_likelihood_ratio: is ``masem.compare(fit1, fit0)`` the ``anova(M1, M0)`` chi2, df and p?
- test_r2_and_srmr: are ``osmasem_r2`` (truncated at 0) and ``osmasem_srmr(fit0)`` metaSEM's?
- test_implied_at_moderator_values: is the implied matrix at moderator 0 and +1 metaSEM's?
- test_profile_intervals: are the likelihood-based bounds of M1 metaSEM's (paths, covariances,
  slopes; tau2 on the tau2 scale)?
- test_reference_coverage: does every file still hold every block compared here?
"""

from __future__ import annotations

import functools
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import masem
from conftest import REFERENCE, load_reference, ref_matrix

FILES = sorted(p.stem for p in (REFERENCE / "expected" / "osmasem").glob("*.json"))
CASES = [
    (name, analysis)
    for name in FILES
    for analysis in json.loads((REFERENCE / "expected" / "osmasem" / f"{name}.json").read_text())["analyses"]
]
# metaSEM's likelihood-based bounds exist for some analyses only (M1_LB says "not_run" elsewhere).
LB_CASES = [
    (name, analysis)
    for name, analysis in CASES
    if "intervals" in json.loads((REFERENCE / "expected" / "osmasem" / f"{name}.json").read_text())["analyses"][analysis]["M1_LB"]
]

# Tolerances of tests/reference/README.md for OSMASEM (OpenMx's Hessian is numerical: SEs 2e-3).
EST_ATOL = 2e-4
SE_RTOL = 2e-3
M2LL_ATOL = 1e-3
TAU2_RTOL, TAU2_ATOL = 2e-3, 1e-6
R2_ATOL = LR_ATOL = 2e-3
SRMR_ATOL = 1e-4
BOUND_ATOL = 1e-3
# A tau2 below this is at metaSEM's boundary: Tau1 runs towards -inf there, so compare tau2 only.
BOUNDARY = 1e-8


@functools.cache
def _expected(name: str) -> dict:
    return load_reference("expected", "osmasem", f"{name}.json")


@functools.cache
def _data(name: str, analysis: str) -> masem.CorData:
    expected = _expected(name)
    block = expected["analyses"][analysis]
    raw = load_reference("data", expected["input"]["file"].rsplit("/", 1)[-1])
    used = [i - 1 for i in block["studies_used_index"]]
    matrices = [np.array(raw["matrices"][i], dtype=float) for i in used]
    n = [raw["n"][i] for i in used]
    values = block["moderator"]["values_used"]
    if len(values) != len(used):  # given for every study of the data set: keep the used ones
        values = [values[i] for i in used]
    moderators = pd.DataFrame({block["moderator"]["column"]: values})
    return masem.cor_data(matrices, n, variables=raw["variables"], moderators=moderators)


def _fit_quietly(*args, **kwargs):
    """Fit, letting only notes on tau2 at its bound and on left-out studies pass."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = masem.osmasem(*args, **kwargs)
    unexpected = [str(w.message) for w in caught if "lower bound" not in str(w.message)]
    assert not unexpected, unexpected
    return fit


@functools.cache
def _fits(name: str, analysis: str, intervals: str = "wald"):
    expected = _expected(name)
    block = expected["analyses"][analysis]
    data = _data(name, analysis)
    model = expected["model"]["lavaan_syntax"]
    moderator = block["moderator"]["column"]
    moderated = [e["base_label"] for e in block["moderated_elements"]]
    fit0 = _fit_quietly(data, model)
    fit1 = _fit_quietly(data, model, moderators=[moderator], moderate=moderated, intervals=intervals)
    return fit0, fit1


def _ours(parameter: dict, moderator: str) -> str:
    """metaSEM's name of a parameter -> masem's (a moderator effect ``a_1`` is ``a:moderator``)."""
    if parameter["matrix"] in ("A1", "S1"):
        return f"{parameter['name'].removesuffix('_1')}:{moderator}"
    return parameter["name"]


def _compare_model(fit, reference: dict, moderator: str) -> None:
    assert fit.converged, fit.message
    assert abs(fit.minus2LL - reference["minus2LL"]) <= M2LL_ATOL
    assert fit.n_parameters == reference["n_parameters"]
    assert fit.df == reference["df"]
    assert fit.n_observed == reference["n_observed_statistics"]
    ours = fit.coefficients
    boundary = set(reference["boundary_tau2"]["Tau1_labels"])
    for parameter in reference["parameters"]:
        name = _ours(parameter, moderator)
        if parameter["name"] in boundary:
            continue  # Tau1 -> -inf at tau2 = 0: compared as tau2 below
        row = ours.loc[name]
        assert abs(row["estimate"] - parameter["estimate"]) <= EST_ATOL, (name, row["estimate"], parameter)
        assert abs(row["se"] / parameter["se"] - 1) <= SE_RTOL, (name, row["se"], parameter["se"])
    tau2 = reference["tau2"]
    assert list(fit.tau2.index) == tau2["correlation"]
    np.testing.assert_allclose(fit.tau2.to_numpy(), tau2["tau2"], rtol=TAU2_RTOL, atol=TAU2_ATOL)


@pytest.mark.parametrize("name,analysis", CASES)
def test_data(name, analysis):
    data = _data(name, analysis)
    block = _expected(name)["data"]
    if _expected(name)["analyses"][analysis]["studies_used_index"] != _expected(name)["input"]["studies_used_index"]:
        pytest.skip("the data block describes all studies; this analysis left some out")
    np.testing.assert_allclose(data.mean_matrix.to_numpy(), ref_matrix(block["acov_mean_R"]).to_numpy(), atol=1e-12)
    np.testing.assert_allclose(data.acov, ref_matrix(block["n_acov"]).to_numpy(), atol=1e-12)
    assert data.labels == block["ylabels"]


@pytest.mark.parametrize("name,analysis", CASES)
def test_model_without_moderator(name, analysis):
    fit0, _ = _fits(name, analysis)
    block = _expected(name)["analyses"][analysis]
    _compare_model(fit0, block["M0"], block["moderator"]["column"])


@pytest.mark.parametrize("name,analysis", CASES)
def test_model_with_moderator(name, analysis):
    _, fit1 = _fits(name, analysis)
    block = _expected(name)["analyses"][analysis]
    _compare_model(fit1, block["M1"], block["moderator"]["column"])


@pytest.mark.parametrize("name,analysis", CASES)
def test_per_study(name, analysis):
    _, fit1 = _fits(name, analysis)
    ours = fit1.per_study()
    for study in _expected(name)["analyses"][analysis]["M1"]["per_study"]:
        row = ours.iloc[study["index"] - 1] if len(ours) == len(_data(name, analysis).studies) else None
        assert row is not None
        assert int(row["n_observed"]) == study["n_observed"]
        assert abs(row["minus2LL"] - study["minus2LL"]) <= M2LL_ATOL
        np.testing.assert_allclose(row[fit1.data.labels].to_numpy(dtype=float), study["implied_vechs"], atol=EST_ATOL)


@pytest.mark.parametrize("name,analysis", CASES)
def test_likelihood_ratio(name, analysis):
    fit0, fit1 = _fits(name, analysis)
    anova = _expected(name)["analyses"][analysis]["anova"]
    row = masem.compare(fit1, fit0).iloc[0]  # either order: the fit with more df is the restricted one
    assert abs(row["chi2_diff"] - anova["LR_chisq"]) <= LR_ATOL
    assert row["df_diff"] == anova["df"]
    assert row["p_value"] == pytest.approx(anova["p_value"], rel=1e-2, abs=1e-12)


@pytest.mark.parametrize("name,analysis", CASES)
def test_r2_and_srmr(name, analysis):
    fit0, fit1 = _fits(name, analysis)
    block = _expected(name)["analyses"][analysis]
    r2 = masem.osmasem_r2(fit1, fit0)
    assert list(r2.index) == block["R2"]["correlation"]
    np.testing.assert_allclose(r2["R2"].to_numpy(), block["R2"]["R2"], atol=R2_ATOL)
    assert abs(masem.osmasem_srmr(fit0) - block["SRMR_M0"]) <= SRMR_ATOL


@pytest.mark.parametrize("name,analysis", CASES)
def test_implied_at_moderator_values(name, analysis):
    _, fit1 = _fits(name, analysis)
    block = _expected(name)["analyses"][analysis]
    moderator = block["moderator"]["column"]
    for key in ("at_moderator_0", "at_moderator_plus1"):
        reference = block["implied"][key]
        ours = fit1.implied(at={moderator: reference["moderator_value"]})
        expected = ref_matrix(reference["implied_R"])
        np.testing.assert_allclose(ours.loc[expected.index, expected.columns].to_numpy(), expected.to_numpy(),
                                   atol=EST_ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("name,analysis", LB_CASES)
def test_profile_intervals(name, analysis):
    block = _expected(name)["analyses"][analysis]
    _, fit1 = _fits(name, analysis, intervals="profile")
    moderator = block["moderator"]["column"]
    ours = fit1.coefficients
    meaning = {p["name"]: p for p in block["M1"]["parameters"]}
    for interval in block["M1_LB"]["intervals"]:
        if interval["name"].startswith("Tau1"):
            continue  # compared on the tau2 scale below (OpenMx's Tau1 bounds stop short, see README)
        name = _ours(meaning[interval["name"]], moderator)
        for side, key in (("ci_lower", "lbound"), ("ci_upper", "ubound")):
            assert abs(ours.loc[name, side] - interval[key]) <= BOUND_ATOL, (name, side, ours.loc[name, side], interval)
    tau = block["M1_LB"]["tau2_intervals"]
    het = fit1.heterogeneity
    np.testing.assert_allclose(het["ci_lower"].to_numpy(), tau["lbound"], atol=BOUND_ATOL)
    np.testing.assert_allclose(het["ci_upper"].to_numpy(), tau["ubound"], atol=BOUND_ATOL)


def test_reference_coverage():
    assert FILES, "no OSMASEM expected files in tests/reference/expected/osmasem"
    kinds = set()
    bounded = 0
    for name in FILES:
        expected = _expected(name)
        assert {"acov_mean_R", "n_acov", "ylabels"} <= set(expected["data"])
        for analysis, block in expected["analyses"].items():
            kinds.add(block["moderated_matrix"])
            for key in ("M0", "M1", "anova", "R2", "SRMR_M0", "implied", "M1_LB", "moderator", "moderated_elements"):
                assert key in block, f"{name} {analysis}: {key} missing"
            bounded += "intervals" in block["M1_LB"]
            for model in ("M0", "M1"):
                assert {"parameters", "minus2LL", "tau2", "per_study", "boundary_tau2"} <= set(block[model])
    assert {"A", "S"} <= kinds, "the reference no longer moderates both paths and covariances"
    assert bounded, "no analysis with likelihood-based bounds left to compare"
