"""The ``masem`` command: the whole MASEM pipeline on a data folder, and a check of a data folder.

``masem run`` reads and validates a study database (:func:`masem.read_database`), pools the
correlation matrices of the model's variables (:func:`masem.tssem1`), fits the lavaan model
(:func:`masem.tssem2`), optionally bootstraps its parameters and ``:=`` definitions
(:func:`masem.tssem.indirect`), and writes every table as CSV (full precision, for further analysis)
and Markdown (APA style, :mod:`masem.report.tables`), plus the path diagram. ``masem validate``
reads a
folder and prints a summary of the evidence it holds, or the first problem found.

Exit codes: 0 success, 1 a problem with the data, the model or a file (the message says which and
what to do), 2 a wrong command line (argparse's usage message).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from masem import __version__
from masem.data import StudyDatabase, read_database
from masem.errors import DataError, ModelError, collect_notes
from masem.model import lavaan_to_ram
from masem.report.tables import (
    apa_correlations,
    apa_fit,
    apa_parameters,
    apa_stage1,
    export_table,
    format_ci,
    format_p,
)
from masem.tssem.indirect import BootstrapResult, indirect
from masem.tssem.stage1 import TSSEM1Result, tssem1
from masem.tssem.stage2 import TSSEM2Result, tssem2

__all__ = ["build_parser", "describe_database", "main"]

_RUN_EXAMPLES = """\
examples:
  masem run --data data/individual --model models/full_mediation.lav --out results/full
  masem run --data my_studies --model my_model.lav --out results --method FEM
  masem run --data data/team --model models/team_full_mediation.lav --out results/team \\
            --intervals profile --bootstrap 2000 --seed 1 --jobs 2

