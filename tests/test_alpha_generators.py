"""The two generators of a simulated study's statistics (masem.data.simulate): item-level data
("items", the bundled database) and the Wishart draw of the items' sample covariance matrix
("statistics", for simulation studies). Do they give the same distributions?

Questions answered, one per test (or parametrised group):
- test_vectorised_alpha_is_pingouins: is the all-scales-at-once Cronbach's alpha of the generator
  the value pingouin.cronbach_alpha gives for the same items?
- test_alpha_distribution_is_the_same: at several (items k, sample size n, reliability), do the
  two generators draw alpha from the same distribution (two-sample Kolmogorov-Smirnov test, and
  mean and SD within Monte Carlo error), for parallel and for congeneric (jittered) items?
- test_alpha_follows_feldts_f_distribution: for parallel items, does (1 - alpha) / (1 - alpha_hat)
  follow Feldt's (1965) F(n - 1, (n - 1)(k - 1)) under both generators (one-sample KS)?
- test_correlation_and_corrected_correlation_are_the_same: is the joint behaviour unchanged, i.e.
  do the observed scale correlation r and the corrected r / sqrt(alpha_x alpha_y) keep their mean
  and SD?
- test_statistics_generator_database: does simulate_database(generator="statistics") give a valid,
  deterministic database whose draws differ from the item generator's, and is a bad generator name
  refused?
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pingouin
import pytest
from scipy import stats

import masem
from masem.data.simulate import _cronbach_alpha, _simulate_sample, read_population, simulate_database
from conftest import ROOT

DRAWS = 3000
TRUTH = np.array([[1.0, 0.5], [0.5, 1.0]])  # two constructs, true-score correlation .5
# (items per scale, sample size, reliability of each scale, loading jitter)
SETTINGS = [(3, 40, 0.70, 0.0), (6, 200, 0.85, 0.0), (12, 1000, 0.95, 0.0), (6, 150, 0.80, 0.05)]


def draws(generator: str, k: int, n: int, reliability: float, jitter: float, seed: int) -> np.ndarray:
    """DRAWS studies: columns r, alpha_1, alpha_2, from the generator's own sampling function."""
    design = dataclasses.replace(
        masem.default_design("individual"), reliability=(reliability, reliability), loading_jitter=jitter
    )
    rng = np.random.default_rng(seed)
    items = np.array([k, k])
    out = np.empty((DRAWS, 3))
    for i in range(DRAWS):
        observed, alphas = _simulate_sample(rng, TRUTH, items, n, design, generator)
        out[i] = observed[0, 1], *alphas
    return out


def sd_se(x: np.ndarray) -> float:
    """Monte Carlo SE of the sample SD: se(s^2) = sqrt((m4 - s^4) / n) by the delta method, and
    se(s) = se(s^2) / (2 s); the fourth moment m4 keeps it honest for skewed, long-tailed draws
    (alpha, the corrected r) where sd / sqrt(2 n) would be too small.
    """
    centred = x - x.mean()
    s2 = centred.var(ddof=1)
    return float(np.sqrt((np.mean(centred**4) - s2**2) / len(x)) / (2 * np.sqrt(s2)))


@pytest.fixture(scope="module")
def samples():
    return {
        setting: (draws("items", *setting, seed=1), draws("statistics", *setting, seed=2))
        for setting in SETTINGS
    }


def test_vectorised_alpha_is_pingouins() -> None:
    rng = np.random.default_rng(5)
    owner = np.repeat(np.arange(3), [3, 5, 12])
    x = rng.standard_normal((80, 3))[:, owner] * 0.7 + rng.standard_normal((80, owner.size)) * 0.7
    ours = _cronbach_alpha(np.cov(x, rowvar=False), owner, 3)
    theirs = [pingouin.cronbach_alpha(data=pd.DataFrame(x[:, owner == j]))[0] for j in range(3)]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-13)  # the same formula: rounding only


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: f"k{s[0]}-n{s[1]}-rel{s[2]}-jitter{s[3]}")
def test_alpha_distribution_is_the_same(samples, setting) -> None:
    items, wishart = samples[setting]
    for column in (1, 2):
        a, b = items[:, column], wishart[:, column]
        # Two independent samples of 3,000 from one distribution: a KS p-value below .001 would
        # happen once in a thousand seeds (the seeds are fixed, so the test is deterministic).
        assert stats.ks_2samp(a, b).pvalue > 0.001
        # Means differ by less than 4 Monte Carlo SEs of their difference (sqrt(2) sd / sqrt(n)).
        mcse = np.sqrt(a.var(ddof=1) / DRAWS + b.var(ddof=1) / DRAWS)
        assert abs(a.mean() - b.mean()) < 4 * mcse
        # SDs: 4 Monte Carlo SEs of their difference (see sd_se).
        assert abs(a.std(ddof=1) - b.std(ddof=1)) < 4 * np.hypot(sd_se(a), sd_se(b))


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s[3] == 0.0], ids=lambda s: f"k{s[0]}-n{s[1]}")
def test_alpha_follows_feldts_f_distribution(samples, setting) -> None:
    k, n, reliability, _ = setting
    feldt = stats.f(n - 1, (n - 1) * (k - 1))  # Feldt (1965); parallel items: alpha = reliability
    for sample in samples[setting]:
        ratio = (1 - reliability) / (1 - sample[:, 1])
        assert stats.kstest(ratio, feldt.cdf).pvalue > 0.001  # one in a thousand seeds, as above


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: f"k{s[0]}-n{s[1]}-rel{s[2]}-jitter{s[3]}")
def test_correlation_and_corrected_correlation_are_the_same(samples, setting) -> None:
    # Studies with an alpha at or below 0 are redrawn by the generator (_draw_sample); here they
    # are left out of both samples alike (a few at k = 3, n = 40).
    items, wishart = (d[(d[:, 1] > 0) & (d[:, 2] > 0)] for d in samples[setting])
    for transform in (lambda d: d[:, 0], lambda d: d[:, 0] / np.sqrt(d[:, 1] * d[:, 2])):
        a, b = transform(items), transform(wishart)
        m = min(len(a), len(b))
        mcse = np.sqrt(a.var(ddof=1) / m + b.var(ddof=1) / m)
        assert abs(a.mean() - b.mean()) < 4 * mcse  # 4 Monte Carlo SEs, as above
        assert abs(a.std(ddof=1) - b.std(ddof=1)) < 4 * np.hypot(sd_se(a), sd_se(b))  # as above


def test_statistics_generator_database() -> None:
    population = read_population(ROOT / "data" / "population", "team")
    first = simulate_database(population, seed=3, generator="statistics")
    again = simulate_database(population, seed=3, generator="Statistics")  # case-insensitive
    pd.testing.assert_frame_equal(first.correlations, again.correlations)
    items = simulate_database(population, seed=3)
    # The study designs come first and use the same draws; n and the statistics come later.
    designs = ["year", "country", "individualism", "industry", "setting", "customer_contact"]
    pd.testing.assert_frame_equal(first.studies[designs], items.studies[designs])
    assert not first.correlations["r"].equals(items.correlations["r"])
    assert first.reliabilities["alpha"].between(0.5, 0.99).all()
    with pytest.raises(masem.DataError, match="generator must be one of 'items', 'statistics'"):
        simulate_database(population, seed=3, generator="wishart")
