"""Subgroup MASEM: masem.subgroup_tssem, masem.tssem2_multigroup, masem.equality_tests, paths_by_group.

Questions answered:
- test_free_joint_fit_equals_separate_fits: with nothing held equal, are the joint estimates, standard
  errors, definitions and implied matrices those of separate tssem2 fits per group, and do chi2,
  df and the independence model's chi2 add up (with and without diag_constraints)?
- test_one_path_closed_form: for y ~ b*x in two groups, is the equal-b estimate the inverse-variance
  weighted mean of the two correlations with SE 1/sqrt(w1 + w2), and is the chi-square difference
  (r1 - r2)^2 / (v1 + v2), the textbook test of two independent estimates?
- test_identical_groups_all_equal: with two copies of one stage 1, does holding everything equal
  reproduce the single-group estimates with SEs divided by sqrt(2), chi2 doubled, and a chi-square
  difference of 0 against the free model?
- test_population_difference_is_located: fitted to two population matrices that differ in one
  path, is the free fit exact (chi2 = 0, the true paths) and is only that path's equality rejected?
- test_by_group_reads_one_parameter: does ``by_group`` return a parameter's true value in each group
  (the exact population fit) whether named by label, automatic name or element, agree with
  ``inspect()``, give definitions, mark equal parameters, and refuse unknown names?
- test_simulated_studies_detect_a_known_difference: on simulated primary studies (known population,
  one path differs) pooled per group, is the difference detected, are the equal paths not, and do
  the 95% intervals cover the truth?
- test_equality_test_is_calibrated: when the groups share one population, is the chi-square
  difference distributed as chi2(1) (rejection rate at .05, mean)?
- test_group_order_does_not_matter: does reversing the groups change no estimate, fit or test?
- test_equal_accepts_labels_names_and_elements / test_shared_label_constrains_every_element: can
  parameters be named by label, automatic name or 'lval op rval', does ``partial`` exempt some
  from ``equal="all"``, and does a label used twice equate both elements?
- test_fit_statistics_conventions: RMSEA with Steiger's sqrt(G) factor, CFI / TLI against the
  multi-group independence model, SRMR as the N-weighted mean of the groups' SRMR, AIC / BIC.
- test_compare_accepts_multigroup_fits: does masem.compare give the all-equal vs free test and refuse
  fits to other data or of another kind?
- test_subgroup_tssem_on_the_database: does stage 1 per industry equal tssem1 on the subsets, with
  tidy overview / summary tables and group-named notes?
- test_subgroup_tssem_*_errors, test_tssem2_multigroup_errors, test_equality_tests_errors: are bad
  inputs refused with DataError / ModelError naming the group, pair, parameter or option?
- test_results_are_immutable_and_inputs_untouched, test_paths_by_group_plot: the standards on
  results and the figure of the paths by group.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

import masem  # noqa: E402
from conftest import ROOT, Stage1, make_stage1  # noqa: E402
from masem import plots  # noqa: E402
from masem.effects import olkin_siotani, vechs_indices  # noqa: E402
from masem.errors import ConvergenceWarning, DataError, ModelError  # noqa: E402

# Both fits stop at a relative step of 1e-10 from different start values, so their estimates agree
# far below 1e-7; standard errors come from a forward-difference Hessian (step 1e-7) at those
# slightly different points, so they agree to about 1e-6 relative.
EST_ATOL = 1e-7
SE_RTOL = 1e-5


VARS = ["x1", "x2", "m", "y"]
MODEL = """
m ~ a1*x1 + a2*x2
y ~ b*m + x1
x1 ~~ 1*x1
x2 ~~ 1*x2
x1 ~~ c*x2
ind := a1*b
"""


def population(a1=0.4, a2=0.3, b=0.5, d=0.1, c=0.3) -> np.ndarray:
    """Correlations implied by MODEL with standardized variables (order x1, x2, m, y)."""
    A = np.zeros((4, 4))
    A[2, 0], A[2, 1], A[3, 2], A[3, 0] = a1, a2, b, d
    S = np.eye(4)
    S[0, 1] = S[1, 0] = c
    B = np.linalg.inv(np.eye(4) - A)
    for j in (2, 3):  # residual variances that give unit total variances, in causal order
        S[j, j] = 0.0
        S[j, j] = 1.0 - (B @ S @ B.T)[j, j]
    return B @ S @ B.T


def perturbed(R: np.ndarray, seed: int, scale: float = 0.03) -> np.ndarray:
    """R with small symmetric noise on the correlations (a misfitting 'pooled' matrix)."""
    rng = np.random.default_rng(seed)
    E = rng.normal(0, scale, R.shape)
    out = R + np.tril(E, -1) + np.tril(E, -1).T
    assert np.linalg.eigvalsh(out).min() > 0
    return out


def group_stage1(seed: int = 1) -> dict[str, Stage1]:
    return {
        "service": make_stage1(perturbed(population(b=0.55), seed), VARS, n=900),
        "other": make_stage1(perturbed(population(b=0.35), seed + 1), VARS, n=600),
        "public": make_stage1(perturbed(population(a1=0.3), seed + 2), VARS, n=400),
    }


def by_group(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index(["group", "lval", "op", "rval"]).sort_index()


# ----------------------------------------------------------------------------------------------
# Equivalences and closed forms
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("diag", [False, True])
def test_free_joint_fit_equals_separate_fits(diag: bool) -> None:
    stage1 = group_stage1()
    joint = masem.tssem2_multigroup(stage1, MODEL, diag_constraints=diag)
    table = joint.inspect()
    chi2 = df = indep = 0.0
    for group, s1 in stage1.items():
        single = masem.tssem2(s1, MODEL, diag_constraints=diag)
        mine = table[table["group"] == group].reset_index(drop=True)
        theirs = single.inspect()
        assert list(mine["label"]) == list(theirs["label"])
        np.testing.assert_allclose(mine["Estimate"], theirs["Estimate"], rtol=0, atol=EST_ATOL)
        np.testing.assert_allclose(mine["Std. Err"], theirs["Std. Err"], rtol=SE_RTOL)
        np.testing.assert_allclose(joint.implied[group], single.implied, rtol=0, atol=EST_ATOL)
        fit = single.fit_stats()
        chi2, df, indep = chi2 + fit["chi2"], df + fit["df"], indep + fit["chi2_indep"]
        assert joint.group_fit().set_index("group").loc[group, "chi2"] == pytest.approx(fit["chi2"], abs=1e-7)
    mine = joint.fit_stats()
    assert mine["chi2"] == pytest.approx(chi2, abs=1e-7)
    assert mine["df"] == df
    assert mine["chi2_indep"] == pytest.approx(indep, rel=1e-12)
    assert not table["equal"].any()
    assert joint.converged


def test_one_path_closed_form() -> None:
    r1, r2, n1, n2 = 0.45, 0.25, 800, 500
    v1, v2 = (1 - r1**2) ** 2 / n1, (1 - r2**2) ** 2 / n2  # Olkin-Siotani variance of one r
    stage1 = {
        "service": make_stage1(np.array([[1, r1], [r1, 1]]), ["x", "y"], n1),
        "other": make_stage1(np.array([[1, r2], [r2, 1]]), ["x", "y"], n2),
    }
    model = "y ~ b*x\nx ~~ 1*x"
    free = masem.tssem2_multigroup(stage1, model)
    same = masem.tssem2_multigroup(stage1, model, equal="b")
    assert free.coefficients.to_dict() == pytest.approx({"b[service]": r1, "b[other]": r2}, abs=1e-10)
    w1, w2 = 1 / v1, 1 / v2
    assert same.coefficients["b"] == pytest.approx((w1 * r1 + w2 * r2) / (w1 + w2), abs=1e-10)
    # 2 H^-1 of the quadratic F = w1 (r1 - b)^2 + w2 (r2 - b)^2 is exactly 1 / (w1 + w2).
    assert same.inspect()["Std. Err"].iloc[0] == pytest.approx(1 / np.sqrt(w1 + w2), rel=1e-6)
    tests = masem.equality_tests(free)
    assert tests.loc[0, "chi2_diff"] == pytest.approx((r1 - r2) ** 2 / (v1 + v2), rel=1e-8)
    assert tests.loc[0, "df_diff"] == 1
    assert tests.loc[0, "p_value"] == pytest.approx(stats.chi2.sf((r1 - r2) ** 2 / (v1 + v2), 1), rel=1e-6)
    assert tests.loc[0, "estimate_service"] == pytest.approx(r1) and tests.loc[0, "estimate_other"] == pytest.approx(r2)


def test_identical_groups_all_equal() -> None:
    s1 = make_stage1(perturbed(population(), 5), VARS, n=700)
    single = masem.tssem2(s1, MODEL)
    stage1 = {"a": s1, "b": copy.deepcopy(s1)}
    same = masem.tssem2_multigroup(stage1, MODEL, equal="all")
    free = masem.tssem2_multigroup(stage1, MODEL)
    one = same.inspect().query("group == 'a'").reset_index(drop=True)
    np.testing.assert_allclose(one["Estimate"], single.inspect()["Estimate"], rtol=0, atol=EST_ATOL)
    # Two identical groups double the information: SEs shrink by sqrt(2) exactly.
    np.testing.assert_allclose(one["Std. Err"], single.inspect()["Std. Err"] / np.sqrt(2), rtol=SE_RTOL)
    assert same.fit_stats()["chi2"] == pytest.approx(2 * single.fit_stats()["chi2"], rel=1e-8)
    assert bool(one.loc[one["op"] != ":=", "equal"].all())
    diff = masem.compare(same, free).iloc[0]
    assert diff["chi2_diff"] == pytest.approx(0.0, abs=1e-8)
    assert diff["df_diff"] == len(single.coefficients)
    tests = masem.equality_tests(free)
    assert list(tests["parameter"]) == ["a1", "a2", "b", "yonx1"]  # the paths, not the covariance
    np.testing.assert_allclose(tests["chi2_diff"], 0.0, atol=1e-8)


def test_population_difference_is_located() -> None:
    stage1 = {
        "service": make_stage1(population(b=0.55), VARS, n=5000),
        "other": make_stage1(population(b=0.30), VARS, n=5000),
    }
    free = masem.tssem2_multigroup(stage1, MODEL)
    assert free.fit_stats()["chi2"] == pytest.approx(0.0, abs=1e-12)
    est = free.coefficients
    assert est["b[service]"] == pytest.approx(0.55, abs=1e-8) and est["b[other]"] == pytest.approx(0.30, abs=1e-8)
    assert est["a1[other]"] == pytest.approx(0.4, abs=1e-8)
    tests = masem.equality_tests(free).set_index("parameter")
    assert tests.loc["b", "p_value"] < 1e-10
    # Paths that are the same in both populations cost nothing to equate (the free fit is exact,
    # and the other groups' values stay attainable); only b's equality is rejected.
    np.testing.assert_allclose(tests.drop(index="b")["chi2_diff"], 0.0, atol=1e-7)


def test_by_group_reads_one_parameter() -> None:
    stage1 = {
        "service": make_stage1(population(b=0.55), VARS, n=5000),
        "other": make_stage1(population(b=0.30), VARS, n=5000),
    }
    free = masem.tssem2_multigroup(stage1, MODEL)
    b = free.by_group("b")
    assert list(b.index) == ["service", "other"]
    # The free fit to population matrices is exact, so the estimates are the population's paths.
    assert b["estimate"].to_dict() == pytest.approx({"service": 0.55, "other": 0.30}, abs=1e-8)
    pd.testing.assert_frame_equal(free.by_group("y ~ m"), b)
    table = free.inspect().query("label == 'yonx1'").set_index("group")
    tidy = table.rename(columns={"Estimate": "estimate", "Std. Err": "se", "ci.lower": "ci_lower", "ci.upper": "ci_upper"})
    pd.testing.assert_frame_equal(free.by_group("yonx1"), tidy[list(b.columns)])
    assert (free.by_group("yonx1")["estimate"] == free.by_group("y ~ x1")["estimate"]).all()
    ind = free.by_group("ind")
    np.testing.assert_allclose(ind["estimate"], free.by_group("a1")["estimate"] * b["estimate"], rtol=1e-12)
    assert not b["equal"].any()
    same = masem.tssem2_multigroup(stage1, MODEL, equal="a1").by_group("a1")
    assert same["equal"].all() and same["estimate"].nunique() == 1
    assert same["estimate"].iloc[0] == pytest.approx(0.4, abs=1e-8)  # a1 is 0.4 in both populations
    with pytest.raises(ModelError, match=r"unknown parameter 'zz'"):
        free.by_group("zz")
    with pytest.raises(ModelError, match=r"'x1 ~~ x1' is fixed at 1"):
        free.by_group("x1 ~~ x1")
    with pytest.raises(ModelError, match=r"parameter must be a parameter name.*got 3"):
        free.by_group(3)


def _simulated_studies(R: np.ndarray, k: int, rng: np.random.Generator) -> masem.StudyMatrices:
    """k primary studies (n 100-400) drawn from N(0, R), each missing one variable at random."""
    mats, ns = [], []
    for _ in range(k):
        n = int(rng.integers(100, 400))
        data = rng.multivariate_normal(np.zeros(len(R)), R, size=n)
        m = np.corrcoef(data, rowvar=False)
        drop = int(rng.integers(0, 12))
        if drop < len(R):  # a third of the studies do not measure one of the variables
            m[drop, :] = m[:, drop] = np.nan
        mats.append(pd.DataFrame(m, index=VARS, columns=VARS))
        ns.append(n)
    return masem.StudyMatrices(VARS, mats, np.array(ns), [f"S{i:02d}" for i in range(k)])


def test_simulated_studies_detect_a_known_difference() -> None:
    rng = np.random.default_rng(2011)
    truth = {"service": 0.55, "other": 0.30}
    studies = {g: _simulated_studies(population(b=b), 25, rng) for g, b in truth.items()}
    s1 = masem.subgroup_tssem(studies, method="FEM")
    free = masem.tssem2_multigroup(s1, MODEL)
    tests = masem.equality_tests(free).set_index("parameter")
    assert tests.loc["b", "p_holm"] < 0.001
    assert (tests.drop(index="b")["p_value"] > 0.01).all()
    table = free.inspect().set_index(["group", "label"])
    for group, b in truth.items():
        row = table.loc[(group, "b")]
        assert row["ci.lower"] < b < row["ci.upper"]
    for group in truth:  # a1 = 0.4 in both populations
        assert table.loc[(group, "a1"), "ci.lower"] < 0.4 < table.loc[(group, "a1"), "ci.upper"]


@pytest.mark.slow
def test_equality_test_is_calibrated() -> None:
    # Two groups from one population of x -> m -> y; the pooled correlations are drawn from their
    # asymptotic distribution N(rho, V), under which the chi-square difference is chi2(1) up to
    # the curvature of the product-of-paths model, negligible at n = 1000.
    names = ["x", "m", "y"]
    model = "m ~ a*x\ny ~ b*m\nx ~~ 1*x"
    R = np.array([[1.0, 0.4, 0.2], [0.4, 1.0, 0.5], [0.2, 0.5, 1.0]])
    V = olkin_siotani(R, 1000)
    L = np.linalg.cholesky(V)
    rng = np.random.default_rng(7)
    rows, cols = vechs_indices(3)
    values = []
    for _ in range(150):
        stage1 = {}
        for g in ("a", "b"):
            M = np.eye(3)
            M[rows, cols] = M[cols, rows] = R[rows, cols] + L @ rng.standard_normal(3)
            stage1[g] = Stage1(pooled=M, vcov=V, total_n=1000, variables=names)  # arrays: no label lookups
        free = masem.tssem2_multigroup(stage1, model)
        values.append(masem.equality_tests(free, ["b"], adjust=None).loc[0, "chi2_diff"])
    values = np.array(values)
    # 150 draws: the mean of chi2(1) has SE sqrt(2/150) = 0.115, so 1 +- 0.35 is a 3-SE band; the
    # rejection rate at .05 has SE 0.018, so below .11 is also about 3 SE.
    assert abs(values.mean() - 1.0) < 0.35
    assert np.mean(values > stats.chi2.ppf(0.95, 1)) < 0.11
    assert stats.kstest(values, stats.chi2(1).cdf).pvalue > 0.001


def test_group_order_does_not_matter() -> None:
    stage1 = group_stage1(3)
    reverse = dict(reversed(list(stage1.items())))
    for equal in ("none", ["b", "c"]):
        a = masem.tssem2_multigroup(stage1, MODEL, equal=equal)
        b = masem.tssem2_multigroup(reverse, MODEL, equal=equal)
        assert b.groups == tuple(reversed(a.groups))
        ta, tb = by_group(a.inspect()), by_group(b.inspect())
        np.testing.assert_allclose(tb.loc[ta.index, "Estimate"], ta["Estimate"], rtol=0, atol=EST_ATOL)
        np.testing.assert_allclose(tb.loc[ta.index, "Std. Err"], ta["Std. Err"], rtol=SE_RTOL)
        fa, fb = a.fit_stats(), b.fit_stats()
        np.testing.assert_allclose(fb[fa.index], fa, rtol=1e-7, atol=1e-9)
    ea = masem.equality_tests(masem.tssem2_multigroup(stage1, MODEL))
    eb = masem.equality_tests(masem.tssem2_multigroup(reverse, MODEL))
    np.testing.assert_allclose(eb["chi2_diff"], ea["chi2_diff"], rtol=1e-6)


def test_equal_accepts_labels_names_and_elements() -> None:
    stage1 = group_stage1(4)
    by_label = masem.tssem2_multigroup(stage1, MODEL, equal=["b", "c"])
    by_element = masem.tssem2_multigroup(stage1, MODEL, equal=["y ~ m", "x2 ~~ x1"])
    assert by_label.equal == by_element.equal == ("b", "c")
    assert by_label.fit_stats()["chi2"] == pytest.approx(by_element.fit_stats()["chi2"], rel=1e-12)
    auto = masem.tssem2_multigroup(stage1, MODEL, equal="yonx1")
    written = masem.tssem2_multigroup(stage1, MODEL, equal="y ~ x1")
    assert auto.equal == written.equal == ("yonx1",)
    assert "yonx1" in auto.coefficients.index and "yonx1[other]" not in auto.coefficients.index
    # Each equated parameter leaves G - 1 = 2 parameters fewer.
    none = masem.tssem2_multigroup(stage1, MODEL)
    assert by_label.fit_stats()["df"] - none.fit_stats()["df"] == 4
    factor = "F =~ x1 + x2 + m + y"
    fstage1 = {g: make_stage1(perturbed(np.full((4, 4), 0.4) + 0.6 * np.eye(4), s), VARS) for s, g in enumerate("ab")}
    loading = masem.tssem2_multigroup(fstage1, factor, equal="F =~ m")
    assert loading.equal == ("monF",)
    with_error = masem.tssem2_multigroup(fstage1, factor, equal="m ~~ m", diag_constraints=True)
    assert with_error.equal == ("mwithm",)
    partial = masem.tssem2_multigroup(stage1, MODEL, equal="all", partial=["y ~ m"])
    assert partial.equal == ("a1", "a2", "yonx1", "c")


def test_shared_label_constrains_every_element() -> None:
    stage1 = group_stage1(6)
    model = MODEL.replace("m ~ a1*x1 + a2*x2", "m ~ a*x1 + a*x2").replace("ind := a1*b", "ind := a*b")
    fit = masem.tssem2_multigroup(stage1, model, equal="m ~ x2")
    rows = fit.inspect().query("label == 'a'")
    assert len(rows) == 2 * 3 and rows["equal"].all()
    assert rows["Estimate"].nunique() == 1


def test_fit_statistics_conventions() -> None:
    stage1 = group_stage1(8)
    fit = masem.tssem2_multigroup(stage1, MODEL, equal=["a1", "a2"])
    s = fit.fit_stats()
    groups = fit.group_fit()
    N = sum(v.total_n for v in stage1.values())
    assert s["n"] == N and s["n_groups"] == 3
    assert s["chi2"] == pytest.approx(groups["chi2"].sum(), rel=1e-10)
    assert s["df"] == 3 * 6 - (2 + 3 * 3)  # 6 correlations per group; a1, a2 shared; b, yonx1, c per group
    assert s["RMSEA"] == pytest.approx(np.sqrt(3) * np.sqrt(max(s["chi2"] - s["df"], 0) / ((N - 1) * s["df"])))
    assert s["RMSEA_lower"] <= s["RMSEA"] <= s["RMSEA_upper"]
    assert s["chi2_indep"] == pytest.approx(groups["chi2_indep"].sum()) and s["df_indep"] == 18
    denominator = max(s["chi2_indep"] - 18, s["chi2"] - s["df"])
    assert s["CFI"] == pytest.approx(1 - max(s["chi2"] - s["df"], 0) / denominator)
    assert s["TLI"] == pytest.approx((s["chi2_indep"] / 18 - s["chi2"] / s["df"]) / (s["chi2_indep"] / 18 - 1))
    assert s["SRMR"] == pytest.approx(np.average(groups["SRMR"], weights=groups["n"]))
    assert s["AIC"] == pytest.approx(s["chi2"] - 2 * s["df"])
    assert s["BIC"] == pytest.approx(s["chi2"] - np.log(N) * s["df"])
    assert "chi2(" in repr(fit) and "equal=[a1, a2]" in repr(fit)


def test_compare_accepts_multigroup_fits() -> None:
    stage1 = group_stage1(9)
    free = masem.tssem2_multigroup(stage1, MODEL)
    one = masem.tssem2_multigroup(stage1, MODEL, equal="b")
    row = masem.compare(one, free).iloc[0]
    test = masem.equality_tests(free, "b").iloc[0]
    assert row["chi2_diff"] == pytest.approx(test["chi2_diff"], rel=1e-10)
    assert row["df_diff"] == 2 == test["df_diff"]
    other = dict(stage1)
    other["other"] = make_stage1(population(), VARS, n=600)
    with pytest.raises(ModelError, match="not fitted to the same stage-1 data"):
        masem.compare(one, masem.tssem2_multigroup(other, MODEL))
    with pytest.raises(ModelError, match="tssem2_multigroup"):
        masem.compare(masem.tssem2(stage1["other"], MODEL), free)


# ----------------------------------------------------------------------------------------------
# Stage 1 per subgroup on the bundled database
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database() -> masem.StudyDatabase:
    return masem.read_database(ROOT / "data" / "individual")


def _quiet(call, *args, **kwargs):
    """Run call, collecting the expected ConvergenceWarnings (tau2 at its bound in small groups)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call(*args, **kwargs)
    other = [str(w.message) for w in caught if w.category is not ConvergenceWarning]
    assert not other, other
    return out, [str(w.message) for w in caught]


