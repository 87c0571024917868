"""Effects decomposition of a stage-2 model (masem.decompose_effects).

- test_hand_computed_path_tracing: a three-mediation-route population (x -> m1 -> y,
  x -> m2 -> y, x -> m1 -> m2 -> y and x -> y) whose implied matrix is fitted exactly; are the
  direct, specific indirect, total indirect and total effects and the proportion mediated the
  products and sums worked out by hand (.15, .06, .04, .10, .25, .35, .714)?
- test_totals_are_the_inverse_of_I_minus_A: is every total effect the element of (I - A)^-1 - I
  of the fitted model (Bollen, 1987)?
- test_sums_hold_for_every_pair: for every mediated pair of the study's model 3, is total =
  direct + total indirect and total indirect = the sum of the specific indirect effects?
- test_agrees_with_handwritten_definitions: are the estimates, delta-method SEs, Wald and profile
  intervals of the generated effects those of the same effects written by hand as lavaan ``:=``
  definitions (a specific indirect effect, a total effect with unlabelled paths, a contrast), and
  the bootstrap intervals those of masem.indirect on the hand-written model with the same seed?
- test_estimates_do_not_move: does the refit with the definitions keep the original estimates?
- test_fixed_paths_are_constants: an effect along fixed paths only has no sampling error; is its
  SE 0 and its interval the value, and is a fixed coefficient multiplied into a free product?
- test_latent_variables_are_traced: do paths from a factor through a mediator decompose too?
- test_contrast_shortcuts: do "specific", "predictors" and "totals" give every pair of the right
  effects, each the difference of the two estimates with the delta-method SE of a difference?
- test_bad_input_is_refused: nonrecursive models, pairs without a path, unknown variables,
  unknown effects in contrasts, unknown interval kinds and non-fits give a ModelError naming them.
"""

from __future__ import annotations

import warnings
from itertools import combinations
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import masem
from conftest import ROOT

NAMES = ["x", "m1", "m2", "y"]
# x -> m1 .5, x -> m2 .3, m1 -> m2 .4, m1 -> y .3, m2 -> y .2, x -> y .1
PATHS = {("m1", "x"): 0.5, ("m2", "x"): 0.3, ("m2", "m1"): 0.4, ("y", "m1"): 0.3, ("y", "m2"): 0.2, ("y", "x"): 0.1}
SATURATED = "m1 ~ a*x\nm2 ~ b*x + d*m1\ny ~ c1*m1 + c2*m2 + e*x\nx ~~ 1*x"


def implied(paths: dict, names: list[str]) -> np.ndarray:
    """Correlation matrix of a standardized recursive model (residual variances fill the unit
    diagonal), computed variable by variable in causal order."""
    p = len(names)
    A = np.zeros((p, p))
    for (effect, cause), value in paths.items():
        A[names.index(effect), names.index(cause)] = value
    B = np.linalg.inv(np.eye(p) - A)
    S = np.zeros((p, p))
    for i in range(p):  # names are in causal order: variable i depends on earlier ones only
        S[i, i] = 1.0
        sigma = B @ S @ B.T
        S[i, i] = 1.0 - (sigma[i, i] - 1.0)
    return B @ S @ B.T


def stage1_from(R: np.ndarray, names: list[str], n: int = 800) -> SimpleNamespace:
    labels = masem.vechs_labels(names)
    return SimpleNamespace(
        pooled=pd.DataFrame(R, index=names, columns=names),
        vcov=pd.DataFrame(masem.olkin_siotani(R, n), index=labels, columns=labels),
        total_n=n,
        variables=names,
        method="FEM",
    )


@pytest.fixture(scope="module")
def hand_fit() -> masem.TSSEM2Result:
    return masem.tssem2(stage1_from(implied(PATHS, NAMES), NAMES), SATURATED)


