"""Hunter-Schmidt psychometric meta-analysis (``masem.meta.psychometric.hunter_schmidt``).

Questions answered:

- test_bare_bones_by_hand: are the bare-bones mean, variances, SE, CI and credibility interval the
  textbook formulas of Schmidt & Hunter (2015, ch. 3), worked out by hand on three studies?
- test_individual_corrections_by_hand: are individually corrected correlations pooled with weights
  n rxx ryy, with corrected sampling variances (ch. 3)?
- test_artifact_distribution_by_hand: when a reliability is missing, is the artifact-distribution
  method (ch. 4: mean attenuation factor, compound variance of artifacts) used, and right?
- test_bare_bones_mean_matches_metafor: is the bare-bones mean metafor's n-weighted estimate on
  dat.mcdaniel1994?
- test_corrections_raise_estimates: does correcting for unreliability raise a positive mean?
- test_perfect_reliability_is_bare_bones: do reliabilities of 1 give back the bare-bones results?
- test_summary_repr_and_immutability: is the result a frozen object with a one-row summary and a
  readable repr, and are the inputs left untouched?
- test_bad_input: does bad input raise DataError naming the study, the argument and the value?
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from scipy import stats

from masem import DataError
from masem.meta.psychometric import hunter_schmidt
from conftest import load_reference

R = [0.1, 0.3, 0.5]
N = [100, 200, 100]
# Exact arithmetic on these few numbers: only floating-point rounding separates the two sides.
TIGHT = 1e-12


def test_bare_bones_by_hand() -> None:
    res = hunter_schmidt(R, N)
    assert res.method == "bare-bones"
    # rbar = sum(n r) / sum(n) = (10 + 60 + 50) / 400.
    assert res.r_mean == pytest.approx(0.3, abs=TIGHT)
    # S2_r = sum(n (r - rbar)^2) / sum(n) = (100 * 0.04 + 0 + 100 * 0.04) / 400.
    assert res.var_obs == pytest.approx(0.02, abs=TIGHT)
    # S2_e = (1 - rbar^2)^2 / (nbar - 1), nbar = 400 / 3 (Schmidt & Hunter's mean-n formula).
    var_e = (1 - 0.09) ** 2 / (400 / 3 - 1)
    assert res.var_e == pytest.approx(var_e, abs=TIGHT)
    assert res.var_res == pytest.approx(0.02 - var_e, abs=TIGHT)
    assert res.pct_sampling_error == pytest.approx(100 * var_e / 0.02, abs=1e-9)  # percent scale of TIGHT
    # SE of the mean = SD_r / sqrt(k); 95% CI and 80% credibility interval with normal quantiles.
    se = np.sqrt(0.02 / 3)
    assert res.se == pytest.approx(se, abs=TIGHT)
    assert res.ci_lower == pytest.approx(0.3 - 1.959963984540054 * se, abs=TIGHT)
    assert res.cred_upper == pytest.approx(0.3 + 1.2815515655446004 * np.sqrt(0.02 - var_e), abs=TIGHT)
    # Bare-bones: the "corrected" fields are the bare-bones ones.
    assert (res.rho, res.sd_rho, res.attenuation) == (res.r_mean, res.sd_res, 1.0)


def test_individual_corrections_by_hand() -> None:
    res = hunter_schmidt(R, N, rxx=[0.81, 0.64, 0.81])
    assert res.method == "individual"
    # A = sqrt(rxx) = (.9, .8, .9); r_c = r / A; weights n A^2 = (81, 128, 81).
    a = np.array([0.9, 0.8, 0.9])
    w = np.array([81.0, 128.0, 81.0])
    rc = np.array(R) / a
    # rho = (81 * .1/.9 + 128 * .3/.8 + 81 * .5/.9) / 290 = (9 + 48 + 45) / 290.
    assert res.rho == pytest.approx(102 / 290, abs=TIGHT)
    var_rc = w @ (rc - 102 / 290) ** 2 / 290
    # Corrected sampling variance of study i: (1 - rbar_obs^2)^2 / (n_i - 1) / A_i^2, rbar_obs = 0.3.
    ve = (1 - 0.09) ** 2 / (np.array(N) - 1) / a**2
    assert res.var_rho == pytest.approx(var_rc - w @ ve / 290, abs=TIGHT)
    assert res.rho_se == pytest.approx(np.sqrt(var_rc / 3), abs=TIGHT)
    assert res.rho_cred_lower == pytest.approx(102 / 290 - 1.2815515655446004 * res.sd_rho, abs=TIGHT)
    table = res.studies()
    np.testing.assert_allclose(table["r_corrected"], rc, rtol=TIGHT)
    np.testing.assert_allclose(table["weight"], w, rtol=TIGHT)


def test_artifact_distribution_by_hand() -> None:
    res = hunter_schmidt(R, N, rxx=[0.81, np.nan, 0.64])
    assert res.method == "artifact distribution"
    # Reported sqrt(rxx): .9 and .8 -> mean A = .85, SD (denominator count) = .05, V = (.05 / .85)^2.
    cv2 = (0.05 / 0.85) ** 2
    assert res.attenuation == pytest.approx(0.85, abs=TIGHT)
    assert res.artifact_cv2 == pytest.approx(cv2, abs=TIGHT)
    assert res.rho == pytest.approx(0.3 / 0.85, abs=TIGHT)
    # S2_rho = (S2_r - S2_e - rbar^2 V) / A^2.
    var_e = (1 - 0.09) ** 2 / (400 / 3 - 1)
    assert res.var_rho == pytest.approx((0.02 - var_e - 0.09 * cv2) / 0.85**2, abs=TIGHT)
    assert res.rho_se == pytest.approx(np.sqrt(0.02 / 3) / 0.85, abs=TIGHT)
    # Forcing the artifact method on complete reliabilities is allowed; forcing individual on gaps is not.
    assert hunter_schmidt(R, N, rxx=[0.81, 0.64, 0.81], correction="artifact").method == "artifact distribution"
    with pytest.raises(DataError, match=r"rxx of study 2 is missing"):
        hunter_schmidt(R, N, rxx=[0.81, np.nan, 0.64], correction="individual")


def test_bare_bones_mean_matches_metafor() -> None:
    data = load_reference("data", "metafor_dat.mcdaniel1994.json")["columns"]
    expected = load_reference("expected", "metafor", "dat.mcdaniel1994.json")["results"]
    ref = expected["COR_vtypeAV_weights_ni_HS"]
    res = hunter_schmidt(data["ri"], data["ni"], labels=[str(s) for s in data["study"]])
    # rma(weights = ni) pools with the n weights of the bare-bones mean: a closed form, so the README
    # tolerance for metafor closed forms applies (1e-8 absolute).
    assert res.r_mean == pytest.approx(ref["estimate"], abs=1e-8)
    assert res.k == ref["k"]


def test_corrections_raise_estimates() -> None:
    rng = np.random.default_rng(7)
    r = rng.uniform(0.05, 0.5, size=12)
    n = rng.integers(30, 300, size=12)
    rxx = rng.uniform(0.6, 0.95, size=12)
    ryy = rng.uniform(0.6, 0.95, size=12)
    bare = hunter_schmidt(r, n)
    individual = hunter_schmidt(r, n, rxx=rxx, ryy=ryy)
    gaps = rxx.copy()
    gaps[::3] = np.nan
    artifact = hunter_schmidt(r, n, rxx=gaps, ryy=ryy)
    assert individual.rho > bare.r_mean
    assert artifact.rho > bare.r_mean
    assert artifact.rho_se > bare.se
    assert individual.method == "individual" and artifact.method == "artifact distribution"


def test_perfect_reliability_is_bare_bones() -> None:
    r = [0.12, 0.31, 0.25, 0.44, 0.05]
    n_unequal = [40, 250, 90, 60, 120]
    ones = [1.0] * 5
    bare = hunter_schmidt(r, n_unequal)
    # Artifact distributions of 1s: A = 1, V = 0, so every figure is the bare-bones one.
    artifact = hunter_schmidt(r, n_unequal, rxx=[1.0, np.nan, 1.0, 1.0, 1.0], ryy=ones)
    pairs = {"rho": "r_mean", "rho_se": "se", "var_rho": "var_res", "rho_cred_lower": "cred_lower",
             "rho_cred_upper": "cred_upper", "pct_artifacts": "pct_sampling_error"}
    for corrected, bare_bones in pairs.items():
        assert getattr(artifact, corrected) == pytest.approx(getattr(bare, bare_bones), abs=TIGHT)
    # Individual corrections with A = 1: same mean and SE for any n; the sampling-error variance is
    # averaged over studies ((1 - rbar^2)^2 / (n_i - 1)), which equals the mean-n formula when all n are equal.
    individual = hunter_schmidt(r, n_unequal, rxx=ones, ryy=ones)
    assert individual.rho == pytest.approx(bare.r_mean, abs=TIGHT)
    assert individual.rho_se == pytest.approx(bare.se, abs=TIGHT)
    equal_bare = hunter_schmidt(r, [80] * 5)
    equal_individual = hunter_schmidt(r, [80] * 5, rxx=ones, ryy=ones)
    assert equal_individual.var_rho == pytest.approx(equal_bare.var_res, abs=TIGHT)
    assert equal_individual.pct_artifacts == pytest.approx(equal_bare.pct_sampling_error, abs=1e-9)


def test_summary_repr_and_immutability() -> None:
    r = np.array([0.1, 0.3, 0.5])
    rxx = [0.81, None, 0.64]
    r_copy, rxx_copy = r.copy(), copy.deepcopy(rxx)
    res = hunter_schmidt(r, N, rxx=rxx, labels=["A", "B", "C"])
    np.testing.assert_array_equal(r, r_copy)
    assert rxx == rxx_copy
    table = res.summary()
    assert table.shape[0] == 1
    assert {"method", "r_mean", "rho", "sd_rho", "rho_cred_lower", "pct_sampling_error"} <= set(table.columns)
    assert table.loc[0, "method"] == "artifact distribution"
    text = repr(res)
    assert "artifact distribution" in text and "rho =" in text and "80% CrI" in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.rho = 0.0  # type: ignore[misc]
    assert res.studies()["label"].tolist() == ["A", "B", "C"]
    # A 95% CI uses the normal quantile; 90% is narrower.
    narrow = hunter_schmidt(r, N, level=0.90)
    assert narrow.ci_upper - narrow.r_mean == pytest.approx(stats.norm.ppf(0.95) * narrow.se, abs=TIGHT)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"r": [0.1, 0.2], "n": [10, 20, 30]}, r"n has 3 values but r has 2"),
        ({"r": [0.1, 1.0], "n": [10, 20]}, r"r of study 2 is 1;"),
        ({"r": [0.1, 0.2], "n": [10, 1]}, r"n of study 2 is 1;.*whole numbers >= 2"),
        ({"r": [0.1, 0.2], "n": [10.5, 20]}, r"n of study 1 is 10\.5"),
        ({"r": [0.1, 0.2], "n": [10, 20], "rxx": [0.8, 0.0]}, r"rxx of study 2 is 0;.*\(0, 1\]"),
        ({"r": [0.1, 0.2], "n": [10, 20], "ryy": [1.2, 0.8]}, r"ryy of study 1 is 1\.2"),
        ({"r": [0.1, 0.2], "n": [10, 20], "ryy": [np.nan, np.nan]}, r"no study reports ryy"),
        ({"r": [0.1], "n": [10]}, r"at least 2 studies"),
        ({"r": [0.1, 0.2], "n": [10, 20], "labels": ["a"]}, r"labels has 1 entries"),
        ({"r": [0.1, 0.2], "n": [10, 20], "credibility": 80}, r"credibility must lie"),
        ({"r": [0.1, 0.2], "n": [10, 20], "correction": "full"}, r"correction must be one of"),
        ({"r": [0.1, 0.2], "n": [10, 20], "correction": "individual"}, r"needs reliabilities"),
        ({"r": [0.1, 0.2], "n": [10, 20], "labels": ["Ames", "Bo"], "rxx": [0.8, -1]}, r"rxx of Bo is -1"),
    ],
)
def test_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        hunter_schmidt(**kwargs)