def test_subgroup_tssem_on_the_database(database) -> None:
    variables = ["PE", "SERV", "TP"]
    s1, notes = _quiet(masem.subgroup_tssem, database, variables, by="industry")
    assert s1.groups == ("other", "service")  # sorted by default
    assert all(n.startswith(("group 'other' (industry = 'other'): ", "group 'service'")) for n in notes)
    for group in s1.groups:
        m = database.subset(industry=group).matrices(variables)
        direct, _ = _quiet(masem.tssem1, m.matrices, m.n, method="REM")
        np.testing.assert_array_equal(s1[group].pooled, direct.pooled)
        np.testing.assert_array_equal(s1[group].vcov, direct.vcov)
        assert s1.study_ids[group] == tuple(m.study_ids)
    overview = s1.overview()
    assert list(overview.columns[:5]) == ["group", "level", "studies", "N", "min_k_pair"]
    assert overview["studies"].tolist() == [s1[g].n_studies for g in s1.groups]
    summary = s1.summary()
    assert len(summary) == 2 * 3
    assert summary[["var1", "var2"]].drop_duplicates().values.tolist() == [["PE", "SERV"], ["PE", "TP"], ["SERV", "TP"]]
    row = summary.query("group == 'service' and var1 == 'PE' and var2 == 'SERV'").iloc[0]
    assert row["estimate"] == s1["service"].pooled.loc["PE", "SERV"]
    ordered, _ = _quiet(masem.subgroup_tssem, database, variables, by="industry", levels=["service", "other"])
    assert ordered.groups == ("service", "other")
    assert "2 groups" in repr(s1) and len(s1) == 2


