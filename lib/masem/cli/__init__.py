"""The ``masem`` command: the whole MASEM pipeline on a data folder, and a check of a data folder.

``masem run`` reads and validates a study database (:func:`masem.read_database`), pools the
correlation matrices of the model's variables (:func:`masem.tssem1`), fits the lavaan model
(:func:`masem.tssem2`), optionally bootstraps its parameters and ``:=`` definitions
(:func:`masem.tssem.indirect`), and writes every table as CSV (full precision, for further
analysis) and Markdown (APA style, :mod:`masem.report.tables`), plus the path diagram.
``masem validate`` reads a folder, takes the same decisions about its studies as ``run`` and
prints a summary of the evidence, or the problem found.

Both print one block that says which studies enter stage 1 and which do not, and why (see
:meth:`masem.StudyMatrices.report`). A study whose correlations are not positive definite is an
error unless ``--keep-nonpd`` keeps it for random-effects pooling; ``--exclude`` leaves studies
out; fixed-effects pooling (``--method FEM``) refuses a study that measured two constructs
without reporting their correlation.

Exit codes: 0 success, 1 a problem with the data, the model or a file (the message says which and
what to do), 2 a wrong command line (argparse's usage message).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from masem import __version__
from masem.cli._inputs import (
    check_pairs,
    describe_database,
    model_title,
    model_variables,
    read_model,
    select_studies,
    without_excluded,
)
from masem.cli._run import run
from masem.data import read_database
from masem.errors import DataError, ModelError

__all__ = ["build_parser", "command_line_words", "describe_database", "main", "model_title"]

_RUN_EXAMPLES = """\
examples:
  masem run --data data/individual --model models/full_mediation.lav --out results/full
  masem run --data my_studies --model my_model.lav --out results --method FEM
  masem run --data my_studies --model my_model.lav --out results --exclude S12 S40
  masem run --data data/team --model models/team_full_mediation.lav --out results/team \\
            --intervals profile --bootstrap 2000 --seed 1 --jobs 2

(without the environment active, type .venv/bin/masem instead of masem)

