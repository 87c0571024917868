"""The stored recovery study (scripts/recovery_study.py): are its results reproducible, and is the
stored full-size run what the README says?

Questions answered:
- test_small_configuration_reproduces_byte_for_byte: do two runs of the script with the same
  seed and a small configuration (2 replications per arm, 60 studies, 19 bootstrap draws), one
  with one worker and one with two, write the same summary.csv, estimates.csv and truth.csv byte
  for byte (summary, estimates, truth, coverage and the model)?
- test_stored_study_carries_its_settings: does results/recovery_study/README.md name the seed, the
  replications, the model and its origin, the versions, the machine and the run time, do the
  stored tables hold that many replications per arm with all three interval types, and is the
  stored coverage.csv what masem.recovery_coverage computes from the stored estimates?
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pandas as pd
import pytest

import masem
from conftest import ROOT

pytestmark = pytest.mark.slow
STORED = ROOT / "results" / "recovery_study"


def test_small_configuration_reproduces_byte_for_byte(tmp_path) -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    runs = {
        jobs: subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "recovery_study.py"), "--part", "recovery", "--reps", "2",
             "--studies", "60", "--boot", "19", "--n-jobs", str(jobs), "--quiet", "--out", str(tmp_path / str(jobs))],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for jobs in (1, 2)
    }
    for jobs, process in runs.items():
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, f"{out}\n{err[-3000:]}"
    for name in ("summary.csv", "estimates.csv", "truth.csv", "coverage.csv", "model.lav"):
        first = (tmp_path / "1" / "recovery_study" / name).read_bytes()
        assert first == (tmp_path / "2" / "recovery_study" / name).read_bytes(), name
    estimates = pd.read_csv(tmp_path / "1" / "recovery_study" / "estimates.csv")
    assert set(estimates["arm"]) == {"moderators", "file drawer"} and estimates["boot_lower"].notna().any()


def test_stored_study_carries_its_settings() -> None:
    readme = (STORED / "README.md").read_text(encoding="utf-8")
    for needed in ("--seed 2011", "origin:", "numpy", "masem", "logical cores", "| run time |", "min wall",
                   "min CPU", "| coverage (MC SE) |"):
        assert needed in readme, needed
    # The command names the model file, and the stored copy is that file (when it is in the repository).
    named = ROOT / re.search(r"--model (\S+)", readme).group(1)
    stored_model = (STORED / "model.lav").read_text(encoding="utf-8")
    masem.model_variables(stored_model)  # the stored model parses
    if named.exists():
        assert named.read_text(encoding="utf-8") == stored_model
    reps = int(re.search(r"\| replications per arm \| (\d+) \|", readme).group(1))
    assert f"--reps {reps} " in readme
    summary = pd.read_csv(STORED / "summary.csv")
    assert set(summary["arm"]) == {"moderators", "file drawer"}
    assert {"coverage", "coverage_profile", "coverage_bootstrap", "coverage_mcse"} <= set(summary.columns)
    estimates = pd.read_csv(STORED / "estimates.csv")
    assert estimates.groupby("arm")["rep"].nunique().eq(reps).all()
    stored = pd.read_csv(STORED / "coverage.csv")
    assert set(stored["interval"]) == {"wald", "profile", "bootstrap"}
    again = masem.recovery_coverage(estimates, pd.read_csv(STORED / "truth.csv"), by=["arm", "approach", "type"])
    merged = stored.merge(again, on=["arm", "approach", "type", "interval"], suffixes=("", "_again"))
    assert len(merged) == len(stored)
    # The stored bounds are rounded to six significant digits; a truth within 1e-6 of a bound
    # could flip one interval of 500, so the recomputed coverage may differ by one such hit.
    assert (merged["coverage"] - merged["coverage_again"]).abs().max() <= 1 / reps
