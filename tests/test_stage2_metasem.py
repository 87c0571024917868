"""Conformance of masem.tssem2 with metaSEM 1.5.5 (OpenMx 2.21.1) on the reference data sets.

Each ``tssem2`` entry of ``tests/reference/expected/metasem/*.json`` (and each stage-2 block
of the Becker92 ``variants``) is refitted from metaSEM's own stage-1 pooled matrix and sampling
covariance, so stage-1 differences cannot leak into these comparisons. Questions answered:

- test_wald_run: do estimates, SEs, z and p values, Wald bounds, defined parameters (algebras),
  fit statistics, the parameter covariance matrix, the implied matrix and the A / S matrices
  agree with metaSEM's ``intervals.type = "z"`` run?
- test_profile_run: do the likelihood-based bounds agree with metaSEM's ``intervals.type = "LB"``
  run, for parameters and defined parameters, wherever the reference marks them repeatable?
- test_ram_translation: does our lavaan -> RAM translation give metaSEM's RAM (labels, start
  values, fixed values)?
- test_reference_covers_every_entry_type: do the reference files still contain every kind of
  entry these tests rely on (otherwise the parametrised tests would silently shrink)?

OpenMx algebras (``mx_algebras``) are not lavaan syntax; they are translated to ``:=`` lines:
``Smatrix[i,j]`` is the S element (i, j), i.e. its label in the RAM, and a 1 x 1 identity matrix
(``mxMatrix("Iden", ...)``) is the number 1. So Becker92's ``R2 = One - Smatrix[1,1]`` becomes
``R2 := 1 - ErrorVarMath`` (1 minus the error variance of Math) and ``R1`` is used as written.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import masem.tssem.stage2 as stage2
from conftest import METASEM_FIT_NAMES, REFERENCE, ref_matrix, reference_path
from masem.model import lavaan_to_ram
from vocabulary import metasem

# inspect()'s columns, compared with metaSEM's summary through docs/vocabulary.md.
INSPECT = ("Estimate", "Std. Err", "z-value", "p-value", "ci.lower", "ci.upper")
METASEM = REFERENCE / "expected" / "metasem"

# README tolerances (tests/reference/README.md, "Tolerances the project must meet").
TOL_COEF = 1e-4  # pooled correlations, path coefficients, loadings, defined parameters (absolute)
TOL_SE = 1e-3  # standard errors (relative)
TOL_FIT_REL = 1e-3  # chi2 and fit indices (relative) ...
TOL_FIT_ABS = 1e-6  # ... or absolute near 0
TOL_LB = 1e-3  # likelihood-based interval bounds (absolute)


@dataclass(frozen=True)
class ReferenceStage1:
    """The stage-1 result metaSEM reported, in the shape tssem2 accepts."""

    pooled: pd.DataFrame
    vcov: pd.DataFrame
    total_n: int
    variables: list
    method: str


@dataclass(frozen=True)
class Entry:
    id: str
    source: str  # "tssem2" (the data set's own stage-1 fits) or "variants" (Becker92's extra runs)
    stage1: ReferenceStage1
    syntax: str
    diag_constraints: bool
    ram: dict
    z: dict
    lb: dict
    has_latent: bool


def _algebra_lines(mx_algebras: dict | None, ram_S: dict) -> list[str]:
    """OpenMx algebras of the reference as lavaan ':=' lines (see the module docstring)."""
    if not mx_algebras:
        return []
    identities = []
    algebras = []
    for name, text in mx_algebras.items():
        if re.fullmatch(r'mxMatrix\("Iden", ncol=1, nrow=1, name="\w+"\)', text):
            identities.append(name)
            continue
        match = re.fullmatch(r'mxAlgebra\((.*), name="(\w+)"\)', text)
        if not match:
            pytest.fail(f"reference algebra {name} = {text} has a form these tests cannot translate")
        algebras.append((match.group(2), match.group(1)))

    def s_element(m: re.Match) -> str:
        cell = ram_S["values"][int(m.group(1)) - 1][int(m.group(2)) - 1]
        return str(cell).split("*")[-1]

    lines = []
    for name, expression in algebras:
        expression = re.sub(r"Smatrix\[(\d+),(\d+)\]", s_element, expression)
        for identity in identities:
            expression = re.sub(rf"\b{identity}\b", "1", expression)
        lines.append(f"{name} := {expression}")
    return lines


def _stage1(block: dict, variables: list, method: str) -> ReferenceStage1:
    return ReferenceStage1(
        pooled=ref_matrix(block["pooled_matrix"]),
        vcov=ref_matrix(block["vcov"]),
        total_n=int(block["total_N"]),
        variables=list(variables),
        method=method,
    )


def _entries() -> list[Entry]:
    if not METASEM.is_dir():
        return []
    out = []
    for path in sorted(METASEM.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        variables = data["input"]["variables"]
        for model_id, spec in data.get("tssem2", {}).items():
            for side in ("on_REM", "on_FEM"):
                if side not in spec:
                    continue
                method = side[3:]
                block = spec[side]
                lines = _algebra_lines(spec.get("mx_algebras"), block["RAM"]["S"])
                out.append(
                    Entry(
                        id=f"{path.stem}-{model_id}-{method}",
                        source="tssem2",
                        stage1=_stage1(data["tssem1"][method], variables, method),
                        syntax="\n".join([spec["lavaan_syntax"], *lines]),
                        diag_constraints=bool(spec["diag.constraints"]),
                        ram=block["RAM"],
                        z=block["z"],
                        lb=block["LB"],
                        has_latent=len(block["RAM"]["F"]["colnames"]) > len(block["RAM"]["F"]["rownames"]),
                    )
                )
        for variant_id, variant in data.get("variants", {}).items():
            for model_id, block in variant.get("stage2", {}).items():
                spec = data["tssem2"][model_id]
                lines = _algebra_lines(spec.get("mx_algebras"), block["RAM"]["S"])
                out.append(
                    Entry(
                        id=f"{path.stem}-{variant_id}-{model_id}",
                        source="variants",
                        stage1=_stage1(variant["stage1"], variables, variant["method"]),
                        syntax="\n".join([spec["lavaan_syntax"], *lines]),
                        diag_constraints=bool(block["z"]["diag_constraints"]),
                        ram=block["RAM"],
                        z=block["z"],
                        lb=block["LB"],
                        has_latent=len(block["RAM"]["F"]["colnames"]) > len(block["RAM"]["F"]["rownames"]),
                    )
                )
    return out


ENTRIES = _entries()


@functools.lru_cache(maxsize=None)
def _fit(entry_id: str, intervals: str) -> stage2.TSSEM2Result:
    entry = next(e for e in ENTRIES if e.id == entry_id)
    return stage2.tssem2(entry.stage1, entry.syntax, diag_constraints=entry.diag_constraints, intervals=intervals)


def _key(name: str) -> str:
    # metaSEM's automatic names are "XONY"/"XWITHY" by default and "XonY"/"XwithY" with
    # A.notation = "on", S.notation = "with"; masem always uses the latter, so names are matched
    # without regard to case (no reference model has labels differing only in case).
    return name.lower()


def _table(result: stage2.TSSEM2Result) -> pd.DataFrame:
    # Shared labels repeat the same parameter on several rows; one row per label is enough here.
    table = result.inspect().drop_duplicates("label")
    return table.set_index(table["label"].map(_key))


def _close_fit(actual: float, expected, what: str) -> None:
    if expected is None:
        assert math.isnan(actual), f"{what}: reference is NA, got {actual}"
        return
    # README tolerance for chi2 and fit indices: 1e-3 relative, or 1e-6 absolute near 0.
    assert abs(actual - expected) <= max(TOL_FIT_REL * abs(expected), TOL_FIT_ABS), (
        f"{what}: {actual} vs metaSEM {expected}"
    )


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_wald_run(entry: Entry) -> None:
    result = _fit(entry.id, "wald")
    assert result.converged, result.message
    table = _table(result)
    for ref in entry.z["coefficients"]:
        row = table.loc[_key(ref["name"])]
        theirs = {name: ref[metasem(name)] for name in INSPECT}
        # README tolerance for path coefficients and loadings (absolute).
        assert row["Estimate"] == pytest.approx(theirs["Estimate"], abs=TOL_COEF), ref["name"]
        # README tolerance for standard errors (relative); z inherits the SE's relative error.
        assert row["Std. Err"] == pytest.approx(theirs["Std. Err"], rel=TOL_SE), ref["name"]
        assert row["z-value"] == pytest.approx(theirs["z-value"], rel=TOL_SE), ref["name"]
        # p is a smooth function of z; metaSEM prints p below ~1e-16 as 0, hence the absolute floor.
        assert row["p-value"] == pytest.approx(theirs["p-value"], rel=TOL_FIT_REL, abs=TOL_FIT_ABS), ref["name"]
        # Wald bounds are estimate +- 1.96 SE: the coefficient tolerance (absolute) covers both.
        assert row["ci.lower"] == pytest.approx(theirs["ci.lower"], abs=TOL_COEF), ref["name"]
        assert row["ci.upper"] == pytest.approx(theirs["ci.upper"], abs=TOL_COEF), ref["name"]
    free = {_key(name) for name in result.coefficients.index}
    assert free == {_key(c["name"]) for c in entry.z["coefficients"]}

    for name, value in (entry.z["algebras"] or {}).items():
        # README tolerance for defined parameters (absolute).
        assert table.loc[_key(name), "Estimate"] == pytest.approx(value, abs=TOL_COEF), name

    fit = result.fit_stats()
    ref_fit = entry.z["fit"]
    for ours, theirs in METASEM_FIT_NAMES.items():
        _close_fit(fit[ours], ref_fit[theirs], ours)
    # Counts are exact.
    for ours in ("df", "df_indep", "n", "n_constraints"):
        assert fit[ours] == ref_fit[metasem(ours)], ours
    for ours in ("AIC", "BIC"):
        # AIC and BIC are chi2 minus a constant, so they carry the chi2 tolerance (relative to chi2).
        tol = max(TOL_FIT_REL * abs(ref_fit[metasem("chi2")]), TOL_FIT_ABS)
        assert abs(fit[ours] - ref_fit[metasem(ours)]) <= tol, ours

    ref_vcov = ref_matrix(entry.z["vcov"])
    vcov = result.vcov.rename(index=_key, columns=_key)
    ours_vcov = vcov.loc[ref_vcov.index.map(_key), ref_vcov.columns.map(_key)].to_numpy()
    scale = np.sqrt(np.outer(np.diag(ref_vcov), np.diag(ref_vcov)))
    # vcov elements are products of two SEs: twice the README SE tolerance, relative to se_i se_j.
    assert np.all(np.abs(ours_vcov - ref_vcov.to_numpy()) <= 2 * TOL_SE * scale)

    for ours, theirs in [(result.implied, metasem("implied")), (result.A, "A"), (result.S, "S")]:
        ref = ref_matrix(entry.z[theirs])
        # Implied correlations and A / S entries are coefficients: README tolerance (absolute).
        np.testing.assert_allclose(ours.loc[ref.index, ref.columns], ref, rtol=0, atol=TOL_COEF, err_msg=theirs)


def _stable_bounds(lb: dict) -> set[tuple[str, str]]:
    """(name, side) of the LB bounds that metaSEM reproduced identically in every repeat run and
    flagged with no note; the others (e.g. Digman97 REM, EonBeta and IonBeta upper bounds) are not
    a reliable reference."""
    notes = lb.get("ci_notes") or {}
    flagged = {k.split(".")[-1].split("[")[0] for k, v in notes.items() if v}
    repeat = lb.get("LB_repeatability") or {}
    runs = repeat.get("per_run") or []
    stable = set()
    names = [c["name"] for c in lb["coefficients"]] + [a["name"].split("[")[0] for a in lb["algebras"] or []]
    for name in names:
        for side in (metasem("ci.lower"), metasem("ci.upper")):
            values = [
                b[side] for run in runs for b in run if b["name"].split("[")[0] == name
            ]
            repeatable = not runs or (len(set(values)) == 1 and None not in values)
            if name not in flagged and repeatable:
                stable.add((name, side))
    return stable


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_profile_run(entry: Entry) -> None:
    result = _fit(entry.id, "profile")
    assert result.converged, result.message
    table = _table(result)
    stable = _stable_bounds(entry.lb)
    references = [(c["name"], c) for c in entry.lb["coefficients"]]
    references += [(a["name"].split("[")[0], a) for a in entry.lb["algebras"] or []]
    compared = 0
    for name, ref in references:
        # README tolerance for estimates (absolute), as in the Wald run.
        assert table.loc[_key(name), "Estimate"] == pytest.approx(ref[metasem("Estimate")], abs=TOL_COEF), name
        for side, column in ((metasem("ci.lower"), "ci.lower"), (metasem("ci.upper"), "ci.upper")):
            if (name, side) not in stable:
                continue  # not repeatable in the reference (see _stable_bounds)
            # README tolerance for likelihood-based interval bounds (absolute).
            assert table.loc[_key(name), column] == pytest.approx(ref[side], abs=TOL_LB), (name, side)
            compared += 1
    assert compared > 0


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_ram_translation(entry: Entry) -> None:
    observed = entry.ram["F"]["rownames"]
    ram = lavaan_to_ram(entry.syntax, observed)
    for name in ("A", "S"):
        ref = entry.ram[name]
        ours = getattr(ram, name)
        assert list(ours.index) == ref["rownames"]
        # The RAM strings ("start*label", fixed values) must agree (names up to case, see _key).
        assert ours.map(_key).to_numpy().tolist() == [[_key(str(v)) for v in row] for row in ref["values"]], name
    np.testing.assert_array_equal(ram.F.to_numpy(), np.array(entry.ram["F"]["values"], dtype=float))


def test_reference_covers_every_entry_type() -> None:
    reference_path("expected", "metasem")
    ids = [e.id for e in ENTRIES if e.source == "tssem2"]
    assert any(e.endswith("-REM") for e in ids) and any(e.endswith("-FEM") for e in ids), ids
    assert any(e.source == "variants" for e in ENTRIES), "no stage-2 blocks under variants"
    assert any(e.has_latent for e in ENTRIES), "no model with latent variables"
    assert any(e.z["fit"]["df"] == 0 for e in ENTRIES), "no saturated model"
    assert any(e.z["fit"]["df"] > 0 for e in ENTRIES), "no model with df > 0"
    assert any(e.z["algebras"] for e in ENTRIES), "no defined parameters / algebras"
    assert any(e.lb["algebras"] for e in ENTRIES), "no likelihood-based bounds of a definition"
    assert any(e.lb.get("LB_repeatability") for e in ENTRIES), "no LB repeatability information"
    for e in ENTRIES:
        for block in (e.z, e.lb):
            assert {"coefficients", "fit", "vcov", "implied_matrix", "A", "S"} <= set(block), e.id
