"""``masem run``: the pipeline on a folder and what it writes, ready for a manuscript.

Tables follow the APA conventions of :mod:`masem.report.tables` (a saturated model, df = 0, has
no p-value, and RMSEA and TLI are "not defined" rather than NaN); titles and captions carry the
model's name (its ``# title:`` line, else the file name without extension); notes say where the
studies come from when the database's ``metadata.json`` says so, and "simulated" only when it
says they are; the path diagram is written as Graphviz source, PNG at 300 dpi, SVG and PDF.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import textwrap
from pathlib import Path
from typing import TextIO

import pandas as pd

from masem._format import p_in_text
from masem.cli._inputs import (
    Model,
    about_model,
    check_pairs,
    chosen_variables,
    model_variables,
    read_model,
    select_studies,
    source_text,
    without_excluded,
)
from masem.data import StudyDatabase, StudyMatrices, read_database
from masem.errors import DataError, collect_notes
from masem.report.tables import (
    APATable,
    apa_correlations,
    apa_fit,
    apa_parameters,
    apa_stage1,
    export_table,
    format_ci,
)
from masem.tssem.indirect import BootstrapResult, indirect
from masem.tssem.stage1 import TSSEM1Result, tssem1
from masem.tssem.stage2 import TSSEM2Result, tssem2

_PNG_DPI = 300  # print resolution of the path diagram (journals ask for at least 300 dpi)
_WIDTH = 110  # characters per line of summary.txt


class _Steps:
    """Numbered progress messages on stderr (silent with --no-progress)."""

    def __init__(self, total: int, show: bool, stream: TextIO):
        self.total, self.show, self.stream, self.done = total, show, stream, 0

    def __call__(self, what: str) -> None:
        self.done += 1
        if self.show:
            print(f"[{self.done}/{self.total}] {what}", file=self.stream, flush=True)


@dataclasses.dataclass(frozen=True)
class _Fit:
    """What one run computed, handed to the writers."""

    model: Model
    database: StudyDatabase
    studies: StudyMatrices
    report: str
    stage1: TSSEM1Result
    stage2: TSSEM2Result
    boot: BootstrapResult | None


def run(args: argparse.Namespace) -> int:
    """Run the pipeline of ``masem run`` and write its files; the exit code."""
    if args.bootstrap != 0 and args.bootstrap < 100:
        raise DataError(
            f"--bootstrap must be 0 (none) or at least 100 replications, got {args.bootstrap}"
        )
    data, out = args.data.resolve(), args.out.resolve()
    if out == data or data in out.parents:
        raise DataError(
            f"--out {args.out} lies inside the data folder {args.data}; the study database is only "
            "read, never written: choose another folder"
        )
    steps = _Steps(5 if args.bootstrap else 4, not args.no_progress, sys.stderr)
    model = read_model(args.model)
    steps(f"reading and validating {args.data}")
    database = without_excluded(read_database(args.data), args.exclude)
    variables = chosen_variables(model_variables(model, database), args.variables, database)
    studies, extra = select_studies(database, variables, args)
    check_pairs(database, variables, model)

    # Numerical notes (ConvergenceWarning) go to stderr as plain "Note:" lines after their step.
    steps(
        f"stage 1: pooling {len(variables)} variables over {len(studies.study_ids)} studies "
        f"({args.method})"
    )
    with collect_notes(stream=sys.stderr):
        # Keyed by study_id, so that any message about a study names it.
        stage1 = tssem1(
            dict(zip(studies.study_ids, studies.matrices)), studies.n, method=args.method
        )
    steps(f"stage 2: fitting {args.model} ({args.intervals} intervals)")
    with collect_notes(stream=sys.stderr), about_model(args.model):
        stage2 = tssem2(stage1, model.text, intervals=args.intervals)
    boot = None
    if args.bootstrap:
        steps(f"parametric bootstrap: {args.bootstrap} replications (seed {args.seed})")
        with collect_notes(stream=sys.stderr), about_model(args.model):
            boot = indirect(
                stage2,
                n_boot=args.bootstrap,
                seed=args.seed,
                n_jobs=args.jobs,
                progress=not args.no_progress,
            )
    steps(f"writing tables and the path diagram to {args.out}")
    fit = _Fit(model, database, studies, studies.selection.report(extra), stage1, stage2, boot)
    written, notes = _write_results(out, fit, args)
    text = summary_text(args, fit, written, notes)
    (out / "summary.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


# ----------------------------------------------------------------------------------------------
# Tables and the diagram
# ----------------------------------------------------------------------------------------------


def _with_bootstrap(table: pd.DataFrame, boot: BootstrapResult | None) -> pd.DataFrame:
    """inspect() rows with the bootstrap SE and percentile interval of each parameter appended."""
    if boot is None:
        return table
    summary = boot.summary().drop_duplicates("parameter").set_index("parameter")
    out = table.copy()
    out["boot.se"] = out["label"].map(summary["boot_se"])
    out["boot.lower"] = out["label"].map(summary["ci_lower"])
    out["boot.upper"] = out["label"].map(summary["ci_upper"])
    return out


def _data_note(database: StudyDatabase) -> str:
    """The sentence table notes add about the studies, from the database's metadata."""
    source = source_text(database)
    if not source:
        return ""
    return f" Data: {source}." if not source.endswith(".") else f" Data: {source}"


