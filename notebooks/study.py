"""The study's own choices and its key results: what the notebooks conclude, computed afresh.

The masem library knows no study; this module is the empowerment study's: the model the notebooks
settle on, the focal construct, the nested models, the title page of the report, and the closing
*Key results* section, computed from the library on the bundled (simulated) data.

``make report`` runs it::

    python notebooks/study.py --notebooks notebooks --out reports/report.html

which executes every notebook in memory (the generic builder :mod:`masem.report.html`) and closes
the page with :func:`key_results`. ``--key-results FILE`` writes only the closing section.
"""

from __future__ import annotations

import argparse
import html
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import masem
from masem.report import APATable, apa_fit, apa_parameters, format_ci, format_number, format_p

# The study's choices (notebooks 05, 03 and 07 explain them). Model 6 of notebook 05: model 3
# (THEORY_MODEL) with the residual covariance TP ~~ SERV and the paths TI ~ PE and TP ~ CSE, each
# tested against the model before it.
CHOSEN_MODEL = "empowerment_mediation.lav"
NESTED_MODELS = ("full_mediation.lav", "partial_mediation.lav")
THEORY_MODEL = "attitudes_to_turnover.lav"
ANTECEDENTS = ("HPWP", "SPS", "LEAD", "WCH", "CSE")
OUTCOMES = ("CSAT", "TI")
TEAM_MODEL = "team_partial_mediation.lav"  # notebook 07 keeps partial mediation
FOCAL, BIAS_OUTCOME = "PE", "TP"

TITLE = "Psychological empowerment: a meta-analytic SEM replication"
SUBTITLE = "In the spirit of Seibert, Wang & Courtright (2011), on a simulated study database"
NOTICE = (
    "<strong>All study data in this report are simulated</strong> from a documented population model "
    "(see data/README.md); they are not the primary studies of Seibert, Wang &amp; Courtright (2011), "
    "and no number here is a published finding."
)

_KEY_CSS = """
.masem-key { padding: 2em 1em; border-bottom: 2px solid #444; }
.masem-key table.masem-key-table { border-collapse: collapse; margin: 1em 0; }
.masem-key table.masem-key-table td, .masem-key table.masem-key-table th {
  border-bottom: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
.masem-key .apa-table { margin: 1.5em 0; }
.masem-key .apa-table td, .masem-key .apa-table th { padding: .2em .6em; }
"""

Finding = tuple[str, str, str, str]  # section, result, value, meaning


@dataclass(frozen=True)
class KeyResults:
    """The key results of the study, each with its value and a one-line meaning.

    Attributes
    ----------
    findings : tuple of (section, result, value, meaning)
        In reading order.
    tables : tuple of APATable
        The fit of the structural models and the indirect effects, APA style.
    notes : tuple of str
        Numerical notes of the fits (:class:`masem.ConvergenceWarning` messages), in order.
    """

    findings: tuple[Finding, ...]
    tables: tuple[APATable, ...]
    notes: tuple[str, ...] = ()

    def summary(self) -> pd.DataFrame:
        """One row per finding: section, result, value, meaning."""
        return pd.DataFrame(list(self.findings), columns=["section", "result", "value", "meaning"])

    def to_html(self) -> str:
        """The closing section of the report: a notice, the findings, the APA tables, the notes."""
        rows, section = [], None
        for where, result, value, meaning in self.findings:
            if where != section:
                section = where
                rows.append(f'<tr><th colspan="3">{html.escape(where)}</th></tr>')
            rows.append(
                f"<tr><td>{html.escape(result)}</td><td>{html.escape(value)}</td><td>{html.escape(meaning)}</td></tr>"
            )
        tables = "".join(table.to_html() for table in self.tables)
        notes = "".join(f"<li>{html.escape(note)}</li>" for note in self.notes)
        notes = f"<p><small>Numerical notes of the fits:</small></p><ul><small>{notes}</small></ul>" if notes else ""
        return (
            '<section class="masem-key" id="key-results" data-contents-note="computed from the library">'
            f"<style>{_KEY_CSS}</style><h2>Key results</h2>"
            '<p class="masem-notice"><strong>These results come from simulated data.</strong> Every number '
            "below was computed afresh by the masem library from the bundled, simulated study database "
            "(data/README.md) when this report was built; none is a finding about real employees or a "
            "published result of Seibert, Wang &amp; Courtright (2011).</p>"
            '<table class="masem-key-table"><thead><tr><th>Result</th><th>Value</th><th>What it means</th>'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>{tables}{notes}</section>"
        )

    def closing_section(self) -> masem.report.html.ClosingSection:
        """The section that closes the report (see :func:`masem.report.html.build_report`)."""
        from masem.report.html import ClosingSection

        return ClosingSection.from_html(self.to_html())

    def __repr__(self) -> str:
        lines = [f"KeyResults({len(self.findings)} findings, {len(self.tables)} tables; simulated data)"]
        lines += [f"  {result}: {value}" for _, result, value, _ in self.findings]
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# The findings, one group at a time
# ----------------------------------------------------------------------------------------------