def test_subgroup_tssem_database_errors(database) -> None:
    never = r"group 'other' \(industry = 'other'\): no study reports 1 pair\(s\): CSE-CSAT\."
    with pytest.raises(DataError, match=never):
        masem.subgroup_tssem(database, ["PE", "CSE", "CSAT"], by="industry")
    with pytest.raises(DataError, match="by must name a moderator column.*'sector'"):
        masem.subgroup_tssem(database, ["PE", "SERV"], by="sector")
    with pytest.raises(DataError, match="no study has industry = 'public'"):
        masem.subgroup_tssem(database, ["PE", "SERV"], by="industry", levels=["service", "public"])
    with pytest.raises(DataError, match="at least two groups"):
        masem.subgroup_tssem(database, ["PE", "SERV"], by="industry", levels=["service"])
    with pytest.raises(DataError, match="variables: give the construct codes"):
        masem.subgroup_tssem(database, by="industry")
    with pytest.raises(DataError, match=r"group 'other'.*fewer than 6 studies: PE-CSAT \(k = 5\), SERV-CSAT \(k = 1\)"):
        masem.subgroup_tssem(database, ["PE", "SERV", "CSAT"], by="industry", levels=["service", "other"], min_k=6)
    with pytest.raises(DataError, match="min_k must be a positive integer"):
        masem.subgroup_tssem(database, ["PE", "SERV"], by="industry", min_k=0)
    with pytest.raises(ModelError, match="method must be one of"):
        masem.subgroup_tssem(database, ["PE", "SERV"], by="industry", method="GLS")


