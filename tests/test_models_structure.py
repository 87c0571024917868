"""The empowerment-structure, mediation and team-level models (models/*.lav of notebooks 05, 06 and 07) and the
helpers those notebooks use (masem.tssem.loadings, masem.study.compare_levels, masem.plots.structure).

Questions answered:
- test_model_files_parse_with_the_documented_df: does every model file parse with
  masem.lavaan_to_ram, with the variables and the degrees of freedom its header comment states
  (df = correlations - free parameters, counted by hand)?
- test_model_files_are_identified_on_the_bundled_data: fitted to the bundled (simulated) data, does
  every model converge with finite, positive standard errors and a positive definite parameter
  covariance matrix?
- test_one_factor_recovers_loadings_exactly / test_two_factor_recovers_correlation: fitted to a
  matrix built exactly from loadings, does the CFA return those loadings (and factor correlation)
  with chi2 = 0, and does loading_table report explained variance = loading squared?
- test_higher_order_models_recover_the_population / test_team_models_recover_the_population:
  fitted to the population correlations of data/population (the truth the simulated studies were
  drawn from), do the correctly specified models return the population's loadings and paths with
  chi2 = 0, and do the misspecified ones (a missing link of the population) show misfit?
- test_loading_table_*: order, selection and errors of masem.tssem.loadings.loading_table.
- test_path_summary_*: does path_summary agree with the stage-1 summary, the database's pair counts
  and the stage-2 parameter table, and refuse misuse with ModelError naming the relation?
- test_loading_plot_* / test_level_plot_*: do the figures draw one point per row, carry titles and
  labelled axes, and refuse malformed tables with DataError?
- test_residual_table_*: are the residuals pooled minus implied for every pair (zero for a saturated
  model), sorted by size, and is bad input refused?
- test_factor_diagram_*: does the diagram draw every loading, path and residual correlation once,
  loadings pointing from the factor to the indicators, and refuse models without a factor?
"""

from __future__ import annotations

import copy
import io
import re
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import masem
from masem.study.compare_levels import path_summary
from masem.tssem.loadings import loading_table
from masem.plots.structure import factor_diagram, level_plot, loading_plot
from masem.tssem.residuals import residual_table

from conftest import ROOT

MODELS = ROOT / "models"
DIMENSIONS = ["PE_MEA", "PE_COM", "PE_SDT", "PE_IMP"]
OUTCOMES = ["JS", "OC", "TP"]
TEAM = ["T_LEAD", "T_HPWP", "T_WD", "T_EMP", "T_PERF", "T_CSAT"]
ANTECEDENTS = ["HPWP", "SPS", "LEAD", "WCH", "CSE"]
MEDIATION = ANTECEDENTS + ["PE", "JS", "OC", "TI", "TP", "SERV", "CSAT"]

# file -> (observed variables, latent variables, free parameters, df), counted from the syntax.
SPECS = {
    "empowerment_one_factor.lav": (DIMENSIONS, ["EMP"], 4, 2),
    "empowerment_two_factor.lav": (DIMENSIONS, ["INTR", "AGENCY"], 5, 1),
    "empowerment_higher_order.lav": (DIMENSIONS + OUTCOMES, ["EMP"], 10, 11),
    "empowerment_higher_order_impact.lav": (DIMENSIONS + OUTCOMES, ["EMP"], 11, 10),
    "empowerment_dimensions.lav": (DIMENSIONS + OUTCOMES, [], 21, 0),
    # notebook 05's chosen model (model 6), and notebook 06's models E and 8
    "empowerment_mediation.lav": (MEDIATION, [], 41, 25),
    "empowerment_antecedents.lav": (ANTECEDENTS + DIMENSIONS, ["EMP"], 19, 17),
    "empowerment_outcomes.lav": (MEDIATION + ["STR", "OCB", "INN"], [], 54, 51),
    "team_full_mediation.lav": (TEAM, [], 9, 6),
    "team_partial_mediation.lav": (TEAM, [], 12, 3),
}


def _syntax(name: str) -> str:
    return (MODELS / name).read_text(encoding="utf-8")


