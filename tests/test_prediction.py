"""Prediction intervals of paths (masem.study.prediction): the draws, their checks, and coverage.

Questions answered, one per test:
- test_one_correlation_interval_is_the_normal_one: for a path that is a single correlation, is
  the interval the normal prediction interval r +- z sqrt(tau2 + se^2) (Riley et al., 2011) up to
  the Monte Carlo error of the draws, and the credibility interval r +- z tau?
- test_intervals_contain_the_confidence_intervals_and_are_reproducible: is every prediction
  interval at least as wide as the confidence interval of the average, the same for the same
  seed, and are the stage-2 estimate and CI reported unchanged beside it?
- test_not_positive_definite_draws_are_replaced_and_reported: with heterogeneity so large that
  many draws are impossible matrices, are they replaced, counted and warned about, and refused
  when almost none is valid?
- test_bad_arguments: fixed-effects stage 1, a fit of other data, bad n_draws / kind / level.
- test_coverage_of_new_studies_true_paths: in simulated literatures of 400 studies (the
  mediation setup of scripts/prediction_coverage.py: Fisher-z random effects, sampling error,
  the saturated model), do the 95% intervals cover the true paths and indirect effect of new
  studies 95% of the time, within 3 Monte Carlo SEs?
"""

from __future__ import annotations

import argparse
import importlib.util
import warnings

import numpy as np
import pytest
from scipy import stats

import masem
from conftest import ROOT

BECKER = masem.example_data("Becker92")


def load_script():
    spec = importlib.util.spec_from_file_location("prediction_coverage", ROOT / "scripts" / "prediction_coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mediation_literature():
    script = load_script()
    rng = np.random.default_rng(11)
    n = np.full(60, 200)
    samples = []
    for truth in script.true_matrices(rng, script.RHO, 0.1, 60):
        x = rng.standard_normal((200, 3)) @ np.linalg.cholesky(truth).T
        samples.append(np.corrcoef(x, rowvar=False))
    stage1 = masem.tssem1(samples, n, variables=["X", "M", "Y"])
    return stage1, masem.tssem2(stage1, script.MEDIATION_MODEL)


def test_one_correlation_interval_is_the_normal_one(mediation_literature) -> None:
    stage1, stage2 = mediation_literature
    r, se = stage1.pooled.loc["M", "X"], stage1.pooled_se.loc["M", "X"]
    tau2 = stage1.tau2.loc["M", "X"]
    z = stats.norm.ppf(0.975)
    for kind, spread in (("prediction", np.sqrt(tau2 + se**2)), ("credibility", np.sqrt(tau2))):
        result = masem.prediction_intervals(stage1, stage2, n_draws=4000, seed=3, kind=kind, progress=False)
        row = result.summary().set_index("parameter").loc["a"]
        # a = r_XM exactly (the saturated model), so the draws of a are normal; the 2.5% quantile
        # of 4,000 draws has a Monte Carlo SD of about 0.06 spread (sqrt(.025 .975 / 4000) /
        # phi(1.96)): 0.2 spread is more than 3 of them.
        assert row["pi_lower"] == pytest.approx(r - z * spread, abs=0.2 * spread)
        assert row["pi_upper"] == pytest.approx(r + z * spread, abs=0.2 * spread)
        assert row["pi_sd"] == pytest.approx(spread, rel=0.05)  # SD of 4,000 draws: 1.1% SE


def test_intervals_contain_the_confidence_intervals_and_are_reproducible(mediation_literature) -> None:
    stage1, stage2 = mediation_literature
    first = masem.prediction_intervals(stage1, stage2, n_draws=300, seed=5, progress=False)
    again = masem.prediction_intervals(stage1, stage2, n_draws=300, seed=5, progress=False)
    np.testing.assert_array_equal(first.draws, again.draws)
    table = first.summary().set_index("parameter")
    assert (table["pi_lower"] <= table["ci_lower"]).all() and (table["ci_upper"] <= table["pi_upper"]).all()
    inspect = stage2.inspect().drop_duplicates("label").set_index("label")
    np.testing.assert_array_equal(table["estimate"], inspect.loc[table.index, "Estimate"])
    np.testing.assert_array_equal(table["ci_lower"], inspect.loc[table.index, "ci.lower"])
    assert list(table.index) == ["a", "b", "c", "ab"] and (table["n_valid"] == 300).all()
    assert first.n_nonpd == 0 and "300 study-level matrices" in repr(first)


def test_not_positive_definite_draws_are_replaced_and_reported() -> None:
    matrices = [np.array([[1.0, r1, r2], [r1, 1.0, r3], [r2, r3, 1.0]])
                for r1, r2, r3 in [(0.9, 0.1, 0.5), (0.1, 0.8, -0.4), (0.6, -0.5, 0.2), (-0.3, 0.7, 0.6),
                                   (0.85, 0.6, -0.2), (0.2, -0.6, 0.5)]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)
        stage1 = masem.tssem1(matrices, [500] * 6, variables=["A", "B", "C"])
    stage2 = masem.tssem2(stage1, "C ~ A + B")
    with pytest.warns(masem.ConvergenceWarning, match=r"were not positive definite and were replaced"):
        result = masem.prediction_intervals(stage1, stage2, n_draws=200, seed=1, progress=False)
    assert result.n_nonpd > 10 and len(result.draws) == 200
    assert f"{result.n_nonpd} draws not positive definite" in repr(result)


def test_bad_arguments(mediation_literature) -> None:
    stage1, stage2 = mediation_literature
    fem = masem.tssem1(BECKER.matrices, BECKER.n, method="FEM")
    with pytest.raises(masem.DataError, match="random-effects tssem1.*method='FEM'"):
        masem.prediction_intervals(fem, masem.tssem2(fem, "Math ~ Spatial + Verbal"))
    other = masem.tssem1(BECKER.matrices, BECKER.n)
    with pytest.raises(masem.DataError, match="not fitted to stage1's pooled correlations"):
        masem.prediction_intervals(other, stage2)
    with pytest.raises(masem.DataError, match="n_draws must be an integer of at least 100"):
        masem.prediction_intervals(stage1, stage2, n_draws=50)
    with pytest.raises(masem.DataError, match="kind must be 'prediction' or 'credibility'"):
        masem.prediction_intervals(stage1, stage2, kind="tolerance")
    with pytest.raises(masem.DataError, match="level"):
        masem.prediction_intervals(stage1, stage2, level=95)


def test_coverage_of_new_studies_true_paths() -> None:
    script = load_script()
    args = argparse.Namespace(setup="mediation", reps=12, studies=400, n_median=150, tau=0.1,
                              draws=399, new=2000, seed=7, n_jobs=1)
    table = script.run(args).set_index("parameter")
    # The mean share of 2,000 new studies inside each replication's interval, over 12
    # replications: its Monte Carlo SE comes from the spread of that share between literatures.
    # 3 SEs: a calibrated method fails this about once in 100 seeds per parameter.
    for name, row in table.iterrows():
        assert abs(row["coverage"] - 0.95) < 3 * row["coverage_mcse"], name
    assert set(table.index) == {"a", "b", "c", "ab"}
