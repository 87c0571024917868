"""metaSEM's conventions for the study matrices, in tssem1 (REM and FEM) and uni_r.

Sources: metaSEM 1.5.5's tssem1 / asyCov / uniR1 (Cheung, 2015) as tests/reference/README.md
states them: a NaN diagonal marks a variable the study did not measure; values given against it
are left out of the REM likelihood and of FEM while the weighted mean matrix of the sampling
covariances averages every value given; a study with no correlation counts in the total N and in
the I2 typical variance.

Questions answered:
- test_roorda11_matches_metasem: does Roorda11 give metaSEM's 101 observed statistics and REM
  -2LL (-127.20, issue 16; masem's old convention gave 114 and -145.16), with a note naming each
  study and variable set aside?
- test_observed_statistics_of_every_data_set: is the REM count of observed statistics, for every
  reference data set, the number of correlations given between two measured variables?
- test_values_against_a_nan_diagonal: are such values out of the likelihood and FEM, in the mean
  matrix, and in the univariate-r means (uniR1 averages every value given)?
- test_study_without_correlations_is_kept: is a study that reports nothing kept, counted in N and
  in I2's typical variance, and said so, in REM as in FEM?
- test_not_positive_definite_study: does tssem1 name such a study and its smallest eigenvalue,
  and say what happens: REM keeps it with a warning; FEM refuses it with a DataError that says
  what to do (a warning before an error would only repeat it)?
- test_fem_names_every_study_with_a_missing_correlation: does FEM's refusal name every study that
  measured both variables but did not report their correlation, by label, with the remedy?
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import masem
from conftest import load_reference, ref_study_matrices
from masem.data.matrices import prepare_studies, weighted_mean_matrix
from masem.errors import ConvergenceWarning, DataError

DATA_SETS = [
    "Becker92", "Becker94", "Cooke16", "Digman97", "Gnambs18", "Hunter83", "Mathieu15", "Nohe15A1",
    "Roorda11", "Scalco17",
]  # fmt: skip


def _fit(*args, **kwargs):
    """tssem1 and the ConvergenceWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = masem.tssem1(*args, **kwargs)
    assert all(issubclass(w.category, ConvergenceWarning) for w in caught)
    return result, [str(w.message) for w in caught]


def test_roorda11_matches_metasem() -> None:
    """Source: issue 16 (metaSEM: 101 observed statistics, -2LL -127.20 for Roorda11 REM)."""
    data = load_reference("data", "Roorda11.json")
    studies = dict(zip(data["studies"], ref_study_matrices(data)))
    rem, notes = _fit(studies, data["n"], method="REM", variables=data["variables"])
    assert rem.fit_stats()["n_observed"] == 101
    # The issue quotes metaSEM's -2LL to two decimals.
    assert rem.minus2LL == pytest.approx(-127.20, abs=0.005)
    aside = [n for n in notes if "left out of the likelihood" in n]
    assert len(aside) == 1  # once per call
    assert "'Study 5' (matrices[4]): pos, enga" in aside[0]
    assert "'Study 34' (matrices[33]): neg, enga" in aside[0]


@pytest.mark.parametrize("name", DATA_SETS)
def test_observed_statistics_of_every_data_set(name: str) -> None:
    """Source: metaSEM's tssem1REM counts the correlations left after cov2cor (NA against a NaN
    diagonal); for Becker92, Digman97, Hunter83 also its reported n_observed_statistics.
    """
    data = load_reference("data", f"{name}.json")
    count = sum(
        1
        for m in data["matrices"]
        for i in range(len(m))
        for j in range(i)
        if m[i][j] is not None and m[i][i] is not None and m[j][j] is not None
    )
    studies = prepare_studies(ref_study_matrices(data), data["n"], data["variables"])
    assert int(studies.observed.sum()) == count
    if name in ("Becker92", "Digman97", "Hunter83"):
        expected = load_reference("expected", "metasem", f"{name}.json")
        used = expected["input"]["studies_used_index"]
        subset = [ref_study_matrices(data)[i - 1] for i in used]
        picked = prepare_studies(subset, [data["n"][i - 1] for i in used], data["variables"])
        assert int(picked.observed.sum()) == expected["tssem1"]["REM"]["n_observed_statistics"]


def _three_variable_studies():
    rng = np.random.default_rng(5)
    base = np.array([[1.0, 0.4, 0.3], [0.4, 1.0, 0.25], [0.3, 0.25, 1.0]])
    out = []
    for _ in range(6):
        noise = rng.normal(0, 0.04, size=3)
        m = base.copy()
        m[1, 0] = m[0, 1] = base[1, 0] + noise[0]
        m[2, 0] = m[0, 2] = base[2, 0] + noise[1]
        m[2, 1] = m[1, 2] = base[2, 1] + noise[2]
        out.append(m)
    return out, [120, 200, 90, 150, 300, 80]