def _p_text(p: float) -> str:
    text = format_p(p)
    return text if text.startswith(("<", ">")) else f"= {text}"


def _fit_line(fit: pd.Series) -> str:
    return (
        f"χ²({fit['df']:g}) = {fit['chi2']:.2f}, p {_p_text(fit['p_value'])}; RMSEA = "
        f"{format_number(fit['RMSEA'])} {format_ci(fit['RMSEA_lower'], fit['RMSEA_upper'])}; "
        f"CFI = {format_number(fit['CFI'], bounded=True)}; SRMR = {format_number(fit['SRMR'])}"
    )


def _fit_meaning(fit: pd.Series) -> str:
    close = fit["CFI"] >= 0.95 and fit["RMSEA"] <= 0.06 and fit["SRMR"] <= 0.08
    text = (
        "the model reproduces the pooled correlations closely (CFI >= .95, RMSEA <= .06, SRMR <= .08, "
        "Hu & Bentler's benchmarks; RMSEA with the total N is lenient in stage 2, so SRMR is the "
        "better guide)" if close else
        "the model misses part of the pooled correlations (at least one index outside Hu & Bentler's "
        "benchmarks CFI >= .95, RMSEA <= .06, SRMR <= .08)"
    )
    if fit["p_value"] < 0.05:
        text += f"; the χ² test rejects exact fit, as it does for almost any model with N = {int(fit['n']):,}"
    return text


def _defined_findings(fit, section: str, how: str) -> list[Finding]:
    """One finding per outcome of the ':=' definitions (named ``ANTECEDENT_OUTCOME``)."""
    table = fit.inspect()
    table = table[table["op"] == ":="]
    groups = table["label"].str.rsplit("_", n=1).str[-1]
    out = []
    for outcome in dict.fromkeys(groups):
        rows = table[groups == outcome]
        top = rows.loc[rows["Estimate"].abs().idxmax()]
        excluding = int(((rows["ci.lower"] > 0) | (rows["ci.upper"] < 0)).sum())
        out.append((
            section,
            f"Indirect effects on {outcome}",
            f"largest: {top['label']} = {format_number(top['Estimate'])} "
            f"{format_ci(top['ci.lower'], top['ci.upper'])}; {excluding} of {len(rows)} {how} 95% CIs exclude 0",
            f"the part of each antecedent's association with {outcome} that runs through empowerment in the model, in SD units "
            f"of {outcome} per SD of the antecedent; an interval without 0 means the indirect path is "
            "distinguishable from no effect",
        ))
    return out


def _evidence_findings(database: masem.StudyDatabase, stage1: masem.TSSEM1Result, n_variables: int) -> list[Finding]:
    n_total = int(database.studies["n"].sum())
    i2 = stage1.summary()["I2"]
    return [
        (
            "Evidence", "Individual-level database",
            f"{len(database.studies)} samples, N = {n_total:,}; {len(database.correlations):,} correlations "
            f"among {len(database.constructs)} constructs",
            "simulated primary studies of employees, each reporting only some of the correlations",
        ),
        (
            "Evidence", f"Pooled matrix of the {n_variables} model variables (TSSEM stage 1, random effects)",
            f"{stage1.n_studies} studies, N = {stage1.total_n:,}; Q({stage1.Q_df}) = {stage1.Q:.1f}, "
            f"p {_p_text(stage1.Q_p)}; median I² = {100 * i2.median():.0f}%",
            "the studies disagree beyond sampling error"
            if stage1.Q_p < 0.05 else "the studies agree within sampling error",
        ),
    ]


