"""The simulated truth on the scale of a meta-regression (masem.study.moderator_truth).

- test_rho_is_the_population_at_that_value: is ``rho`` the population's implied correlation at
  each moderator value, and is it linear in the moderator where the moderator shifts the path
  itself (SERV ~ PE: +.05 per 0.1 of customer contact, data/population/README.md)?
- test_centre_agrees_with_expected_matrix: at the moderators' centres, is ``r`` the attenuated
  mean correlation of masem.expected_matrix (an independent function of the recovery study)?
- test_z_is_the_mean_observed_z_by_monte_carlo: is ``z`` the mean of atanh(A tanh(atanh(rho) +
  tau e)) as 400,000 normal draws give it (A = E[sqrt(rxx)]^2)?
- test_simulated_studies_match_the_truth: in a database simulated from the bundled population
  (400 studies, seed 7, no file drawer), does a meta-regression of PE-SERV's Fisher z on customer
  contact predict the truth's z at contact .3 and .7 within sampling error, where the truth
  without attenuation would be far off?
- test_null_moderator_is_flat: publication year, a null moderator, gives the same values at every
  year.
- test_bad_input_is_refused: an unknown pair, a categorical or unknown moderator, non-finite
  values.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import masem
from conftest import ROOT
from masem.study.moderator_truth import moderator_truth
from masem.study.recovery import mean_sqrt_reliability


@pytest.fixture(scope="module")
def population() -> masem.Population:
    return masem.read_population(ROOT / "data" / "population", "individual")


def test_rho_is_the_population_at_that_value(population) -> None:
    values = [0.0, 0.25, 0.5, 0.75, 1.0]
    truth = moderator_truth(population, "PE", "SERV", "customer_contact", values)
    implied = [population.implied({"customer_contact": v}).loc["PE", "SERV"] for v in values]
    np.testing.assert_allclose(truth["rho"], implied, rtol=0, atol=1e-15)
    # PE is exogenous to SERV's other causes' moderation, so corr(PE, SERV) moves with the path:
    # +.05 per 0.1, i.e. .5 per unit, exactly (the README's .098 / .348 / .598).
    np.testing.assert_allclose(np.diff(truth["rho"]), 0.125, rtol=0, atol=1e-12)


def test_centre_agrees_with_expected_matrix(population) -> None:
    plain = population.without_moderators()
    expected = masem.expected_matrix(plain, ["PE", "JS"], corrected=False).loc["PE", "JS"]
    truth = moderator_truth(population, "PE", "JS", "individualism", [58.0])
    # Both integrate the same expectation with 60 Gauss-Hermite nodes: equal to rounding.
    assert truth["r"].iloc[0] == pytest.approx(expected, abs=1e-12)


def test_z_is_the_mean_observed_z_by_monte_carlo(population) -> None:
    design = masem.default_design("individual")
    truth = moderator_truth(population, "SERV", "CSAT", "customer_contact", [0.8])
    rho = truth["rho"].iloc[0]
    a = mean_sqrt_reliability(design) ** 2
    e = np.random.default_rng(11).standard_normal(400_000)
    draws = np.arctanh(a * np.tanh(np.arctanh(rho) + design.tau * e))
    # Monte Carlo SE is about .08 / sqrt(400,000) = 1.3e-4: 5e-4 is about 4 SEs.
    assert truth["z"].iloc[0] == pytest.approx(draws.mean(), abs=5e-4)


def test_simulated_studies_match_the_truth(population) -> None:
    design = dataclasses.replace(masem.default_design("individual"), selection=None)
    db = masem.simulate_database(population, "individual", n_studies=400, seed=7, design=design,
                                 generator="statistics")
    data = masem.effect_sizes(db, "PE", "SERV")
    fit = masem.meta_regression(data["yi"], data["vi"], data[["customer_contact"]])
    beta, vcov = fit.coefficients["estimate"].to_numpy(), fit.vcov.to_numpy()
    truth = moderator_truth(population, "PE", "SERV", "customer_contact", [0.3, 0.7])
    for x, z, rho in zip(truth["customer_contact"], truth["z"], truth["rho"]):
        design_row = np.array([1.0, x])
        predicted, se = design_row @ beta, np.sqrt(design_row @ vcov @ design_row)
        # The meta-regression's prediction lies within 3 of its standard errors of the truth ...
        assert abs(predicted - z) < 3 * se, (x, predicted, se, z)
    # ... and the test can fail: at contact .7 the unattenuated truth is more than 6 SEs away.
    assert abs(predicted - np.arctanh(rho)) > 6 * se


def test_null_moderator_is_flat(population) -> None:
    truth = moderator_truth(population, "PE", "TP", "year", [1995, 2010, 2024])
    # Away from the centre the implied matrix is re-solved: equal up to float rounding.
    np.testing.assert_allclose(truth["z"], truth["z"].iloc[0], rtol=0, atol=1e-12)
    assert truth["rho"].iloc[0] == pytest.approx(0.36, abs=1e-12)  # the published anchor


def test_bad_input_is_refused(population) -> None:
    with pytest.raises(masem.DataError, match="two distinct constructs"):
        moderator_truth(population, "PE", "XX", "year", [2000])
    with pytest.raises(masem.DataError, match="not a continuous moderator"):
        moderator_truth(population, "PE", "JS", "industry", [1])
    with pytest.raises(masem.DataError, match="finite"):
        moderator_truth(population, "PE", "JS", "year", [np.nan])
    with pytest.raises(masem.DataError, match="Population"):
        moderator_truth("population", "PE", "JS", "year", [2000])