def _exact_stage1(R: pd.DataFrame, n: int = 1000) -> SimpleNamespace:
    """A stage-1 stand-in whose pooled matrix is R exactly, with Olkin-Siotani sampling covariance."""
    names = list(R.columns)
    labels = masem.vechs_labels(names)
    vcov = pd.DataFrame(masem.olkin_siotani(R.to_numpy(), n), index=labels, columns=labels)
    return SimpleNamespace(pooled=R, vcov=vcov, total_n=n, variables=names, method="exact")


@pytest.fixture(scope="module")
def individual_stage1():
    db = masem.read_database(ROOT / "data" / "individual")
    m = db.matrices(DIMENSIONS + OUTCOMES)
    with masem.collect_notes(stream=io.StringIO()):
        return masem.tssem1(m.matrices, m.n, method="REM")


@pytest.fixture(scope="module")
def team_database():
    return masem.read_database(ROOT / "data" / "team")


@pytest.fixture(scope="module")
def team_stage1(team_database):
    m = team_database.matrices(TEAM)
    with masem.collect_notes(stream=io.StringIO()):
        return masem.tssem1(m.matrices, m.n, method="REM")


@pytest.fixture(scope="module")
def population():
    folder = ROOT / "data" / "population"
    return {level: masem.read_population(folder, level) for level in ("individual", "team")}


# ------------------------------------------------------------------------------------------------
# The model files
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPECS))
def test_model_files_parse_with_the_documented_df(name: str) -> None:
    observed, latent, n_free, df = SPECS[name]
    ram = masem.lavaan_to_ram(_syntax(name))
    assert sorted(ram.observed) == sorted(observed)
    assert list(ram.latent) == latent
    # Error variances of observed variables follow from diag = 1 in stage 2, so they are not free.
    params = ram.parameters
    free = params[params["free"] & ~((params["op"] == "~~") & (params["lval"] == params["rval"])
                                     & params["lval"].isin(observed))]
    assert free["label"].nunique() == n_free
    p = len(observed)
    assert p * (p - 1) // 2 - n_free == df
    # The header comment states the same df, so the file documents itself correctly.
    assert re.search(rf"\b{df} df\b", _syntax(name)), f"{name}: the header does not say '{df} df'"


def test_every_new_model_file_is_covered() -> None:
    files = {p.name for p in MODELS.glob("empowerment_*.lav")} | {p.name for p in MODELS.glob("team_*.lav")}
    assert files == set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_model_files_are_identified_on_the_bundled_data(name: str, individual_stage1, team_stage1) -> None:
    observed = SPECS[name][0]
    if name.startswith("team_"):
        stage1 = team_stage1
    elif set(observed) <= set(DIMENSIONS + OUTCOMES):
        stage1 = individual_stage1
    else:  # the models of notebooks 05 and 06 with antecedents and further outcomes: their own pooling
        m = masem.read_database(ROOT / "data" / "individual").matrices(observed)
        with masem.collect_notes(stream=io.StringIO()):
            stage1 = masem.tssem1(m.matrices, m.n, method="REM")
    fit = masem.tssem2(stage1, _syntax(name))
    assert fit.converged
    assert fit.fit_stats()["df"] == SPECS[name][3]
    table = fit.inspect()
    se = table["Std. Err"].to_numpy()
    assert np.all(np.isfinite(se)) and np.all(se > 0)
    assert np.linalg.eigvalsh(fit.vcov.to_numpy()).min() > 0


# ------------------------------------------------------------------------------------------------
# Known truths: exact matrices and the population model
# ------------------------------------------------------------------------------------------------


def _factor_matrix(loadings: np.ndarray, names: list[str], phi: np.ndarray | None = None,
                   pattern: np.ndarray | None = None) -> pd.DataFrame:
    L = np.diag(loadings) @ (pattern if pattern is not None else np.ones((len(loadings), 1)))
    Phi = phi if phi is not None else np.eye(L.shape[1])
    R = L @ Phi @ L.T
    np.fill_diagonal(R, 1.0)
    return pd.DataFrame(R, index=names, columns=names)


