"""Publication-bias tools (``masem.meta.bias``) against metafor 3.8-1 and against their published formulas.

Questions answered:

- test_regtest_rma_matches_metafor: is ``egger(res)`` metafor's ``regtest(res)`` (mixed-effects
  meta-regression on sei: z, p, limit estimate and CI) for every measure and method in
  dat.mcdaniel1994?
- test_regtest_lm_matches_metafor: is ``egger(res, model="lm")`` metafor's classical Egger test?
- test_trimfill_matches_metafor: is ``trim_and_fill(res)`` metafor's ``trimfill(res)`` (side, k0,
  its SE, the filled estimate, SE, CI and tau2), filling on the left (ZCOR) and on the right (COR)?
- test_reference_coverage: do the reference files still hold these entries (the guard that keeps
  the conformance tests meaningful)?
- test_egger_lm_is_the_classical_regression: does the weighted form equal Egger et al.'s (1997)
  regression of the standard normal deviate on precision?
- test_trim_and_fill_by_hand: are L0 and R0, the iteration, the mirrored studies and se_k0 /
  p_k0 Duval & Tweedie's, worked out by hand on seven studies?
- test_trim_and_fill_mirror_symmetry: does negating every effect flip the side and negate the
  filled estimate, with the same k0 (the right-side code path is the left one mirrored)?
- test_trim_and_fill_warns_when_not_settled: does hitting maxiter raise a ConvergenceWarning?
- test_failsafe_by_hand: are Rosenthal's and Orwin's fail-safe numbers their published formulas?
- test_pet_peese_by_hand: are PET and PEESE the weighted least-squares intercepts (normal
  equations solved by hand), and does the conditional rule pick the right one?
- test_funnel_data_and_results: funnel_data's columns, the results' summary() and repr, and no
  mutation of the inputs.
- test_r0_on_reference_data: does R0 settle on dat.mcdaniel1994 with Duval & Tweedie's SE and p?
- test_bad_input: does bad input raise DataError / ModelError with a precise message?
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from masem import ConvergenceWarning, DataError, ModelError
from masem.meta.bias import egger, failsafe_n, funnel_data, pet_peese, trim_and_fill
from masem.meta.univariate import escalc, meta
from conftest import load_reference

# These tests draw many small data sets, some homogeneous on purpose, so tau2 often lands on 0; the
# ConvergenceWarning that says so is checked in test_stress.py, not here.
pytestmark = pytest.mark.filterwarnings("ignore:.*tau2 is estimated at its lower bound:masem.errors.ConvergenceWarning")

MEASURES = ("ZCOR", "COR")
METHODS = ("FE", "DL", "REML", "HS", "PM")
ITERATED = ("REML", "PM")

# README tolerance for metafor closed forms (FE, DL, HS, Q, classical Egger): 1e-6 relative, 1e-8 absolute.
CLOSED_RTOL, CLOSED_ATOL = 1e-6, 1e-8
# README tolerance for metafor figures that depend on an iterated tau2 (REML, PM): 2.5e-3 relative
# (metafor stops iterating when tau2 moves < 1e-5; we solve exactly). 1e-8 absolute for values near 0.
ITER_RTOL = 2.5e-3
# Hand-worked examples: exact arithmetic, only floating-point rounding separates the two sides.
TIGHT = 1e-12


def _close(actual: float, expected: float, method: str) -> bool:
    rtol = ITER_RTOL if method in ITERATED else CLOSED_RTOL
    return abs(actual - expected) <= max(CLOSED_ATOL, rtol * abs(expected))


@pytest.fixture(scope="module")
def mcdaniel() -> tuple[dict, dict]:
    data = load_reference("data", "metafor_dat.mcdaniel1994.json")["columns"]
    expected = load_reference("expected", "metafor", "dat.mcdaniel1994.json")["results"]
    return data, expected


def _fit(mcdaniel: tuple[dict, dict], measure: str, method: str):
    data, expected = mcdaniel
    es = escalc(measure, data["ri"], data["ni"])
    return meta(es["yi"], es["vi"], method=method), expected[measure]["methods"][method]


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("method", METHODS)
def test_regtest_rma_matches_metafor(mcdaniel, measure: str, method: str) -> None:
    res, ref = _fit(mcdaniel, measure, method)
    ref = ref["regtest_rma_sei"]
    out = egger(res)
    assert out.model == "rma" and out.df is None
    pairs = {
        "zval": out.statistic, "pval": out.p, "limit_estimate": out.limit_estimate,
        "limit_ci_lb": out.limit_ci_lower, "limit_ci_ub": out.limit_ci_upper,
    }
    for key, actual in pairs.items():
        assert _close(actual, ref[key], method), (measure, method, key, actual, ref[key])


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("method", METHODS)
def test_regtest_lm_matches_metafor(mcdaniel, measure: str, method: str) -> None:
    res, ref = _fit(mcdaniel, measure, method)
    ref = ref["regtest_lm_egger"]
    out = egger(res, model="lm")
    assert out.df == ref["df"]
    pairs = {
        "tval": out.statistic, "pval": out.p, "limit_estimate": out.limit_estimate,
        "limit_ci_lb": out.limit_ci_lower, "limit_ci_ub": out.limit_ci_upper,
    }
    for key, actual in pairs.items():
        # Classical Egger is a closed form whatever the method of res: README closed-form tolerance.
        assert _close(actual, ref[key], "FE"), (measure, method, key, actual, ref[key])


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("method", METHODS)
def test_trimfill_matches_metafor(mcdaniel, measure: str, method: str) -> None:
    res, ref = _fit(mcdaniel, measure, method)
    ref = ref["trimfill"]
    out = trim_and_fill(res)
    assert (out.side, out.k0, out.k_total) == (ref["side"], ref["k0"], ref["k_total"])
    assert out.p_k0 is None and ref["p_k0"] is None
    pairs = {
        "se_k0": out.se_k0, "estimate": out.estimate, "se": out.se, "ci_lb": out.ci_lower,
        "ci_ub": out.ci_upper, "tau2": out.tau2,
    }
    for key, actual in pairs.items():
        assert _close(actual, ref[key], method), (measure, method, key, actual, ref[key])


def test_reference_coverage(mcdaniel) -> None:
    _, expected = mcdaniel
    sides = set()
    for measure in MEASURES:
        for method in METHODS:
            entry = expected[measure]["methods"][method]
            assert {"regtest_rma_sei", "regtest_lm_egger", "trimfill"} <= set(entry)
            sides.add(entry["trimfill"]["side"])
    # Both sides of the funnel are exercised by the conformance tests above.
    assert sides == {"left", "right"}


def test_egger_lm_is_the_classical_regression() -> None:
    y = np.array([0.55, 0.42, 0.35, 0.33, 0.30, 0.29, 0.41])
    v = np.array([0.04, 0.02, 0.01, 0.005, 0.002, 0.001, 0.03])
    sei = np.sqrt(v)
    out = egger(meta(y, v, method="REML"), model="lm")
    # Egger et al. (1997): OLS of y / sei on 1 / sei; its intercept is the asymmetry term (the slope
    # on sei here) and its slope the limit estimate.
    classical = stats.linregress(1 / sei, y / sei)
    assert out.slope == pytest.approx(classical.intercept, abs=TIGHT)
    assert out.limit_estimate == pytest.approx(classical.slope, abs=TIGHT)
    assert out.statistic == pytest.approx(classical.intercept / classical.intercept_stderr, abs=1e-9)  # t of ~3
    assert out.df == len(y) - 2


# Seven studies with equal variances: every fixed-effects fit is a plain mean.
HAND_Y = [0.0, 0.05, 0.1, 0.15, 0.6, 0.7, 0.8]
HAND_V = [0.01] * 7


def test_trim_and_fill_by_hand() -> None:
    res = meta(HAND_Y, HAND_V, method="FE")
    l0 = trim_and_fill(res, estimator="L0", side="left")
    # Iteration 1 (k0 = 0): mean 2.4 / 7; the ranks of |y - mean| are (5, 4, 2, 1, 3, 6, 7) with the
    # last three positive: T = 16, L0 = (4 * 16 - 7 * 8) / 13 = 0.62 -> 1.
    # Iteration 2 (k0 = 1): mean of the 6 smallest = 1.6 / 6; the 3 positive deviations hold ranks
    # 5, 6, 7: T = 18, L0 = (72 - 56) / 13 = 1.23 -> 1 again, so the algorithm stops.
    assert (l0.k0, l0.iterations, l0.converged) == (1, 2, True)
    centre = 1.6 / 6
    np.testing.assert_allclose(l0.filled["yi"], [2 * centre - 0.8], atol=TIGHT)
    np.testing.assert_allclose(l0.filled["vi"], [0.01], atol=TIGHT)
    assert l0.estimate == pytest.approx((2.4 + 2 * centre - 0.8) / 8, abs=TIGHT)
    # Duval & Tweedie's Var(T_n) at the unrounded L0 = 16 / 13, n = 7; se = 4 sqrt(Var) / (2n - 1).
    n, k0 = 7, 16 / 13
    var_t = (n * (n + 1) * (2 * n + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0 - 18 * n * k0**2 - 18 * n * k0
             + 6 * n**2 * k0) / 24
    assert l0.se_k0 == pytest.approx(4 * np.sqrt(var_t) / 13, abs=TIGHT)
    assert l0.p_k0 is None
    r0 = trim_and_fill(res, estimator="R0", side="left")
    # R0 = (run of positive deviations among the largest |y - mean|) - 1: 2 - 1 = 1 at mean 2.4 / 7,
    # 3 - 1 = 2 at mean 1.6 / 6, 3 - 1 = 2 at mean 0.9 / 5: stops at k0 = 2, centre 0.18.
    assert (r0.k0, r0.iterations) == (2, 3)
    np.testing.assert_allclose(sorted(r0.filled["yi"]), [0.36 - 0.8, 0.36 - 0.7], atol=TIGHT)
    assert r0.estimate == pytest.approx(0.18, abs=TIGHT)
    # R0: se sqrt(2 k0 + 2); p of a run this long under symmetry 0.5^(k0 + 1).
    assert r0.se_k0 == pytest.approx(np.sqrt(6), abs=TIGHT)
    assert r0.p_k0 == pytest.approx(0.125, abs=TIGHT)


@pytest.mark.parametrize("estimator", ["L0", "R0"])
def test_trim_and_fill_mirror_symmetry(mcdaniel, estimator: str) -> None:
    data, _ = mcdaniel
    es = escalc("ZCOR", data["ri"], data["ni"])
    for method in ("FE", "DL"):
        up = trim_and_fill(meta(es["yi"], es["vi"], method=method), estimator=estimator)
        down = trim_and_fill(meta(-es["yi"], es["vi"], method=method), estimator=estimator)
        assert {up.side, down.side} == {"left", "right"}
        assert up.k0 == down.k0 > 0
        # Negation is exact in floating point, but sums may associate differently: rounding level.
        assert down.estimate == pytest.approx(-up.estimate, abs=1e-12)
        assert down.tau2 == pytest.approx(up.tau2, abs=1e-12)


def test_trim_and_fill_warns_when_not_settled() -> None:
    res = meta(HAND_Y, HAND_V, method="FE")
    with pytest.warns(ConvergenceWarning, match="maxiter"):
        out = trim_and_fill(res, side="left", maxiter=1)
    assert not out.converged


def test_failsafe_by_hand() -> None:
    y, v = [0.2, 0.3, 0.25], [0.01, 0.01, 0.01]
    ros = failsafe_n(y, v)
    # Rosenthal (1979): z = (2, 3, 2.5), (sum z)^2 / z_.05^2 - k = 56.25 / 1.6448536...^2 - 3.
    raw = 56.25 / stats.norm.isf(0.05) ** 2 - 3
    assert ros.n_raw == pytest.approx(raw, abs=TIGHT)
    assert ros.n == int(np.ceil(raw))
    assert ros.p_combined == pytest.approx(stats.norm.sf(7.5 / np.sqrt(3)), abs=TIGHT)
    # Negative effects: the same file drawer in the other direction.
    assert failsafe_n([-0.2, -0.3, -0.25], v).n_raw == pytest.approx(raw, abs=TIGHT)
    # Orwin (1983): k (ybar - target) / target = 3 (0.25 - 0.05) / 0.05 = 12; default target ybar / 2 gives k.
    assert failsafe_n(y, v, method="Orwin", target=0.05).n_raw == pytest.approx(12, abs=TIGHT)
    orwin = failsafe_n(y, v, method="orwin")
    assert (orwin.n, orwin.target) == (3, pytest.approx(0.125, abs=TIGHT))
    # A combined result already non-significant needs no studies.
    assert failsafe_n([0.01, -0.02, 0.0], v).n == 0


def test_pet_peese_by_hand() -> None:
    y = np.array([0.55, 0.42, 0.35, 0.33, 0.30, 0.29])
    v = np.array([0.04, 0.02, 0.01, 0.005, 0.002, 0.001])
    res = meta(y, v, method="FE")
    out = pet_peese(res)
    for name, x in (("pet", np.sqrt(v)), ("peese", v)):
        # Weighted least squares by the normal equations, weights 1 / v, residual variance on k - 2 df.
        X = np.column_stack([np.ones_like(x), x])
        W = np.diag(1 / v)
        beta = np.linalg.solve(X.T @ W @ X, X.T @ W @ y)
        resid = y - X @ beta
        s2 = resid @ W @ resid / (len(y) - 2)
        se = np.sqrt(s2 * np.linalg.inv(X.T @ W @ X)[0, 0])
        assert getattr(out, f"{name}_estimate") == pytest.approx(beta[0], abs=TIGHT)
        assert getattr(out, f"{name}_se") == pytest.approx(se, abs=1e-10)  # se ~ 0.01: rounding of the inverse
        t_crit = stats.t.ppf(0.975, len(y) - 2)
        assert getattr(out, f"{name}_ci_upper") == pytest.approx(beta[0] + t_crit * se, abs=1e-10)
    # PET is the classical Egger regression.
    assert out.pet_estimate == pytest.approx(egger(res, model="lm").limit_estimate, abs=TIGHT)
    # Conditional rule: PET's intercept is clearly non-zero here, so PEESE is chosen; a tiny alpha keeps PET.
    assert out.chosen == "PEESE" and out.estimate == out.peese_estimate
    strict = pet_peese(res, alpha=1e-12)
    assert strict.chosen == "PET" and strict.estimate == strict.pet_estimate
    table = out.summary()
    assert table["model"].tolist() == ["PET", "PEESE"] and table["chosen"].tolist() == [False, True]


def test_funnel_data_and_results() -> None:
    y = np.array([0.55, 0.42, 0.35, 0.33, 0.30, 0.29, 0.41])
    v = np.array([0.04, 0.02, 0.01, 0.005, 0.002, 0.001, 0.03])
    y_copy, v_copy = y.copy(), v.copy()
    res = meta(y, v, method="REML", labels=list("ABCDEFG"))
    points = funnel_data(res)
    assert points.columns.tolist() == ["label", "yi", "sei"]
    np.testing.assert_allclose(points["sei"], np.sqrt(v), rtol=TIGHT)
    assert points["label"].tolist() == list("ABCDEFG")
    tests = [egger(res), egger(res, model="lm"), trim_and_fill(res), failsafe_n(y, v), pet_peese(res)]
    for out in tests:
        table = out.summary()
        assert isinstance(table, pd.DataFrame) and len(table) >= 1
        assert type(out).__name__ in repr(out)
        with pytest.raises(AttributeError):
            out.k = 0  # type: ignore[misc]  # frozen
    tf = tests[2]
    assert tf.filled.columns.tolist() == ["label", "yi", "vi", "sei"]
    assert tf.result.k == tf.k_total and tf.observed is res
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(v, v_copy)


def test_bad_input() -> None:
    res = meta([0.1, 0.3, 0.2, 0.4], [0.01, 0.02, 0.015, 0.03], method="REML")
    with pytest.raises(DataError, match="needs a fitted univariate meta-analysis"):
        egger(pd.DataFrame({"yi": [0.1]}))
    with pytest.raises(DataError, match="model must be one of"):
        egger(res, model="ols")
    with pytest.raises(DataError, match="estimator must be one of"):
        trim_and_fill(res, estimator="Q0")
    with pytest.raises(DataError, match="side must be one of"):
        trim_and_fill(res, side="top")
    with pytest.raises(DataError, match="maxiter must be a positive whole number"):
        trim_and_fill(res, maxiter=0)
    weighted = meta([0.1, 0.3, 0.2, 0.4], [0.01, 0.02, 0.015, 0.03], weights=[1, 2, 3, 4])
    with pytest.raises(ModelError, match="user weights"):
        trim_and_fill(weighted)
    with pytest.raises(ModelError, match="user weights"):
        egger(weighted)
    with pytest.raises(DataError, match="same standard error"):
        egger(meta(HAND_Y, HAND_V, method="FE"))
    with pytest.raises(DataError, match="pass side='left' or side='right'"):
        trim_and_fill(meta(HAND_Y, HAND_V, method="FE"))
    with pytest.raises(DataError, match="at least 3 studies"):
        pet_peese(meta([0.1, 0.3], [0.01, 0.02], method="FE"))
    with pytest.raises(DataError, match="alpha must lie"):
        pet_peese(res, alpha=5)
    with pytest.raises(DataError, match="vi has 2 values but yi has 3"):
        failsafe_n([0.1, 0.2, 0.3], [0.01, 0.01])
    with pytest.raises(DataError, match="vi of study 2 is 0"):
        failsafe_n([0.1, 0.2], [0.01, 0.0])
    with pytest.raises(DataError, match="target applies to Orwin"):
        failsafe_n([0.1, 0.2], [0.01, 0.01], target=0.05)
    with pytest.raises(DataError, match="same sign as the mean effect"):
        failsafe_n([0.1, 0.2], [0.01, 0.01], method="Orwin", target=-0.05)
    with pytest.raises(DataError, match="method must be one of"):
        failsafe_n([0.1, 0.2], [0.01, 0.01], method="Rosenberg")


@pytest.mark.parametrize("measure", MEASURES)
def test_r0_on_reference_data(mcdaniel, measure: str) -> None:
    # No metafor values for R0 here: check it settles on the side L0 chose, with Duval & Tweedie's SE.
    res, ref = _fit(mcdaniel, measure, "REML")
    out = trim_and_fill(res, estimator="R0")
    assert out.converged and out.side == ref["trimfill"]["side"]
    assert out.se_k0 == pytest.approx(np.sqrt(2 * out.k0 + 2), abs=TIGHT)
    assert out.p_k0 == pytest.approx(0.5 ** (out.k0 + 1), abs=TIGHT)
