"""Robustness checks (masem.study.robustness, masem.plots.robustness).

Questions answered:
- test_uni_r_pooled_is_one_sample_of_the_harmonic_n: is the univariate-r input the mean matrix with
  the Olkin-Siotani covariance of one sample of the harmonic-mean N, so that a just-identified
  regression fitted to it gives the closed-form coefficients R_xx^-1 r_xy and the textbook SE of
  a correlation, (1 - r^2) / sqrt(n)?
- test_exact_leave_one_out_is_the_pipeline_without_the_study: is each exact leave-one-out row what
  tssem1 + tssem2 give on the other studies, with influence = full - without and DFBETAS =
  influence / SE (Viechtbauer & Cheung, 2010)?
- test_fixed_tau2_full_fit_is_the_rem_fit: with T held at its ML estimate, does the GLS pooled
  matrix reproduce tssem1's REM estimate (the ML estimate of rho given T), so the approximation
  starts from the exact full-data fit?
- test_fixed_tau2_approximates_the_exact_refits: does the one-solve approximation track the exact
  refits (same direction, most of the size of each study's influence)?
- test_summary_and_influential: do summary() and influential() report the extreme rows of the
  table they summarise?
- test_a_sole_reporter_cannot_be_left_out: is a study that alone reports a needed correlation
  reported (status, NaN rows and a ConvergenceWarning) instead of crashing or a silent NaN?
- test_exact_results_do_not_depend_on_n_jobs / test_inputs_are_not_mutated: determinism across worker
  processes; the caller's matrices are left untouched.
- test_compare_variants_* : does each variant equal the pipeline it names (tssem1 REM/FEM,
  corrected matrices, subset, uni_r), is the reference's difference zero, and are bad variants
  refused naming the variant?
- test_influence_plot / test_bad_arguments: figure labels; errors name the argument and value.
"""

from __future__ import annotations

import copy
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import masem  # noqa: E402
from conftest import ROOT  # noqa: E402
from masem.data import StudyMatrices  # noqa: E402
from masem.effects import olkin_siotani  # noqa: E402
from masem.errors import ConvergenceWarning, DataError, ModelError  # noqa: E402
from masem.plots.robustness import influence_plot  # noqa: E402

VARS = ["x1", "x2", "x3"]
CHAIN = "x2 ~ a*x1\nx3 ~ b*x2 + x1\nx1 ~~ 1*x1\nab := a*b"  # just identified: estimates are closed forms


def _studies(k: int = 9, seed: int = 5, missing: bool = True) -> StudyMatrices:
    """Heterogeneous synthetic studies: study-level rho with N(0, .1^2) effects on Fisher's z."""
    rng = np.random.default_rng(seed)
    rho = np.array([[1.0, 0.4, 0.3], [0.4, 1.0, 0.5], [0.3, 0.5, 1.0]])
    mats, ns = [], []
    for i in range(k):
        z = np.arctanh(np.triu(rho, 1)) + np.triu(rng.normal(0, 0.1, (3, 3)), 1)
        true = np.tanh(z)
        true = true + true.T + np.eye(3)
        n = int(rng.integers(80, 400))
        sample = np.corrcoef(rng.multivariate_normal(np.zeros(3), true, size=n), rowvar=False)
        if missing and i % 4 == 3:
            sample[0, 2] = sample[2, 0] = np.nan
        mats.append(pd.DataFrame(np.round(sample, 3), index=VARS, columns=VARS))
        ns.append(n)
    n_arr = np.array(ns)
    n_arr.flags.writeable = False
    return StudyMatrices(variables=VARS, matrices=mats, n=n_arr, study_ids=[f"S{i:02d}" for i in range(k)])


def _quiet(fn, *args, **kwargs):
    # tau2-at-bound notes of the small synthetic fits are not what these tests are about
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


