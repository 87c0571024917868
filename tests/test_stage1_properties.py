"""Properties of TSSEM stage 1 that must hold on any data, and its handling of bad input.

Questions answered:

- test_study_order_irrelevant: does permuting the studies change nothing (FEM, REM)?
- test_variable_order_irrelevant: does permuting the variables only permute the results?
- test_duplicated_studies_halve_vcov: does duplicating every study halve the sampling covariance
  (FEM and REM Zero, where the likelihood simply doubles) and leave the estimates alone?
- test_copies_of_one_matrix: do k copies of one positive definite matrix pool to that matrix,
  with a perfect FEM fit and REM tau2 on its bound (with the warning naming the correlations)?
- test_nan_diagonal_convention: are correlations next to a NaN diagonal used by REM and not by FEM?
- test_dataframe_input: do labelled DataFrames (in any label order) give the array results?
- test_inputs_not_mutated: are the caller's matrices and sample sizes left untouched?
- test_result_is_immutable: can the result be altered through its attributes or DataFrames?
- test_summary_repr_and_fit_stats: are summary(), repr() and fit_stats() complete and readable?
- test_symm: does the unstructured between-study covariance fit to a positive semidefinite T?
- test_uni_r_weighted_mean: is uni_r's mean the sample-size-weighted mean?
- test_bad_input: does every bad input raise DataError / ModelError naming the culprit?
- test_fem_rejects_nonpd_study: does FEM name a non-positive-definite study (with its label and
  smallest eigenvalue) while REM accepts it and lists it?
"""

from __future__ import annotations

import copy
import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import masem
from masem.effects import vechs_indices
from masem.tssem.stage1 import tssem1, uni_r

# Both fits stop at a Newton decrement below 1e-11, i.e. parameters within ~1e-8 of the optimum;
# 1e-6 relative leaves room for a different path to the same optimum.
SAME_RTOL, SAME_ATOL = 1e-6, 1e-9


def _population(rng: np.random.Generator, p: int) -> np.ndarray:
    loadings = rng.normal(size=(p, 2))
    cov = loadings @ loadings.T + np.diag(rng.uniform(0.5, 1.5, p))
    sd = np.sqrt(np.diagonal(cov))
    return cov / np.outer(sd, sd)


def _studies(seed: int, k: int = 6, p: int = 4, missing: bool = True):
    """k sample correlation matrices from one population; optionally one variable missing in one study."""
    rng = np.random.default_rng(seed)
    rho = _population(rng, p)
    n = rng.integers(60, 400, size=k)
    mats = []
    for size in n:
        x = rng.multivariate_normal(np.zeros(p), rho, size=int(size))
        mats.append(np.corrcoef(x, rowvar=False))
    if missing:
        mats[1][p - 1, :] = np.nan
        mats[1][:, p - 1] = np.nan
    return mats, [int(v) for v in n]