def test_subgroup_tssem_mapping_errors() -> None:
    rng = np.random.default_rng(1)
    a = _simulated_studies(population(), 4, rng)
    b = _simulated_studies(population(), 4, rng)
    other_vars = masem.StudyMatrices(
        ["x1", "x2", "m"], [m.loc[["x1", "x2", "m"], ["x1", "x2", "m"]] for m in b.matrices], b.n, b.study_ids
    )
    with pytest.raises(DataError, match=r"group 'b' has the variables \['x1', 'x2', 'm'\]"):
        masem.subgroup_tssem({"a": a, "b": other_vars})
    single = masem.StudyMatrices(VARS, a.matrices[:1], a.n[:1], a.study_ids[:1])
    with pytest.raises(DataError, match="group 'b': 1 study reports"):
        masem.subgroup_tssem({"a": a, "b": single})
    with pytest.raises(DataError, match="at least two groups"):
        masem.subgroup_tssem({"a": a})
    with pytest.raises(DataError, match="expected StudyMatrices"):
        masem.subgroup_tssem({"a": a, "b": [np.eye(4)]})
    with pytest.raises(DataError, match="levels only applies to a database"):
        masem.subgroup_tssem({"a": a, "b": b}, levels=["a"])
    with pytest.raises(DataError, match="data must be a StudyDatabase"):
        masem.subgroup_tssem([a, b])