def test_one_factor_recovers_loadings_exactly() -> None:
    truth = np.array([0.8, 0.72, 0.85, 0.8])
    fit = masem.tssem2(_exact_stage1(_factor_matrix(truth, DIMENSIONS)), _syntax("empowerment_one_factor.lav"))
    # Exact data: the minimum is 0 up to the optimiser's tolerance on F (1e-10 scale).
    assert fit.fit_stats()["chi2"] == pytest.approx(0.0, abs=1e-8)
    table = loading_table(fit)
    assert list(table["indicator"]) == DIMENSIONS
    # Estimates solve the normal equations to ~1e-10; 1e-6 leaves room for the stopping rule.
    np.testing.assert_allclose(table["loading"], truth, atol=1e-6)
    np.testing.assert_allclose(table["explained"], truth**2, atol=1e-6)
    np.testing.assert_allclose(table["residual"], 1 - truth**2, atol=1e-6)


def test_two_factor_recovers_correlation() -> None:
    truth = np.array([0.8, 0.72, 0.85, 0.8])
    pattern = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float)
    phi = np.array([[1.0, 0.6], [0.6, 1.0]])
    R = _factor_matrix(truth, DIMENSIONS, phi, pattern)
    fit = masem.tssem2(_exact_stage1(R), _syntax("empowerment_two_factor.lav"))
    assert fit.fit_stats()["chi2"] == pytest.approx(0.0, abs=1e-8)
    assert fit.coefficients["phi"] == pytest.approx(0.6, abs=1e-6)  # exact data, optimiser tolerance
    one = masem.tssem2(_exact_stage1(R), _syntax("empowerment_one_factor.lav"))
    # The one-factor model is model B with phi = 1: with phi = .6 in truth it must misfit, and the
    # nested test must say so.
    assert masem.compare(one, fit)["p_value"].iloc[0] < 1e-6


def _population_block(pop, names: list[str]) -> pd.DataFrame:
    return pop.rho.loc[names, names]


def test_higher_order_models_recover_the_population(population) -> None:
    pop = population["individual"]
    model = pop.model.set_index(["lhs", "op", "rhs"])["value"]
    R = _population_block(pop, DIMENSIONS + OUTCOMES)
    stage1 = _exact_stage1(R, n=10_000)
    exact = masem.tssem2(stage1, _syntax("empowerment_higher_order_impact.lav"))
    assert exact.fit_stats()["chi2"] == pytest.approx(0.0, abs=1e-8)
    loadings = loading_table(exact, DIMENSIONS).set_index("indicator")["loading"]
    for dim in DIMENSIONS:
        # The population's second-order loadings (data/population/individual_model.csv); exact data.
        assert loadings[dim] == pytest.approx(float(model[(dim, "~", "PE")]), abs=1e-6)
    coef = exact.coefficients
    for outcome, label in (("JS", "b_js"), ("OC", "b_oc"), ("TP", "b_tp")):
        # With one factor standing for PE, its path to an outcome is corr(PE, outcome).
        assert coef[label] == pytest.approx(pop.rho.loc["PE", outcome], abs=1e-6)
    # Without the impact-performance link the population is not reproduced: the restricted model
    # misfits, and only there (its largest residual is the PE_IMP-TP cell).
    restricted = masem.tssem2(stage1, _syntax("empowerment_higher_order.lav"))
    assert restricted.fit_stats()["chi2"] > 1.0
    residual = (R - restricted.implied).abs().stack()
    assert set(residual.idxmax()) == {"PE_IMP", "TP"}
    assert masem.compare(restricted, exact)["p_value"].iloc[0] < 0.05
    saturated = masem.tssem2(stage1, _syntax("empowerment_dimensions.lav"))
    np.testing.assert_allclose(saturated.implied.to_numpy(), R.to_numpy(), atol=1e-6)


