"""Report tables and the HTML report of the whole study (every notebook executed afresh, one page).

``make report`` runs ``python -m masem.report --notebooks notebooks --out reports/report.html``. The
notebooks are executed in memory (their committed copies are never written), converted with
nbconvert's ``lab`` template, and joined behind a title page and a table of contents; figures are
embedded as data URIs, so the page can be mailed or archived as one file. The page closes with the
key results (:func:`key_results`), computed afresh from the library on the bundled data, not
copied from the notebooks.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import html
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from masem._util import progress_bar
from masem.meta.bias import egger, trim_and_fill
from masem.meta.bivariate import effect_sizes
from masem.data import read_database
from masem.effects import z_to_r
from masem.errors import collect_notes
from masem.model import lavaan_to_ram
from masem.tssem.stage1 import tssem1
from masem.lrt import compare
from masem.tssem.stage2 import tssem2
from masem.report.tables import APATable, apa_fit, apa_parameters, format_ci, format_number, format_p
from masem.meta.univariate import meta

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"

_REPORT_CSS = """
body { max-width: 1100px; margin: 0 auto; }
.masem-title { padding: 3em 1em 2em; border-bottom: 2px solid #444; }
.masem-title h1 { font-size: 2.2em; margin-bottom: .2em; }
.masem-notice { background: #fff4d6; border-left: 4px solid #e0a000; padding: .6em 1em; }
.masem-toc { padding: 1em; border-bottom: 1px solid #bbb; }
.masem-toc ol { line-height: 1.6; }
.masem-notebook { border-bottom: 2px solid #444; padding-bottom: 2em; }
.masem-closing { padding: 2em 1em; }
.masem-key { padding: 2em 1em; border-bottom: 2px solid #444; }
.masem-key table.masem-key-table { border-collapse: collapse; margin: 1em 0; }
.masem-key table.masem-key-table td, .masem-key table.masem-key-table th {
  border-bottom: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
.masem-key .apa-table { margin: 1.5em 0; }
.masem-key .apa-table td, .masem-key .apa-table th { padding: .2em .6em; }
"""


# ----------------------------------------------------------------------------------------------
# Key results: the closing summary of the report, computed from the library on the bundled data
# ----------------------------------------------------------------------------------------------
CHOSEN_MODEL = "attitudes_to_turnover.lav"
NESTED_MODELS = ("full_mediation.lav", "partial_mediation.lav")
TEAM_MODEL = "team_full_mediation.lav"
FOCAL, BIAS_OUTCOME = "PE", "TP"


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

    findings: tuple[tuple[str, str, str, str], ...]
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
            '<section class="masem-key" id="key-results"><h2>Key results</h2>'
            '<p class="masem-notice"><strong>These results come from simulated data.</strong> Every number '
            "below was computed afresh by the masem library from the bundled, simulated study database "
            "(data/README.md) when this report was built; none is a finding about real employees or a "
            "published result of Seibert, Wang &amp; Courtright (2011).</p>"
            '<table class="masem-key-table"><thead><tr><th>Result</th><th>Value</th><th>What it means</th>'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>{tables}{notes}</section>"
        )

    def __repr__(self) -> str:
        lines = [f"KeyResults({len(self.findings)} findings, {len(self.tables)} tables; simulated data)"]
        lines += [f"  {result}: {value}" for _, result, value, _ in self.findings]
        return "\n".join(lines)


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


def _p_text(p: float) -> str:
    text = format_p(p)
    return text if text.startswith(("<", ">")) else f"= {text}"


def _model_variables(syntax: str, codes: list[str]) -> list[str]:
    observed = lavaan_to_ram(syntax).observed
    return [c for c in codes if c in observed]


def _defined_findings(fit, section: str, how: str) -> list[tuple[str, str, str, str]]:
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


def key_results(root: str | Path = ".") -> KeyResults:
    """Compute the study's key results from the bundled data and models (deterministic, a few seconds).

    The individual-level study database (``data/individual``) is pooled by random-effects TSSEM
    stage 1 over the variables of the chosen model (``models/attitudes_to_turnover.lav``); the
    full- and partial-mediation models and the chosen one are fitted in stage 2 (the chosen one with
    profile-likelihood intervals); the publication-bias verdict for empowerment and task
    performance comes from Egger's test and trim-and-fill on Fisher's z; the team-level model
    (``models/team_full_mediation.lav`` on ``data/team``, Wald intervals) is added when its file
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

    Examples
    --------
    >>> key_results(".").summary()   # doctest: +SKIP
    """
    root = Path(root)
    models = root / "models"
    files = (CHOSEN_MODEL, *NESTED_MODELS)
    missing = [name for name in files if not (models / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{models}: model file(s) {missing} not found; pass the project folder as root")
    syntax = {name: (models / name).read_text(encoding="utf-8") for name in files}
    database = read_database(root / "data" / "individual")
    codes = list(database.constructs["code"])
    variables = _model_variables(syntax[CHOSEN_MODEL], codes)
    studies = database.matrices(variables)
    findings: list[tuple[str, str, str, str]] = []

    # Numerical notes are kept for the report instead of being printed.
    with collect_notes(stream=io.StringIO()) as notes:
        stage1 = tssem1(studies.matrices, studies.n, method="REM")
        fits = {name: tssem2(stage1, text) for name, text in syntax.items()}
        chosen = tssem2(stage1, syntax[CHOSEN_MODEL], intervals="profile")

    n_total = int(database.studies["n"].sum())
    findings.append((
        "Evidence", "Individual-level database",
        f"{len(database.studies)} samples, N = {n_total:,}; {len(database.correlations):,} correlations "
        f"among {len(codes)} constructs",
        "simulated primary studies of employees, each reporting only some of the correlations",
    ))
    i2 = stage1.summary()["I2"]
    findings.append((
        "Evidence", f"Pooled matrix of the {len(variables)} model variables (TSSEM stage 1, random effects)",
        f"{stage1.n_studies} studies, N = {stage1.total_n:,}; Q({stage1.Q_df}) = {stage1.Q:.1f}, "
        f"p {_p_text(stage1.Q_p)}; median I² = {100 * i2.median():.0f}%",
        "the studies disagree beyond sampling error"
        if stage1.Q_p < 0.05 else "the studies agree within sampling error",
    ))

    fit = chosen.fit_stats()
    findings.append(("Structural model", f"Fit of the chosen model ({CHOSEN_MODEL})", _fit_line(fit),
                     _fit_meaning(fit)))
    test = compare(fits[NESTED_MODELS[0]], fits[NESTED_MODELS[1]]).iloc[0]
    findings.append((
        "Structural model", "Full vs partial mediation (chi-square difference)",
        f"Δχ²({test['df_diff']:g}) = {test['chi2_diff']:.2f}, p {_p_text(test['p_value'])}",
        "direct paths from the antecedents improve the fit: the data are consistent with empowerment "
        "mediating part, not all, of their associations (pooled correlations cannot establish causal order)"
        if test["p_value"] < 0.05 else "full mediation is not rejected: empowerment may carry all of the effects",
    ))
    paths = chosen.inspect()
    paths = paths[(paths["op"] == "~") & ((paths["lval"] == FOCAL) | (paths["rval"] == FOCAL))]
    into = paths[paths["lval"] == FOCAL]
    strongest = into.loc[into["Estimate"].abs().idxmax()]
    findings.append((
        "Structural model", f"Antecedents -> {FOCAL}",
        f"strongest: {strongest['rval']} -> {FOCAL} β = {format_number(strongest['Estimate'])} "
        f"{format_ci(strongest['ci.lower'], strongest['ci.upper'])}; "
        f"{int((into['ci.lower'] > 0).sum())} of {len(into)} paths with intervals above 0",
        "a 1-SD higher antecedent goes with a β-SD higher empowerment, the other antecedents held constant",
    ))
    out_of = paths[paths["rval"] == FOCAL]
    findings.append((
        "Structural model", f"{FOCAL} -> outcomes",
        "; ".join(f"{row.lval} β = {format_number(row.Estimate)}" for row in out_of.itertuples())
        + f"; {int(((out_of['ci.lower'] > 0) | (out_of['ci.upper'] < 0)).sum())} of {len(out_of)} intervals exclude 0",
        "a 1-SD higher empowerment goes with this many SD higher outcome (other predictors of the outcome held constant)",
    ))
    findings += _defined_findings(chosen, "Indirect effects (profile-likelihood intervals)", "profile-likelihood")

    pair = effect_sizes(database, FOCAL, BIAS_OUTCOME)
    observed = meta(pair["yi"], pair["vi"], method="REML", labels=list(pair["study_id"]))
    asymmetry, filled = egger(observed, model="rma"), trim_and_fill(observed)
    r_before, r_after = float(z_to_r(observed.estimate)), float(z_to_r(filled.estimate))
    verdict = (
        f"small studies report stronger {FOCAL}-{BIAS_OUTCOME} correlations than large ones (funnel asymmetry); "
        f"adjusting lowers r by {r_before - r_after:.3f}, so the relation holds but is overstated"
        if asymmetry.p < 0.05 else "no sign that small studies with weak results are missing"
    )
    findings.append((
        "Publication bias", f"{FOCAL}-{BIAS_OUTCOME} (k = {observed.k})",
        f"Egger z = {asymmetry.statistic:.2f}, p {_p_text(asymmetry.p)}; trim-and-fill adds {filled.k0} "
        f"studies ({filled.side} side): r = {format_number(r_before, bounded=True)} -> "
        f"{format_number(r_after, bounded=True)}",
        verdict,
    ))

    tables = [
        apa_fit({"1 full mediation": fits[NESTED_MODELS[0]], "2 partial mediation": fits[NESTED_MODELS[1]],
                 "3 attitudes -> turnover (chosen)": chosen}, "Fit of the three structural models"),
        apa_parameters(chosen, "Indirect effects through empowerment (chosen model)", which="defined"),
    ]

    if (models / TEAM_MODEL).is_file():
        team_syntax = (models / TEAM_MODEL).read_text(encoding="utf-8")
        team = read_database(root / "data" / "team")
        team_vars = _model_variables(team_syntax, list(team.constructs["code"]))
        team_studies = team.matrices(team_vars)
        with collect_notes(stream=io.StringIO()) as team_notes:
            team_stage1 = tssem1(team_studies.matrices, team_studies.n, method="REM")
            team_fit = tssem2(team_stage1, team_syntax)
        notes += team_notes
        findings.append((
            "Team level", f"Fit of {TEAM_MODEL} ({team_stage1.n_studies} samples, {team_stage1.total_n:,} teams)",
            _fit_line(team_fit.fit_stats()), _fit_meaning(team_fit.fit_stats()),
        ))
        findings += _defined_findings(team_fit, "Team level", "Wald")
    return KeyResults(findings=tuple(findings), tables=tuple(tables), notes=tuple(notes))


@dataclass(frozen=True)
class RenderedNotebook:
    """One executed notebook: its file name, title, section headings and HTML body."""

    name: str
    title: str
    headings: tuple[str, ...]
    body: str
    head_styles: str


def find_notebooks(folder: str | Path) -> list[Path]:
    """Notebooks of the collection (``00_*.ipynb`` ... ``99_*.ipynb``) in order.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist or holds no numbered notebook.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"notebook folder {folder} does not exist")
    paths = sorted(folder.glob(NOTEBOOK_PATTERN))
    if not paths:
        raise FileNotFoundError(f"no notebooks matching {NOTEBOOK_PATTERN} in {folder}")
    return paths


def execute_notebook(path: str | Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Execute a notebook in memory, in its own folder, and return the executed copy.

    The file on disk is not modified. A cell that raises stops the run with nbclient's
    ``CellExecutionError``, which names the notebook cell and shows the traceback.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()
    return nb


def _headings(nb: nbformat.NotebookNode) -> tuple[str, tuple[str, ...]]:
    """The notebook's title (first level-1 heading) and its level-2 headings."""
    title, sections = "", []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("# ") and not title:
                title = line[2:].strip()
            elif line.startswith("## "):
                sections.append(line[3:].strip())
    return title, tuple(sections)


def render_notebook(path: str | Path, nb: nbformat.NotebookNode) -> RenderedNotebook:
    """Convert an executed notebook to an HTML fragment (figures embedded)."""
    path = Path(path)
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    page, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": str(path.parent)}})
    head = re.search(r"<head>(.*?)</head>", page, flags=re.S)
    body = re.search(r"<body[^>]*>(.*?)</body>", page, flags=re.S)
    styles = "".join(re.findall(r"<style[^>]*>.*?</style>", head.group(1) if head else "", flags=re.S))
    title, sections = _headings(nb)
    return RenderedNotebook(
        name=path.name,
        title=title or path.stem,
        headings=sections,
        body=body.group(1) if body else page,
        head_styles=styles,
    )


def _anchor(name: str) -> str:
    return "nb-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def assemble_report(
    notebooks: list[RenderedNotebook], title: str, subtitle: str, closing: KeyResults | None = None
) -> str:
    """Join rendered notebooks into one HTML page: title page, table of contents, notebooks, key results."""
    toc_items = []
    for nb in notebooks:
        subs = "".join(f"<li>{html.escape(h)}</li>" for h in nb.headings)
        toc_items.append(
            f'<li><a href="#{_anchor(nb.name)}">{html.escape(nb.title)}</a>'
            f" <small>({html.escape(nb.name)})</small><ul>{subs}</ul></li>"
        )
    sections = "".join(
        f'<section class="masem-notebook" id="{_anchor(nb.name)}">{nb.body}</section>' for nb in notebooks
    )
    if closing is not None:
        toc_items.append('<li><a href="#key-results">Key results</a> <small>(computed from the library)</small></li>')
        sections += closing.to_html()
    styles = notebooks[0].head_styles if notebooks else ""
    today = _dt.date.today().isoformat()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
{styles}<style>{_REPORT_CSS}</style></head>
<body class="jp-Notebook" data-jp-theme-light="true">
<header class="masem-title"><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>
<p class="masem-notice"><strong>All study data in this report are simulated</strong> from a documented
population model (see data/README.md); they are not the primary studies of Seibert, Wang &amp;
Courtright (2011), and no number here is a published finding.</p>
<p>Built {today} by <code>make report</code>: every notebook was executed afresh.</p></header>
<nav class="masem-toc"><h2>Contents</h2><ol>{"".join(toc_items)}</ol></nav>
{sections}
<footer class="masem-closing"><h2>End of report</h2><p>{len(notebooks)} notebooks executed.
Reproduce with <code>make report</code>; check with <code>make test</code>.</p></footer>
</body></html>
"""


def build_report(
    notebook_dir: str | Path,
    out: str | Path,
    title: str = "Psychological empowerment: a meta-analytic SEM replication",
    subtitle: str = "In the spirit of Seibert, Wang & Courtright (2011), on a simulated study database",
    timeout: int = 900,
    project: str | Path | None = None,
) -> Path:
    """Execute every notebook of the collection and write the single-page HTML report.

    Parameters
    ----------
    notebook_dir : str or Path
        Folder with the numbered notebooks (``00_overview.ipynb``, ...).
    out : str or Path
        The HTML file to write; its folder is created when needed.
    title, subtitle : str
        Shown on the title page.
    timeout : int
        Seconds one cell may run before execution stops.
    project : str or Path, optional
        The project folder (with ``data/`` and ``models/``): when given, the page closes with the
        key results computed from it (:func:`key_results`).

    Returns
    -------
    Path
        The written report.
    """
    paths = find_notebooks(notebook_dir)
    closing = key_results(project) if project is not None else None
    rendered = []
    bar = progress_bar(len(paths), "executing notebooks", unit="notebook")
    try:
        for path in paths:
            rendered.append(render_notebook(path, execute_notebook(path, timeout=timeout)))
            bar.update(1)
    finally:
        bar.close()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(assemble_report(rendered, title, subtitle, closing), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m masem.report",
        description="Execute every notebook (in memory) and write one self-contained HTML report.",
    )
    parser.add_argument("--notebooks", default="notebooks", help="folder of numbered notebooks")
    parser.add_argument("--out", default="reports/report.html", help="HTML file to write")
    parser.add_argument("--timeout", type=int, default=900, help="seconds a cell may run")
    parser.add_argument("--project", default=None,
                        help="project folder with data/ and models/ for the closing key results "
                             "(default: the parent of --notebooks)")
    parser.add_argument("--no-key-results", action="store_true", help="leave out the closing key results")
    args = parser.parse_args(argv)
    project = None if args.no_key_results else Path(args.project or Path(args.notebooks).resolve().parent)
    path = build_report(args.notebooks, args.out, timeout=args.timeout, project=project)
    print(f"report written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