def _fit(*args, **kwargs):
    """tssem1 allowing only the informative tau2-at-bound warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tssem1(*args, **kwargs)
    other = [str(w.message) for w in caught if "lower bound" not in str(w.message)]
    assert not other, other
    return result


def _pair_frame(result) -> pd.DataFrame:
    """vcov indexed by unordered variable pairs, so variable permutations can be compared."""
    names = result.variables
    rows, cols = vechs_indices(len(names))
    pairs = [frozenset((names[i], names[j])) for i, j in zip(rows, cols)]
    return pd.DataFrame(result.vcov.to_numpy(), index=pairs, columns=pairs)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(["FEM", "REM"]))
def test_study_order_irrelevant(seed, method):
    mats, n = _studies(seed)
    order = np.random.default_rng(seed + 1).permutation(len(mats))
    a = _fit(mats, n, method=method)
    b = _fit([mats[i] for i in order], [n[i] for i in order], method=method)
    np.testing.assert_allclose(b.pooled, a.pooled, rtol=SAME_RTOL, atol=SAME_ATOL)
    np.testing.assert_allclose(b.vcov, a.vcov, rtol=SAME_RTOL, atol=SAME_ATOL)
    assert b.minus2LL == pytest.approx(a.minus2LL, rel=SAME_RTOL, abs=SAME_ATOL)
    if method == "REM":
        np.testing.assert_allclose(b.tau2, a.tau2, rtol=SAME_RTOL, atol=SAME_ATOL)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(["FEM", "REM"]))
def test_variable_order_irrelevant(seed, method):
    mats, n = _studies(seed)
    names = ["a", "b", "c", "d"]
    perm = np.random.default_rng(seed + 2).permutation(4)
    a = _fit(mats, n, method=method, variables=names)
    b = _fit([m[np.ix_(perm, perm)] for m in mats], n, method=method, variables=[names[i] for i in perm])
    assert b.variables == [names[i] for i in perm]
    np.testing.assert_allclose(b.pooled.loc[names, names], a.pooled, rtol=SAME_RTOL, atol=SAME_ATOL)
    va, vb = _pair_frame(a), _pair_frame(b)
    np.testing.assert_allclose(vb.loc[va.index, va.columns], va, rtol=SAME_RTOL, atol=SAME_ATOL)
    if method == "REM":
        np.testing.assert_allclose(b.tau2.loc[names, names], a.tau2, rtol=SAME_RTOL, atol=SAME_ATOL)
        np.testing.assert_allclose(b.I2.loc[names, names], a.I2, rtol=SAME_RTOL, atol=SAME_ATOL)


@pytest.mark.parametrize(("method", "re_type"), [("FEM", "Diag"), ("REM", "Zero")])
def test_duplicated_studies_halve_vcov(method, re_type):
    mats, n = _studies(7)
    single = _fit(mats, n, method=method, re_type=re_type)
    double = _fit(mats + mats, n + n, method=method, re_type=re_type)
    np.testing.assert_allclose(double.pooled, single.pooled, rtol=SAME_RTOL, atol=SAME_ATOL)
    # -2LL doubles with the data, so its Hessian doubles and 2 H^-1 halves exactly
    np.testing.assert_allclose(double.vcov, single.vcov / 2, rtol=SAME_RTOL, atol=SAME_ATOL)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(2, 6))
def test_copies_of_one_matrix(seed, k):
    rng = np.random.default_rng(seed)
    target = _population(rng, 4)
    n = [int(v) for v in rng.integers(50, 500, size=k)]
    fem = _fit([target] * k, n, method="FEM")
    np.testing.assert_allclose(fem.pooled, target, atol=1e-8)  # the exact optimum, to solver precision
    # metaSEM's saturated -2LL evaluates Sigma_i = S_i, while the model may use (n_i - 1) / n_i S_i:
    # a perfect fit therefore has chi2 = sum_i p_i (n_i log(1 - 1 / n_i) + 1), about -sum p_i / (2 n_i).
    offset = sum(4 * (size * np.log1p(-1 / size) + 1) for size in n)
    assert fem.fit_stats()["chi2"] == pytest.approx(offset, abs=1e-6)  # README tolerance near 0
    with pytest.warns(masem.ConvergenceWarning, match="lower bound") as record:
        rem = tssem1([target] * k, n, method="REM")
    np.testing.assert_allclose(rem.pooled, target, atol=1e-8)
    assert all(label in str(record[0].message) for label in rem.labels)
    assert rem.Q == pytest.approx(0, abs=1e-6)


def test_nan_diagonal_convention():
    """metaSEM's convention (tssem1, cov2cor; tests/reference/README.md): values given against a
    variable with a NaN diagonal are set aside by FEM and by the REM likelihood (with a note);
    deleting them changes the REM fit only through the mean matrix of the sampling covariances.
    """
    mats, n = _studies(3, missing=False)
    marked = [m.copy() for m in mats]
    marked[2][0, 0] = np.nan  # variable x1 "not measured", but its correlations stay
    dropped = [m.copy() for m in mats]
    dropped[2][0, :] = dropped[2][:, 0] = np.nan
    with pytest.warns(masem.ConvergenceWarning, match=r"matrices\[2\]: x1\. As in metaSEM"):
        fem_marked = tssem1(marked, n, method="FEM")
    fem_dropped = _fit(dropped, n, method="FEM")
    np.testing.assert_allclose(fem_marked.pooled, fem_dropped.pooled, rtol=SAME_RTOL, atol=SAME_ATOL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rem_marked = tssem1(marked, n, method="REM")
    assert any("left out of the likelihood" in str(w.message) for w in caught)
    rem_dropped = _fit(dropped, n, method="REM")
    assert rem_marked.fit_stats()["n_observed"] == rem_dropped.fit_stats()["n_observed"]
    assert rem_marked.k_per_cell.iloc[1, 0] == len(mats) - 1


def test_dataframe_input():
    mats, n = _studies(11)
    names = ["w", "x", "y", "z"]
    frames = []
    rng = np.random.default_rng(0)
    for m in mats:
        order = rng.permutation(4)
        frames.append(pd.DataFrame(m, index=names, columns=names).iloc[order, order])
    from_arrays = _fit(mats, n, method="REM", variables=names)
    from_frames = _fit(frames, n, method="REM")
    assert from_frames.variables == list(frames[0].columns)
    np.testing.assert_allclose(
        from_frames.pooled.loc[names, names], from_arrays.pooled, rtol=SAME_RTOL, atol=SAME_ATOL
    )
    by_label = dict(zip([f"s{i}" for i in range(len(frames))], frames))
    labelled = _fit(by_label, n, method="FEM", variables=names)
    plain = _fit(mats, n, method="FEM", variables=names)
    np.testing.assert_allclose(labelled.pooled, plain.pooled, rtol=SAME_RTOL, atol=SAME_ATOL)


def test_inputs_not_mutated():
    mats, n = _studies(5)
    mats[0][0, 1] = mats[0][1, 0] + 1e-9  # asymmetry below the rounding tolerance gets averaged
    frames = [pd.DataFrame(m, index=list("abcd"), columns=list("abcd")) for m in mats]
    n_array = np.array(n)
    before = (copy.deepcopy(mats), copy.deepcopy(frames), n_array.copy())
    _fit(mats, n_array, method="FEM")
    _fit(frames, n_array, method="REM")
    uni_r(mats, n_array)
    for a, b in zip(before[0], mats):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(before[1], frames):
        pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(before[2], n_array)


def test_result_is_immutable():
    mats, n = _studies(2)
    result = _fit(mats, n, method="REM")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.method = "FEM"
    pooled = result.pooled
    pooled.iloc[0, 1] = 99.0
    assert result.pooled.iloc[0, 1] != 99.0
    with pytest.raises(ValueError):
        result._pooled[0, 1] = 99.0  # the stored arrays are read-only


def test_summary_repr_and_fit_stats():
    mats, n = _studies(9)
    rem = _fit(mats, n, method="REM", variables=list("abcd"))
    fem = _fit(mats, n, method="FEM", variables=list("abcd"))
    cols = ["label", "estimate", "se", "z", "p", "ci_lower", "ci_upper"]
    assert rem.summary().columns.tolist() == cols + ["tau2", "I2", "k", "N"]
    assert fem.summary().columns.tolist() == cols + ["k", "N"]
    assert rem.summary()["label"].tolist() == masem.vechs_labels(list("abcd")) == rem.vcov.index.tolist()
    assert set(fem.fit_stats().index) >= {"chi2", "df", "p_value", "RMSEA", "RMSEA_lower", "RMSEA_upper",
                                          "SRMR", "CFI", "TLI", "minus2LL"}
    assert {"minus2LL", "Q", "Q_df", "Q_p"} <= set(rem.fit_stats().index)
    assert rem.fit_stats()["minus2LL"] == rem.minus2LL
    for result in (rem, fem):
        text = repr(result)
        assert result.method in text and "b_a" in text and "converged=True" in text
    assert "Q(" in repr(rem) and "RMSEA" in repr(fem)
    assert fem.tau2 is None and fem.Q is None
    assert np.isnan(np.diagonal(rem.pooled_se)).all() and np.all(np.diagonal(rem.pooled) == 1)
    assert rem.summary()["N"].iloc[0] == sum(n)


def test_symm():
    mats, n = _studies(21, k=12, p=3, missing=False)
    with warnings.catch_warnings():
        # with few studies T often lands on the boundary; the warnings say so and are tested elsewhere
        warnings.simplefilter("ignore", masem.ConvergenceWarning)
        result = tssem1(mats, n, method="REM", re_type="Symm")
    assert result.converged
    assert np.linalg.eigvalsh(result.tau2_matrix.to_numpy()).min() > -1e-10
    assert np.all(np.isfinite(result.vcov.to_numpy()))
    assert result.vcov_all.shape == (3 + 6, 3 + 6)


def test_uni_r_weighted_mean():
    mats, n = _studies(4)
    result = uni_r(mats, n)
    reported = [i for i, m in enumerate(mats) if not np.isnan(m[3, 0])]
    expected = sum(n[i] * mats[i][3, 0] for i in reported) / sum(n[i] for i in reported)
    assert result.r_mean.iloc[3, 0] == pytest.approx(expected, rel=1e-12)
    assert result.pattern_k.iloc[3, 0] == len(reported)
    assert np.isnan(result.r_se.iloc[0, 0]) and result.r_mean.iloc[0, 0] == 1


def _base():
    mats, n = _studies(1, k=3, p=3, missing=False)
    return mats, n


def _set(i, a, b, value):
    def change(mats, n):
        mats[i][a, b] = value
        return mats, n

    return change


def _set_both(i, a, b, value):
    def change(mats, n):
        mats[i][a, b] = mats[i][b, a] = value
        return mats, n

    return change


BAD_INPUTS = [
    ("one study", lambda m, n: (m[:1], n[:1]), {}, masem.DataError, "at least 2 studies"),
    ("shape", lambda m, n: ([m[0], m[1][:2, :2], m[2]], n), {}, masem.DataError, r"matrices\[1\].*3 x 3"),
    ("asymmetric", _set(1, 0, 1, 0.9), {}, masem.DataError, r"matrices\[1\].*not symmetric"),
    ("one triangle", _set(1, 0, 1, np.nan), {}, masem.DataError, r"matrices\[1\].*both triangles"),
    ("diagonal", _set(2, 1, 1, 2.0), {}, masem.DataError, r"matrices\[2\].*diagonal.*'x2'"),
    ("r > 1", _set_both(0, 0, 2, 1.2), {}, masem.DataError, r"matrices\[0\].*\(x1, x3\).*\[-1, 1\]"),
    ("infinite", _set_both(0, 0, 2, np.inf), {}, masem.DataError, "finite"),
    ("text", lambda m, n: ([m[0], [["a", "b", "c"]] * 3, m[2]], n), {}, masem.DataError,
     r"matrices\[1\].*numeric"),
    ("n length", lambda m, n: (m, n[:2]), {}, masem.DataError, "expected 3 sample sizes"),
    ("n zero", lambda m, n: (m, [n[0], 0, n[2]]), {}, masem.DataError, r"n\[1\].*0"),
    ("n fraction", lambda m, n: (m, [n[0], n[1], 10.5]), {}, masem.DataError, r"n\[2\].*10.5"),
    ("n nan", lambda m, n: (m, [np.nan, n[1], n[2]]), {}, masem.DataError, r"n\[0\]"),
    (
        "pair never reported",
        lambda m, n: ([_nan_pair(x, 2, 1) for x in m], n),
        {},
        masem.DataError,
        "x3_x2",
    ),
    ("method", lambda m, n: (m, n), {"method": "GLS"}, masem.ModelError, "method.*'GLS'"),
    ("re_type", lambda m, n: (m, n), {"re_type": "full"}, masem.ModelError, "re_type.*'full'"),
    ("variables", lambda m, n: (m, n), {"variables": ["a", "b"]}, masem.DataError, r"2 x 2"),
    ("duplicate names", lambda m, n: (m, n), {"variables": ["a", "a", "b"]}, masem.DataError, "unique"),
    ("single frame", lambda m, n: (pd.DataFrame(m[0]), n), {}, masem.DataError, "list"),
    (
        "frame labels",
        lambda m, n: ([pd.DataFrame(x, index=list("abc"), columns=list("abc")) for x in m[:2]]
                      + [pd.DataFrame(m[2], index=list("abd"), columns=list("abd"))], n),
        {},
        masem.DataError,
        r"matrices\[2\].*do not match",
    ),
    (
        "FEM incomplete study",
        lambda m, n: ([m[0], _nan_pair(m[1], 1, 0), m[2]], n),
        {"method": "FEM"},
        masem.DataError,
        r"matrices\[1\] \(x1-x2\).*method='REM'.*not measured",
    ),
]


def _nan_pair(m, a, b):
    out = m.copy()
    out[a, b] = out[b, a] = np.nan
    return out


@pytest.mark.parametrize(("change", "kwargs", "error", "match"), [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input(change, kwargs, error, match):
    mats, n = change(*_base())
    with pytest.raises(error, match=match):
        tssem1(mats, n, **kwargs)
    assert issubclass(error, ValueError)


def test_fem_rejects_nonpd_study():
    mats, n = _base()
    bad = np.array([[1, 0.9, 0.9], [0.9, 1, -0.9], [-0.0, -0.9, 1]])
    bad[2, 0] = bad[0, 2]
    studies = {"Smith 2001": mats[0], "Jones 2004": bad, "Lee 2010": mats[2]}
    smallest = np.linalg.eigvalsh(bad).min()
    with pytest.raises(masem.DataError, match=rf"'Jones 2004' \(matrices\[1\]\).*{smallest:.3g}.*exclude"):
        tssem1(studies, n, method="FEM")
    with pytest.warns(masem.ConvergenceWarning, match=rf"'Jones 2004'.*{smallest:.3g}.*REM keeps it"):
        rem = tssem1(studies, n, method="REM")
    assert rem.nonpd_studies == ("'Jones 2004' (matrices[1])",)
    assert "Jones 2004" in repr(rem)