def test_team_models_recover_the_population(population) -> None:
    pop = population["team"]
    truth = pop.model[pop.model["op"] == "~"].set_index(["lhs", "rhs"])["value"].astype(float)
    stage1 = _exact_stage1(_population_block(pop, TEAM), n=2549)
    partial = masem.tssem2(stage1, _syntax("team_partial_mediation.lav"))
    assert partial.fit_stats()["chi2"] == pytest.approx(0.0, abs=1e-8)
    paths = partial.inspect().query("op == '~'").set_index(["lval", "rval"])["Estimate"]
    for (lhs, rhs), value in paths.items():
        # Paths absent from the population (HPWP, WD -> PERF) must come out as 0; exact data.
        assert value == pytest.approx(truth.get((lhs, rhs), 0.0), abs=1e-6), (lhs, rhs)
    defined = partial.defined
    b, c, d = truth[("T_PERF", "T_EMP")], truth[("T_CSAT", "T_PERF")], truth[("T_CSAT", "T_EMP")]
    assert defined["LEAD_PERF"] == pytest.approx(truth[("T_EMP", "T_LEAD")] * b, abs=1e-6)
    assert defined["WD_CSAT"] == pytest.approx(truth[("T_EMP", "T_WD")] * (d + b * c), abs=1e-6)
    # The population has a direct leadership -> performance path, so full mediation misfits.
    full = masem.tssem2(stage1, _syntax("team_full_mediation.lav"))
    assert full.fit_stats()["chi2"] > 1.0
    assert masem.compare(full, partial)["df_diff"].iloc[0] == 3


# ------------------------------------------------------------------------------------------------
# loading_table
# ------------------------------------------------------------------------------------------------


def _exact_higher_order_fit():
    truth = np.array([0.8, 0.72, 0.85, 0.8])
    R = _factor_matrix(np.r_[truth, 0.6, 0.5, 0.3], DIMENSIONS + OUTCOMES)
    return masem.tssem2(_exact_stage1(R), _syntax("empowerment_higher_order.lav"))


def test_loading_table_default_lists_every_factor_path_and_selection_keeps_order() -> None:
    fit = _exact_higher_order_fit()
    everything = loading_table(fit)
    # In RAM form, outcome ~ factor is a loading too: the default lists all seven.
    assert list(everything["indicator"]) == DIMENSIONS + OUTCOMES
    chosen = loading_table(fit, ["PE_IMP", "PE_MEA"])
    assert list(chosen["indicator"]) == ["PE_IMP", "PE_MEA"]
    assert list(chosen.columns) == ["factor", "indicator", "label", "loading", "se", "ci_lower",
                                    "ci_upper", "interval", "explained", "residual"]
    assert set(chosen["interval"]) == {"wald"}
    assert (chosen["ci_lower"] < chosen["loading"]).all() and (chosen["loading"] < chosen["ci_upper"]).all()


def test_loading_table_errors() -> None:
    fit = _exact_higher_order_fit()
    with pytest.raises(masem.ModelError, match="PE_XXX"):
        loading_table(fit, ["PE_MEA", "PE_XXX"])
    with pytest.raises(masem.ModelError, match="list of variable names"):
        loading_table(fit, "PE_MEA")
    with pytest.raises(masem.ModelError, match="tssem2"):
        loading_table(fit.inspect())
    R = _factor_matrix(np.array([0.5, 0.4, 0.3]), ["a", "b", "c"])
    path_model = masem.tssem2(_exact_stage1(R), "c ~ a + b\na ~~ 1*a\nb ~~ 1*b\na ~~ b")
    with pytest.raises(masem.ModelError, match="no latent factor"):
        loading_table(path_model)


# ------------------------------------------------------------------------------------------------
# path_summary
# ------------------------------------------------------------------------------------------------

RELATIONS = {
    "leadership -> empowerment": ("T_LEAD", "T_EMP"),
    "empowerment -> performance": ("T_EMP", "T_PERF"),
    "performance -> customer satisfaction": ("T_PERF", "T_CSAT"),
}


