"""Parameter recovery (masem.study.recovery): the estimand, the simulation and its summary.

Questions answered:
- test_expected_matrix_without_heterogeneity_is_rho / test_expected_matrix_is_the_mean_of_tanh:
  is the estimand of a corrected pooled matrix the population rho when tau = 0, and otherwise
  E[tanh(atanh(rho) + tau e)], checked against direct numerical integration?
- test_attenuation_matches_the_item_level_model: is the expected attenuation E[sqrt(rxx)] the
  mean correlation of a scale score with its true score under the generator's item model
  (Spearman-Brown loadings with jitter), by an independent Monte Carlo?
- test_truth_of_the_generating_model_is_the_population_model: fitted to the true-score matrix,
  does the population's own structure give back the coefficients written in
  data/population/individual_model.csv, with SRMR 0 and no dependence on the weight matrix?
- test_pseudo_truth_of_a_saturated_model_is_regression_on_the_attenuated_matrix: for a
  just-identified model, is the uncorrected estimand the closed-form regression on the attenuated
  matrix, whatever the weights?
- test_replication_is_the_pipeline_on_its_own_seed: is replication r exactly simulate_database
  with seed SeedSequence(seed).spawn(n)[r] followed by tssem1 + tssem2, i.e. reproducible one by one?
- test_summary_follows_the_definitions: bias, RMSE (RMSE^2 = bias^2 + (n-1)/n SD^2), coverage and
  their Monte Carlo SEs as defined by Morris, White & Crowther (2019).
- test_same_seed_same_result_any_n_jobs: determinism, whatever the workers and the number of
  replications.
- test_expected_matrix_with_moderators_averages_the_studies: with moderators on, is the estimand
  the mean true matrix over the population of studies (for a categorical moderator without
  random effects: the mixture of the two implied matrices)?
- test_profile_and_bootstrap_intervals_are_the_pipelines: is a replication's profile bound the
  profile_bounds of its fit, and its bootstrap interval the 1st and 39th order statistics of 39
  refits drawn from SeedSequence([seed, approach])?
- test_interval_coverage_follows_the_definitions: coverage of the profile and bootstrap intervals.
- test_group_coverage_is_the_mean_share_per_replication: is the coverage of a group of
  parameters (recovery_coverage) the mean over replications of the share of intervals that
  contain the truth, its Monte Carlo SE the SD of those shares / sqrt(R), equal to the
  per-parameter coverage of summary() for a group of one, and refused without a true value?
- test_tau2_known_pools_with_the_true_variances: the tau2-known experiment runs, and is refused
  for uncorrected approaches.
- test_failed_databases_are_reported / test_bad_arguments: failures are counted and warned, never
  silent; errors name the argument.
- test_deprecated_without_moderators_still_works: the old function warns and works.
"""

from __future__ import annotations

import dataclasses
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import integrate, stats  # noqa: E402

import masem  # noqa: E402
from conftest import ROOT  # noqa: E402
from masem.errors import ConvergenceWarning, DataError, ModelError  # noqa: E402
from masem.plots.robustness import recovery_plot  # noqa: E402
from masem.data.simulate import study_characteristics  # noqa: E402
from masem.study.recovery import mean_sqrt_reliability  # noqa: E402
from masem.tssem.profile import profile_bounds  # noqa: E402

FULL = ["HPWP", "SPS", "LEAD", "WCH", "CSE", "PE", "JS", "OC", "STR", "TI", "TP", "SERV", "CSAT"]
SMALL = ["HPWP", "PE", "JS"]
SMALL_MODEL = "PE ~ a*HPWP\nJS ~ b*PE + HPWP\nHPWP ~~ 1*HPWP\nab := a*b"
DESIGN = dataclasses.replace(masem.default_design("individual"), selection=None)


@pytest.fixture(scope="module")
def population():
    return masem.read_population(ROOT / "data" / "population", "individual").without_moderators()


def test_expected_matrix_without_heterogeneity_is_rho(population) -> None:
    design = dataclasses.replace(DESIGN, tau=0.0)
    got = masem.expected_matrix(population, FULL, design)
    pd.testing.assert_frame_equal(got, population.rho.loc[FULL, FULL], rtol=0, atol=1e-15)