files written to OUT (existing files of these names are replaced):
  stage1_pooled.csv / .md       pooled correlation matrix (Markdown: APA lower triangle)
  stage1_summary.csv / .md      one row per pooled correlation: r, SE, CI, tau2, I2, k, N
  stage2_parameters.csv / .md   paths, covariances and := definitions with SE, p, intervals
  stage2_fit.csv / .md          chi2, df, RMSEA (90% CI), SRMR, CFI, TLI, AIC, BIC
  indirect_effects.csv / .md    the model's := definitions (with --bootstrap: bootstrap CIs)
  path_diagram.gv / .png / .svg the fitted model (PNG and SVG need graphviz's `dot`)
  summary.txt                   what the command printed
"""

_VALIDATE_EXAMPLES = """\
examples:
  masem validate data/individual
  masem validate data/template
  masem validate my_studies --model my_model.lav

A valid folder prints its studies, constructs, reported pairs and coverage and exits with 0;
otherwise the message names the file, line, study, column and value, and the exit code is 1.
The folder layout and columns are described in data/template/README.md.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``masem`` command (subcommands ``run`` and ``validate``)."""
    parser = argparse.ArgumentParser(
        prog="masem",
        description=(
            "Meta-analytic structural equation modelling (two-stage SEM, Cheung & Chan, 2005) on a "
            "folder of coded studies."
        ),
        epilog="Run 'masem run --help' or 'masem validate --help' for the options and examples of "
        "each.",
    )
    parser.add_argument("--version", action="version", version=f"masem {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{run,validate}", required=True)
    _add_run_command(commands)
    _add_validate_command(commands)
    return parser


def _add_run_command(commands) -> None:
    """``masem run``: its options, with examples in the epilog."""
    run = commands.add_parser(
        "run",
        help="pool the studies and fit a lavaan model; write tables and the path diagram",
        description=(
            "Read and validate the study database in DATA, pool the correlation matrices of the "
            "model's variables (TSSEM stage 1), fit the lavaan model in MODEL to the pooled matrix "
            "(stage 2), and write the tables and the path diagram to OUT."
        ),
        epilog=_RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--data",
        required=True,
        type=Path,
        metavar="DIR",
        help="study database folder (studies.csv, correlations.csv, constructs.csv, "
        "optional reliabilities.csv)",
    )
    run.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="MODEL.lav",
        help="the structural model in lavaan syntax (~, =~, ~~, labels, := definitions)",
    )
    run.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder for the results (created when absent; must not be inside DATA)",
    )
    _add_analysis_options(run)


def _add_analysis_options(run) -> None:
    """The options of ``masem run`` that choose the analysis: pooling, variables, intervals."""
    run.add_argument(
        "--method",
        type=str.upper,
        choices=["REM", "FEM"],
        default="REM",
        help="stage-1 pooling: random effects (default) or fixed effects",
    )
    run.add_argument(
        "--variables",
        nargs="+",
        metavar="CODE",
        help="construct codes to pool in stage 1 (default: the observed variables of "
        "the model, in codebook order); must include every variable of the model",
    )
    run.add_argument(
        "--intervals",
        type=str.lower,
        choices=["wald", "profile"],
        default="wald",
        help="95%% intervals of the parameters and definitions: Wald (default) or "
        "profile likelihood",
    )
    run.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="parametric-bootstrap replications for the intervals of the parameters "
        "and indirect effects (0 = none, the default; use 1000 or more, at least 100)",
    )
    run.add_argument(
        "--seed",
        type=int,
        default=2011,
        metavar="S",
        help="seed of the bootstrap draws (default 2011); the same seed gives the same result",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="J",
        help="worker processes for the bootstrap (default 1; -1 = all cores)",
    )
    run.add_argument(
        "--no-progress",
        action="store_true",
        help="do not show progress on stderr (for logs and notebooks)",
    )


def _add_validate_command(commands) -> None:
    """``masem validate``: a folder and, optionally, the model to check it against."""
    validate = commands.add_parser(
        "validate",
        help="check a study database folder and summarise it",
        description=(
            "Read DIR as a study database (masem.read_database) and print a summary of the "
            "studies, "
            "constructs, reported pairs and coverage, or the first problem found."
        ),
        epilog=_VALIDATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("folder", type=Path, metavar="DIR", help="the study database folder")
    validate.add_argument(
        "--model",
        type=Path,
        metavar="MODEL.lav",
        help="also check that the model's variables are constructs of DIR and that "
        "studies report every pair of them",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``masem`` command (also ``python -m masem``).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 when the data, the model or a file is at fault (the message is printed to
        stderr without a traceback). A wrong command line exits with 2 via argparse.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> import masem
    >>> with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
    ...     _ = masem.write_database(masem.example_data("Hunter83").database(), folder)
    ...     code = main(["validate", folder])
    >>> code
    0
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        return _validate(args)
    except (DataError, ModelError, OSError) as exc:
        message = (
            str(exc)
            if not isinstance(exc, OSError) or not exc.filename
            else f"{exc.filename}: {exc.strerror}"
        )
        print(f"masem {args.command}: error: {message}", file=sys.stderr)
        return 1


# ----------------------------------------------------------------------------------------------
# masem validate
# ----------------------------------------------------------------------------------------------


def _validate(args: argparse.Namespace) -> int:
    database = read_database(args.folder)
    print(describe_database(database, str(args.folder)))
    if args.model is not None:
        variables = _model_variables(_read_model(args.model), database)
        counts = database.pair_counts(variables).summary()
        missing = counts[counts["k"] == 0]
        if len(missing):
            pairs = ", ".join(f"{a}-{b}" for a, b in zip(missing["var1"], missing["var2"]))
            raise DataError(
                f"no study reports the pair(s) {pairs} of the model {args.model}; stage 1 cannot "
                "pool "
                "them. Code studies that report them, or change the model."
            )
        print(
            f"model {args.model}: its {len(variables)} observed variables are constructs of the "
            "folder; "
            f"every pair of them is reported by {int(counts['k'].min())} to "
            f"{int(counts['k'].max())} studies."
        )
    return 0


def describe_database(database: StudyDatabase, name: str) -> str:
    """A few lines that summarise a validated database: studies, constructs, pairs and coverage.

    Parameters
    ----------
    database : StudyDatabase
        From :func:`masem.read_database`.
    name : str
        How to call the database in the first line (e.g. the folder as the user typed it).

    Returns
    -------
    str
        What ``masem validate`` prints for a valid folder.
    """
    studies = database.studies
    n = studies["n"].to_numpy()
    pairs = database.pair_counts().summary()
    covered = pairs[pairs["k"] > 0]
    few = int(((pairs["k"] > 0) & (pairs["k"] < 3)).sum())
    lines = [
        f"{name}: a valid study database",
        f"  studies:       {len(studies):,} independent samples, total N = {int(n.sum()):,} "
        f"(median n = {np.median(n):g}, range {int(n.min()):,} to {int(n.max()):,})",
        f"  constructs:    {len(database.constructs)} ({', '.join(database.constructs['code'])})",
        f"  correlations:  {len(database.correlations):,} reported; reliabilities (alphas): "
        f"{len(database.reliabilities):,}",
        f"  pairs:         {len(covered)} of {len(pairs)} construct pairs reported by at least one "
        "study"
        f" ({100 * len(covered) / max(len(pairs), 1):.0f}%); {few} of them by fewer than 3 studies",
        "  coverage per construct (k = studies measuring it, N = their total sample size):",
    ]
    table = database.summary()[["code", "k", "n", "k_alpha"]].rename(
        columns={"n": "N", "k_alpha": "alphas reported"}
    )
    lines += ["    " + line for line in table.to_string(index=False).splitlines()]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# masem run
# ----------------------------------------------------------------------------------------------


def _read_model(path: Path) -> str:
    if not path.is_file():
        raise ModelError(
            f"{path}: model file not found; pass a text file with the model in lavaan syntax"
        )
    text = path.read_text(encoding="utf-8")
    lavaan_to_ram(text)  # a syntax error surfaces here, naming the line
    return text


def _model_variables(model: str, database: StudyDatabase) -> list[str]:
    """The model's observed variables in codebook order (they must all be constructs of the
    database).
    """
    ram = lavaan_to_ram(model)
    codes = list(database.constructs["code"])
    unknown = [v for v in ram.observed if v not in codes]
    if unknown:
        raise ModelError(
            f"the model uses {unknown}, which "
            f"{'is not a construct' if len(unknown) == 1 else 'are not constructs'} "
            f"of the database (codes: {codes}); rename the variables in the model or add them to "
            "constructs.csv"
        )
    return [c for c in codes if c in ram.observed]


class _Steps:
    """Numbered progress messages on stderr (silent with --no-progress)."""

    def __init__(self, total: int, show: bool, stream: TextIO):
        self.total, self.show, self.stream, self.done = total, show, stream, 0

    def __call__(self, what: str) -> None:
        self.done += 1
        if self.show:
            print(f"[{self.done}/{self.total}] {what}", file=self.stream, flush=True)


def _run(args: argparse.Namespace) -> int:
    if args.bootstrap != 0 and args.bootstrap < 100:
        raise DataError(
            f"--bootstrap must be 0 (none) or at least 100 replications, got {args.bootstrap}"
        )
    data, out = args.data.resolve(), args.out.resolve()
    if out == data or data in out.parents:
        raise DataError(
            f"--out {args.out} lies inside the data folder {args.data}; the study database is only "
            "read, "
            "never written: choose another folder"
        )
    steps = _Steps(5 if args.bootstrap else 4, not args.no_progress, sys.stderr)
    model = _read_model(args.model)
    steps(f"reading and validating {args.data}")
    database = read_database(args.data)
    needed = _model_variables(model, database)
    variables = needed if args.variables is None else list(args.variables)
    missing = [v for v in needed if v not in variables]
    if missing:
        raise ModelError(
            f"--variables leaves out {missing}, which the model uses; add them or drop --variables"
        )
    studies = database.matrices(variables)

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
    with collect_notes(stream=sys.stderr):
        stage2 = tssem2(stage1, model, intervals=args.intervals)
    boot = None
    if args.bootstrap:
        steps(f"parametric bootstrap: {args.bootstrap} replications (seed {args.seed})")
        with collect_notes(stream=sys.stderr):
            boot = indirect(
                stage2,
                n_boot=args.bootstrap,
                seed=args.seed,
                n_jobs=args.jobs,
                progress=not args.no_progress,
            )
    steps(f"writing tables and the path diagram to {args.out}")
    written, notes = _write_results(out, stage1, stage2, boot, args)
    text = _summary_text(args, studies.study_ids, stage1, stage2, boot, written, notes)
    (out / "summary.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


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


def _write_results(
    out: Path,
    stage1: TSSEM1Result,
    stage2: TSSEM2Result,
    boot: BootstrapResult | None,
    args: argparse.Namespace,
) -> tuple[list[str], list[str]]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    notes: list[str] = []

    def csv(frame: pd.DataFrame, name: str, index: bool = False) -> None:
        frame.to_csv(out / name, index=index, lineterminator="\n")
        written.append(name)

    def markdown(table, name: str) -> None:
        export_table(table, out / name)
        written.append(name)

    source = f"{args.data}, {args.method}"
    csv(stage1.pooled, "stage1_pooled.csv", index=True)
    markdown(
        apa_correlations(
            stage1,
            f"Pooled correlation matrix ({source})",
            note=f"TSSEM stage 1 over {stage1.n_studies} studies, N = {stage1.total_n:,}.",
        ),
        "stage1_pooled.md",
    )
    csv(stage1.summary(), "stage1_summary.csv")
    markdown(apa_stage1(stage1, f"Pooled correlations ({source})"), "stage1_summary.md")
    parameters = stage2.inspect()
    csv(_with_bootstrap(parameters, boot), "stage2_parameters.csv")
    markdown(
        apa_parameters(stage2, f"Parameter estimates of {args.model.name}", bootstrap=boot),
        "stage2_parameters.md",
    )
    csv(stage2.fit_stats().rename_axis("statistic").reset_index(name="value"), "stage2_fit.csv")
    markdown(apa_fit({args.model.name: stage2}, f"Fit of {args.model.name}"), "stage2_fit.md")
    if (parameters["op"] == ":=").any():
        csv(_with_bootstrap(parameters[parameters["op"] == ":="], boot), "indirect_effects.csv")
        markdown(
            apa_parameters(
                stage2,
                f"Defined parameters (indirect effects) of {args.model.name}",
                which="defined",
                bootstrap=boot,
            ),
            "indirect_effects.md",
        )
    else:
        notes.append("the model has no := definitions, so no indirect-effects table was written")
    written += _write_diagram(out, stage2, args.model.name, notes)
    return written, notes


def _write_diagram(out: Path, stage2: TSSEM2Result, name: str, notes: list[str]) -> list[str]:
    import graphviz

    from masem.plots import path_diagram

    diagram = path_diagram(
        stage2, title=f"{name}: standardized estimates (bold: p < .05)", show_covariances=False
    )
    (out / "path_diagram.gv").write_text(diagram.source, encoding="utf-8")
    try:
        for fmt in ("png", "svg"):
            (out / f"path_diagram.{fmt}").write_bytes(diagram.pipe(format=fmt))
    except graphviz.ExecutableNotFound:
        notes.append(
            "graphviz's `dot` program was not found, so only path_diagram.gv was written; install "
            "graphviz "
            "(e.g. apt-get install graphviz) and run `dot -Tpng path_diagram.gv -o "
            "path_diagram.png`"
        )
        return ["path_diagram.gv"]
    return ["path_diagram.gv", "path_diagram.png", "path_diagram.svg"]


def _summary_text(
    args: argparse.Namespace,
    study_ids: list[str],
    stage1: TSSEM1Result,
    stage2: TSSEM2Result,
    boot: BootstrapResult | None,
    written: list[str],
    notes: list[str],
) -> str:
    fit = stage2.fit_stats()
    lines = [
        f"masem run: {args.model} on {args.data}",
        f"  stage 1 ({stage1.method}): {len(study_ids)} studies, N = {stage1.total_n:,}, "
        f"{len(stage1.variables)} variables ({', '.join(stage1.variables)}), "
        f"{'converged' if stage1.converged else 'NOT converged: ' + stage1.message}",
    ]
    if stage1.Q is not None:
        lines.append(f"    heterogeneity: Q({stage1.Q_df}) = {stage1.Q:.1f}, p {_p(stage1.Q_p)}")
    lines.append(
        f"  stage 2: chi2({fit['df']:g}) = {fit['chi2']:.2f}, p {_p(fit['p_value'])}, "
        f"RMSEA = {fit['RMSEA']:.3f} {format_ci(fit['RMSEA_lower'], fit['RMSEA_upper'])}, "
        f"SRMR = {fit['SRMR']:.3f}, CFI = {fit['CFI']:.3f}, TLI = {fit['TLI']:.3f}"
        + ("" if stage2.converged else f"; NOT converged: {stage2.message}")
    )
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
    return "\n".join(
        textwrap.fill(line, 110, subsequent_indent="      ") if len(line) > 110 else line
        for line in lines
    )


def _p(p: float) -> str:
    text = format_p(p)
    return text if text.startswith(("<", ">")) else f"= {text}"


if __name__ == "__main__":
    sys.exit(main())
