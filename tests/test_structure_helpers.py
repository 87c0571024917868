"""The table helpers that notebooks 05-07 call instead of joining parameter tables in cells.

Questions answered:
- test_r_squared_*: is R2 the closed-form share of variance a regression explains (r' Rxx^-1 r for
  correlated predictors), the squared loading of a one-factor indicator, listed only for predicted
  variables; and is a model without predicted variables refused?
- test_loading_intervals_*: does the side-by-side table carry exactly the loadings and intervals of
  the loading_table() rows it was given, and refuse rows of different models or repeated rows?
- test_attenuated_loadings_*: does lambda * sqrt(alpha) equal the loading a one-factor model finds
  in a matrix of observed scores built from true-score loadings and reliabilities (Spearman's
  attenuation), and are impossible loadings or reliabilities refused?
- test_structural_paths_*: does the tidy path table repeat the stage-2 parameter table, and does its
  population column hold the values a correctly specified model recovers from the population
  matrix (0 for absent paths, NaN for a latent factor)?
- test_pooled_correlations_* / test_level_comparison_*: do they repeat stage 1 (in either order of
  the pair) and path_summary level by level, and refuse malformed relations naming them?
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import masem
from masem.study.compare_levels import level_comparison, path_summary, pooled_correlations, structural_paths
from masem.tssem.loadings import attenuated_loadings, loading_intervals, loading_table
from masem.tssem.residuals import r_squared

from conftest import ROOT

MODELS = ROOT / "models"
TEAM = ["T_LEAD", "T_HPWP", "T_WD", "T_EMP", "T_PERF", "T_CSAT"]
ONE_FACTOR = "F =~ x1 + x2 + x3 + x4\nF ~~ 1*F"
# Exact matrices: estimates solve the normal equations to ~1e-10; 1e-6 allows for the stopping rule.
EXACT = 1e-6


def _exact_stage1(R: pd.DataFrame, n: int = 1000) -> SimpleNamespace:
    """A stage-1 stand-in whose pooled matrix is R exactly, with Olkin-Siotani sampling covariance."""
    names = list(R.columns)
    labels = masem.vechs_labels(names)
    vcov = pd.DataFrame(masem.olkin_siotani(R.to_numpy(), n), index=labels, columns=labels)
    return SimpleNamespace(pooled=R, vcov=vcov, total_n=n, variables=names, method="exact")


def _one_factor_matrix(loadings: np.ndarray) -> pd.DataFrame:
    R = np.outer(loadings, loadings)
    np.fill_diagonal(R, 1.0)
    names = [f"x{i + 1}" for i in range(len(loadings))]
    return pd.DataFrame(R, index=names, columns=names)


@pytest.fixture(scope="module")
def team():
    db = masem.read_database(ROOT / "data" / "team")
    m = db.matrices(TEAM)
    with masem.collect_notes(stream=io.StringIO()):
        stage1 = masem.tssem1(m.matrices, m.n, method="REM")
    fit = masem.tssem2(stage1, (MODELS / "team_partial_mediation.lav").read_text(encoding="utf-8"))
    return stage1, fit


# ------------------------------------------------------------------------------------------------
# r_squared
# ------------------------------------------------------------------------------------------------


def test_r_squared_is_the_closed_form_of_a_regression_with_correlated_predictors() -> None:
    names = ["x1", "x2", "x3", "y"]
    rxx = np.array([[1.0, 0.4, 0.2], [0.4, 1.0, 0.3], [0.2, 0.3, 1.0]])
    rxy = np.array([0.5, 0.35, 0.25])
    R = np.eye(4)
    R[:3, :3], R[3, :3], R[:3, 3] = rxx, rxy, rxy
    fit = masem.tssem2(_exact_stage1(pd.DataFrame(R, names, names)),
                       "y ~ x1 + x2 + x3\nx1 ~~ 1*x1\nx2 ~~ 1*x2\nx3 ~~ 1*x3\nx1 ~~ x2 + x3\nx2 ~~ x3")
    result = r_squared(fit)
    assert list(result.index) == ["y"]  # the predictors are exogenous: no R2
    assert result["y"] == pytest.approx(rxy @ np.linalg.solve(rxx, rxy), abs=EXACT)


def test_r_squared_of_indicators_is_the_squared_loading() -> None:
    truth = np.array([0.8, 0.7, 0.6, 0.5])
    fit = masem.tssem2(_exact_stage1(_one_factor_matrix(truth)), ONE_FACTOR)
    np.testing.assert_allclose(r_squared(fit).to_numpy(), truth**2, atol=EXACT)
    np.testing.assert_allclose(r_squared(fit).to_numpy(), loading_table(fit)["explained"], atol=1e-12)


def test_r_squared_errors() -> None:
    R = pd.DataFrame([[1.0, 0.3], [0.3, 1.0]], index=["a", "b"], columns=["a", "b"])
    only_covariance = masem.tssem2(_exact_stage1(R), "a ~~ 1*a\nb ~~ 1*b\na ~~ b")
    with pytest.raises(masem.ModelError, match="predicts no observed variable"):
        r_squared(only_covariance)
    with pytest.raises(masem.ModelError, match="tssem2"):
        r_squared(R)


# ------------------------------------------------------------------------------------------------
# loading_intervals and attenuated_loadings
# ------------------------------------------------------------------------------------------------


def test_loading_intervals_repeats_the_tables_it_is_given() -> None:
    truth = np.array([0.8, 0.7, 0.6, 0.5])
    R = _one_factor_matrix(truth) + 0.0
    R.iloc[0, 1] = R.iloc[1, 0] = 0.58  # a little misfit, so the intervals are not degenerate
    stage1 = _exact_stage1(R, n=300)
    wald = loading_table(masem.tssem2(stage1, ONE_FACTOR, intervals="wald"))
    profile = loading_table(masem.tssem2(stage1, ONE_FACTOR, intervals="profile"))
    side = loading_intervals(pd.concat([wald, profile]))
    assert list(side.index) == ["x1", "x2", "x3", "x4"]
    assert list(side.columns) == ["loading", "wald_ci_lower", "wald_ci_upper", "profile_ci_lower", "profile_ci_upper",
                                  "explained"]
    np.testing.assert_array_equal(side["loading"], wald["loading"])
    np.testing.assert_array_equal(side["wald_ci_lower"], wald["ci_lower"])
    np.testing.assert_array_equal(side["profile_ci_upper"], profile["ci_upper"])
    np.testing.assert_array_equal(side["explained"], wald["explained"])


def test_loading_intervals_errors() -> None:
    table = pd.DataFrame({"indicator": ["x1", "x2"], "loading": [0.8, 0.7], "ci_lower": [0.7, 0.6],
                          "ci_upper": [0.9, 0.8], "interval": "wald", "explained": [0.64, 0.49]})
    with pytest.raises(masem.ModelError, match="not the same model"):
        loading_intervals(pd.concat([table, table.assign(interval="profile", loading=[0.8, 0.5])]))
    with pytest.raises(masem.ModelError, match="repeated"):
        loading_intervals(pd.concat([table, table]))
    with pytest.raises(masem.ModelError, match="lacking"):
        loading_intervals(table.drop(columns="interval"))
    with pytest.raises(masem.ModelError, match="DataFrame"):
        loading_intervals([table])


def test_attenuated_loadings_equal_the_loadings_of_observed_scores() -> None:
    # Observed score = true score + error; with reliability alpha its correlations with anything
    # else shrink by sqrt(alpha). A one-factor model fitted to the observed-score matrix must find
    # exactly the attenuated loadings.
    truth = pd.Series([0.8, 0.72, 0.85, 0.8], index=["x1", "x2", "x3", "x4"])
    alpha = pd.Series([0.85, 0.8, 0.9, 0.75], index=truth.index)
    observed = _one_factor_matrix((truth * np.sqrt(alpha)).to_numpy())
    fit = masem.tssem2(_exact_stage1(observed), ONE_FACTOR)
    expected = attenuated_loadings(truth, alpha)
    np.testing.assert_allclose(loading_table(fit)["loading"], expected["expected"], atol=EXACT)
    np.testing.assert_array_equal(expected["population"], truth)
    np.testing.assert_array_equal(expected["reliability"], alpha)


def test_attenuated_loadings_follow_the_loadings_order_and_check_values() -> None:
    out = attenuated_loadings({"b": 0.5, "a": 0.4}, {"a": 1.0, "b": 0.25, "c": 0.5})
    assert list(out.index) == ["b", "a"]
    assert out["expected"].tolist() == [0.25, 0.4]  # 0.5 * sqrt(.25), 0.4 * sqrt(1)
    with pytest.raises(masem.DataError, match=r"no reliability for \['b'\]"):
        attenuated_loadings({"a": 0.5, "b": 0.5}, {"a": 0.8})
    with pytest.raises(masem.DataError, match=r"\[-1, 1\]"):
        attenuated_loadings({"a": 1.5}, {"a": 0.8})
    with pytest.raises(masem.DataError, match=r"\(0, 1\]"):
        attenuated_loadings({"a": 0.5}, {"a": 0.0})
    with pytest.raises(masem.DataError, match=r"\(0, 1\]"):
        attenuated_loadings({"a": 0.5}, {"a": np.nan})


# ------------------------------------------------------------------------------------------------
# structural_paths, pooled_correlations, level_comparison
# ------------------------------------------------------------------------------------------------


def test_structural_paths_repeat_the_parameter_table(team) -> None:
    _, fit = team
    paths = structural_paths(fit)
    table = fit.inspect().query("op == '~'")
    assert list(zip(paths["effect"], paths["cause"])) == list(zip(table["lval"], table["rval"]))
    np.testing.assert_array_equal(paths["estimate"], table["Estimate"])
    np.testing.assert_array_equal(paths["se"], table["Std. Err"])
    np.testing.assert_array_equal(paths["p_value"], table["p-value"])
    np.testing.assert_array_equal(paths["ci_upper"], table["ci.upper"])
    assert set(paths["interval"]) == {"wald"} and "population" not in paths


def test_structural_paths_population_is_what_the_true_model_recovers() -> None:
    pop = masem.read_population(ROOT / "data" / "population", "team")
    exact = masem.tssem2(_exact_stage1(pop.rho.loc[TEAM, TEAM]),
                         (MODELS / "team_partial_mediation.lav").read_text(encoding="utf-8"))
    paths = structural_paths(exact, population=pop)
    # The model contains the population's structure, so on the population matrix every estimate
    # is the population value, and the paths the population lacks (practices and work design ->
    # performance) are 0.
    np.testing.assert_allclose(paths["estimate"], paths["population"], atol=EXACT)
    absent = paths[(paths["effect"] == "T_PERF") & paths["cause"].isin(["T_HPWP", "T_WD"])]
    assert absent["population"].tolist() == [0.0, 0.0]


def test_structural_paths_population_is_nan_for_a_latent_factor() -> None:
    pop = masem.read_population(ROOT / "data" / "population", "team")
    R = _one_factor_matrix(np.array([0.8, 0.7, 0.6]))
    R.index = R.columns = ["T_LEAD", "T_HPWP", "T_WD"]
    fit = masem.tssem2(_exact_stage1(R), "F =~ T_LEAD + T_HPWP + T_WD\nF ~~ 1*F")
    assert structural_paths(fit, population=pop)["population"].isna().all()
    with pytest.raises(masem.ModelError, match="read_population"):
        structural_paths(fit, population=pop.model)
    with pytest.raises(masem.ModelError, match="tssem2"):
        structural_paths(fit.inspect())


def test_pooled_correlations_repeat_stage1_in_either_order(team) -> None:
    stage1, _ = team
    table = pooled_correlations(stage1, {"forward": ("T_LEAD", "T_EMP"), "backward": ("T_EMP", "T_LEAD")})
    assert list(table.index) == ["forward", "backward"]
    assert table.loc["forward", "r"] == stage1.pooled.loc["T_LEAD", "T_EMP"]
    assert table.loc["forward"].drop(["var1", "var2"]).equals(table.loc["backward"].drop(["var1", "var2"]))
    assert table.loc["forward", "r_ci_lower"] < table.loc["forward", "r"] < table.loc["forward", "r_ci_upper"]
    with pytest.raises(masem.ModelError, match=r"'x'.*\['PE'\]"):
        pooled_correlations(stage1, {"x": ("PE", "T_EMP")})
    with pytest.raises(masem.ModelError, match="'same'.*twice"):
        pooled_correlations(stage1, {"same": ("T_EMP", "T_EMP")})


def test_level_comparison_stacks_path_summary(team) -> None:
    stage1, fit = team
    relations = {"leadership -> empowerment": (("T_LEAD", "T_EMP"), ("T_LEAD", "T_EMP")),
                 "empowerment -> performance": (("T_EMP", "T_PERF"), ("T_EMP", "T_PERF"))}
    table = level_comparison({"first": (fit, stage1), "second": (fit, stage1)}, relations)
    one = path_summary(fit, stage1, {name: pairs[0] for name, pairs in relations.items()}, "first")
    assert table["level"].tolist() == ["first", "first", "second", "second"]
    pd.testing.assert_frame_equal(table.iloc[:2], one)
    pd.testing.assert_frame_equal(table.iloc[2:].reset_index(drop=True), one.assign(level="second"))
    with pytest.raises(masem.ModelError, match="'leadership -> empowerment'.*one \\(cause, effect\\) pair"):
        level_comparison({"first": (fit, stage1), "second": (fit, stage1)},
                         {"leadership -> empowerment": (("T_LEAD", "T_EMP"),)})
    with pytest.raises(masem.ModelError, match="level 'first'"):
        level_comparison({"first": fit}, relations)
    with pytest.raises(masem.ModelError, match="non-empty mapping"):
        level_comparison({}, relations)
