"""The worked example of the CSV route: Hunter (1983), coded into data/examples/hunter83/ by
scripts/code_hunter83.py and run with the ``masem`` command, agrees with metaSEM 1.5.5.

Questions answered, one per test:
- Does the script reproduce data/examples/hunter83/ byte for byte, and do the coded rows hold
  exactly the published correlations and sample sizes (tests/reference/data/Hunter83.json)?
- Does ``masem validate`` (the installed command, in a subprocess) accept the folder with its
  model and report the studies it would use?
- Do the files ``masem run`` writes (random effects, profile-likelihood intervals; the installed
  command in a subprocess) hold metaSEM's pooled correlations, SEs, tau2 and I2, its stage-2
  paths, SEs, likelihood-based bounds, indirect effect and fit, within the tolerances of
  tests/reference/README.md?
- Do they for fixed effects too (``masem run --method FEM`` through the entry point)?
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from masem.cli import main

from conftest import ROOT

EXAMPLE = ROOT / "data" / "examples" / "hunter83"
MODEL = EXAMPLE / "model.lav"
DATA = json.loads((ROOT / "tests" / "reference" / "data" / "Hunter83.json").read_text(encoding="utf-8"))
EXPECTED = json.loads(
    (ROOT / "tests" / "reference" / "expected" / "metasem" / "Hunter83.json").read_text(encoding="utf-8")
)
STAGE2 = EXPECTED["tssem2"]["path_no_direct_effect"]

# Tolerances of tests/reference/README.md ("Tolerances"): why each is what it is is said there.
ESTIMATE_ABS = 1e-4  # pooled correlations, paths, defined parameters
SE_REL = 1e-3  # standard errors
TAU2_ABS, TAU2_REL = 1e-5, 1e-2  # tau2: whichever is larger
FIT_REL, FIT_ABS = 1e-3, 1e-6  # I2, chi2, fit indices: relative, or absolute near 0
BOUND_ABS = 1e-3  # likelihood-based bounds

pytestmark = pytest.mark.slow


def _masem() -> list[str]:
    """The installed console script next to this Python, else ``python -m masem``."""
    script = Path(sys.executable).parent / "masem"
    return [str(script)] if script.exists() else [sys.executable, "-m", "masem"]


def _command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_masem(), *args], capture_output=True, text=True, timeout=300, cwd=ROOT)


def _close_fit(value: float, expected: float) -> bool:
    return abs(value - expected) <= max(FIT_REL * abs(expected), FIT_ABS)


def _check_stage1(out: Path, reference: dict) -> None:
    summary = pd.read_csv(out / "stage1_summary.csv").set_index("label").loc[reference["coef_labels"]]
    np.testing.assert_allclose(summary["estimate"], reference["coef"], rtol=0, atol=ESTIMATE_ABS)
    np.testing.assert_allclose(summary["se"], reference["se"], rtol=SE_REL, atol=0)
    if "tau2" in reference:
        for got, want in zip(summary["tau2"], reference["tau2"]):
            assert abs(got - want) <= max(TAU2_ABS, TAU2_REL * abs(want))
        assert all(_close_fit(got, want) for got, want in zip(summary["I2"], reference["I2"]))


def _check_stage2(out: Path, wald: dict, bounds: dict | None) -> None:
    parameters = pd.read_csv(out / "stage2_parameters.csv").set_index("label")
    for row in wald["coefficients"]:
        assert abs(parameters.loc[row["name"], "Estimate"] - row["Estimate"]) <= ESTIMATE_ABS
        assert abs(parameters.loc[row["name"], "Std. Err"] - row["se"]) <= SE_REL * row["se"]
    assert abs(parameters.loc["ind", "Estimate"] - wald["algebras"]["ind"]) <= ESTIMATE_ABS
    if bounds is not None:
        limits = {row["name"].split("[")[0]: row for row in bounds["coefficients"] + bounds["algebras"]}
        for name, row in limits.items():
            assert abs(parameters.loc[name, "ci.lower"] - row["lbound"]) <= BOUND_ABS, name
            assert abs(parameters.loc[name, "ci.upper"] - row["ubound"]) <= BOUND_ABS, name
    fit = pd.read_csv(out / "stage2_fit.csv").set_index("statistic")["value"]
    names = {"chi2": "chisq", "df": "df", "p_value": "pvalue", "RMSEA": "RMSEA", "SRMR": "SRMR",
             "CFI": "CFI", "TLI": "TLI", "AIC": "AIC", "BIC": "BIC", "n": "sample_size"}
    for ours, theirs in names.items():
        assert _close_fit(fit[ours], wald["fit"][theirs]), ours


def test_the_script_codes_the_published_matrices(tmp_path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "code_hunter83.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in EXAMPLE.iterdir())
    for name in written:
        digest = [hashlib.sha256(folder.joinpath(name).read_bytes()).hexdigest() for folder in (tmp_path, EXAMPLE)]
        assert digest[0] == digest[1], name
    studies = pd.read_csv(EXAMPLE / "studies.csv")
    assert studies["n"].tolist() == DATA["n"] and studies["label"].tolist() == DATA["studies"]
    rows = pd.read_csv(EXAMPLE / "correlations.csv")
    index = {v: i for i, v in enumerate(DATA["variables"])}
    for row in rows.itertuples():
        published = DATA["matrices"][int(row.study_id[1:]) - 1][index[row.var1]][index[row.var2]]
        assert row.r == published  # the published two decimals, written with three
    reported = sum(m[a][b] is not None for m in DATA["matrices"] for a in range(4) for b in range(a + 1, 4))
    assert len(rows) == reported


def test_masem_validate_accepts_the_coded_study(tmp_path) -> None:
    done = _command("validate", str(EXAMPLE.relative_to(ROOT)), "--model", str(MODEL.relative_to(ROOT)))
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "14 independent samples, total N = 3,975" in out
    assert "source: Hunter (1983), the correlation matrices of metaSEM's data set Hunter83" in out
    assert "kept: 14 of 14 studies, N = 3,975 dropped: none" in out
    assert "66 of 84 study-by-pair correlations reported (79%), 18 missing" in out
    assert "simulated" not in out


def test_masem_run_agrees_with_metasem_random_effects(tmp_path) -> None:
    out = tmp_path / "rem"
    done = _command("run", "--data", str(EXAMPLE), "--model", str(MODEL), "--out", str(out),
                    "--intervals", "profile", "--no-progress")
    assert done.returncode == 0, done.stderr
    _check_stage1(out, EXPECTED["tssem1"]["REM"])
    _check_stage2(out, STAGE2["on_REM"]["z"], STAGE2["on_REM"]["LB"])
    assert "stage 1 (REM): 14 studies, N = 3,975" in done.stdout
    assert "Hunter (1983): ability, job knowledge and performance" in (out / "stage2_fit.md").read_text(encoding="utf-8")


def test_masem_run_agrees_with_metasem_fixed_effects(tmp_path, capsys) -> None:
    out = tmp_path / "fem"
    assert main(["run", "--data", str(EXAMPLE), "--model", str(MODEL), "--out", str(out), "--method", "FEM",
                 "--no-progress"]) == 0
    capsys.readouterr()
    _check_stage1(out, EXPECTED["tssem1"]["FEM"])
    _check_stage2(out, STAGE2["on_FEM"]["z"], None)