@pytest.fixture(scope="module")
def study() -> tuple[object, str]:
    """The individual database and model 3 of notebook 05 (attitudes_to_turnover.lav)."""
    model = (ROOT / "models" / "attitudes_to_turnover.lav").read_text(encoding="utf-8")
    db = masem.read_database(ROOT / "data" / "individual")
    m = db.matrices(masem.model_variables(model, order=db.constructs["code"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)  # tau2 notes of stage 1
        s1 = masem.tssem1(m.matrices, m.n, method="REM")
    return s1, model


def test_hand_computed_path_tracing(hand_fit) -> None:
    table = masem.decompose_effects(hand_fit, pairs=[("x", "y")], intervals="wald").effects
    got = dict(zip(table["path"], table["estimate"]))
    expected = {
        "all paths": 0.1 + 0.5 * 0.3 + 0.3 * 0.2 + 0.5 * 0.4 * 0.2,  # .35
        "x -> y": 0.1,
        "x -> m1 -> y": 0.15,
        "x -> m2 -> y": 0.06,
        "x -> m1 -> m2 -> y": 0.04,
        "all indirect paths": 0.25,
        "all indirect paths / all paths": 0.25 / 0.35,
    }
    # Paths shortest first, then in the order of the variables.
    assert list(table["path"]) == [
        "all paths", "x -> y", "x -> m1 -> y", "x -> m2 -> y", "x -> m1 -> m2 -> y",
        "all indirect paths", "all indirect paths / all paths",
    ]
    # The model is saturated and fitted to its own implied matrix: the estimates are the
    # population paths up to the optimiser's tolerance.
    for path, value in expected.items():
        assert got[path] == pytest.approx(value, abs=1e-8), path
    expressions = dict(zip(table["path"], table["expression"]))
    assert expressions["x -> m1 -> m2 -> y"] == "a*d*c2"


def test_totals_are_the_inverse_of_I_minus_A(hand_fit) -> None:
    A = hand_fit.A.to_numpy()
    totals = np.linalg.inv(np.eye(len(A)) - A) - np.eye(len(A))
    pairs = [(x, y) for x in NAMES for y in NAMES if (x, y) in {("x", "m2"), ("x", "y"), ("m1", "y")}]
    table = masem.decompose_effects(hand_fit, pairs=pairs, intervals="wald").effects
    for x, y in pairs:
        row = table[(table["predictor"] == x) & (table["outcome"] == y) & (table["effect"] == "total")]
        # Both are sums of the same products; they differ by rounding only.
        assert float(row["estimate"].iloc[0]) == pytest.approx(totals[NAMES.index(y), NAMES.index(x)], abs=1e-12)


def test_sums_hold_for_every_pair(study) -> None:
    s1, model = study
    fit = masem.tssem2(s1, model)
    table = masem.decompose_effects(fit, intervals="wald").effects
    assert table[["predictor", "outcome"]].drop_duplicates().shape[0] == 32
    for (x, y), rows in table.groupby(["predictor", "outcome"], sort=False):
        value = dict(zip(rows["effect"], rows["estimate"]))
        specific = rows.loc[rows["effect"] == "specific indirect", "estimate"].sum()
        # Sums of floating-point products: equal to rounding error.
        assert value["total indirect"] == pytest.approx(specific, abs=1e-12), (x, y)
        assert value["total"] == pytest.approx(value.get("direct", 0.0) + value["total indirect"], abs=1e-12)
        assert value["proportion mediated"] == pytest.approx(value["total indirect"] / value["total"], rel=1e-10)


def test_agrees_with_handwritten_definitions(study) -> None:
    s1, model = study
    by_hand = model + (
        "\n# written by hand, lavaan style\n"
        "total_by_hand := JSonHPWP*j + OConHPWP*o + a1*jp*j + a1*op*o\n"
        "diff_by_hand := a1*s*c - a4*s*c\n"
    )
    hand = masem.tssem2(s1, by_hand, intervals="profile")
    hand_wald = masem.tssem2(s1, by_hand)
    fit = masem.tssem2(s1, model)
    decomposition = masem.decompose_effects(
        fit,
        pairs=[("HPWP", "TI"), ("HPWP", "CSAT"), ("WCH", "CSAT")],
        contrasts=[("HPWP -> PE -> SERV -> CSAT", "WCH -> PE -> SERV -> CSAT")],
        n_boot=200,
        seed=7,
        progress=False,
    )
    table = decomposition.summary().set_index("parameter")
    hand_table = hand.inspect().set_index("label")
    hand_wald_table = hand_wald.inspect().set_index("label")
    boot = masem.indirect(hand_wald, n_boot=200, seed=7, progress=False).summary().set_index("parameter")
    pairs = {
        "ind_HPWP_PE_SERV_CSAT": "HPWP_CSAT",  # a1*s*c, in the model file
        "total_HPWP_TI": "total_by_hand",
        "contrast_ind_HPWP_PE_SERV_CSAT_ind_WCH_PE_SERV_CSAT": "diff_by_hand",
    }
    for ours, theirs in pairs.items():
        row, ref, ref_wald = table.loc[ours], hand_table.loc[theirs], hand_wald_table.loc[theirs]
        # The same data, model and expression: the same numbers up to the optimisers' tolerance
        # (estimates, SEs) and the profile root search (1e-6, far inside the 1e-3 reference).
        assert row["estimate"] == pytest.approx(ref["Estimate"], abs=1e-10)
        assert row["se"] == pytest.approx(ref["Std. Err"], rel=1e-8)
        assert row["wald_ci_lower"] == pytest.approx(ref_wald["ci.lower"], abs=1e-10)
        assert row["wald_ci_upper"] == pytest.approx(ref_wald["ci.upper"], abs=1e-10)
        assert row["profile_ci_lower"] == pytest.approx(ref["ci.lower"], abs=1e-6)
        assert row["profile_ci_upper"] == pytest.approx(ref["ci.upper"], abs=1e-6)
        # The same seed draws the same pooled matrices: the same percentile bounds.
        assert row["boot_ci_lower"] == pytest.approx(boot.loc[theirs, "ci_lower"], abs=1e-10)
        assert row["boot_ci_upper"] == pytest.approx(boot.loc[theirs, "ci_upper"], abs=1e-10)
    plot_table = decomposition.interval_table()
    assert set(plot_table["method"]) == {"Wald (delta method)", "profile likelihood", "parametric bootstrap"}


def test_estimates_do_not_move(study) -> None:
    s1, model = study
    fit = masem.tssem2(s1, model)
    decomposition = masem.decompose_effects(fit, pairs=[("PE", "TI")], intervals="wald")
    pd.testing.assert_series_equal(decomposition.fit.coefficients, fit.coefficients)
    assert decomposition.model.startswith(fit.model.rstrip())


def test_fixed_paths_are_constants() -> None:
    R = implied({("m1", "x"): 0.5, ("y", "m1"): 0.3, ("y", "x"): 0.2}, ["x", "m1", "y"])
    fit = masem.tssem2(stage1_from(R, ["x", "m1", "y"]), "m1 ~ 0.5*x\ny ~ b*m1 + 0.2*x\nx ~~ 1*x")
    table = masem.decompose_effects(fit, intervals=("wald", "profile")).effects.set_index("effect")
    direct = table.loc["direct"]
    assert direct["estimate"] == 0.2 and direct["se"] == 0.0
    assert direct["wald_ci_lower"] == direct["profile_ci_upper"] == 0.2
    assert table.loc["specific indirect", "expression"] == "0.5*b"
    assert table.loc["specific indirect", "se"] > 0


def test_latent_variables_are_traced() -> None:
    names = ["x1", "x2", "x3", "m", "y"]
    paths = {("x1", "F"): 0.8, ("x2", "F"): 0.7, ("x3", "F"): 0.6, ("m", "F"): 0.5, ("y", "m"): 0.4, ("y", "F"): 0.2}
    order = ["F"] + names
    R = implied(paths, order)[1:, 1:]
    model = "F =~ x1 + x2 + x3\nF ~~ 1*F\nm ~ a*F\ny ~ b*m + F"
    fit = masem.tssem2(stage1_from(R, names), model)
    table = masem.decompose_effects(fit, pairs=[("F", "y")], intervals="wald").effects
    value = dict(zip(table["path"], table["estimate"]))
    # Fitted to its own implied matrix: the population values to the optimiser's tolerance.
    assert value["F -> m -> y"] == pytest.approx(0.2, abs=1e-7)
    assert value["all paths"] == pytest.approx(0.4, abs=1e-7)


def test_contrast_shortcuts(study) -> None:
    s1, model = study
    fit = masem.tssem2(s1, model)
    pairs = [("HPWP", "CSAT"), ("WCH", "CSAT"), ("CSE", "CSAT")]
    result = masem.decompose_effects(fit, pairs=pairs, contrasts="predictors", intervals="wald")
    effects = result.effects.set_index("parameter")["estimate"]
    contrasts = result.contrasts
    assert len(contrasts) == len(list(combinations(pairs, 2)))
    for first, second, value in zip(
        contrasts["path"].str.split(" - ").str[0], contrasts["path"].str.split(" - ").str[1], contrasts["estimate"]
    ):
        assert first.startswith("indirect_") and second.startswith("indirect_")
        # A difference of two definitions, evaluated at the same estimates.
        assert value == pytest.approx(effects[first] - effects[second], abs=1e-12)
    specific = masem.decompose_effects(fit, pairs=[("HPWP", "TI")], contrasts="specific", intervals="wald")
    assert len(specific.contrasts) == 6  # four routes from HPWP to TI, every two of them
    antecedents = ["HPWP", "SPS", "LEAD", "WCH", "CSE"]
    totals = masem.decompose_effects(
        fit, pairs=[(a, "PE") for a in antecedents], contrasts="totals", intervals="wald"
    ).contrasts.set_index("path")
    assert len(totals) == 10
    # The antecedents act on PE directly only: a contrast of totals is a difference of two paths,
    # a1 - a4 (HPWP vs WCH) exactly, and the delta-method SE of a difference is exact for a
    # linear combination: both equal up to rounding.
    row = totals.loc["total_HPWP_PE - total_WCH_PE"]
    coef, vcov = fit.coefficients, fit.vcov
    assert row["estimate"] == pytest.approx(coef["a1"] - coef["a4"], abs=1e-12)
    se = np.sqrt(vcov.loc["a1", "a1"] + vcov.loc["a4", "a4"] - 2 * vcov.loc["a1", "a4"])
    assert row["se"] == pytest.approx(se, rel=1e-8)


def test_bad_input_is_refused(hand_fit) -> None:
    with pytest.raises(masem.ModelError, match="nonrecursive .* loop"):
        R = np.array([[1, 0.3, 0.2, 0.1], [0.3, 1, 0.4, 0.2], [0.2, 0.4, 1, 0.3], [0.1, 0.2, 0.3, 1]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", masem.ConvergenceWarning)
            loop = masem.tssem2(stage1_from(R, NAMES), "m1 ~ x + m2\nm2 ~ m1\ny ~ m2\nx ~~ 1*x")
        masem.decompose_effects(loop, intervals="wald")
    with pytest.raises(masem.ModelError, match="no directed path from y to x"):
        masem.decompose_effects(hand_fit, pairs=[("y", "x")], intervals="wald")
    with pytest.raises(masem.ModelError, match=r"\['zz'\] not in the model"):
        masem.decompose_effects(hand_fit, pairs=[("zz", "y")], intervals="wald")
    with pytest.raises(masem.ModelError, match="unknown effect.*'x -> q -> y'"):
        masem.decompose_effects(hand_fit, pairs=[("x", "y")], contrasts=[("x -> q -> y", "x -> y")], intervals="wald")
    with pytest.raises(masem.ModelError, match="intervals must name"):
        masem.decompose_effects(hand_fit, intervals="boot")
    with pytest.raises(masem.ModelError, match="no two specific indirect effects of one predictor"):
        masem.decompose_effects(hand_fit, pairs=[("m1", "y")], contrasts="specific", intervals="wald")
    with pytest.raises(masem.ModelError, match="contrasts must be one of"):
        masem.decompose_effects(hand_fit, contrasts="all", intervals="wald")
    with pytest.raises(masem.ModelError, match="tssem2"):
        masem.decompose_effects(Path("fit"))
