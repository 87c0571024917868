"""Stage 2 under the model's own constraints: '==', '<' and '>' between parameters and ':='
definitions, linear and nonlinear (tssem2, tssem2_multigroup, refit).

Reference: tests/reference_model_syntax/constrained_fits.json - the same WLS problems solved by
OpenMx 2.21.1 with mxConstraint()s, as metaSEM's tssem2(..., diag.constraints = TRUE) builds them,
on metaSEM's own stage-1 results (provenance in that folder's README).

Questions answered:
- test_matches_openmx: do estimates, standard errors (OpenMx's, under the constraints), the
  minimum chi2, the definitions and the degrees of freedom (one more per equality) agree with
  OpenMx for a nonlinear equality, a linear one, one on definitions and a slack inequality?
- test_equality_is_a_shared_label: does 'a == b' give the same fit (estimates, SEs, chi2, df,
  profile intervals) as one label on both parameters, for any pair of paths (hypothesis)?
- test_binding_inequality_is_an_equality_at_its_bound: does an inequality at its bound fit as the
  equality there, count one degree of freedom, and let the profile interval leave the bound only
  on its feasible side; does a slack one change nothing?
- test_constraints_in_both_diag_modes: do diag_constraints=False and True give the same fit?
- test_multigroup_constraints: does a model constraint hold in every group, counted once where
  it only involves parameters shared by the groups?
- test_constraint_table_and_refit: does the result list each constraint with its value and whether
  it is active, and does refit() keep the constraints?
- test_constraint_errors_and_notes: redundant constraints, unknown names and definition variables
  are refused in words, and a fixed error variance that stage 2 computes is said.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import masem
from conftest import Stage1, load_reference, ref_matrix
from masem.errors import ConvergenceWarning, ModelError

FITS = json.loads(
    (Path(__file__).resolve().parent / "reference_model_syntax" / "constrained_fits.json").read_text()
)["fits"]

# README tolerances (tests/reference/README.md).
TOL_COEF = 1e-4  # estimates and defined parameters (absolute)
TOL_SE = 1e-3  # standard errors (relative)
TOL_FIT_REL = 1e-3  # chi2 (relative)
TOL_LB = 1e-3  # likelihood-based bounds (absolute)

HUNTER = (
    "Job_knowledge ~ a*Ability\n"
    "Work_sample ~ b*Job_knowledge + c*Ability\n"
    "Supervisor ~ d*Work_sample + e*Job_knowledge\n"
)


def _stage1(name: str, method: str) -> Stage1:
    block = load_reference("expected", "metasem", f"{name}.json")["tssem1"][method]
    pooled = ref_matrix(block["pooled_matrix"])
    return Stage1(pooled, ref_matrix(block["vcov"]), int(block["total_N"]), list(pooled.index), method)


STAGE1 = {"Hunter83": _stage1("Hunter83", "REM"), "Becker92": _stage1("Becker92", "FEM")}


@pytest.mark.parametrize("ref", FITS, ids=[f["id"] for f in FITS])
def test_matches_openmx(ref) -> None:
    """Source: OpenMx 2.21.1 (constrained_fits.json), the fit metaSEM's tssem2 makes."""
    fit = masem.tssem2(STAGE1[ref["data"]], ref["model"], diag_constraints=True)
    coef = fit.coefficients.rename(str.lower)
    se = pd.Series(np.sqrt(np.diag(fit.vcov)), index=coef.index)
    for p in ref["parameters"]:
        name = p["name"].lower()
        assert coef[name] == pytest.approx(p["estimate"], abs=TOL_COEF), name
        if p["se"] > 1e-8:  # a variance the diagonal constraint holds at 1 has SE 0 in both
            assert se[name] == pytest.approx(p["se"], rel=TOL_SE), name
    for d in ref["definitions"]:
        assert fit.defined[d["name"]] == pytest.approx(d["value"], abs=TOL_COEF), d["name"]
    stats = fit.fit_stats()
    assert stats["chi2"] == pytest.approx(ref["minimum"], rel=TOL_FIT_REL)
    # df: correlations - free parameters + one per diagonal constraint + one per equality.
    q = len(ref["observed"]) * (len(ref["observed"]) - 1) // 2
    diag = sum(p["name"].split("WITH")[0] * 2 == p["name"].replace("WITH", "") for p in ref["parameters"])
    equalities = ref["model"].count("==")
    assert stats["df"] == q - len(ref["parameters"]) + diag + equalities


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([("a", "b"), ("b", "e"), ("c", "d"), ("a", "e"), ("d", "e")]), st.booleans())
def test_equality_is_a_shared_label(pair: tuple[str, str], diag: bool) -> None:
    """Source: ?model.syntax (equal labels are an equality constraint); issue 16 (a model with
    'a == b' gives the same fit as the model with the shared label 'a' on both).
    """
    first, second = pair
    constrained = masem.tssem2(
        STAGE1["Hunter83"], HUNTER + f"{first} == {second}", diag, intervals="profile"
    )
    shared = masem.tssem2(
        STAGE1["Hunter83"], HUNTER.replace(f"{second}*", f"{first}*"), diag, intervals="profile"
    )
    a, b = constrained.fit_stats(), shared.fit_stats()
    # The same minimum, to the optimiser's precision on F (about 1e-8 near a perfect fit).
    assert a["chi2"] == pytest.approx(b["chi2"], rel=1e-8, abs=1e-7)
    assert a["df"] == b["df"]
    one = constrained.inspect().set_index("label")
    two = shared.inspect().drop_duplicates("label").set_index("label")
    for name in two.index:
        # The same optimum and the same bordered-Hessian SEs, to the optimiser's precision.
        assert one.loc[name, "Estimate"] == pytest.approx(two.loc[name, "Estimate"], abs=1e-7)
        # SEs agree to 1e-5 relative; one held at 1 by the diagonal constraint is 0 up to rounding.
        assert one.loc[name, "Std. Err"] == pytest.approx(two.loc[name, "Std. Err"], rel=1e-5, abs=1e-8)
        for bound in ("ci.lower", "ci.upper"):
            assert one.loc[name, bound] == pytest.approx(two.loc[name, bound], abs=1e-6)
    assert one.loc[second, "Estimate"] == pytest.approx(one.loc[first, "Estimate"], abs=1e-9)