def _structural_findings(fits: dict, chosen: masem.TSSEM2Result) -> list[Finding]:
    fit = chosen.fit_stats()
    test = masem.compare(fits[NESTED_MODELS[0]], fits[NESTED_MODELS[1]]).iloc[0]
    paths = chosen.inspect()
    paths = paths[(paths["op"] == "~") & ((paths["lval"] == FOCAL) | (paths["rval"] == FOCAL))]
    into = paths[paths["lval"] == FOCAL]
    strongest = into.loc[into["Estimate"].abs().idxmax()]
    out_of = paths[paths["rval"] == FOCAL]
    return [
        ("Structural model", f"Fit of the chosen model ({CHOSEN_MODEL})", _fit_line(fit), _fit_meaning(fit)),
        (
            "Structural model", "Full vs partial mediation (chi-square difference)",
            f"Δχ²({test['df_diff']:g}) = {test['chi2_diff']:.2f}, p {_p_text(test['p_value'])}",
            "direct paths from the antecedents improve the fit: the data are consistent with empowerment "
            "mediating part, not all, of their associations (pooled correlations cannot establish causal order)"
            if test["p_value"] < 0.05 else "full mediation is not rejected: empowerment may carry all of the effects",
        ),
        (
            "Structural model", f"Antecedents -> {FOCAL}",
            f"strongest: {strongest['rval']} -> {FOCAL} β = {format_number(strongest['Estimate'])} "
            f"{format_ci(strongest['ci.lower'], strongest['ci.upper'])}; "
            f"{int((into['ci.lower'] > 0).sum())} of {len(into)} paths with intervals above 0",
            "a 1-SD higher antecedent goes with a β-SD higher empowerment, the other antecedents held constant",
        ),
        (
            "Structural model", f"{FOCAL} -> outcomes",
            "; ".join(f"{row.lval} β = {format_number(row.Estimate)}" for row in out_of.itertuples())
            + f"; {int(((out_of['ci.lower'] > 0) | (out_of['ci.upper'] < 0)).sum())} of {len(out_of)} intervals exclude 0",
            "a 1-SD higher empowerment goes with this many SD higher outcome (other predictors of the outcome held constant)",
        ),
    ]


def _model_building_findings(fits: dict, chosen: masem.TSSEM2Result) -> list[Finding]:
    """How far the chosen model improves on the model from theory, and the residuals it leaves."""
    theory, check = masem.residual_check(fits[THEORY_MODEL]), masem.residual_check(chosen)
    test = masem.compare(fits[THEORY_MODEL], chosen).iloc[0]
    largest = check.table.loc[check.table["residual"].abs().idxmax()]
    return [
        (
            "Structural model", f"Chosen model against the model from theory ({THEORY_MODEL})",
            f"Δχ²({test['df_diff']:g}) = {test['chi2_diff']:.2f}, p {_p_text(test['p_value'])}; SRMR "
            f"{format_number(fits[THEORY_MODEL].fit_stats()['SRMR'])} -> {format_number(chosen.fit_stats()['SRMR'])}",
            "three modifications, each suggested by a residual, justified in notebook 05 and tested against "
            "the model before it: a residual covariance of task and service performance (one rater), "
            "empowerment -> turnover intention and core self-evaluations -> task performance",
        ),
        (
            "Structural model", "Residual correlations of the chosen model (pooled - implied)",
            f"{check.n_exceeding} of {len(check.table)} above .05 in absolute value (model from theory: "
            f"{theory.n_exceeding}); largest {largest['var1']}-{largest['var2']} {format_number(largest['residual'])}",
            "the misses left are small and, for most, in cells with customer satisfaction that rest on few "
            "studies; notebook 05 discusses each",
        ),
    ]


