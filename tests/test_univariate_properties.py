"""Properties of the univariate meta-analysis that must hold on any data, and its handling of bad input.

Questions answered:

- test_permutation_invariance: does permuting the studies change nothing (every method, with and
  without moderators, for the Q-profile interval too)?
- test_fe_equals_reml_when_homogeneous: with no excess variation (tau2 = 0), do FE and REML agree?
- test_dl_closed_form: is DL's tau2 the DerSimonian-Laird formula, and FE's estimate the
  inverse-variance mean?
- test_he_hs_sj_closed_forms: are HE, HS and SJ the published formulas (Hedges; Hunter & Schmidt;
  Sidik & Jonkman)?
- test_iterative_estimators_solve_their_equations: do ML / REML maximise their likelihood and
  PM solve Q(tau2) = k - 1 (far tighter than metafor's stopping rule)?
- test_qprofile_bounds_solve_their_equations: do the Q-profile bounds hit the chi2 quantiles?
- test_intercept_only_regression_equals_meta: is meta_regression with only an intercept meta()?
- test_formula_and_frame_agree: do a formula and a moderator DataFrame give the same model,
  with missing moderators dropped and counted?
- test_fe_subgroup_q_between_equals_qm: is the FE subgroup Q_between the FE meta-regression QM?
- test_knha: is the Knapp-Hartung t test the z test with the rescaled variance and t(k - 1)?
- test_weights: do user weights give the weighted mean with the sandwich variance?
- test_escalc_conventions: ZCOR is atanh(r) with 1 / (n - 3); COR AV uses the n-weighted mean r.
- test_inputs_not_mutated / test_results_are_immutable: are inputs untouched and results frozen?
- test_summary_repr_confint_predict: are summary(), repr(), confint() and predict() complete?
- test_bad_input: does every bad input raise DataError / ModelError naming the culprit?
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

import masem
from masem.meta import _rma
from masem.meta.univariate import escalc, meta, meta_regression, subgroup

# These tests draw many small data sets, some homogeneous on purpose, so tau2 often lands on 0; the
# ConvergenceWarning that says so is checked in test_stress.py, not here.
pytestmark = pytest.mark.filterwarnings("ignore:.*tau2 is estimated at its lower bound:masem.errors.ConvergenceWarning")

METHODS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "PM")
# Root searches stop at 1e-13 of the tau2 scale, and a permutation changes the order of every
# sum (rounding ~1e-16 per term): 1e-9 relative covers both with room to spare.
SAME_RTOL, SAME_ATOL = 1e-9, 1e-12
# Closed forms computed two ways (library vs the formula written out here) differ by rounding.
FORMULA_RTOL = 1e-12


def _data(seed: int, k: int, tau2: float = 0.04):
    """k effect sizes with sampling variances from a random-effects model (seeded)."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.004, 0.08, size=k)
    y = 0.3 + rng.normal(0, np.sqrt(tau2), size=k) + rng.normal(0, np.sqrt(v))
    return y, v, rng


SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
KS = st.integers(min_value=3, max_value=40)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, k=KS, method=st.sampled_from(METHODS))
def test_permutation_invariance(seed, k, method):
    y, v, rng = _data(seed, k)
    order = rng.permutation(k)
    a, b = meta(y, v, method=method), meta(y[order], v[order], method=method)
    for field in ("estimate", "se", "tau2", "tau2_se", "I2", "H2", "Q", "pi_lower", "pi_upper"):
        np.testing.assert_allclose(getattr(b, field), getattr(a, field), rtol=SAME_RTOL, atol=SAME_ATOL,
                                   err_msg=field)
    np.testing.assert_allclose(b.weights, a.weights[order], rtol=SAME_RTOL, atol=SAME_ATOL)
    np.testing.assert_allclose(b.fit_stats(), a.fit_stats(), rtol=SAME_RTOL, atol=SAME_ATOL)
    if method != "FE":
        np.testing.assert_allclose(b.confint().to_numpy(), a.confint().to_numpy(), rtol=SAME_RTOL, atol=SAME_ATOL)
    x = rng.normal(size=k)
    if k >= 4:
        ma = meta_regression(y, v, pd.DataFrame({"x": x}), method=method)
        mb = meta_regression(y[order], v[order], pd.DataFrame({"x": x[order]}), method=method)
        np.testing.assert_allclose(mb.coefficients[["estimate", "se"]], ma.coefficients[["estimate", "se"]], rtol=SAME_RTOL,
                                   atol=SAME_ATOL)
        np.testing.assert_allclose([mb.tau2, mb.QM, mb.QE], [ma.tau2, ma.QM, ma.QE], rtol=SAME_RTOL, atol=SAME_ATOL)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, k=KS)
