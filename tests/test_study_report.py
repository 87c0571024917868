"""The study's key results (notebooks/study.py): do they repeat what the library computes on the
bundled data (the chosen model, its residuals, the bias-adjusted path, the cross-level test), say that the
data are simulated, and close the report with an entry in its contents?

The study's constants and its key results live next to the notebooks, not in the library; this
file loads notebooks/study.py by its path, as ``make report`` runs it.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from conftest import ROOT

STUDY = ROOT / "notebooks" / "study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("empowerment_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def key(study):
    return study.key_results(ROOT)


def cross_level_model() -> str:
    """The cross-level model of notebook 07 (one model at both levels, in common names)."""
    return ("EMP ~ LEAD + HPWP + WD\nPERF ~ EMP + LEAD + HPWP + WD\nCSAT ~ PERF + EMP\n"
            "LEAD ~~ 1*LEAD\nHPWP ~~ 1*HPWP\nWD ~~ 1*WD\nLEAD ~~ HPWP + WD\nHPWP ~~ WD\n")


@pytest.mark.slow
def test_key_results_repeat_what_the_library_computes_on_the_bundled_data(key) -> None:
    import masem
    from masem.effects import z_to_r
    from masem.report.tables import format_number

    database = masem.read_database(ROOT / "data" / "individual")
    variables = ["HPWP", "SPS", "LEAD", "WCH", "CSE", "PE", "JS", "OC", "TI", "TP", "SERV", "CSAT"]
    studies = database.matrices(variables)
    with masem.collect_notes():
        stage1 = masem.tssem1(studies.matrices, studies.n, method="REM")
    syntax = (ROOT / "models" / "empowerment_mediation.lav").read_text()
    fit = masem.tssem2(stage1, syntax).fit_stats()
    findings = key.summary().set_index("result")["value"]
    assert f"{stage1.n_studies} studies, N = {stage1.total_n:,}" in findings.iloc[1]
    assert findings["Fit of the chosen model (empowerment_mediation.lav)"].startswith(
        f"χ²({fit['df']:g}) = {fit['chi2']:.2f}, p < .001"
    )
    check = masem.residual_check(masem.tssem2(stage1, syntax))
    assert findings["Residual correlations of the chosen model (pooled - implied)"].startswith(
        f"{check.n_exceeding} of 66 above .05"
    )
    pair = masem.effect_sizes(database, "PE", "TP")
    observed = masem.meta(pair["yi"], pair["vi"], method="REML")
    filled = masem.trim_and_fill(observed)
    bias = findings[f"PE-TP (k = {observed.k})"]
    assert f"Egger z = {masem.egger(observed).statistic:.2f}" in bias
    assert f"adds {filled.k0} studies" in bias
    assert f"-> {format_number(float(z_to_r(filled.estimate)), bounded=True)}" in bias
    with masem.collect_notes():
        adjusted = masem.bias_adjusted_masem(database, syntax, variables=variables).comparison().set_index("parameter")
    assert f"{format_number(adjusted.loc['TPonPE', 'adjusted_estimate'])} [" in findings["PE -> TP after PET-PEESE adjustment of every cell"]
    team = masem.read_database(ROOT / "data" / "team").matrices(["T_LEAD", "T_HPWP", "T_WD", "T_EMP", "T_PERF", "T_CSAT"])
    individual = database.matrices(["LEAD", "HPWP", "WCH", "PE", "TP", "CSAT"])
    with masem.collect_notes():
        levels = {"individual": masem.tssem1(individual.matrices, individual.n, method="REM"),
                  "team": masem.tssem1(team.matrices, team.n, method="REM")}
    names = {"individual": {"LEAD": "LEAD", "HPWP": "HPWP", "WCH": "WD", "PE": "EMP", "TP": "PERF", "CSAT": "CSAT"},
             "team": {f"T_{code}": code for code in ["LEAD", "HPWP", "EMP", "PERF", "CSAT"]} | {"T_WD": "WD"}}
    joint = masem.cross_level_test(levels, names, cross_level_model()).joint().iloc[0]
    assert findings["Individual vs team paths (cross-level test)"].startswith(
        f"joint Δχ²({joint['df_diff']:g}) = {joint['chi2_diff']:.2f}"
    )
    sections = list(dict.fromkeys(key.summary()["section"]))
    assert sections[:5] == ["Evidence", "Structural model", "Indirect effects (profile-likelihood intervals)",
                            "Effects decomposed (Wald intervals)", "Publication bias"]
    assert all(meaning for meaning in key.summary()["meaning"])  # every number says what it means


@pytest.mark.slow
def test_key_results_html_says_the_data_are_simulated_and_is_reproducible(key, study) -> None:
    page = key.to_html()
    assert page.startswith('<section class="masem-key" id="key-results"')
    assert "These results come from simulated data." in page
    assert page.count('<div class="apa-table">') == 2  # model fit and indirect effects, APA style
    assert page == key.to_html()
    assert "simulated" in study.NOTICE  # the title page of the study's report says so too


@pytest.mark.slow
def test_key_results_close_the_report_with_an_entry_in_the_contents(key) -> None:
    from masem.report.html import RenderedNotebook, assemble_report

    nb = RenderedNotebook("00_a.ipynb", "A", ("Part",), "<p>body</p>", "")
    page = assemble_report([nb], "Title", "Sub", key.closing_section())
    assert '<a href="#key-results">Key results</a> <small>(computed from the library)</small>' in page
    assert page.index("<p>body</p>") < page.index('id="key-results"') < page.index("End of report")


def test_key_results_need_the_project_folder(study, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="pass the project folder"):
        study.key_results(tmp_path)


def test_the_study_constants_live_next_to_the_notebooks(study) -> None:
    import masem.report.html

    assert (ROOT / "models" / study.CHOSEN_MODEL).is_file() and study.FOCAL == "PE"
    source = (ROOT / "lib" / "masem" / "report" / "html.py").read_text(encoding="utf-8")
    assert "CHOSEN_MODEL" not in source and "Seibert" not in source and not hasattr(masem.report.html, "key_results")
