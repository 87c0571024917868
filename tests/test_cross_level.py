"""The cross-level test (masem.cross_level_test, masem.level_input).

- test_identical_levels_do_not_differ: the same stage-1 data at both levels; are the estimates
  equal at both levels, every per-path chi-square difference 0 (p = 1) and the joint test too?
- test_a_known_difference_is_detected: two levels whose population matrices differ in one path
  only (x -> y .20 against .45); is that path's difference significant after Holm's correction,
  and are the paths that are equal in the population not?
- test_holm_equals_statsmodels: is the adjusted column statsmodels' multipletests(method="holm")
  of the raw p-values, and does another method name its column after itself?
- test_individual_and_team_levels: on the bundled individual and team databases (different
  variable names mapped onto common ones), does the free multi-group fit reproduce each level's
  own tssem2 fit of the renamed model, and does the joint test have one df per path?
- test_level_input_renames_and_reorders: is a level's pooled matrix and sampling covariance the
  stage-1 one, renamed and, in another order, permuted consistently?
- test_bad_input_is_refused: one level, levels mapped onto different names, an unknown variable
  and a bad adjust give clear errors.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import masem
from conftest import ROOT

NAMES = ["x", "m", "y"]
MODEL = "m ~ x\ny ~ m + x\nx ~~ 1*x"


def population(direct: float, a: float = 0.4, b: float = 0.3) -> np.ndarray:
    """Correlations of x -> m (a), m -> y (b), x -> y (direct), all standardized."""
    r_xy = direct + a * b
    r_my = b + direct * a
    return np.array([[1.0, a, r_xy], [a, 1.0, r_my], [r_xy, r_my, 1.0]])


def level(R: np.ndarray, names: list[str], n: int = 3000) -> SimpleNamespace:
    labels = masem.vechs_labels(names)
    return SimpleNamespace(
        pooled=pd.DataFrame(R, index=names, columns=names),
        vcov=pd.DataFrame(masem.olkin_siotani(R, n), index=labels, columns=labels),
        total_n=n,
        variables=names,
        method="FEM",
    )


IDENTITY = {"x": "x", "m": "m", "y": "y"}


def test_identical_levels_do_not_differ() -> None:
    ex = masem.example_data("Hunter83")
    s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    same = {"Ability": "A", "Job_knowledge": "K", "Work_sample": "W", "Supervisor": "S"}
    test = masem.cross_level_test(
        {"a": s1, "b": s1}, {"a": same, "b": same}, "K ~ A\nW ~ K + A\nS ~ K + W"
    )
    table = test.tests()
    # The same data: the same estimates and no difference, up to the optimiser's tolerance.
    np.testing.assert_allclose(table["estimate_a"], table["estimate_b"], atol=1e-8)
    np.testing.assert_allclose(table["chi2_diff"], 0.0, atol=1e-8)
    assert (table["p_value"] > 0.999).all() and (table["p_holm"] > 0.999).all()
    assert test.joint()["chi2_diff"].iloc[0] == pytest.approx(0.0, abs=1e-8)


def test_a_known_difference_is_detected() -> None:
    test = masem.cross_level_test(
        {"one": level(population(0.20), NAMES), "two": level(population(0.45), NAMES)},
        {"one": IDENTITY, "two": IDENTITY},
        MODEL,
    )
    table = test.tests().set_index("parameter")
    assert table.loc["yonx", "p_holm"] < 0.001
    # Each level is fitted to its own population matrix: its paths to the optimiser's tolerance.
    assert table.loc["yonx", "estimate_one"] == pytest.approx(0.20, abs=1e-8)
    assert table.loc["yonx", "estimate_two"] == pytest.approx(0.45, abs=1e-8)
    # The a path is the same in both populations; freeing only y ~ x fits both exactly.
    assert table.loc["monx", "chi2_diff"] == pytest.approx(0.0, abs=1e-8)
    assert test.joint()["p_value"].iloc[0] < 0.001
    assert test.joint()["df_diff"].iloc[0] == 3


def test_holm_equals_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    inputs = {"one": level(population(0.20), NAMES, 400), "two": level(population(0.30, a=0.5), NAMES, 300)}
    names = {"one": IDENTITY, "two": IDENTITY}
    table = masem.cross_level_test(inputs, names, MODEL).tests()
    expected = multipletests(table["p_value"].to_numpy(), method="holm")[1]
    np.testing.assert_array_equal(table["p_holm"].to_numpy(), expected)
    bonferroni = masem.cross_level_test(inputs, names, MODEL, adjust="bonferroni").tests()
    # Bonferroni is 3 p capped at 1 (default rtol 1e-7: a product of floats).
    np.testing.assert_allclose(bonferroni["p_bonferroni"], np.minimum(3 * table["p_value"], 1.0))


def test_individual_and_team_levels() -> None:
    common = ["practices", "leadership", "empowerment", "performance"]
    individual, team = ["HPWP", "LEAD", "PE", "SERV"], ["T_LEAD", "T_HPWP", "T_EMP", "T_PERF"]
    team_common = ["leadership", "practices", "empowerment", "performance"]  # another order
    model = (
        "empowerment ~ practices + leadership\nperformance ~ empowerment + leadership\n"
        "practices ~~ 1*practices\nleadership ~~ 1*leadership\npractices ~~ leadership"
    )
    stage1 = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)  # tau2 notes of stage 1
        for name, variables in (("individual", individual), ("team", team)):
            m = masem.read_database(ROOT / "data" / name).matrices(variables)
            stage1[name] = masem.tssem1(m.matrices, m.n)
    maps = {"individual": dict(zip(individual, common)), "team": dict(zip(team, team_common))}
    test = masem.cross_level_test(stage1, maps, model)
    table = test.tests().set_index("parameter")
    for name in ("individual", "team"):
        alone = masem.tssem2(masem.level_input(stage1[name], maps[name]), model)
        # The free joint fit is the sum of separate fits: the same estimates to the optimiser's
        # tolerance.
        np.testing.assert_allclose(
            table[f"estimate_{name}"], alone.coefficients.loc[table.index], atol=1e-7
        )
    assert test.joint()["df_diff"].iloc[0] == len(table) == 4
    assert "paths across individual, team" in repr(test)


def test_level_input_renames_and_reorders() -> None:
    ex = masem.example_data("Hunter83")
    s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    names = {"Ability": "A", "Job_knowledge": "K", "Supervisor": "S"}
    plain = masem.level_input(s1, names)
    assert plain.variables == ["A", "K", "S"]
    np.testing.assert_array_equal(
        plain.pooled.to_numpy(), s1.pooled.loc[list(names), list(names)].to_numpy()
    )
    reordered = masem.level_input(s1, names, order=["S", "A", "K"])
    # The same correlations, permuted: equal entry by entry under the new labels.
    assert reordered.pooled.loc["A", "K"] == plain.pooled.loc["A", "K"]
    v_plain = plain.vcov.rename(index={"S_K": "K_S", "S_A": "A_S"}, columns={"S_K": "K_S", "S_A": "A_S"})
    v_new = reordered.vcov.loc[["A_S", "K_S", "K_A"], ["A_S", "K_S", "K_A"]]
    np.testing.assert_array_equal(v_new.to_numpy(), v_plain.loc[["A_S", "K_S", "K_A"], ["A_S", "K_S", "K_A"]].to_numpy())


def test_bad_input_is_refused() -> None:
    one = level(population(0.2), NAMES)
    with pytest.raises(masem.DataError, match="at least two level"):
        masem.cross_level_test({"one": one}, {"one": IDENTITY}, MODEL)
    with pytest.raises(masem.DataError, match="same common names"):
        masem.cross_level_test({"a": one, "b": one}, {"a": IDENTITY, "b": {"x": "x", "m": "m", "y": "z"}}, MODEL)
    with pytest.raises(masem.DataError, match=r"level 'b': \['q'\] not in this level"):
        masem.cross_level_test({"a": one, "b": one}, {"a": IDENTITY, "b": {"x": "x", "m": "m", "q": "y"}}, MODEL)
    with pytest.raises(masem.ModelError, match="adjust"):
        masem.cross_level_test({"a": one, "b": one}, {"a": IDENTITY, "b": IDENTITY}, MODEL, adjust=None)
    with pytest.raises(masem.DataError, match="names must give a mapping"):
        masem.cross_level_test({"a": one, "b": one}, {"a": IDENTITY}, MODEL)
