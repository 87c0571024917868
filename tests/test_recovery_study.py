"""The stored recovery study (scripts/recovery_study.py): are its results reproducible, and is the
stored full-size run what the README says?

Questions answered:
- test_small_configuration_reproduces_byte_for_byte: do two runs of the script with the same
  seed and a small configuration (2 replications per arm, 60 studies, 19 bootstrap draws), one
  with one worker and one with two, write the same summary.csv, estimates.csv and truth.csv byte
  for byte?
- test_stored_study_carries_its_settings: does results/recovery_study/README.md name the seed, the
  replications, the model, the versions, the machine and the run time, and do the stored tables
  hold that many replications per arm with all three interval types?
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pandas as pd
import pytest

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
    for name in ("summary.csv", "estimates.csv", "truth.csv", "model.lav"):
        first = (tmp_path / "1" / "recovery_study" / name).read_bytes()
        assert first == (tmp_path / "2" / "recovery_study" / name).read_bytes(), name
    estimates = pd.read_csv(tmp_path / "1" / "recovery_study" / "estimates.csv")
    assert set(estimates["arm"]) == {"moderators", "file drawer"} and estimates["boot_lower"].notna().any()


def test_stored_study_carries_its_settings() -> None:
    readme = (STORED / "README.md").read_text(encoding="utf-8")
    for needed in ("--seed 2011", "attitudes_to_turnover.lav", "numpy", "masem", "logical cores",
                   "| run time |", "min wall", "min CPU"):
        assert needed in readme, needed
    reps = int(re.search(r"\| replications per arm \| (\d+) \|", readme).group(1))
    assert f"--reps {reps} " in readme
    summary = pd.read_csv(STORED / "summary.csv")
    assert set(summary["arm"]) == {"moderators", "file drawer"}
    assert {"coverage", "coverage_profile", "coverage_bootstrap", "coverage_mcse"} <= set(summary.columns)
    estimates = pd.read_csv(STORED / "estimates.csv", usecols=["arm", "rep"])
    assert estimates.groupby("arm")["rep"].nunique().eq(reps).all()