def _noted(table: APATable, note: str) -> APATable:
    return dataclasses.replace(table, note=(table.note + note).strip()) if note else table


def fit_table(stage2: TSSEM2Result) -> pd.DataFrame:
    """``fit_stats()`` as statistic, value, note: a statistic that is not defined (df = 0, where
    a saturated model has no test) is an empty value with the reason, never NaN or a p of 0.
    """
    stats = stage2.fit_stats()
    saturated = stats["df"] == 0
    rows = []
    for name, value in stats.items():
        note = ""
        if saturated and name in ("p_value", "RMSEA", "RMSEA_lower", "RMSEA_upper", "TLI"):
            value, note = math.nan, "not defined (df = 0: saturated model)"
        elif isinstance(value, float) and math.isnan(value):
            note = "not defined"
        rows.append({"statistic": name, "value": value, "note": note})
    return pd.DataFrame(rows)


def _write_results(out: Path, fit: _Fit, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    notes: list[str] = []
    name, stage1, stage2, boot = fit.model.title, fit.stage1, fit.stage2, fit.boot
    data_note = _data_note(fit.database)

    def csv(frame: pd.DataFrame, file: str, index: bool = False) -> None:
        frame.to_csv(out / file, index=index, lineterminator="\n")
        written.append(file)

    def markdown(table: APATable, file: str) -> None:
        export_table(_noted(table, data_note), out / file)
        written.append(file)

    kind = "Random-effects" if stage1.method == "REM" else "Fixed-effects"
    csv(stage1.pooled, "stage1_pooled.csv", index=True)
    markdown(
        apa_correlations(
            stage1,
            f"Pooled correlation matrix of the variables of {name}",
            note=f"{kind} TSSEM stage 1 (Cheung, 2014) over {stage1.n_studies} studies, "
            f"N = {stage1.total_n:,}.",
        ),
        "stage1_pooled.md",
    )
    csv(stage1.summary(), "stage1_summary.csv")
    markdown(
        apa_stage1(stage1, f"Pooled correlations of the variables of {name}"), "stage1_summary.md"
    )
    parameters = stage2.inspect()
    csv(_with_bootstrap(parameters, boot), "stage2_parameters.csv")
    markdown(
        apa_parameters(stage2, f"Parameter estimates of {name}", bootstrap=boot),
        "stage2_parameters.md",
    )
    csv(fit_table(stage2), "stage2_fit.csv")
    markdown(apa_fit({name: stage2}, f"Fit of {name}"), "stage2_fit.md")
    if (parameters["op"] == ":=").any():
        csv(_with_bootstrap(parameters[parameters["op"] == ":="], boot), "indirect_effects.csv")
        markdown(
            apa_parameters(
                stage2,
                f"Defined parameters (indirect effects) of {name}",
                which="defined",
                bootstrap=boot,
            ),
            "indirect_effects.md",
        )
    else:
        notes.append("the model has no := definitions, so no indirect-effects table was written")
    written += _write_diagram(out, fit, notes)
    return written, notes


def _write_diagram(out: Path, fit: _Fit, notes: list[str]) -> list[str]:
    """The path diagram as Graphviz source, PNG (300 dpi), SVG and PDF."""
    import graphviz

    from masem.plots import path_diagram, save_diagram

    constructs = fit.database.constructs
    title = f"{fit.model.title}: standardized estimates"
    if fit.database.simulated:
        title += " (simulated studies)"
    diagram = path_diagram(
        fit.stage2, title=title, names=dict(zip(constructs["code"], constructs["name"]))
    )
    (out / "path_diagram.gv").write_text(diagram.source, encoding="utf-8")
    try:
        save_diagram(diagram, out / "path_diagram.png", dpi=_PNG_DPI, formats=("svg", "pdf"))
    except graphviz.ExecutableNotFound:
        notes.append(
            "graphviz's `dot` program was not found, so only path_diagram.gv was written; install "
            "graphviz (e.g. apt-get install graphviz) and run `dot -Tpng -Gdpi=300 "
            "path_diagram.gv -o path_diagram.png`"
        )
        return ["path_diagram.gv"]
    return ["path_diagram.gv", "path_diagram.png", "path_diagram.svg", "path_diagram.pdf"]


# ----------------------------------------------------------------------------------------------
# summary.txt
# ----------------------------------------------------------------------------------------------


def _number(value: float, digits: int = 3, undefined: str = "not defined") -> str:
    return undefined if value is None or math.isnan(value) else f"{value:.{digits}f}"


def fit_line(stage2: TSSEM2Result) -> str:
    """The stage-2 fit in one line, as APA writes it; df = 0 is a saturated model (no test)."""
    fit = stage2.fit_stats()
    if fit["df"] == 0:
        text = (
            f"saturated model (df = 0): chi2 = {fit['chi2']:.2f} with no test of fit (no "
            f"p-value), SRMR = {_number(fit['SRMR'])}, CFI = {_number(fit['CFI'])}; RMSEA and "
            "TLI not defined (df = 0)"
        )
    else:
        text = (
            f"chi2({fit['df']:g}) = {fit['chi2']:.2f}, p {p_in_text(fit['p_value'])}, "
            f"RMSEA = {_number(fit['RMSEA'])} {format_ci(fit['RMSEA_lower'], fit['RMSEA_upper'])}, "
            f"SRMR = {_number(fit['SRMR'])}, CFI = {_number(fit['CFI'])}, "
            f"TLI = {_number(fit['TLI'])}"
        )
    return text + ("" if stage2.converged else f"; NOT converged: {stage2.message}")


def summary_text(args: argparse.Namespace, fit: _Fit, written: list[str], notes: list[str]) -> str:
    """What ``masem run`` prints and writes to summary.txt."""
    stage1, stage2, boot = fit.stage1, fit.stage2, fit.boot
    source = source_text(fit.database)
    lines = [f"masem run: {args.model} ({fit.model.title}) on {args.data}"]
    if source:
        lines.append(f"  data: {source}")
    lines += fit.report.splitlines()
    lines.append(
        f"  stage 1 ({stage1.method}): {stage1.n_studies} studies, N = {stage1.total_n:,}, "
        f"{len(stage1.variables)} variables ({', '.join(stage1.variables)}), "
        f"{'converged' if stage1.converged else 'NOT converged: ' + stage1.message}"
    )
    if stage1.Q is not None:
        lines.append(
            f"    heterogeneity: Q({stage1.Q_df}) = {stage1.Q:.1f}, p {p_in_text(stage1.Q_p)}"
        )
    lines.append(f"  stage 2: {fit_line(stage2)}")
    defined = stage2.inspect()
    defined = defined[defined["op"] == ":="]
    if len(defined):
        how = "profile-likelihood" if stage2.intervals == "profile" else "Wald"
        extra = (
            f"; bootstrap percentile, {boot.n_boot} replications, seed {boot.seed}" if boot else ""
        )
        lines.append(f"  defined parameters (estimate, 95% {how} CI{extra}):")
        rows = _with_bootstrap(defined, boot)
        width = max(len(label) for label in rows["label"])
        for row in rows.to_dict("records"):
            interval = format_ci(row["ci.lower"], row["ci.upper"])
            line = f"    {row['label']:<{width}}  {row['Estimate']:7.3f}  {interval}"
            if boot is not None:
                line += f"  {format_ci(row['boot.lower'], row['boot.upper'])}"
            lines.append(line)
    lines += [f"  note: {note}" for note in notes]
    lines.append(
        f"  wrote {len(written) + 1} files to {args.out}: {', '.join(written + ['summary.txt'])}"
    )
    return "\n".join(_wrapped(line) for line in lines)


def _wrapped(line: str) -> str:
    """A line of summary.txt wrapped at 110 characters, continued 4 spaces further in."""
    if len(line) <= _WIDTH:
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 4)
    return textwrap.fill(line, _WIDTH, subsequent_indent=indent)