def test_uni_r_pooled_is_one_sample_of_the_harmonic_n() -> None:
    studies = _studies(missing=False)
    uni = masem.uni_r(studies.matrices, studies.n)
    pooled = masem.uni_r_pooled(uni)
    R = uni.r_mean.to_numpy()
    np.testing.assert_allclose(pooled.vcov.to_numpy(), olkin_siotani(R) / uni.n_harmonic, rtol=1e-12)
    assert pooled.total_n == round(uni.n_harmonic) and pooled.method == "univariate r"
    fit = masem.tssem2(pooled, "x3 ~ b1*x1 + b2*x2\nx1 ~~ 1*x1\nx2 ~~ 1*x2\nx1 ~~ x2")
    beta = np.linalg.solve(R[:2, :2], R[:2, 2])
    # a just-identified model reproduces the matrix: estimates are the OLS closed form (optimiser tolerance)
    np.testing.assert_allclose(fit.coefficients[["b1", "b2"]], beta, atol=1e-7)
    se_r = fit.inspect().set_index("label").at["x1withx2", "Std. Err"]
    np.testing.assert_allclose(se_r, (1 - R[0, 1] ** 2) / np.sqrt(uni.n_harmonic), rtol=1e-6)


def test_exact_leave_one_out_is_the_pipeline_without_the_study() -> None:
    studies = _studies()
    loo = _quiet(masem.leave_one_out, studies, CHAIN, progress=False)
    table = loo.table
    for i in (0, 3):
        keep = [j for j in range(len(studies.n)) if j != i]
        s1 = _quiet(masem.tssem1, [studies.matrices[j] for j in keep], studies.n[keep])
        fit = masem.tssem2(s1, CHAIN).inspect().set_index("label")
        rows = table[table["omitted"] == studies.study_ids[i]].set_index("parameter")
        # the same estimator on the same data: agreement to the optimisers' tolerance
        np.testing.assert_allclose(rows["estimate"], fit.loc[rows.index, "Estimate"], atol=1e-8)
        np.testing.assert_allclose(rows["se"], fit.loc[rows.index, "Std. Err"], rtol=1e-6)
    np.testing.assert_allclose(table["influence"], table["full_estimate"] - table["estimate"], rtol=0, atol=0)
    np.testing.assert_allclose(table["dfbetas"], table["influence"] / table["se"], rtol=1e-15)
    full = _quiet(masem.tssem1, studies.matrices, studies.n)
    expected = masem.tssem2(full, CHAIN).coefficients
    np.testing.assert_allclose(loo.full.coefficients, expected, atol=1e-10)
    assert list(loo.status["status"]) == ["ok"] * len(studies.n)


def test_fixed_tau2_full_fit_is_the_rem_fit() -> None:
    studies = _studies(k=12, seed=11)
    approx = _quiet(masem.leave_one_out, studies, CHAIN, approximate=True, progress=False)
    s1 = _quiet(masem.tssem1, studies.matrices, studies.n)
    exact = masem.tssem2(s1, CHAIN)
    # GLS given the ML estimate of T is the ML estimate of rho: equal to the REM optimiser's tolerance
    np.testing.assert_allclose(approx.full.coefficients, exact.coefficients, atol=1e-7)
    np.testing.assert_allclose(approx.full.sample_vector, exact.sample_vector, atol=1e-7)


def test_fixed_tau2_approximates_the_exact_refits() -> None:
    studies = _studies(k=12, seed=11)
    exact = _quiet(masem.leave_one_out, studies, CHAIN, progress=False).table
    approx = _quiet(masem.leave_one_out, studies, CHAIN, approximate=True, progress=False).table
    paths = exact["type"] == "path"
    e, a = exact.loc[paths, "influence"].to_numpy(), approx.loc[paths, "influence"].to_numpy()
    # the approximation ignores the change in T only, a second-order effect: it keeps the sign of
    # every clear influence and explains most of its size
    clear = np.abs(e) > 0.2 * np.abs(e).max()
    assert np.all(np.sign(a[clear]) == np.sign(e[clear]))
    assert np.corrcoef(a, e)[0, 1] > 0.9