# ----------------------------------------------------------------------------------------------
# Error cases of the joint fit and the tests
# ----------------------------------------------------------------------------------------------


def test_tssem2_multigroup_errors() -> None:
    stage1 = group_stage1(10)
    with pytest.raises(ModelError, match="unknown parameter 'beta'"):
        masem.tssem2_multigroup(stage1, MODEL, equal=["beta"])
    with pytest.raises(ModelError, match="no element 'y ~ x2'"):
        masem.tssem2_multigroup(stage1, MODEL, equal="y ~ x2")
    with pytest.raises(ModelError, match="'x1 ~~ x1' is fixed at 1"):
        masem.tssem2_multigroup(stage1, MODEL, equal="x1 ~~ x1")
    with pytest.raises(ModelError, match="'m ~~ m' is an error variance.*diag_constraints=True"):
        masem.tssem2_multigroup(stage1, MODEL, equal="m ~~ m")
    with pytest.raises(ModelError, match="equal must be 'none', 'all'"):
        masem.tssem2_multigroup(stage1, MODEL, equal=[1, 2])
    with pytest.raises(ModelError, match=r"partial: \['b'\] is not held equal by equal=\['a1'\]"):
        masem.tssem2_multigroup(stage1, MODEL, equal=["a1"], partial="b")
    with pytest.raises(ModelError, match="partial: unknown parameter 'beta'"):
        masem.tssem2_multigroup(stage1, MODEL, equal="all", partial="beta")
    with pytest.raises(ModelError, match="at least two groups"):
        masem.tssem2_multigroup({"service": stage1["service"]}, MODEL)
    with pytest.raises(DataError, match="stage1 must be a subgroup_tssem"):
        masem.tssem2_multigroup([stage1["service"], stage1["other"]], MODEL)
    three = dict(stage1)
    three["other"] = make_stage1(np.eye(3) * 0.8 + 0.2, ["x1", "x2", "m"])
    with pytest.raises(DataError, match=r"group 'other': the model uses 'y' \(line 3\)"):
        masem.tssem2_multigroup(three, MODEL)
    with pytest.raises(ModelError, match="diag_constraints must be True or False"):
        masem.tssem2_multigroup(stage1, MODEL, diag_constraints="yes")
    with pytest.raises(ModelError, match="not identified"):
        masem.tssem2_multigroup(stage1, MODEL + "m ~~ y\nx2 ~~ y\n")


