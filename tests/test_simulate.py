"""The simulated database and its generator (masem.data.simulate): does it behave like real coded data?

Questions answered, one per test (or parametrised group):
- Population: are both implied matrices positive definite (smallest eigenvalue > 0.02), are the
  eight published anchors exact (in the model and in the written CSV), are signs and the
  second-order structure of the empowerment dimensions as documented, do the moderators have
  the documented true slopes (per 10 points of individualism, per 0.1 of customer contact, zero per
  decade), and is every slope written in moderators.csv and its README?
- Determinism: does the same seed give identical tables, and another seed different ones?
- Coverage: enough studies (>= 140 / >= 40), every required pair observed by enough studies,
  sparse pairs present, empowerment nearly always measured, overall PE and dimensions rarely both?
- Realism: skewed sample sizes with the documented median and range, every study matrix positive
  definite, alphas plausible and sometimes missing, observed correlations attenuated so that
  correcting with the reported alphas recovers the anchors?
- Moderators and the small-study effect: are PE-SERV (customer contact, hence industry) and PE-JS
  (individualism, hence culture) moderated, PE-OC and the publication year not, do the study columns
  follow the design (Hofstede scores by country, culture derived from them, contact higher in service
  industries), and does PE-TP - and not an unselected pair - show a small-study effect (weighted
  regression of r on 1/sqrt(n), classical Egger test)?
- Bad arguments and broken population files raise DataError / ModelError naming the problem;
  the population is not mutated by a simulation.
"""

from __future__ import annotations

import dataclasses
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import masem
from masem.data import read_database
from masem.data.simulate import default_design, read_population, simulate_database
from conftest import ROOT

DATA = ROOT / "data"
POPULATION = DATA / "population"
CORE = ["HPWP", "SPS", "LEAD", "WCH", "CSE", "PE", "JS", "OC", "STR", "TI", "TP", "SERV", "CSAT"]
DIMS = ["PE_MEA", "PE_COM", "PE_SDT", "PE_IMP"]


@pytest.fixture(scope="module")
def individual():
    return read_database(DATA / "individual")


@pytest.fixture(scope="module")
def team():
    return read_database(DATA / "team")


@pytest.fixture(scope="module")
def populations():
    return {level: read_population(POPULATION, level) for level in ("individual", "team")}


def pair_rows(db, a, b, with_studies=False):
    cor = db.correlations
    rows = cor[((cor["var1"] == a) & (cor["var2"] == b)) | ((cor["var1"] == b) & (cor["var2"] == a))]
    return rows.merge(db.studies, on="study_id", suffixes=("", "_study")) if with_studies else rows


# ----------------------------------------------------------------------------------------------
# Population model
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", ["individual", "team"])
def test_population_positive_definite(populations, level):
    rho = populations[level].rho.to_numpy()
    assert np.linalg.eigvalsh(rho)[0] > 0.02  # the brief's margin for a safely PD population
    np.testing.assert_array_equal(np.diag(rho), 1.0)
    np.testing.assert_array_equal(rho, rho.T)


def test_published_anchors_exact(populations):
    model = pd.read_csv(POPULATION / "individual_model.csv", dtype={"value": str})
    anchors = model[model["op"] == "=="]
    assert len(anchors) == 8
    written = pd.read_csv(POPULATION / "individual_correlations.csv", dtype={"rho": str})
    rho = populations["individual"].rho
    for lhs, rhs, value in zip(anchors["lhs"], anchors["rhs"], anchors["value"]):
        assert rho.loc[lhs, rhs] == float(value)  # exact: the solved paths hit the anchor
        pair = {lhs, rhs}
        row = written[[{a, b} == pair for a, b in zip(written["var1"], written["var2"])]]
        assert row["provenance"].item() == "published"
        assert float(row["rho"].item()) == float(value)
        assert "Seibert" in row["source"].item() and "PERSONALquarterly" in row["source"].item()
    assert (written["provenance"] == "illustrative").sum() == len(written) - 8