def test_summary_and_influential() -> None:
    studies = _studies()
    loo = _quiet(masem.leave_one_out, studies, CHAIN, approximate=True, progress=False)
    table = loo.table
    summary = loo.summary().set_index("parameter")
    for name, rows in table.groupby("parameter"):
        top = rows.loc[rows["influence"].abs().idxmax()]
        assert summary.at[name, "most_influential"] == top["omitted"]
        assert summary.at[name, "max_abs_influence"] == pytest.approx(abs(top["influence"]))
        assert summary.at[name, "min"] == rows["estimate"].min()
        assert summary.at[name, "n_flagged"] == int((rows["dfbetas"].abs() > 1).sum())
    top3 = loo.influential("ab", top=3)
    assert len(top3) == 3 and top3["influence"].abs().is_monotonic_decreasing
    assert set(summary["type"]) == {"path", "defined"}  # CHAIN has no free covariance
    assert "LeaveOneOutResult(" in repr(loo) and "held at full-data values" in repr(loo)


def test_a_sole_reporter_cannot_be_left_out() -> None:
    studies = _studies()
    mats = [m.copy() for m in studies.matrices]
    for i in range(1, len(mats)):  # only study 0 reports x1-x3
        mats[i].loc["x1", "x3"] = mats[i].loc["x3", "x1"] = np.nan
    lonely = StudyMatrices(VARS, mats, studies.n, studies.study_ids)
    with pytest.warns(ConvergenceWarning, match="not estimable.*S00"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="tssem1", category=ConvergenceWarning)
            loo = masem.leave_one_out(lonely, CHAIN, approximate=True, progress=False)
    status = loo.status.set_index("omitted")
    assert status.at["S00", "status"].startswith("not estimable: the only study reporting x3_x1")
    assert loo.table.query("omitted == 'S00'")["estimate"].isna().all()
    assert loo.table.query("omitted != 'S00'")["estimate"].notna().all()


@pytest.mark.slow
def test_exact_results_do_not_depend_on_n_jobs() -> None:
    studies = _studies(k=6)
    one = _quiet(masem.leave_one_out, studies, CHAIN, progress=False).table
    two = _quiet(masem.leave_one_out, studies, CHAIN, n_jobs=2, progress=False).table
    pd.testing.assert_frame_equal(one, two)


def test_inputs_are_not_mutated() -> None:
    studies = _studies()
    before = copy.deepcopy(studies.matrices)
    _quiet(masem.leave_one_out, studies, CHAIN, approximate=True, progress=False)
    for a, b in zip(before, studies.matrices):
        pd.testing.assert_frame_equal(a, b)


@pytest.fixture(scope="module")
def database():
    return masem.read_database(ROOT / "data" / "individual")


SMALL = ["HPWP", "PE", "JS"]
SMALL_MODEL = "PE ~ a*HPWP\nJS ~ b*PE + HPWP\nHPWP ~~ 1*HPWP\nab := a*b"


@pytest.fixture(scope="module")
def comparison(database):
    return _quiet(masem.compare_variants, database, SMALL, SMALL_MODEL)


def test_compare_variants_each_variant_is_its_pipeline(database, comparison) -> None:
    table = comparison.table.set_index(["variant", "parameter"])
    m = database.matrices(SMALL)
    expected = {
        "REM (reference)": _quiet(masem.tssem1, m.matrices, m.n),
        "FEM": _quiet(masem.tssem1, m.matrices, m.n, method="FEM"),
        "univariate r": masem.uni_r_pooled(masem.uni_r(m.matrices, m.n)),
    }
    mc = database.matrices(SMALL, corrected=True)
    expected["corrected for unreliability"] = _quiet(masem.tssem1, mc.matrices, mc.n)
    mp = database.subset(published=1).matrices(SMALL)
    expected["published only"] = _quiet(masem.tssem1, mp.matrices, mp.n)
    for name, stage1 in expected.items():
        fit = masem.tssem2(stage1, SMALL_MODEL).inspect().set_index("label")
        got = table.loc[name]
        # the same calls on the same data: identical up to floating-point noise
        np.testing.assert_allclose(got["estimate"], fit.loc[got.index, "Estimate"], atol=1e-12)
        np.testing.assert_allclose(got["ci_upper"], fit.loc[got.index, "ci.upper"], atol=1e-12)
    sizes = comparison.fit_table().set_index("variant")
    assert sizes.at["published only", "k"] == len(mp.n) < sizes.at["FEM", "k"] == len(m.n)
    assert sizes.at["published only", "N"] == int(mp.n.sum())