def _decomposition_findings(chosen: masem.TSSEM2Result) -> list[Finding]:
    """The share of each antecedent's total association with an outcome that runs through empowerment."""
    pairs = [(x, y) for y in OUTCOMES for x in ANTECEDENTS]
    effects = masem.decompose_effects(chosen, pairs=pairs, intervals="wald", progress=False).effects
    totals = effects[effects["effect"] == "total"].set_index(["predictor", "outcome"])
    through = chosen.defined
    out = []
    for outcome in OUTCOMES:
        rows = totals.xs(outcome, level="outcome")
        clear = rows[(rows["wald_ci_lower"] > 0) | (rows["wald_ci_upper"] < 0)]
        shares = {x: 100 * through[f"{x}_{outcome}"] / clear.loc[x, "estimate"] for x in clear.index}
        text = "; ".join(f"{x} {format_number(clear.loc[x, 'estimate'])} ({shares[x]:.0f}% through {FOCAL})"
                         for x in clear.index)
        others = [x for x in rows.index if x not in clear.index]
        if others:
            text += f"; total indistinguishable from 0: {', '.join(others)}"
        out.append((
            "Effects decomposed (Wald intervals)", f"Total associations with {outcome}", text,
            f"each antecedent's total standardized association with {outcome} in the chosen model, and the "
            f"part of it that runs through {FOCAL} (the rest bypasses {FOCAL}); shares only where the "
            "total's interval excludes 0",
        ))
    return out


def _bias_adjusted_finding(database: masem.StudyDatabase, syntax: str, variables: list[str]) -> Finding:
    """The chosen model refitted to the matrix whose cells are adjusted by PET-PEESE."""
    adjusted = masem.bias_adjusted_masem(database, syntax, variables=variables)
    row = adjusted.comparison().set_index("parameter").loc["TPonPE"]
    return (
        "Publication bias", f"{FOCAL} -> {BIAS_OUTCOME} after PET-PEESE adjustment of every cell",
        f"β = {format_number(row['unadjusted_estimate'])} "
        f"{format_ci(row['unadjusted_ci_lower'], row['unadjusted_ci_upper'])} unadjusted, "
        f"{format_number(row['adjusted_estimate'])} {format_ci(row['adjusted_ci_lower'], row['adjusted_ci_upper'])} adjusted",
        "the path is overstated by the small studies; the adjustment of the other cells mostly adds noise "
        "(notebook 05)",
    )


def _bias_finding(database: masem.StudyDatabase) -> Finding:
    pair = masem.effect_sizes(database, FOCAL, BIAS_OUTCOME)
    observed = masem.meta(pair["yi"], pair["vi"], method="REML", labels=list(pair["study_id"]))
    asymmetry, filled = masem.egger(observed, model="rma"), masem.trim_and_fill(observed)
    r_before, r_after = float(masem.z_to_r(observed.estimate)), float(masem.z_to_r(filled.estimate))
    verdict = (
        f"small studies report stronger {FOCAL}-{BIAS_OUTCOME} correlations than large ones (funnel asymmetry); "
        f"adjusting lowers r by {r_before - r_after:.3f}, so the relation holds but is overstated"
        if asymmetry.p < 0.05 else "no sign that small studies with weak results are missing"
    )
    return (
        "Publication bias", f"{FOCAL}-{BIAS_OUTCOME} (k = {observed.k})",
        f"Egger z = {asymmetry.statistic:.2f}, p {_p_text(asymmetry.p)}; trim-and-fill adds {filled.k0} "
        f"studies ({filled.side} side): r = {format_number(r_before, bounded=True)} -> "
        f"{format_number(r_after, bounded=True)}",
        verdict,
    )