@pytest.mark.parametrize("level", ["individual", "team"])
def test_written_population_matches_model(populations, level):
    written = pd.read_csv(POPULATION / f"{level}_correlations.csv")
    rho = populations[level].rho
    values = np.array([rho.loc[a, b] for a, b in zip(written["var1"], written["var2"])])
    np.testing.assert_allclose(written["rho"], values, atol=5e-5)  # written with 4 decimals


def test_signs_and_second_order_structure(populations):
    rho = populations["individual"].rho
    positives = ["HPWP", "SPS", "LEAD", "WCH", "CSE", "PE", "JS", "OC", "TP", "OCB", "INN", "SERV", "CSAT"]
    for negative in ("STR", "TI"):
        assert (rho.loc[negative, positives] < 0).all()
    assert rho.loc["STR", "TI"] > 0
    loadings = rho.loc["PE", DIMS]
    assert loadings.between(0.70, 0.85).all()  # the brief's range for second-order loadings
    for a, b in combinations(DIMS, 2):
        # Exact in the model; 1e-12 allows only floating-point rounding of the implied matrix.
        assert rho.loc[a, b] == pytest.approx(loadings[a] * loadings[b], abs=1e-12)
    outside = [c for c in rho.index if c not in DIMS + ["PE"]]
    for d in DIMS:
        # corr(dimension, X) = lambda * corr(PE, X); one documented residual correlation
        # (impact - task performance) adds about .05.
        np.testing.assert_allclose(rho.loc[d, outside], loadings[d] * rho.loc["PE", outside], atol=0.06)


def test_moderator_slopes_have_documented_size(populations):
    pop = populations["individual"]
    # The true slopes of data/population/README.md, in their units.
    contact = {c: pop.implied({"customer_contact": c}) for c in (0.3, 0.7)}
    # corr(PE, SERV) is linear in the path SERV ~ PE: +.05 per 0.1 of contact over 0.4 is exactly
    # .20 (1e-9: the fixed point of the residual variances stops at 1e-14).
    assert contact[0.7].loc["PE", "SERV"] - contact[0.3].loc["PE", "SERV"] == pytest.approx(0.20, abs=1e-9)
    # CSAT depends on SERV only, so corr(SERV, CSAT) is the path itself, .35 at contact 0.5.
    assert contact[0.7].loc["SERV", "CSAT"] == pytest.approx(0.45, abs=1e-9)
    assert contact[0.3].loc["SERV", "CSAT"] == pytest.approx(0.25, abs=1e-9)
    culture = {x: pop.implied({"individualism": x}) for x in (28, 88)}
    difference = culture[88].loc["PE", "JS"] - culture[28].loc["PE", "JS"]
    assert difference == pytest.approx(0.12, abs=1e-9)  # +.02 per 10 points over 60; as above
    at_center = pop.implied({"individualism": 58, "customer_contact": 0.5, "year": 1995})
    pd.testing.assert_frame_equal(at_center, pop.rho)  # the anchors hold at the centres
    pd.testing.assert_frame_equal(pop.implied({"year": 2024}), pop.implied({"year": 1995}))  # null
    for x in (0, 100):
        for c in (0.0, 1.0):
            moderated = pop.implied({"individualism": x, "customer_contact": c}).to_numpy()
            assert np.linalg.eigvalsh(moderated)[0] > 0.02  # the same PD margin at the extremes
            np.testing.assert_allclose(np.diag(moderated), 1.0)
    team = populations["team"]
    gap = team.implied({"customer_contact": 0.7}) - team.implied({"customer_contact": 0.3})
    assert gap.loc["T_PERF", "T_CSAT"] == pytest.approx(0.20, abs=1e-9)  # linear, as above
    assert "published_anchors=8" in repr(pop)