def test_compare_variants_layout(comparison) -> None:
    table = comparison.table
    assert list(table.columns) == ["variant", "parameter", "type", "estimate", "se", "ci_lower", "ci_upper", "difference"]
    assert (table.loc[table["variant"] == "REM (reference)", "difference"] == 0).all()
    wide = comparison.summary(["a", "ab"])
    assert list(wide.index) == ["a", "ab"] and list(wide.columns) == [v.name for v in masem.default_variants()]
    assert wide.loc["ab", "FEM"] == table.query("variant == 'FEM' and parameter == 'ab'")["estimate"].item()
    ci = comparison.interval_table(["ab"])
    assert list(ci.columns) == ["parameter", "method", "estimate", "ci_lower", "ci_upper"] and len(ci) == 5
    assert set(comparison.fit_table().columns) >= {"variant", "k", "N", "chi2", "df", "RMSEA"}


def test_compare_variants_refuses_bad_variants(database) -> None:
    with pytest.raises(DataError, match="variant 'odd'.*published"):
        masem.compare_variants(database, SMALL, SMALL_MODEL, [masem.Variant("odd", subset={"published": 7})])
    with pytest.raises(ModelError, match="variant 'x': method must be one of"):
        masem.compare_variants(database, SMALL, SMALL_MODEL, [masem.Variant("x", method="GLS")])
    with pytest.raises(DataError, match="unique.*'a'"):
        masem.compare_variants(database, SMALL, SMALL_MODEL, [masem.Variant("a"), masem.Variant("a")])
    with pytest.raises(DataError, match="StudyDatabase"):
        masem.compare_variants("data/individual", SMALL, SMALL_MODEL)


def test_bad_arguments() -> None:
    studies = _studies()
    with pytest.raises(DataError, match="StudyMatrices"):
        masem.leave_one_out(studies.matrices, CHAIN)
    with pytest.raises(ModelError, match="FEM"):
        masem.leave_one_out(studies, CHAIN, method="FEM", approximate=True)
    with pytest.raises(ModelError, match="'GLS'"):
        masem.leave_one_out(studies, CHAIN, method="GLS")
    with pytest.raises(DataError, match="n_jobs.*0"):
        masem.leave_one_out(studies, CHAIN, n_jobs=0)
    with pytest.raises(ModelError, match="lavaan syntax"):
        masem.leave_one_out(studies, None)
    with pytest.raises(DataError, match="uni_r"):
        masem.uni_r_pooled(studies)
    with pytest.raises(DataError, match="unknown parameter"):
        _quiet(masem.leave_one_out, studies, CHAIN, approximate=True, progress=False).influential("zz")


def test_influence_plot() -> None:
    loo = _quiet(masem.leave_one_out, _studies(), CHAIN, approximate=True, progress=False)
    ax = influence_plot(loo, "ab", "Influence on ab", label_top=2)
    assert ax.get_title() == "Influence on ab" and "ab" in ax.get_ylabel() and "omitted study" in ax.get_xlabel()
    assert len(ax.texts) == 2
    with pytest.raises(DataError, match="unknown parameter 'zz'"):
        influence_plot(loo, "zz", "t")
    again = influence_plot(loo.table, "ab", "From the table", label_top=2)  # e.g. read back from CSV
    np.testing.assert_allclose(again.collections[-1].get_offsets(), ax.collections[-1].get_offsets())
    with pytest.raises(DataError, match="lacks the column"):
        influence_plot(loo.table.drop(columns="dfbetas"), "ab", "t")
    plt.close("all")