def _team_findings(root: Path) -> tuple[list[Finding], list[str]]:
    """The team-level model's fit and indirect effects, with the notes of its fits."""
    syntax = (root / "models" / TEAM_MODEL).read_text(encoding="utf-8")
    team = masem.read_database(root / "data" / "team")
    studies = team.matrices(masem.model_variables(syntax, order=team.constructs["code"]))
    with masem.collect_notes(stream=io.StringIO()) as notes:
        stage1 = masem.tssem1(studies.matrices, studies.n, method="REM")
        fit = masem.tssem2(stage1, syntax)
    findings = [(
        "Team level", f"Fit of {TEAM_MODEL} ({stage1.n_studies} samples, {stage1.total_n:,} teams)",
        _fit_line(fit.fit_stats()), _fit_meaning(fit.fit_stats()),
    )]
    with masem.collect_notes(stream=io.StringIO()) as cross_notes:
        cross = _cross_level_finding(root, stage1)
    return findings + _defined_findings(fit, "Team level", "Wald") + [cross], list(notes) + list(cross_notes)


# The model of notebook 07's cross-level test in common names, and each level's names for its variables.
CROSS_LEVEL_MODEL = """
EMP ~ LEAD + HPWP + WD
PERF ~ EMP + LEAD + HPWP + WD
CSAT ~ PERF + EMP
LEAD ~~ 1*LEAD
HPWP ~~ 1*HPWP
WD ~~ 1*WD
LEAD ~~ HPWP + WD
HPWP ~~ WD
"""
CROSS_LEVEL_NAMES = {
    "individual": {"LEAD": "LEAD", "HPWP": "HPWP", "WCH": "WD", "PE": "EMP", "TP": "PERF", "CSAT": "CSAT"},
    "team": {"T_LEAD": "LEAD", "T_HPWP": "HPWP", "T_WD": "WD", "T_EMP": "EMP", "T_PERF": "PERF", "T_CSAT": "CSAT"},
}


def _cross_level_finding(root: Path, team_stage1: masem.TSSEM1Result) -> Finding:
    """Notebook 07's test of Seibert et al.'s claim that the two levels are indistinguishable."""
    studies = masem.read_database(root / "data" / "individual").matrices(list(CROSS_LEVEL_NAMES["individual"]))
    individual = masem.tssem1(studies.matrices, studies.n, method="REM")
    test = masem.cross_level_test({"individual": individual, "team": team_stage1}, CROSS_LEVEL_NAMES,
                                  CROSS_LEVEL_MODEL)
    joint, paths = test.joint().iloc[0], test.tests()
    differing = paths[paths["p_holm"] < 0.05]
    return (
        "Team level", "Individual vs team paths (cross-level test)",
        f"joint Δχ²({joint['df_diff']:g}) = {joint['chi2_diff']:.2f}, p {_p_text(joint['p_value'])}; "
        f"{len(differing)} of {len(paths)} paths differ after Holm's correction"
        + (": " + ", ".join(f"{row.parameter} {format_number(row.estimate_individual)} vs "
                            f"{format_number(row.estimate_team)}" for row in differing.itertuples())
           if len(differing) else ""),
        "one model fitted at both levels with each path held equal in turn (notebook 07); a significant joint "
        "test means the levels are distinguishable, unlike the original study's conclusion",
    )