def test_expected_matrix_is_the_mean_of_tanh(population) -> None:
    got = masem.expected_matrix(population, ["PE", "JS"], DESIGN).at["PE", "JS"]
    z = np.arctanh(population.rho.at["PE", "JS"])
    direct, _ = integrate.quad(lambda e: np.tanh(z + DESIGN.tau * e) * stats.norm.pdf(e), -12, 12, epsabs=1e-13)
    assert got == pytest.approx(direct, abs=1e-12)  # both are accurate quadratures of the same integral
    assert 0 < population.rho.at["PE", "JS"] - got < 0.003  # shrinkage toward zero, tiny for tau = .08
    uncorrected = masem.expected_matrix(population, ["PE", "JS"], DESIGN, corrected=False).at["PE", "JS"]
    assert uncorrected == pytest.approx(got * mean_sqrt_reliability(DESIGN) ** 2, rel=1e-14)


def test_attenuation_matches_the_item_level_model() -> None:
    # The generator's scale model (simulate.py, _simulate_sample), written out independently.
    rng = np.random.default_rng(7)
    low, high = DESIGN.reliability
    draws = 200_000
    values = []
    for m in (3, 6, 12):
        rel = low + (high - low) * rng.beta(*DESIGN.reliability_shape, size=draws)
        item_r = rel / (m - (m - 1) * rel)
        lam = np.clip(np.sqrt(item_r)[:, None] + rng.uniform(-DESIGN.loading_jitter, DESIGN.loading_jitter, (draws, m)), 0.3, 0.97)
        # corr(item mean, true score) = sum(lambda) / sqrt(sum(lambda)^2 + sum(1 - lambda^2))
        s = lam.sum(axis=1) / np.sqrt(lam.sum(axis=1) ** 2 + (1 - lam**2).sum(axis=1))
        values.append(s.mean())
    # Monte Carlo SE ~ 1e-4; the jitter the closed form ignores is documented as < .001
    assert np.max(np.abs(np.array(values) - mean_sqrt_reliability(DESIGN))) < 0.001


def test_truth_of_the_generating_model_is_the_population_model(population) -> None:
    model = (ROOT / "results" / "parameter_recovery" / "recovery_model.lav").read_text(encoding="utf-8")
    truth = masem.recovery_truth(population, model, FULL, dataclasses.replace(DESIGN, tau=0.0))
    values = truth.values
    written = pd.read_csv(ROOT / "data" / "population" / "individual_model.csv", keep_default_na=False)
    paths = {("a2", "PE", "SPS"), ("a3", "PE", "LEAD"), ("a4", "PE", "WCH"), ("JSonLEAD", "JS", "LEAD"),
             ("OConHPWP", "OC", "HPWP"), ("j", "TI", "JS"), ("o", "TI", "OC"), ("t", "TI", "STR"),
             ("TPonCSE", "TP", "CSE"), ("s", "SERV", "PE"), ("SERVonHPWP", "SERV", "HPWP"), ("c", "CSAT", "SERV")}
    for label, lhs, rhs in paths:
        row = written[(written["lhs"] == lhs) & (written["op"] == "~") & (written["rhs"] == rhs)]
        # the WLS fit of an exactly reproduced matrix: optimiser tolerance
        assert values[label] == pytest.approx(float(row["value"].item()), abs=1e-6), label
    assert values["HPWPwithSPS"] == pytest.approx(0.40, abs=1e-6)
    assert truth.srmr < 1e-6 and truth.summary()["weight_sensitivity"].max() < 1e-5
    assert values["HPWP_CSAT"] == pytest.approx(values["a1"] * values["s"] * values["c"], rel=1e-10)


def test_pseudo_truth_of_a_saturated_model_is_regression_on_the_attenuated_matrix(population) -> None:
    truth = masem.recovery_truth(population, SMALL_MODEL, SMALL, DESIGN, corrected=False)
    R = masem.expected_matrix(population, SMALL, DESIGN, corrected=False).to_numpy()
    beta = np.linalg.solve(R[:2, :2], R[:2, 2])  # JS on (HPWP, PE)
    assert truth.values["a"] == pytest.approx(R[0, 1], abs=1e-7)
    assert truth.values["b"] == pytest.approx(beta[1], abs=1e-7)
    assert truth.summary()["weight_sensitivity"].max() < 1e-6  # exact fit: no weight matters
    assert truth.corrected is False and "uncorrected" in repr(truth)