def test_binding_inequality_is_an_equality_at_its_bound() -> None:
    """Source: issue 16 (df gains one per inequality at its bound); OpenMx's mxConstraint
    semantics ('>' allows equality); Neale & Miller (1997) for profile intervals.
    """
    s1 = STAGE1["Hunter83"]
    free = masem.tssem2(s1, HUNTER, intervals="profile")
    bound = masem.tssem2(s1, HUNTER + "e > 0.3", intervals="profile")
    equal = masem.tssem2(s1, HUNTER + "e == 0.3")
    assert free.coefficients["e"] < 0.3  # so the inequality binds
    assert bound.coefficients["e"] == pytest.approx(0.3, abs=1e-10)
    np.testing.assert_allclose(bound.coefficients, equal.coefficients, atol=1e-8)
    assert bound.fit_stats()["df"] == free.fit_stats()["df"] + 1 == equal.fit_stats()["df"]
    assert bound.fit_stats()["chi2"] == pytest.approx(equal.fit_stats()["chi2"], rel=1e-9)
    assert bound.constraints[["op", "active"]].values.tolist() == [[">", True]]
    row = bound.inspect().set_index("label").loc["e"]
    # e cannot go below 0.3; above it the profile finds an ordinary bound.
    assert row["ci.lower"] == pytest.approx(0.3, abs=1e-10) and row["ci.upper"] > 0.3 + 1e-3
    slack = masem.tssem2(s1, HUNTER + "e > -0.5\nb < 5", intervals="profile")
    assert slack.fit_stats()["df"] == free.fit_stats()["df"]
    assert not slack.constraints["active"].any()
    np.testing.assert_allclose(slack.coefficients, free.coefficients, atol=1e-8)
    np.testing.assert_allclose(
        slack.inspect()[["ci.lower", "ci.upper"]], free.inspect()[["ci.lower", "ci.upper"]], atol=TOL_LB
    )