def test_every_true_slope_is_documented():
    table = pd.read_csv(POPULATION / "moderators.csv", keep_default_na=False)
    slopes = {(r.level, r.moderator, r.lhs, r.rhs): (r.shift, r.center, r.per) for r in table.itertuples()}
    assert slopes["individual", "individualism", "JS", "PE"] == (0.02, 58, 10)
    assert slopes["individual", "customer_contact", "SERV", "PE"] == (0.05, 0.5, 0.1)
    assert slopes["individual", "customer_contact", "CSAT", "SERV"] == (0.05, 0.5, 0.1)
    assert slopes["team", "customer_contact", "T_CSAT", "T_PERF"] == (0.05, 0.5, 0.1)
    for level in ("individual", "team"):
        model = pd.read_csv(POPULATION / f"{level}_model.csv", keep_default_na=False)
        for lhs, rhs in zip(*model[model["op"] == "~"][["lhs", "rhs"]].to_numpy().T):
            assert slopes[level, "year", lhs, rhs] == (0, 2010, 10)  # a null moderator on every path
    assert (table["category"] == "").all()  # every moderator is continuous
    readme = (POPULATION / "README.md").read_text(encoding="utf-8")
    for unit in ("per 10 points", "per 0.1", "per decade", "Hofstede"):
        assert unit in readme


# ----------------------------------------------------------------------------------------------
# Determinism
# ----------------------------------------------------------------------------------------------
def tables(db):
    return [db.studies, db.correlations, db.reliabilities, db.constructs]


@pytest.mark.parametrize("level", ["individual", "team"])
def test_same_seed_same_data(populations, level):
    first = simulate_database(populations[level], seed=7)
    second = simulate_database(POPULATION, level, seed=7)
    for a, b in zip(tables(first), tables(second)):
        pd.testing.assert_frame_equal(a, b)


def test_different_seed_different_data(populations, team):
    other = simulate_database(populations["team"], seed=2012)
    assert not other.correlations.equals(team.correlations)
    assert not other.studies["n"].equals(team.studies["n"])


def test_simulation_does_not_mutate_population(populations):
    pop = populations["team"]
    kept = (pop.rho.copy(), pop.constructs.copy(), pop.model.copy(), pop.moderators.copy(), pop._paths.copy())
    simulate_database(pop, seed=3)
    pd.testing.assert_frame_equal(pop.rho, kept[0])
    pd.testing.assert_frame_equal(pop.constructs, kept[1])
    pd.testing.assert_frame_equal(pop.model, kept[2])
    pd.testing.assert_frame_equal(pop.moderators, kept[3])
    np.testing.assert_array_equal(pop._paths, kept[4])


# ----------------------------------------------------------------------------------------------
# Coverage and realism of the bundled data
# ----------------------------------------------------------------------------------------------
def test_number_of_samples(individual, team):
    assert len(individual.studies) >= 140
    assert len(team.studies) >= 40


def test_required_pair_coverage(individual):
    k = individual.pair_counts(CORE).k.to_numpy()
    assert k[np.triu_indices(len(CORE), 1)].min() >= 3
    k = individual.pair_counts(DIMS + ["JS", "OC", "TP"]).k
    assert k.loc[DIMS, DIMS].to_numpy().min() >= 5
    assert k.loc[DIMS, ["JS", "OC", "TP"]].to_numpy().min() >= 5
    off = individual.pair_counts().summary()["k"]
    assert (off.between(1, 5)).sum() >= 5  # a few sparse pairs
    assert individual.matrices(CORE).summary()["pairs"].mean() < 0.5 * len(CORE) * (len(CORE) - 1) / 2


def test_team_pair_coverage(team):
    k = team.pair_counts().k.to_numpy()
    assert k[np.triu_indices(len(k), 1)].min() >= 3


def test_what_studies_measure(individual):
    studies = individual.studies
    scores = studies["empowerment_scores"].value_counts(normalize=True)
    assert scores.get("none", 0) <= 0.10  # empowerment nearly always measured
    assert 0 < scores.get("both", 0) <= 0.05  # both overall and dimensions rarely
    measured = individual.matrices(list(individual.constructs["code"])).summary()["measured"]
    empowerment = studies["empowerment_scores"].map({"overall": 1, "dimensions": 4, "both": 5, "none": 0})
    others = measured.to_numpy() - empowerment.to_numpy()
    assert others.min() >= 2 and np.median(others) <= 7


@pytest.mark.parametrize(
    ("fixture", "median", "low", "high"),
    [("individual", (150, 260), 40, 4000), ("team", (35, 65), 15, 400)],
)
def test_sample_sizes_skewed(request, fixture, median, low, high):
    n = request.getfixturevalue(fixture).studies["n"]
    assert median[0] <= n.median() <= median[1]  # design median 200 (team 50), +-30% for sampling
    assert n.min() >= low and n.max() <= high
    assert n.mean() > n.median()  # right-skewed