def test_values_against_a_nan_diagonal() -> None:
    """Source: metaSEM's cov2cor in tssem1REM (the values become NA), addDiagNA and the dropped
    variable in tssem1FEM, asyCov's mean of every value given, uniR1's mean of every value.
    """
    mats, n = _three_variable_studies()
    marked = [m.copy() for m in mats]
    marked[1][2, 2] = np.nan  # study 2 "did not measure" x3, but its correlations are given
    removed = [m.copy() for m in mats]
    removed[1][2, :] = removed[1][:, 2] = np.nan
    data, gone = prepare_studies(marked, n, None), prepare_studies(removed, n, None)
    np.testing.assert_array_equal(data.observed, gone.observed)  # out of the likelihood
    assert data.set_aside == [(1, ["x3"])]
    # ... but in the mean matrix: the cell x3-x1 averages all six studies' values.
    x31 = np.array([m[2, 0] for m in mats])
    assert weighted_mean_matrix(data)[2, 0] == pytest.approx(np.average(x31, weights=n), rel=1e-14)
    assert weighted_mean_matrix(gone)[2, 0] != pytest.approx(np.average(x31, weights=n), rel=1e-6)
    rem, notes = _fit(marked, n, method="REM")
    assert [x for x in notes if "NaN" in x] == [
        "tssem1 (REM): these studies give correlations against variables whose diagonal is NaN "
        "(not measured there): matrices[1]: x3. As in metaSEM, those values are left out of the "
        "likelihood; they still enter the weighted mean matrix at which the sampling covariances "
        "are evaluated. If a study did measure the variable, set its diagonal to 1."
    ]
    assert rem.fit_stats()["n_observed"] == 16 and rem.k_per_cell.iloc[2, 0] == 5
    fem, _ = _fit(marked, n, method="FEM")
    fem_gone, _ = _fit(removed, n, method="FEM")
    np.testing.assert_allclose(fem.pooled, fem_gone.pooled, atol=1e-10)  # FEM drops the variable
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # uniR1 uses every value: nothing to say
        uni = masem.uni_r(marked, n)
    assert uni.r_mean.iloc[2, 0] == pytest.approx(np.average(x31, weights=n), rel=1e-14)
    assert uni.pattern_k.iloc[2, 0] == 6


def test_study_without_correlations_is_kept() -> None:
    """Source: tests/reference/README.md ('A study with no observed correlation still counts in
    the total N and in the I2 typical variance'); Higgins & Thompson (2002) for I2.
    """
    mats, n = _three_variable_studies()
    empty = np.full((3, 3), np.nan)
    with_empty = {f"s{i}": m for i, m in enumerate(mats)} | {"no data": empty}
    sizes = n + [500]
    rem, notes = _fit(with_empty, sizes, method="REM")
    without, _ = _fit(mats, n, method="REM")
    assert rem.n_studies == 7 and rem.total_n == sum(sizes)
    np.testing.assert_allclose(rem.pooled, without.pooled, atol=1e-10)  # no likelihood term
    np.testing.assert_allclose(rem.tau2.fillna(0), without.tau2.fillna(0), atol=1e-12)
    # I2 = tau2 / (tau2 + typical), typical = (k - 1) c_jj N / (N^2 - sum n^2) over all k studies.
    data = prepare_studies(list(with_empty.values()), sizes, None)
    c_jj = np.diagonal(masem.olkin_siotani(weighted_mean_matrix(data)))
    big_n, k = float(sum(sizes)), 7
    typical = (k - 1) * c_jj * big_n / (big_n**2 - np.sum(np.square(sizes)))
    tau2 = rem.summary()["tau2"].to_numpy()
    np.testing.assert_allclose(rem.summary()["I2"], tau2 / (tau2 + typical), rtol=1e-12)
    assert any("'no data' (matrices[6]) reports no correlation" in m and "typical" in m for m in notes)
    fem, fem_notes = _fit(with_empty, sizes, method="FEM")
    assert fem.total_n == sum(sizes)
    assert any("reports no correlation" in m and "I2" not in m for m in fem_notes)
    fem_without, _ = _fit(mats, n, method="FEM")
    np.testing.assert_allclose(fem.pooled, fem_without.pooled, atol=1e-10)
    assert fem.fit_stats()["RMSEA"] == pytest.approx(fem_without.fit_stats()["RMSEA"], rel=1e-12)


def test_not_positive_definite_study() -> None:
    """Source: issue 16 and 18 (a warning naming the study and its smallest eigenvalue, in REM as
    in FEM, saying what happens to it); metaSEM's tssem1FEM warns too ('is not positive definite').
    """
    mats, n = _three_variable_studies()
    bad = np.array([[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]])
    studies = {f"s{i}": m for i, m in enumerate(mats)} | {"Jones 2004": bad}
    smallest = f"{np.linalg.eigvalsh(bad).min():.3g}"
    rem, notes = _fit(studies, n + [100], method="REM")
    assert rem.nonpd_studies == ("'Jones 2004' (matrices[6])",)
    assert any(f"'Jones 2004' (matrices[6]) (smallest eigenvalue {smallest})" in m and "REM keeps it" in m for m in notes)
    with pytest.raises(DataError, match=rf"'Jones 2004'.*{smallest}.*FEM cannot use them.*method='REM'"):
        masem.tssem1(studies, n + [100], method="FEM")


def test_fem_names_every_study_with_a_missing_correlation() -> None:
    """Source: issue 18 (name every affected study, by label, and say what to do); metaSEM's FEM
    needs the correlations among each study's measured variables (tssem1FEM).
    """
    mats, n = _three_variable_studies()
    studies = {f"s{i}": m.copy() for i, m in enumerate(mats)}
    studies["s2"][1, 0] = studies["s2"][0, 1] = np.nan
    studies["s4"][2, 1] = studies["s4"][1, 2] = np.nan
    with pytest.raises(DataError) as info:
        masem.tssem1(studies, n, method="FEM")
    message = str(info.value)
    assert message.startswith("2 studies measure both variables of a pair")
    assert "'s2' (matrices[2]) (x1-x2); 's4' (matrices[4]) (x2-x3)" in message
    assert "method='REM'" in message and "not measured in that study (a NaN diagonal)" in message
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert masem.tssem1(studies, n, method="REM").converged  # REM handles them