def test_fe_equals_reml_when_homogeneous(seed, k):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.004, 0.08, size=k)
    # Deviations of a tenth of a sampling SD: Q is ~0.01 of its df, far below any heterogeneity.
    y = 0.25 + 0.1 * np.sqrt(v) * rng.standard_normal(k)
    fe, reml = meta(y, v, method="FE"), meta(y, v, method="REML")
    assert reml.tau2 == 0.0 and reml.tau2_at_bound and reml.converged
    for field in ("estimate", "se", "z", "p", "ci_lower", "ci_upper", "Q"):
        np.testing.assert_allclose(getattr(reml, field), getattr(fe, field), rtol=1e-14, atol=0, err_msg=field)
    assert reml.I2 == 0.0 and reml.H2 == 1.0
    # The prediction interval collapses to the confidence interval when tau2 = 0.
    np.testing.assert_allclose([reml.pi_lower, reml.pi_upper], [fe.ci_lower, fe.ci_upper], rtol=1e-14)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, k=KS, tau2=st.floats(min_value=0.0, max_value=0.2))
def test_dl_closed_form(seed, k, tau2):
    y, v, _ = _data(seed, k, tau2)
    w = 1 / v
    mu_fe = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu_fe) ** 2)
    expected = max(0.0, (q - (k - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    res = meta(y, v, method="DL")
    np.testing.assert_allclose(res.tau2, expected, rtol=FORMULA_RTOL, atol=1e-15)
    ws = 1 / (v + expected)
    np.testing.assert_allclose(res.estimate, np.sum(ws * y) / ws.sum(), rtol=FORMULA_RTOL)
    np.testing.assert_allclose(res.se, np.sqrt(1 / ws.sum()), rtol=FORMULA_RTOL)
    np.testing.assert_allclose(res.Q, q, rtol=FORMULA_RTOL)
    fe = meta(y, v, method="FE")
    np.testing.assert_allclose(fe.estimate, mu_fe, rtol=FORMULA_RTOL)
    np.testing.assert_allclose(fe.I2, 100 * max(0.0, q - (k - 1)) / q, rtol=FORMULA_RTOL, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, k=KS)
def test_he_hs_sj_closed_forms(seed, k):
    y, v, _ = _data(seed, k)
    w = 1 / v
    q = np.sum(w * (y - np.sum(w * y) / w.sum()) ** 2)
    he = max(0.0, np.var(y, ddof=1) - v.mean())
    hs = max(0.0, (q - k) / w.sum())
    tau0 = np.mean((y - y.mean()) ** 2)
    w0 = 1 / (v / tau0 + 1)
    sj = np.sum(w0 * (y - np.sum(w0 * y) / w0.sum()) ** 2) / (k - 1)
    for method, expected in (("HE", he), ("HS", hs), ("SJ", sj)):
        np.testing.assert_allclose(meta(y, v, method=method).tau2, expected, rtol=FORMULA_RTOL, atol=1e-15,
                                   err_msg=method)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, k=st.integers(min_value=5, max_value=40))
def test_iterative_estimators_solve_their_equations(seed, k):
    y, v, _ = _data(seed, k)
    X = np.ones((k, 1))
    for method, which in (("ML", 0), ("REML", 1)):
        res = meta(y, v, method=method)

        def minus_ll(t):
            g = _rma.gls(y, v, X, t)
            return -_rma.log_likelihoods(y, v, X, t, g.beta)[which]

        hi = 10 * (np.var(y) + v.max())
        best = optimize.minimize_scalar(minus_ll, bounds=(0, hi), method="bounded", options={"xatol": 1e-12})
        # A bounded golden-section search on a flat-topped likelihood is only good to ~sqrt(eps)
        # relative in tau2; the likelihood values must agree far more tightly than that.
        assert minus_ll(res.tau2) <= best.fun + 1e-10, method
        assert res.converged and res.grad_norm < 1e-8, method
    pm = meta(y, v, method="PM")
    if pm.tau2 > 0:
        np.testing.assert_allclose(_rma.gls(y, v, X, pm.tau2).q, k - 1, rtol=1e-10)
    else:
        assert _rma.gls(y, v, X, 0.0).q <= k - 1


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, k=st.integers(min_value=4, max_value=40), level=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_qprofile_bounds_solve_their_equations(seed, k, level):
    y, v, _ = _data(seed, k, tau2=0.1)
    ci = meta(y, v, method="REML").confint(level=level)
    X = np.ones((k, 1))
    alpha = 1 - level
    for col, quantile in (("ci_lower", stats.chi2.isf(alpha / 2, k - 1)), ("ci_upper", stats.chi2.ppf(alpha / 2, k - 1))):
        t = ci.loc["tau^2", col]
        q = _rma.gls(y, v, X, t).q
        if t > 0:
            np.testing.assert_allclose(q, quantile, rtol=1e-9, err_msg=col)
        else:
            assert q <= quantile, col
    assert ci.loc["tau^2", "ci_lower"] <= ci.loc["tau^2", "ci_upper"]


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, k=KS, method=st.sampled_from(METHODS), test=st.sampled_from(["z", "knha"]))
def test_intercept_only_regression_equals_meta(seed, k, method, test):
    y, v, _ = _data(seed, k)
    res = meta(y, v, method=method, test=test)
    mr = meta_regression(y, v, "~ 1", data=pd.DataFrame({"y": y}), method=method, test=test)
    row = mr.coefficients.iloc[0]
    assert row["name"] == "intrcpt" and len(mr.coefficients) == 1
    for ours, theirs in ((row["estimate"], res.estimate), (row["se"], res.se), (row["z"], res.z), (row["p"], res.p),
                         (row["ci_lower"], res.ci_lower), (mr.tau2, res.tau2), (mr.tau2_se, res.tau2_se),
                         (mr.I2, res.I2), (mr.H2, res.H2), (mr.QE, res.Q)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(mr.fit_stats(), res.fit_stats(), rtol=1e-13)
    assert mr.df == res.df and np.isnan(mr.QM)


def test_formula_and_frame_agree():
    y, v, rng = _data(7, 30)
    frame = pd.DataFrame({
        "design": rng.choice(["cross", "long", "exp"], size=30),
        "age": rng.uniform(20, 60, size=30),
    })
    frame.loc[[3, 11], "design"] = None
    frame.loc[5, "age"] = np.nan
    by_frame = meta_regression(y, v, frame, method="REML")
    by_formula = meta_regression(y, v, "~ C(design) + age", data=frame, method="REML")
    assert by_frame.coefficients["name"].tolist() == ["intrcpt", "design[exp]", "design[long]", "age"]
    assert by_formula.coefficients["name"].tolist() == ["intrcpt", "design[exp]", "design[long]", "age"]
    np.testing.assert_allclose(by_frame.coefficients.iloc[:, 1:], by_formula.coefficients.iloc[:, 1:], rtol=1e-12)
    assert by_frame.k == by_formula.k == 27 and by_frame.dropped == by_formula.dropped == (4, 6, 12)
    # A Categorical sets the reference level (first category), as R's factor(levels=...).
    frame["design"] = pd.Categorical(frame["design"], categories=["long", "cross", "exp"])
    cat = meta_regression(y, v, frame, method="REML")
    assert cat.coefficients["name"].tolist() == ["intrcpt", "design[cross]", "design[exp]", "age"]
    np.testing.assert_allclose(cat.tau2, by_frame.tau2, rtol=1e-10)


def test_fe_subgroup_q_between_equals_qm():
    y, v, rng = _data(11, 24)
    groups = np.array(["a", "b", "c"] * 8)
    sg = subgroup(y, v, groups, method="FE")
    mr = meta_regression(y, v, pd.DataFrame({"g": groups}), method="FE")
    np.testing.assert_allclose(sg.Q_between, mr.QM, rtol=1e-12)
    assert sg.df == 2 and list(sg.table["group"]) == ["a", "b", "c"]
    # Q_total = Q_within + Q_between under FE.
    np.testing.assert_allclose(meta(y, v, method="FE").Q, sg.table["Q"].sum() + sg.Q_between, rtol=1e-12)
    # With separate tau2 per group each row is that group's own meta().
    re = subgroup(y, v, groups, method="REML")
    alone = meta(y[groups == "b"], v[groups == "b"], method="REML")
    np.testing.assert_allclose(re.table.loc[1, ["estimate", "se", "tau2"]].astype(float),
                               [alone.estimate, alone.se, alone.tau2], rtol=1e-13)


def test_knha():
    y, v, _ = _data(3, 12)
    z, t = meta(y, v, method="REML"), meta(y, v, method="REML", test="knha")
    w = 1 / (v + z.tau2)
    s2 = np.sum(w * (y - z.estimate) ** 2) / (12 - 1)
    np.testing.assert_allclose(t.se, z.se * np.sqrt(s2), rtol=1e-12)
    np.testing.assert_allclose(t.p, 2 * stats.t.sf(abs(t.z), 11), rtol=1e-10)
    np.testing.assert_allclose(t.ci_upper - t.estimate, stats.t.isf(0.025, 11) * t.se, rtol=1e-12)
    assert t.df == 11 and z.df is None
    x = np.linspace(0, 1, 12)
    mr = meta_regression(y, v, pd.DataFrame({"x": x}), method="REML", test="knha")
    np.testing.assert_allclose(mr.QM, mr.coefficients.loc[1, "z"] ** 2, rtol=1e-12)  # F(1, df) = t^2
    np.testing.assert_allclose(mr.QM_p, mr.coefficients.loc[1, "p"], rtol=1e-10)


def test_weights():
    y, v, rng = _data(5, 15)
    a = rng.uniform(10, 200, size=15)
    res = meta(y, v, method="HS", weights=a)
    tau2 = meta(y, v, method="HS").tau2  # tau2 is estimated without the user weights
    np.testing.assert_allclose(res.tau2, tau2, rtol=1e-14)
    np.testing.assert_allclose(res.estimate, np.sum(a * y) / a.sum(), rtol=1e-13)
    np.testing.assert_allclose(res.se, np.sqrt(np.sum(a**2 * (v + tau2))) / a.sum(), rtol=1e-13)
    np.testing.assert_allclose(res.weights, a / a.sum() * 100, rtol=1e-13)
    # Inverse-variance weights given by hand reproduce the default fit.
    fe = meta(y, v, method="FE")
    np.testing.assert_allclose(meta(y, v, method="FE", weights=1 / v).se, fe.se, rtol=1e-13)


def test_escalc_conventions():
    r = pd.Series([0.1, -0.3, 0.55, None], index=["s1", "s2", "s3", "s4"])
    n = [40, 120, 75, 60]
    z = escalc("ZCOR", r, n)
    assert list(z.index) == ["s1", "s2", "s3", "s4"]
    np.testing.assert_allclose(z["yi"][:3], np.arctanh(r[:3].astype(float)), rtol=1e-15)
    np.testing.assert_allclose(z["vi"][:3], 1 / (np.array(n[:3]) - 3), rtol=1e-15)
    assert z.loc["s4"].isna().all()
    av = escalc("COR", r, n, vtype="AV")
    rbar = np.sum(np.array(n[:3]) * r[:3].astype(float)) / np.sum(n[:3])
    np.testing.assert_allclose(av["vi"][:3], (1 - rbar**2) ** 2 / (np.array(n[:3]) - 1), rtol=1e-14)
    ls = escalc("cor", r, n)  # measure names are case-insensitive
    np.testing.assert_allclose(ls["vi"][:3], (1 - r[:3].astype(float) ** 2) ** 2 / (np.array(n[:3]) - 1), rtol=1e-14)


def test_inputs_not_mutated():
    y, v, _ = _data(9, 10)
    frame = pd.DataFrame({"g": list("ababababab"), "x": np.arange(10.0), "y": y, "v": v})
    frame.loc[2, "x"] = np.nan
    copies = [copy.deepcopy(obj) for obj in (y, v, frame)]
    meta(y, v, weights=v * 100)
    meta_regression(y, v, frame[["g", "x"]])
    meta_regression("y", "v", "~ C(g) + x", data=frame)
    subgroup(y, v, frame["g"])
    escalc("COR", frame["x"] / 20, np.full(10, 50))
    np.testing.assert_array_equal(y, copies[0])
    np.testing.assert_array_equal(v, copies[1])
    pd.testing.assert_frame_equal(frame, copies[2])


def test_results_are_immutable():
    y, v, _ = _data(1, 8)
    res = meta(y, v)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.tau2 = 0.0
    for arr in (res.yi, res.vi, res.weights):
        with pytest.raises(ValueError):
            arr[0] = 1.0
    mr = meta_regression(y, v, pd.DataFrame({"x": np.arange(8.0)}))
    table = mr.coefficients
    table.loc[0, "estimate"] = 99.0
    assert mr.coefficients.loc[0, "estimate"] != 99.0
    sg = subgroup(y, v, list("aabbaabb"))
    sg.results.clear()
    assert len(sg.results) == 2


def test_summary_repr_confint_predict():
    es = escalc("ZCOR", [0.1, 0.3, 0.35, 0.2, 0.5, 0.25], [60, 120, 80, 200, 45, 90])
    res = meta(es["yi"], es["vi"], method="REML", labels=list("ABCDEF"))
    assert res.labels == list("ABCDEF")
    summary = res.summary()
    assert summary.shape[0] == 1 and {"estimate", "tau2", "I2", "Q_p", "pi_lower"} <= set(summary.columns)
    text = repr(res)
    assert "REML" in text and "k = 6" in text and "tau^2" in text and "prediction interval" in text
    ci = res.confint()
    assert list(ci.index) == ["tau^2", "tau", "I^2(%)", "H^2"] and list(ci.columns) == ["estimate", "ci_lower", "ci_upper"]
    np.testing.assert_allclose(ci.loc["tau", "ci_upper"] ** 2, ci.loc["tau^2", "ci_upper"], rtol=1e-14)
    pred, pred_r = res.predict(), res.predict(transf="z2r")
    np.testing.assert_allclose(pred_r[["pred", "ci_lower", "pi_upper"]], np.tanh(pred[["pred", "ci_lower", "pi_upper"]]))
    assert np.isnan(pred_r.loc[0, "se"])
    fe = meta(es["yi"], es["vi"], method="FE")
    assert np.isnan(fe.pi_lower) and np.isnan(fe.tau2_se) and fe.confint()["ci_lower"].isna().all()
    assert "Fixed-effects" in repr(fe)
    mr = meta_regression(es["yi"], es["vi"], pd.DataFrame({"g": list("aabbab")}), method="DL")
    assert "Test of moderators" in repr(mr) and "g[b]" in repr(mr)
    assert list(mr.summary().columns) == ["name", "estimate", "se", "z", "p", "ci_lower", "ci_upper"]
    assert list(mr.vcov.index) == ["intrcpt", "g[b]"]
    sg = subgroup(es["yi"], es["vi"], list("aabbab"), method="DL")
    assert "Test of group differences" in repr(sg) and len(sg.summary()) == 2


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: meta([0.1, 0.2], [0.01]), masem.DataError, "vi has 1"),
        (lambda: meta([0.1, np.nan, 0.3], [0.01] * 3), masem.DataError, "position 2"),
        (lambda: meta(pd.Series([0.1, 0.2, 0.3], index=list("abc")), [0.01, 0.0, 0.02]), masem.DataError,
         "study 'b'"),
        (lambda: meta([0.1, 0.2, 0.3], [0.01, -1, 0.02]), masem.DataError, "study 2"),
        (lambda: meta([0.1], [0.01]), masem.DataError, "at least 2"),
        (lambda: meta([0.1, 0.2], [0.01, 0.02], method="EB2"), masem.DataError, "'EB2'"),
        (lambda: meta([0.1, 0.2], [0.01, 0.02], test="t"), masem.DataError, "'t'"),
        (lambda: meta([0.1, 0.2], [0.01, 0.02], level=95), masem.DataError, "95"),
        (lambda: meta([0.1, 0.2], [0.01, 0.02], weights=[1, -2]), masem.DataError, "study 2"),
        (lambda: meta([0.1, 0.2], [0.01, 0.02], weights=[1, 2], test="knha"), masem.DataError, "knha"),
        (lambda: meta(["a", "b"], [0.01, 0.02]), masem.DataError, "'a'"),
        (lambda: escalc("SMD", [0.1], [10]), masem.DataError, "'SMD'"),
        (lambda: escalc("COR", [0.1, 1.0], [10, 10]), masem.DataError, "1.0"),
        (lambda: escalc("ZCOR", [0.1, 0.2], [10, 3]), masem.DataError, "row 1"),
        (lambda: escalc("COR", [0.1, 0.2], [10]), masem.DataError, "ni has 1"),
        (lambda: escalc("COR", [0.1, 0.2], [10, 20], vtype="XX"), masem.DataError, "'XX'"),
        (lambda: meta_regression([0.1, 0.2], [0.01] * 2, pd.DataFrame({"x": [1.0, 2.0]})),
         masem.DataError, "2 studies for 2"),
        (lambda: meta_regression([0.1, 0.2, 0.3, 0.4], [0.01] * 4, pd.DataFrame({"x": [1.0, 1, 1, 1]})),
         masem.ModelError, "'x'"),
        (lambda: meta_regression([0.1, 0.2, 0.3, 0.4], [0.01] * 4, pd.DataFrame({"x": [1.0, 2, 3]})),
         masem.DataError, "3 rows"),
        (lambda: meta_regression([0.1, 0.2, 0.3, 0.4], [0.01] * 4, "~ x"), masem.ModelError, "data="),
        (lambda: meta_regression([0.1, 0.2, 0.3, 0.4], [0.01] * 4, "~ np.log(x)",
                                 data=pd.DataFrame({"x": [1.0, 2, 3, 4]})), masem.ModelError, "np.log"),
        (lambda: meta_regression("yy", "v", "~ 1", data=pd.DataFrame({"v": [0.1]})), masem.DataError, "'yy'"),
        (lambda: subgroup([0.1, 0.2, 0.3], [0.01] * 3, ["a", "a", "b"]), masem.DataError, "group 'b'"),
        (lambda: subgroup([0.1, 0.2, 0.3], [0.01] * 3, ["a", "a", "a"]), masem.DataError, "2 groups"),
    ],
)
def test_bad_input(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, ValueError)
    assert fragment in str(info.value), str(info.value)