@pytest.mark.parametrize("fixture", ["individual", "team"])
def test_every_study_matrix_positive_definite(request, fixture):
    db = request.getfixturevalue(fixture)
    out = db.matrices(list(db.constructs["code"]))
    for sid, m in zip(out.study_ids, out.matrices):
        keep = ~np.isnan(np.diag(m.to_numpy()))
        sub = m.to_numpy()[np.ix_(keep, keep)]
        assert not np.isnan(sub).any(), sid  # every pair among measured variables reported
        assert np.linalg.eigvalsh(sub)[0] > 0, sid


@pytest.mark.parametrize("fixture", ["individual", "team"])
def test_reliabilities_plausible_and_sometimes_missing(request, fixture):
    db = request.getfixturevalue(fixture)
    alpha = db.reliabilities["alpha"]
    # Target reliabilities are .70 + .25 Beta(3, 2) (mean .85); sample alphas scatter around them.
    assert alpha.between(0.5, 0.99).all() and 0.8 <= alpha.mean() <= 0.9
    measured = db.matrices(list(db.constructs["code"])).summary().set_index("study_id")["measured"]
    reported = db.reliabilities.groupby("study_id").size().reindex(measured.index, fill_value=0)
    share = (reported < measured).mean()
    assert 0.10 <= share <= 0.30  # design: 18% of studies omit some alphas


@pytest.mark.parametrize(("var", "anchor"), [("OC", 0.63), ("JS", 0.64), ("STR", -0.36), ("OCB", 0.38)])
def test_alphas_correct_the_attenuation(individual, var, anchor):
    rows = pair_rows(individual, "PE", var)
    alpha = individual.reliabilities.set_index(["study_id", "variable"])["alpha"]
    a_pe = rows["study_id"].map(lambda s: alpha.get((s, "PE"), np.nan))
    a_var = rows["study_id"].map(lambda s: alpha.get((s, var), np.nan))
    observed = np.average(rows["r"], weights=rows["n"])
    ok = a_pe.notna() & a_var.notna()
    corrected = np.average(rows["r"][ok] / np.sqrt(a_pe[ok] * a_var[ok]), weights=rows["n"][ok])
    assert abs(observed) < abs(anchor) - 0.03  # unreliability visibly attenuates
    # Sampling error and tau = .08 leave the n-weighted mean of 20-60 studies within about .05.
    assert corrected == pytest.approx(anchor, abs=0.05)


# ----------------------------------------------------------------------------------------------
# Moderators and the small-study effect
# ----------------------------------------------------------------------------------------------
def moderator_test(db, a, b, column, category=None):
    """WLS of Fisher's z on a moderator: a category's indicator, or a numeric column as it is."""
    rows = pair_rows(db, a, b, with_studies=True)
    x = rows[column] if category is None else rows[column] == category
    x = sm.add_constant(x.astype(float).to_numpy())
    return sm.WLS(np.arctanh(rows["r"].to_numpy()), x, weights=rows["n"].to_numpy() - 3).fit()


@pytest.mark.parametrize(
    ("a", "b", "column", "category"),
    [("PE", "SERV", "industry", "service"), ("PE", "JS", "culture", "individualist"),
     ("PE", "SERV", "customer_contact", None), ("PE", "JS", "individualism", None)],
)
def test_moderators_present(individual, a, b, column, category):
    fit = moderator_test(individual, a, b, column, category)
    # The design separates the groups by .13-.20 in rho (about .10-.17 in z after attenuation);
    # contact spans .03-.98 (.20 in rho per .4) and individualism 14-91 (.02 per 10 points): with
    # 35-65 studies that is far beyond chance, so a strict 1% level is safe.
    assert fit.params[1] > 0 and fit.pvalues[1] < 0.01