@pytest.fixture(scope="module")
def small_run(population):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return masem.parameter_recovery(
            population, SMALL_MODEL, SMALL, n_reps=3, seed=99, n_studies=60, progress=False
        )


def test_replication_is_the_pipeline_on_its_own_seed(population, small_run) -> None:
    seeds = [int(c.generate_state(1)[0]) for c in np.random.SeedSequence(99).spawn(3)]
    estimates = small_run.estimates
    assert sorted(set(estimates["seed"])) == sorted(seeds)
    db = masem.simulate_database(population, n_studies=60, seed=seeds[1], design=DESIGN, generator="statistics")
    m = db.matrices(SMALL, corrected=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = masem.tssem2(masem.tssem1(m.matrices, m.n), SMALL_MODEL).inspect().set_index("label")
    rows = estimates.query("rep == 1 and approach == 'TSSEM'").set_index("parameter")
    # the same calls on the same simulated data: identical up to floating-point noise
    np.testing.assert_allclose(rows["estimate"], fit.loc[rows.index, "Estimate"], atol=1e-12)
    np.testing.assert_allclose(rows["ci_lower"], fit.loc[rows.index, "ci.lower"], atol=1e-12)
    uni = masem.tssem2(masem.uni_r_pooled(masem.uni_r(m.matrices, m.n)), SMALL_MODEL).coefficients
    got = estimates.query("rep == 1 and approach == 'univariate r'").set_index("parameter")["estimate"]
    np.testing.assert_allclose(got[uni.index], uni, atol=1e-12)


def test_summary_follows_the_definitions(small_run) -> None:
    summary = small_run.summary().set_index(["approach", "parameter"])
    truth = small_run.truth.set_index(["approach", "parameter"])["truth"]
    for (approach, parameter), rows in small_run.estimates.groupby(["approach", "parameter"]):
        est, true = rows["estimate"].to_numpy(), truth[(approach, parameter)]
        got = summary.loc[(approach, parameter)]
        n = len(est)
        assert got["bias"] == pytest.approx(est.mean() - true, abs=1e-15)
        assert got["rmse"] ** 2 == pytest.approx(got["bias"] ** 2 + (n - 1) / n * got["emp_se"] ** 2, rel=1e-10)
        covered = np.mean((rows["ci_lower"] <= true) & (true <= rows["ci_upper"]))
        assert got["coverage"] == covered
        assert got["coverage_mcse"] == pytest.approx(np.sqrt(covered * (1 - covered) / n))
        assert got["bias_mcse"] == pytest.approx(np.std(est, ddof=1) / np.sqrt(n))
    corrected = truth.loc["TSSEM"]
    np.testing.assert_allclose(truth.loc["univariate r"], corrected)  # same estimand
    assert not np.allclose(truth.loc["TSSEM, uncorrected"], corrected)  # attenuated pseudo-truth
    assert list(small_run.status()["status"]) == ["ok"] * 3
    assert "reps=3" in repr(small_run) and "file drawer=off" in repr(small_run)


@pytest.mark.slow
def test_same_seed_same_result_any_n_jobs(population, small_run) -> None:
    # two replications on two workers: the first two of the three-replication run, because
    # SeedSequence children depend only on their index
    again = masem.parameter_recovery(
        population, SMALL_MODEL, SMALL, n_reps=2, seed=99, n_studies=60, n_jobs=2, progress=False
    )
    first_two = small_run.estimates.query("rep < 2").reset_index(drop=True)
    pd.testing.assert_frame_equal(again.estimates, first_two)


def test_failed_databases_are_reported(population) -> None:
    # 12 studies cannot meet the design's coverage rules: every database fails to be drawn
    with pytest.warns(ConvergenceWarning, match="left out of summary"):
        res = masem.parameter_recovery(
            population, SMALL_MODEL, SMALL, n_reps=2, n_studies=12, approaches=masem.default_approaches()[:1],
            progress=False,
        )
    assert res.estimates["status"].str.startswith("failed: the database could not be drawn").all()
    assert res.summary().empty


def test_expected_matrix_with_moderators_averages_the_studies() -> None:
    # The example population: industry (service / other, drawn 50/50) shifts Y ~ M by +/-.10. With
    # tau = 0 the mean true matrix is the mixture of the two implied matrices, weighted by the
    # share of service studies in the sample of study characteristics the estimand averages over.
    population = masem.example_population()
    design = dataclasses.replace(masem.default_design("team"), tau=0.0)
    got = masem.expected_matrix(population, ["X", "M", "Y"], design).to_numpy()
    sample = study_characteristics(population, design, n=20_000, seed=2011)  # the estimand's sample
    share = float((sample["industry"] == "service").mean())
    mixture = share * population.implied({"industry": "service"}) + (1 - share) * population.implied({"industry": "other"})
    np.testing.assert_allclose(got, mixture.to_numpy(), atol=1e-14)  # the same sum in another order
    stripped = population.without_moderators()
    assert len(stripped.moderators) == 0 and len(population.moderators) == 2
    pd.testing.assert_frame_equal(stripped.rho, population.rho)


def test_bad_arguments(population) -> None:
    with pytest.raises(DataError, match="n_reps.*1"):
        masem.parameter_recovery(population, SMALL_MODEL, SMALL, n_reps=1)
    with pytest.raises(DataError, match="seed.*-1"):
        masem.parameter_recovery(population, SMALL_MODEL, SMALL, seed=-1)
    with pytest.raises(DataError, match="unknown variable.*'XX'"):
        masem.expected_matrix(population, ["PE", "XX"])
    with pytest.raises(DataError, match="design must be"):
        masem.expected_matrix(population, SMALL, design="default")
    with pytest.raises(DataError, match="approach names must be unique"):
        masem.parameter_recovery(population, SMALL_MODEL, SMALL, approaches=[masem.Variant("a")] * 2)
    with pytest.raises(ModelError):
        masem.recovery_truth(population, "PE ~ NOPE", SMALL)
    with pytest.raises(DataError, match="Population"):
        masem.without_moderators("data/population")
    with pytest.raises(DataError, match="intervals must be a list of"):
        masem.parameter_recovery(population, SMALL_MODEL, SMALL, intervals=("wald", "delta"))
    with pytest.raises(DataError, match="n_boot must be an integer of at least 19"):
        masem.parameter_recovery(population, SMALL_MODEL, SMALL, n_boot=10)


def test_deprecated_without_moderators_still_works() -> None:
    original = masem.example_population()
    with pytest.warns(DeprecationWarning, match=r"population.without_moderators\(\) instead"):
        stripped = masem.without_moderators(original)
    assert len(stripped.moderators) == 0 and len(original.moderators) == 2


@pytest.fixture(scope="module")
def interval_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return masem.parameter_recovery(
            masem.read_population(ROOT / "data" / "population", "individual"), SMALL_MODEL, SMALL,
            n_reps=2, seed=5, n_studies=60, approaches=masem.default_approaches()[:1],
            intervals=("profile", "bootstrap"), n_boot=39, progress=False,
        )


def test_profile_and_bootstrap_intervals_are_the_pipelines(interval_run) -> None:
    # Replication 0 by hand: the database of its seed, stage 1, stage 2, profile bounds of the
    # paths and the ':=' effect, and 39 bootstrap refits drawn from SeedSequence([seed, 0]).
    rows = interval_run.estimates.query("rep == 0").set_index("parameter")
    seed = int(rows["seed"].iloc[0])
    population = masem.read_population(ROOT / "data" / "population", "individual")
    db = masem.simulate_database(population, n_studies=60, seed=seed, design=DESIGN, generator="statistics")
    m = db.matrices(SMALL, corrected=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = masem.tssem2(masem.tssem1(m.matrices, m.n), SMALL_MODEL)
    targets = ["a", "b", "JSonHPWP", "ab"]
    bounds = profile_bounds(fit, targets).set_index("parameter")
    np.testing.assert_allclose(rows.loc[targets, "profile_lower"], bounds["ci_lower"], atol=1e-12)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    r = fit.sample_vector.to_numpy()
    draws = r + rng.standard_normal((39, len(r))) @ np.linalg.cholesky(fit.acov.to_numpy()).T
    values = np.array([masem.refit(fit, d).summary().set_index("parameter").loc[targets, "estimate"] for d in draws])
    # 39 draws: the 1st and 39th order statistics are the 95% percentile bounds ((B + 1) .025 = 1)
    np.testing.assert_allclose(rows.loc[targets, "boot_lower"], values.min(axis=0), atol=1e-12)
    np.testing.assert_allclose(rows.loc[targets, "boot_upper"], values.max(axis=0), atol=1e-12)


def test_interval_coverage_follows_the_definitions(interval_run) -> None:
    summary = interval_run.summary().set_index("parameter")
    truth = interval_run.truth.set_index("parameter")["truth"]
    estimates = interval_run.estimates
    for name in ("a", "ab"):
        rows = estimates[estimates["parameter"] == name]
        for low, high, column in (("profile_lower", "profile_upper", "coverage_profile"),
                                  ("boot_lower", "boot_upper", "coverage_bootstrap")):
            covered = np.mean((rows[low] <= truth[name]) & (truth[name] <= rows[high]))
            assert summary.loc[name, column] == covered
    assert "moderators=on" in repr(interval_run) and interval_run.intervals == ("wald", "profile", "bootstrap")
    assert interval_run.cpu_seconds > 0


def test_group_coverage_is_the_mean_share_per_replication(interval_run) -> None:
    table = interval_run.coverage()
    assert set(table["interval"]) == {"wald", "profile", "bootstrap"}
    estimates = interval_run.estimates.merge(interval_run.truth[["parameter", "truth"]], on="parameter")
    for (kind, low, high) in (("wald", "ci_lower", "ci_upper"), ("profile", "profile_lower", "profile_upper"),
                              ("bootstrap", "boot_lower", "boot_upper")):
        paths = estimates[estimates["type"] == "path"]
        hit = (paths[low] <= paths["truth"]) & (paths["truth"] <= paths[high])
        shares = hit.groupby(paths["rep"]).mean()
        row = table[(table["type"] == "path") & (table["interval"] == kind)].iloc[0]
        # Exact: the same arithmetic on the same rows (a mean of means of booleans).
        assert row["coverage"] == pytest.approx(shares.mean(), abs=1e-12)
        assert row["coverage_mcse"] == pytest.approx(shares.std(ddof=1) / np.sqrt(len(shares)), abs=1e-12)
        assert row["reps"] == interval_run.n_reps and row["parameters"] == paths["parameter"].nunique()
    one = interval_run.coverage(by=["approach", "parameter"]).set_index(["parameter", "interval"])
    summary = interval_run.summary().set_index("parameter")
    assert one.loc[("ab", "wald"), "coverage"] == pytest.approx(summary.loc["ab", "coverage"], abs=1e-12)
    assert one.loc[("ab", "bootstrap"), "coverage"] == pytest.approx(summary.loc["ab", "coverage_bootstrap"], abs=1e-12)
    with pytest.raises(DataError, match="no true value"):
        masem.recovery_coverage(interval_run.estimates, interval_run.truth.iloc[:1])
    with pytest.raises(DataError, match="lack the column"):
        masem.recovery_coverage(interval_run.estimates.drop(columns="rep"), interval_run.truth)


def test_tau2_known_pools_with_the_true_variances(population) -> None:
    res = masem.parameter_recovery(population, SMALL_MODEL, SMALL, n_reps=2, seed=3, n_studies=60,
                                   approaches=masem.default_approaches()[:1], tau2="known", progress=False)
    assert "tau2 known" in repr(res) and list(res.status()["status"]) == ["ok"]
    with pytest.raises(DataError, match="tau2='known' needs corrected random-effects approaches"):
        masem.parameter_recovery(population, SMALL_MODEL, SMALL, n_reps=2, tau2="known",
                                 approaches=masem.default_approaches()[2:])


def test_recovery_plot(small_run) -> None:
    axes = recovery_plot(small_run.summary(), ["a", "ab"], "Recovery")
    assert "bias" in axes[0].get_xlabel() and "coverage" in axes[1].get_xlabel()
    assert axes[0].figure._suptitle.get_text() == "Recovery"
    with pytest.raises(DataError, match="unknown parameter"):
        recovery_plot(small_run.summary(), ["zz"], "t")
    with pytest.raises(DataError, match="lacks the column"):
        recovery_plot(small_run.summary().drop(columns="bias"), ["a"], "t")
    plt.close("all")