@pytest.mark.parametrize("extra", ["c == a*b", "d == e\nind := a*e + a*b*d + c*d", "e > 0.3"])
def test_constraints_in_both_diag_modes(extra: str) -> None:
    """Source: Cheung (2015, ch. 7): computed error variances and diag constraints are two
    parametrisations of one correlation structure, so the fit is the same.
    """
    computed = masem.tssem2(STAGE1["Hunter83"], HUNTER + extra)
    constrained = masem.tssem2(STAGE1["Hunter83"], HUNTER + extra, diag_constraints=True)
    assert computed.fit_stats()["chi2"] == pytest.approx(constrained.fit_stats()["chi2"], rel=1e-8)
    assert computed.fit_stats()["df"] == constrained.fit_stats()["df"]
    for name in computed.coefficients.index:
        assert computed.coefficients[name] == pytest.approx(constrained.coefficients[name], abs=1e-7)


def test_multigroup_constraints() -> None:
    """Source: the model's constraints hold in every group (metaSEM's multi-group RAM); an
    equality of parameters shared by all groups is one constraint, not G.
    """
    ex = masem.example_data("Becker92")
    studies = list(ex.matrices.values())
    stage1 = {
        "first": masem.tssem1(studies[:3], ex.n[:3], method="FEM"),
        "last": masem.tssem1(studies[3:], ex.n[3:], method="FEM"),
    }
    model = "Math ~ a*Spatial + b*Verbal\nSpatial ~~ Verbal\n"
    free = masem.tssem2_multigroup(stage1, model)
    per_group = masem.tssem2_multigroup(stage1, model + "a == b")
    shared = masem.tssem2_multigroup(stage1, model.replace("b*", "a*"))
    assert per_group.fit_stats()["df"] == free.fit_stats()["df"] + 2  # one per group
    assert per_group.fit_stats()["chi2"] == pytest.approx(shared.fit_stats()["chi2"], rel=1e-8)
    everywhere = masem.tssem2_multigroup(stage1, model + "a == b", equal="all")
    all_shared = masem.tssem2_multigroup(stage1, model, equal="all")
    assert everywhere.fit_stats()["df"] == all_shared.fit_stats()["df"] + 1  # once, not twice
    table = everywhere.inspect()
    a, b = (table.loc[table["label"] == name, "Estimate"].to_numpy() for name in ("a", "b"))
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_constraint_table_and_refit() -> None:
    """Source: ram.constraints (lhs, op, rhs in lavaan's notation, issue 16); refit() solves the
    same constrained problem.
    """
    fit = masem.tssem2(STAGE1["Hunter83"], HUNTER + "c == a*b\nd > e + 0.5\ntotal := c + a*b")
    table = fit.constraints
    assert table[["line", "lhs", "op", "rhs"]].values.tolist() == [
        [4, "c", "==", "a*b"],
        [5, "d", ">", "e+0.5"],
    ]
    assert table["value"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert table["active"].tolist() == [True, True]
    again = masem.refit(fit, fit.sample_vector, start="data")
    np.testing.assert_allclose(again.estimates, fit.coefficients, atol=1e-8)
    assert again.defined["total"] == pytest.approx(fit.defined["total"], abs=1e-10)


def test_constraint_errors_and_notes() -> None:
    """Source: issue 16/18 (clear errors, nothing silent); metaSEM's wls (error variances of
    dependent variables are computed, overriding a fixed value, when diag.constraints = FALSE).
    """
    s1 = STAGE1["Hunter83"]
    with pytest.raises(ModelError, match="constraints are not independent"):
        masem.tssem2(s1, HUNTER + "a == b\nb == a")
    with pytest.raises(ModelError, match=r"line 4: the constraint 'a == bb' uses 'bb' \(did you mean 'b'\?\)"):
        masem.tssem2(s1, HUNTER + "a == bb")
    with pytest.raises(ModelError, match=r"line 4: the label 'data.v' of .* definition variable"):
        masem.tssem2(s1, HUNTER + "Supervisor ~~ data.v*Supervisor")
    with pytest.warns(ConvergenceWarning, match=r"Supervisor ~~ Supervisor \(line 4, fixed at 0.5\) is not used"):
        masem.tssem2(s1, HUNTER + "Supervisor ~~ 0.5*Supervisor")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = masem.tssem2(s1, HUNTER + "Supervisor ~~ 0.5*Supervisor", diag_constraints=True)
    assert kept.S.loc["Supervisor", "Supervisor"] == 0.5