@pytest.mark.parametrize(
    ("a", "b", "column"),
    [("PE", "OC", "industry"), ("PE", "OC", "customer_contact"), ("PE", "JS", "year"), ("PE", "SERV", "year")],
)
def test_unmoderated_pairs_not_moderated(individual, a, b, column):
    category = "service" if column == "industry" else None
    fit = moderator_test(individual, a, b, column, category)
    assert fit.pvalues[1] > 0.05  # no slope in the population (year: a null moderator): 5% level


def test_study_moderator_columns(individual, team):
    hofstede = {country: score for country, score, _ in default_design("individual").countries}
    for db in (individual, team):
        studies = db.studies
        assert (studies["individualism"] == studies["country"].map(hofstede)).all()
        assert ((studies["individualism"] >= 50) == (studies["culture"] == "individualist")).all()
        assert studies["customer_contact"].between(0, 1).all()
        means = studies.groupby("industry")["customer_contact"].mean()
        # design means .7 (service) and .3 (other); 20-80 studies per group: SE below .04
        assert means["service"] > 0.6 and means["other"] < 0.4


def small_study_slope(db, a, b):
    rows = pair_rows(db, a, b)
    x = sm.add_constant(1 / np.sqrt(rows["n"].to_numpy()))
    return sm.WLS(rows["r"].to_numpy(), x, weights=rows["n"].to_numpy()).fit()


def test_small_study_effect_on_selected_pair(individual):
    fit = small_study_slope(individual, "PE", "TP")
    # Small published studies (n < 300) need r >= .38: about .07 above the large ones, i.e. a
    # slope of well over 0.5 per unit of 1/sqrt(n); 1% keeps the test meaningful.
    assert fit.params[1] > 0.5 and fit.pvalues[1] < 0.01
    rows = pair_rows(individual, "PE", "TP")
    z, se = np.arctanh(rows["r"].to_numpy()), 1 / np.sqrt(rows["n"].to_numpy() - 3)
    egger = sm.OLS(z / se, sm.add_constant(1 / se)).fit()  # Egger et al. (1997)
    assert egger.params[0] > 0 and egger.pvalues[0] < 0.05  # "Egger detects it" at the usual 5%


@pytest.mark.parametrize(("a", "b"), [("PE", "JS"), ("PE", "OC"), ("PE", "STR")])
def test_no_small_study_effect_on_unselected_pairs(individual, a, b):
    assert small_study_slope(individual, a, b).pvalues[1] > 0.05  # not selected: no effect at 5%


# ----------------------------------------------------------------------------------------------
# Bad arguments and broken population files
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [({"level": "department"}, "level must be one of"), ({"level": "team", "n_studies": 0}, "n_studies"),
     ({"level": "team", "seed": -1}, "seed"), ({"level": "team", "seed": 1.5}, "seed")],
)
def test_bad_arguments(kwargs, expected):
    with pytest.raises(masem.DataError, match=expected):
        simulate_database(POPULATION, **kwargs)


def test_level_mismatch(populations):
    with pytest.raises(masem.DataError, match="does not match"):
        simulate_database(populations["team"], level="individual")


def test_design_naming_unknown_construct(populations):
    expected = r"construct\(s\) \[.*'PE'.*\] that the team population does not have"
    with pytest.raises(masem.DataError, match=expected):
        simulate_database(populations["team"], design=default_design("individual"))


def test_unknown_moderator_category(populations):
    with pytest.raises(masem.DataError, match="'industry' = 'mining'"):
        populations["individual"].implied({"industry": "mining"})


def test_bad_continuous_moderator_value(populations):
    with pytest.raises(masem.DataError, match="'individualism' is continuous .* not 'high'"):
        populations["individual"].implied({"individualism": "high"})
    with pytest.raises(masem.DataError, match="'customer_contact' must be finite"):
        populations["individual"].implied({"customer_contact": float("nan")})


def test_categorical_moderators_still_read():
    # The bundled example population's moderators.csv has categorical rows and no center / per.
    pop = masem.example_population()
    gap = pop.implied({"industry": "service"}) - pop.implied({"industry": "other"})
    assert gap.loc["Y", "M"] == pytest.approx(0.20, abs=1e-9)  # +/-.10 on Y ~ M, linear in it
    assert pop.moderators["center"].isna().all()