def key_results(root: str | Path = ".") -> KeyResults:
    """Compute the study's key results from the bundled data and models (deterministic, a few seconds).

    The individual-level study database (``data/individual``) is pooled by random-effects TSSEM
    stage 1 over the variables of the chosen model (``models/empowerment_mediation.lav``); the
    full- and partial-mediation models, the model from theory and the chosen one are fitted in
    stage 2 (the chosen one with profile-likelihood intervals, its residual correlations checked
    and its total effects decomposed); the publication-bias verdict for empowerment and task
    performance comes from Egger's test and trim-and-fill on Fisher's z, and the chosen model is
    refitted to the PET-PEESE-adjusted matrix (:func:`masem.bias_adjusted_masem`); the team-level model
    (``models/team_partial_mediation.lav`` on ``data/team``, Wald intervals) is added when its file
    exists.

    Parameters
    ----------
    root : str or Path, default "."
        The project folder holding ``data/`` and ``models/``.

    Returns
    -------
    KeyResults

    Raises
    ------
    masem.DataError, FileNotFoundError
        When the data folders or model files are missing or invalid.

    References
    ----------
    Cheung, M. W.-L. (2014). Fixed- and random-effects meta-analytic structural equation modeling:
    Examples and analyses in R. *Behavior Research Methods*, 46(1), 29-40.
    Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in covariance structure
    analysis. *Structural Equation Modeling*, 6(1), 1-55.
    Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis detected
    by a simple, graphical test. *BMJ*, 315, 629-634.
    Duval, S., & Tweedie, R. (2000). Trim and fill. *Biometrics*, 56(2), 455-463.
    """
    root = Path(root)
    models = root / "models"
    files = (*NESTED_MODELS, THEORY_MODEL, CHOSEN_MODEL)
    missing = [name for name in files if not (models / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{models}: model file(s) {missing} not found; pass the project folder as root")
    syntax = {name: (models / name).read_text(encoding="utf-8") for name in files}
    database = masem.read_database(root / "data" / "individual")
    variables = masem.model_variables(syntax[CHOSEN_MODEL], order=database.constructs["code"])
    studies = database.matrices(variables)
    # Numerical notes are kept for the report instead of being printed.
    with masem.collect_notes(stream=io.StringIO()) as notes:
        stage1 = masem.tssem1(studies.matrices, studies.n, method="REM")
        fits = {name: masem.tssem2(stage1, text) for name, text in syntax.items()}
        chosen = masem.tssem2(stage1, syntax[CHOSEN_MODEL], intervals="profile")
        findings = _evidence_findings(database, stage1, len(variables)) + _structural_findings(fits, chosen)
        findings += _model_building_findings(fits, chosen)
        findings += _defined_findings(chosen, "Indirect effects (profile-likelihood intervals)", "profile-likelihood")
        findings += _decomposition_findings(chosen)
        findings.append(_bias_finding(database))
    # One numerical note per cell's meta-analysis would fill the page: they are counted instead.
    with masem.collect_notes(stream=io.StringIO()) as cell_notes:
        findings.append(_bias_adjusted_finding(database, syntax[CHOSEN_MODEL], variables))
    notes = list(notes) + [f"bias-adjusted MASEM: {len(cell_notes)} numerical notes of the per-cell "
                           "meta-analyses (most: tau2 at its lower bound 0), listed in notebook 05"]
    tables = [
        apa_fit({"1 full mediation": fits[NESTED_MODELS[0]], "2 partial mediation": fits[NESTED_MODELS[1]],
                 "3 attitudes -> turnover": fits[THEORY_MODEL], "6 chosen (notebook 05)": chosen},
                "Fit of the structural models from theory and of the chosen model"),
        apa_parameters(chosen, "Indirect effects through empowerment (chosen model)", which="defined"),
    ]
    if (models / TEAM_MODEL).is_file():
        team, team_notes = _team_findings(root)
        findings += team
        notes += team_notes
    return KeyResults(findings=tuple(findings), tables=tuple(tables), notes=tuple(notes))


def main(argv: list[str] | None = None) -> int:
    """``python notebooks/study.py``: the study's HTML report (or only its key results)."""
    parser = argparse.ArgumentParser(
        prog="python notebooks/study.py",
        description="Execute every notebook (in memory) and write the study's report, closed by its key results.",
    )
    here = Path(__file__).resolve().parent
    parser.add_argument("--notebooks", default=str(here), help="folder of numbered notebooks")
    parser.add_argument("--out", default="reports/report.html", help="HTML file to write")
    parser.add_argument("--project", default=str(here.parent), help="project folder with data/ and models/")
    parser.add_argument("--timeout", type=int, default=900, help="seconds a cell may run")
    parser.add_argument("--key-results", metavar="FILE", help="write only the key-results section to FILE")
    args = parser.parse_args(argv)
    key = key_results(args.project)
    if args.key_results:
        out = Path(args.key_results)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(key.to_html(), encoding="utf-8")
        print(f"key results written to {out}")
        return 0
    from masem.report.html import build_report

    path = build_report(args.notebooks, args.out, title=TITLE, subtitle=SUBTITLE, notice=NOTICE,
                        timeout=args.timeout, closing=key.closing_section())
    print(f"report written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