def test_path_summary_agrees_with_its_sources(team_stage1, team_database) -> None:
    fit = masem.tssem2(team_stage1, _syntax("team_partial_mediation.lav"))
    before = copy.deepcopy(RELATIONS)
    table = path_summary(fit, team_stage1, RELATIONS, "team")
    assert RELATIONS == before
    assert list(table["relation"]) == list(RELATIONS) and set(table["level"]) == {"team"}
    counts = team_database.pair_counts(TEAM)
    params = fit.inspect().set_index(["lval", "rval"])
    for row in table.itertuples():
        cause, effect = RELATIONS[row.relation]
        assert row.path == f"{cause} -> {effect}"
        assert row.r == team_stage1.pooled.loc[cause, effect]
        assert row.r_ci_lower < row.r < row.r_ci_upper
        assert (row.k, row.N) == (counts.k.loc[cause, effect], counts.n.loc[cause, effect])
        assert row.estimate == params.loc[(effect, cause), "Estimate"]
        assert row.ci_lower == params.loc[(effect, cause), "ci.lower"]


def test_path_summary_errors(team_stage1) -> None:
    fit = masem.tssem2(team_stage1, _syntax("team_full_mediation.lav"))
    with pytest.raises(masem.ModelError, match="'direct'.*no path T_PERF ~ T_LEAD"):
        path_summary(fit, team_stage1, {"direct": ("T_LEAD", "T_PERF")}, "team")
    with pytest.raises(masem.ModelError, match="'x'.*PE"):
        path_summary(fit, team_stage1, {"x": ("PE", "T_EMP")}, "team")
    with pytest.raises(masem.ModelError, match="non-empty mapping"):
        path_summary(fit, team_stage1, {}, "team")
    with pytest.raises(masem.ModelError, match="cause, effect"):
        path_summary(fit, team_stage1, {"x": "T_EMP"}, "team")
    with pytest.raises(masem.ModelError, match="level"):
        path_summary(fit, team_stage1, RELATIONS, "")
    with pytest.raises(masem.ModelError, match="tssem2"):
        path_summary(team_stage1, team_stage1, RELATIONS, "team")
    with pytest.raises(masem.ModelError, match="lacks"):
        path_summary(fit, SimpleNamespace(variables=TEAM, summary=lambda: pd.DataFrame({"label": []})),
                     RELATIONS, "team")


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------


def _points(ax) -> int:
    return sum(len(line.get_xdata()) for line in ax.lines if line.get_marker() == "o")


def test_loading_plot_draws_every_estimate_and_the_population() -> None:
    fit = _exact_higher_order_fit()
    table = pd.concat([loading_table(fit, DIMENSIONS), loading_table(fit, DIMENSIONS).assign(interval="profile")])
    ax = loading_plot(table, "Loadings", population={"PE_MEA": 0.8, "PE_IMP": 0.8})
    assert ax.get_title() == "Loadings" and ax.get_xlabel() and ax.get_ylabel()
    assert _points(ax) == 8
    assert [t.get_text() for t in ax.get_yticklabels()] == DIMENSIONS
    assert len(ax.collections[-1].get_offsets()) == 2  # the population crosses
    with pytest.raises(masem.DataError, match="PE_XXX"):
        loading_plot(table, "t", population={"PE_XXX": 0.5})
    with pytest.raises(masem.DataError, match="ci_upper"):
        loading_plot(table.drop(columns="ci_upper"), "t")
    with pytest.raises(masem.DataError, match="more than one row"):
        loading_plot(pd.concat([table, table]), "t")
    plt.close("all")


def test_level_plot_one_series_per_level_and_errors() -> None:
    rows = pd.DataFrame({
        "relation": ["a -> b", "b -> c"] * 2, "level": ["individual"] * 2 + ["team"] * 2,
        "estimate": [0.2, 0.4, 0.3, 0.35], "ci_lower": [0.1, 0.3, 0.1, 0.2], "ci_upper": [0.3, 0.5, 0.5, 0.5],
        "r": [0.3, 0.4, 0.35, 0.4], "r_ci_lower": [0.2, 0.3, 0.2, 0.3], "r_ci_upper": [0.4, 0.5, 0.5, 0.5],
    })
    for value in ("path", "r"):
        ax = level_plot(rows, "Levels", value=value)
        assert _points(ax) == 4
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["individual", "team"]
        assert ax.get_xlabel() and ax.get_ylabel()
    # Side-by-side panels sharing the y axis: the first relation stays on top in both.
    _, axes = plt.subplots(1, 2, sharey=True)
    level_plot(rows, "r", value="r", ax=axes[0])
    level_plot(rows, "paths", value="path", ax=axes[1])
    assert axes[0].yaxis_inverted() and axes[1].yaxis_inverted()
    with pytest.raises(masem.DataError, match="'path' or 'r'"):
        level_plot(rows, "t", value="beta")
    with pytest.raises(masem.DataError, match="no rows"):
        level_plot(rows.iloc[:0], "t")
    plt.close("all")