MODERATOR_HEADER = "level,moderator,category,center,per,lhs,op,rhs,shift,note\n"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("team,year,,2010,10,T_EMP,~,T_LEAD,0,x\nteam,year,old,,,T_EMP,~,T_LEAD,0.1,x\n",
         r"\['year'\] have rows with and without a category"),
        ("team,year,,2010,0,T_EMP,~,T_LEAD,0.1,x\n", r"line 2: column 'per' has value '0'"),
        ("team,year,,,10,T_EMP,~,T_LEAD,0.1,x\n", r"line 2: column 'center' has value ''"),
        ("team,industry,service,0.5,,T_EMP,~,T_LEAD,0.1,x\n", "a center or per; leave them empty"),
        ("team,year,,2010,10,T_EMP,~,T_PERF,0.1,x\n", r"line 2: the shift of T_EMP ~ T_PERF"),
    ],
)
def test_broken_moderators_file(tmp_path, rows, expected):
    folder = tmp_path / "pop"
    folder.mkdir()
    for name in ("constructs.csv", "team_model.csv"):
        (folder / name).write_bytes((POPULATION / name).read_bytes())
    (folder / "moderators.csv").write_text(MODERATOR_HEADER + rows)
    with pytest.raises((masem.DataError, masem.ModelError), match=expected):
        read_population(folder, "team")


def test_moderator_that_is_no_study_column(tmp_path):
    folder = tmp_path / "pop"
    folder.mkdir()
    for name in ("constructs.csv", "team_model.csv"):
        (folder / name).write_bytes((POPULATION / name).read_bytes())
    (folder / "moderators.csv").write_text(MODERATOR_HEADER + "team,tenure,,5,1,T_EMP,~,T_LEAD,0.01,x\n")
    with pytest.raises(masem.ModelError, match="continuous moderator 'tenure'.*customer_contact"):
        simulate_database(folder, "team", seed=1)


def test_impossible_coverage_is_explained(populations):
    design = dataclasses.replace(default_design("individual"), reporting=(("overall", 1.0),))
    with pytest.raises(masem.ModelError, match=r"cannot give the pair \(PE_MEA, PE_COM\)"):
        simulate_database(populations["individual"], n_studies=20, design=design)


def broken_population(tmp_path, model_rows: str, level="team"):
    folder = tmp_path / "pop"
    folder.mkdir()
    for name in ("constructs.csv", "moderators.csv"):
        (folder / name).write_bytes((POPULATION / name).read_bytes())
    header = (POPULATION / f"{level}_model.csv").read_text().splitlines()[0]
    (folder / f"{level}_model.csv").write_text(header + "\n" + model_rows)
    return folder


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("T_EMP,~,T_XX,0.3,x\n", r"line 2: unknown construct 'T_XX'"),
        ("T_EMP,~,T_LEAD,0.3,x\nT_EMP,=~,T_WD,0.3,x\n", r"line 3: op '=~'"),
        ("T_EMP,~,T_LEAD,,x\n", "has no value and no anchor"),
        ("T_EMP,~,T_LEAD,0.3,x\nT_EMP,==,T_LEAD,0.5,x\n", "needs a path between them"),
        ("T_EMP,~,T_LEAD,abc,x\n", r"line 2: column 'value' has value 'abc'"),
    ],
)
def test_broken_population_model(tmp_path, rows, expected):
    with pytest.raises((masem.ModelError, masem.DataError), match=expected):
        read_population(broken_population(tmp_path, rows), "team")


def test_cyclic_or_overexplained_population_model(tmp_path):
    full = (POPULATION / "team_model.csv").read_text().splitlines()[1:]
    cyclic = "\n".join(full + ["T_LEAD,~,T_CSAT,0.1,feedback loop"]) + "\n"
    with pytest.raises(masem.ModelError, match="cycle"):
        read_population(broken_population(tmp_path, cyclic), "team")
    (tmp_path / "pop").rename(tmp_path / "old")
    too_strong = "\n".join(full + ["T_PERF,~,T_WD,0.95,too strong"]) + "\n"
    with pytest.raises(masem.ModelError, match="no standardised solution"):
        read_population(broken_population(tmp_path, too_strong), "team")