files written to OUT (existing files of these names are replaced):
  stage1_pooled.csv / .md       pooled correlation matrix (Markdown: APA lower triangle)
  stage1_summary.csv / .md      one row per pooled correlation: r, SE, CI, tau2, I2, k, N
  stage2_parameters.csv / .md   paths, covariances and := definitions with SE, p, intervals
  stage2_fit.csv / .md          chi2, df, p, RMSEA (90% CI), SRMR, CFI, TLI, AIC, BIC
  indirect_effects.csv / .md    the model's := definitions (with --bootstrap: bootstrap CIs)
  path_diagram.gv / .png / .svg / .pdf
                                the fitted model (PNG at 300 dpi; PNG, SVG and PDF need
                                graphviz's `dot`)
  summary.txt                   what the command printed

A '# title: ...' line in MODEL names the model in table titles and the diagram's caption
(default: the file name without .lav).
"""

_VALIDATE_EXAMPLES = """\
examples:
  masem validate data/individual
  masem validate data/template --model data/template/model.lav
  masem validate my_studies --model my_model.lav --method FEM

(without the environment active, type .venv/bin/masem instead of masem)

A valid folder prints its studies, constructs, reported pairs and coverage, and which studies
stage 1 would use (for the model's variables, else for every construct), and exits with 0;
otherwise the message names the file, line, study and value, and the exit code is 1. The folder
layout and columns are described in data/template/README.md.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``masem`` command (subcommands ``run`` and ``validate``).

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> args = build_parser().parse_args(["validate", "data/template", "--exclude", "EX03"])
    >>> args.method, args.exclude, args.keep_nonpd
    ('REM', ['EX03'], False)
    """
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
    run_ = commands.add_parser(
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
    run_.add_argument(
        "--data",
        required=True,
        type=Path,
        metavar="DIR",
        help="study database folder (studies.csv, correlations.csv, constructs.csv, "
        "optional reliabilities.csv, measured.csv, metadata.json)",
    )
    run_.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="MODEL.lav",
        help="the structural model in lavaan syntax (~, =~, ~~, labels, := definitions)",
    )
    run_.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder for the results (created when absent; must not be inside DATA)",
    )
    _add_study_options(run_)
    _add_analysis_options(run_)


def _add_study_options(command) -> None:
    """The options both commands share: the pooling method and which studies to use."""
    command.add_argument(
        "--method",
        type=str.upper,
        choices=["REM", "FEM"],
        default="REM",
        help="stage-1 pooling: random effects (default) or fixed effects",
    )
    command.add_argument(
        "--exclude",
        nargs="+",
        metavar="STUDY",
        help="study_ids to leave out (e.g. a study whose correlations are not positive definite)",
    )
    command.add_argument(
        "--keep-nonpd",
        action="store_true",
        help="keep a study whose correlations are not positive definite (REM only; by default "
        "such a study is an error, since it usually holds a typo)",
    )


def _add_analysis_options(run_) -> None:
    """The options of ``masem run`` that choose the analysis: variables, intervals, bootstrap."""
    run_.add_argument(
        "--variables",
        nargs="+",
        metavar="CODE",
        help="construct codes to pool in stage 1 (default: the observed variables of "
        "the model, in codebook order); must include every variable of the model",
    )
    run_.add_argument(
        "--intervals",
        type=str.lower,
        choices=["wald", "profile"],
        default="wald",
        help="95%% intervals of the parameters and definitions: Wald (default) or "
        "profile likelihood",
    )
    run_.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="parametric-bootstrap replications for the intervals of the parameters "
        "and indirect effects (0 = none, the default; use 1000 or more, at least 100)",
    )
    run_.add_argument(
        "--seed",
        type=int,
        default=2011,
        metavar="S",
        help="seed of the bootstrap draws (default 2011); the same seed gives the same result",
    )
    run_.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="J",
        help="worker processes for the bootstrap (default 1; -1 = all cores)",
    )
    run_.add_argument(
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
            "Read DIR as a study database (masem.read_database), take the decisions 'masem run' "
            "takes about its studies, and print a summary of the studies, constructs, reported "
            "pairs and coverage, or the problem found."
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
    _add_study_options(validate)


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
            return run(args)
        return _validate(args)
    except (DataError, ModelError, OSError) as exc:
        message = (
            str(exc)
            if not isinstance(exc, OSError) or not exc.filename
            else f"{exc.filename}: {exc.strerror}"
        )
        print(f"masem {args.command}: error: {command_line_words(message)}", file=sys.stderr)
        return 1


# What the library's messages call an argument, and what the command calls it.
_WORDS = (
    # the library names a study "'label' (matrices[i])"; run keys the matrices by study_id
    (re.compile(r"(?:study )?'([^']*)' \(matrices\[\d+\]\)"), r"study '\1'"),
    (re.compile(r"matrices\[\d+\] \('([^']*)'\)"), r"study '\1'"),
    (re.compile(r"\bmethod='(REM|FEM)'"), r"--method \1"),
    (re.compile(r"\bintervals='(wald|profile)'"), r"--intervals \1"),
)


def command_line_words(message: str) -> str:
    """A library message in the command's words: studies by id, options as they are typed.

    Parameters
    ----------
    message : str

    Returns
    -------
    str

    Examples
    --------
    >>> command_line_words("'EX03' (matrices[2]) is not positive definite; use method='REM'")
    "study 'EX03' is not positive definite; use --method REM"
    """
    for pattern, words in _WORDS:
        message = pattern.sub(words, message)
    return message


def _validate(args: argparse.Namespace) -> int:
    """``masem validate``: every check first, then the summary (nothing printed on failure)."""
    database = without_excluded(read_database(args.folder), args.exclude)
    model = read_model(args.model) if args.model is not None else None
    variables = model_variables(model, database) if model else list(database.constructs["code"])
    studies, extra = select_studies(database, variables, args)
    if model is not None:
        fewest, most = check_pairs(database, variables, model)
    print(describe_database(database, str(args.folder)))
    if model is not None:
        print(
            f"model {args.model} ({model.title}): its {len(variables)} observed variables are "
            f"constructs of the folder; every pair of them is reported by {fewest} to {most} "
            "studies."
        )
    print(studies.selection.report(extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