def test_factor_diagram_draws_every_parameter_once_with_loadings_to_the_left() -> None:
    fit = _exact_higher_order_fit()
    source = factor_diagram(fit, DIMENSIONS, title="Model C").source
    for dim in DIMENSIONS:
        # Loadings are written indicator -> factor with the arrowhead reversed, so the factor points
        # at the indicator while the indicator column stays left of it.
        assert f"{dim} -> EMP" in source and source.count(f"{dim} -> EMP") == 1
    for outcome in OUTCOMES:
        assert source.count(f"EMP -> {outcome}") == 1
    # Three residual correlations among the outcomes, dashed and two-headed.
    assert source.count("style=dashed") == 3 and source.count("dir=both") == 3
    assert source.count("dir=back") == 4
    assert "Model C" in source


def test_factor_diagram_errors() -> None:
    fit = _exact_higher_order_fit()
    with pytest.raises(masem.DataError, match="PE_XXX"):
        factor_diagram(fit, ["PE_XXX"])
    with pytest.raises(masem.DataError, match="non-empty list"):
        factor_diagram(fit, "PE_MEA")
    R = _factor_matrix(np.array([0.5, 0.4, 0.3]), ["a", "b", "c"])
    path_model = masem.tssem2(_exact_stage1(R), "c ~ a + b\na ~~ 1*a\nb ~~ 1*b\na ~~ b")
    with pytest.raises(masem.DataError, match="latent factor"):
        factor_diagram(path_model, ["a"])


# ------------------------------------------------------------------------------------------------
# residual_table
# ------------------------------------------------------------------------------------------------


def test_residual_table_is_pooled_minus_implied_sorted_by_size(population) -> None:
    pop = population["individual"]
    R = _population_block(pop, DIMENSIONS + OUTCOMES)
    stage1 = _exact_stage1(R, n=10_000)
    restricted = masem.tssem2(stage1, _syntax("empowerment_higher_order.lav"))
    table = residual_table(restricted)
    assert len(table) == 21 and list(table.columns) == ["var1", "var2", "pooled", "implied", "residual"]
    for row in table.itertuples():
        assert row.pooled == R.loc[row.var1, row.var2]
        assert row.implied == pytest.approx(restricted.implied.loc[row.var1, row.var2], abs=1e-15)
        assert row.residual == pytest.approx(row.pooled - row.implied, abs=1e-15)
        # var1 precedes var2 in stage-1 order
        assert stage1.variables.index(row.var1) < stage1.variables.index(row.var2)
    assert (np.diff(table["residual"].abs()) <= 0).all()
    # The one link of the population that model C leaves out is its largest residual.
    assert {table.loc[0, "var1"], table.loc[0, "var2"]} == {"PE_IMP", "TP"}
    assert len(residual_table(restricted, largest=3)) == 3
    saturated = masem.tssem2(stage1, _syntax("empowerment_dimensions.lav"))
    # A saturated model reproduces every correlation; 1e-6 is the optimiser's tolerance.
    assert residual_table(saturated)["residual"].abs().max() < 1e-6


def test_residual_table_errors() -> None:
    fit = _exact_higher_order_fit()
    for bad in (0, -1, 2.5, True):
        with pytest.raises(masem.ModelError, match="positive integer"):
            residual_table(fit, largest=bad)
    with pytest.raises(masem.ModelError, match="tssem2"):
        residual_table(fit.implied)