def test_equality_tests_errors() -> None:
    stage1 = group_stage1(11)
    free = masem.tssem2_multigroup(stage1, MODEL)
    with pytest.raises(ModelError, match="fit must be a tssem2_multigroup"):
        masem.equality_tests(masem.tssem2(stage1["other"], MODEL))
    with pytest.raises(ModelError, match="parameters: the model has no element 'm ~ y'"):
        masem.equality_tests(free, ["m ~ y"])
    with pytest.raises(ModelError, match="already equal"):
        masem.equality_tests(masem.tssem2_multigroup(stage1, MODEL, equal="b"), ["b"])
    with pytest.raises(ModelError, match="nothing to test"):
        masem.equality_tests(masem.tssem2_multigroup(stage1, MODEL, equal="all"))
    with pytest.raises(ModelError, match="adjust='sidak2' is not a multipletests method"):
        masem.equality_tests(free, ["b"], adjust="sidak2")
    bonferroni = masem.equality_tests(free, ["a1", "b"], adjust="bonferroni")
    np.testing.assert_allclose(bonferroni["p_bonferroni"], np.minimum(2 * bonferroni["p_value"], 1.0))


# ----------------------------------------------------------------------------------------------
# Standards and the figure
# ----------------------------------------------------------------------------------------------


def test_results_are_immutable_and_inputs_untouched() -> None:
    stage1 = group_stage1(12)
    before = copy.deepcopy(stage1)
    fit = masem.tssem2_multigroup(stage1, MODEL, equal=["b"])
    for key, value in before.items():
        pd.testing.assert_frame_equal(stage1[key].pooled, value.pooled)
        pd.testing.assert_frame_equal(stage1[key].vcov, value.vcov)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.equal = ()  # type: ignore[misc]
    with pytest.raises(ValueError):
        fit._estimates[0] = 1.0
    coefficients, implied = fit.coefficients, fit.implied["service"]
    coefficients.iloc[0] = implied.iloc[0, 1] = 99.0  # changes fresh copies only
    assert fit.coefficients.iloc[0] != 99.0 and fit.implied["service"].iloc[0, 1] != 99.0
    defined = fit.inspect().query("op == ':='")
    assert defined["group"].tolist() == ["service", "other", "public"]
    assert list(fit.vcov.index) == list(fit.coefficients.index)


def test_paths_by_group_plot(tmp_path) -> None:
    fit = masem.tssem2_multigroup(group_stage1(13), MODEL)
    ax = plots.paths_by_group(fit, "Paths by group")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["x1 → m", "x2 → m", "m → y", "x1 → y"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["service", "other", "public"]
    assert ax.get_title() == "Paths by group" and "standardized" in ax.get_xlabel()
    path = plots.save_figure(ax.figure, tmp_path / "paths.png")
    assert path.stat().st_size > 0
    plt.close(ax.figure)
    ax = plots.paths_by_group(fit.inspect(), "With covariances", ops=("~", "~~"))
    assert "x1 ↔ x2" in [t.get_text() for t in ax.get_yticklabels()]
    plt.close(ax.figure)
    with pytest.raises(DataError, match="lacks the column"):
        plots.paths_by_group(pd.DataFrame({"group": ["a"]}), "x")
    with pytest.raises(DataError, match="ops must be among"):
        plots.paths_by_group(fit, "x", ops=("=~",))
