"""What ``masem validate`` and ``masem run`` check before any statistics: the model file, the
variables it needs, and the studies that enter stage 1.

Both commands take the same decisions with the same words, so a folder that ``validate`` passes
runs; every message names the file, the line(s), the study and the value, and the command-line
option that changes the decision (``--method REM``, ``--exclude``, ``--keep-nonpd``).
"""

from __future__ import annotations

import argparse
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from masem._util import did_you_mean
from masem.data import StudyDatabase, StudyMatrices
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.model import RAMModel, lavaan_to_ram

_TITLE = re.compile(r"^\s*#\s*title\s*:\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Model:
    """A model file: its path, its text, the parsed model and its name for titles."""

    path: Path
    text: str
    ram: RAMModel
    title: str


def model_title(syntax: str, path: str | Path) -> str:
    """The name of a model in table titles and figure captions.

    The text of the first ``# title: ...`` comment line of the model, else the file's name
    without its folder and extension (``models/full_mediation.lav`` -> ``full_mediation``).

    Parameters
    ----------
    syntax : str
        The model in lavaan syntax.
    path : str or pathlib.Path
        The file it was read from.

    Returns
    -------
    str

    Examples
    --------
    >>> model_title("# title: Empowerment as mediator\\nPE ~ HPWP", "m1.lav")
    'Empowerment as mediator'
    >>> model_title("PE ~ HPWP", "models/full_mediation.lav")
    'full_mediation'
    """
    found = _TITLE.search(syntax)
    return found.group(1) if found and found.group(1) else Path(path).stem


@contextmanager
def about_model(path: Path) -> Iterator[None]:
    """Prefix every ModelError raised inside with the model file (``file, line 3: ...``)."""
    try:
        yield
    except ModelError as exc:
        message = str(exc)
        if message.startswith(str(path)):
            raise
        joint = ", " if message.startswith("line ") else ": "
        raise ModelError(f"{path}{joint}{message}") from None


def read_model(path: Path) -> Model:
    """Read and parse a model file; a syntax error names the file and the line."""
    if not path.is_file():
        raise ModelError(
            f"{path}: model file not found; pass a text file with the model in lavaan syntax"
        )
    text = path.read_text(encoding="utf-8")
    with about_model(path):
        ram = lavaan_to_ram(text)
    return Model(path, text, ram, model_title(text, path))


def lines_of(model: Model, variable: str) -> list[int]:
    """The lines of the model that mention ``variable`` (from the parsed statements)."""
    return sorted({c.line for c in model.ram.cells if c.line and variable in (c.row, c.col)})


def _line_text(lines: list[int]) -> str:
    if not lines:
        return ""
    return f"line {lines[0]}" if len(lines) == 1 else f"lines {', '.join(map(str, lines))}"


def model_variables(model: Model, database: StudyDatabase) -> list[str]:
    """The model's observed variables in codebook order; each must be a construct code."""
    codes = list(database.constructs["code"])
    unknown = [v for v in model.ram.observed if v not in codes]
    if unknown:
        parts = []
        for name in unknown:
            hint = did_you_mean(name, codes)
            where = _line_text(lines_of(model, name))
            parts.append(f"{where + ': ' if where else ''}'{name}'{f' ({hint})' if hint else ''}")
        raise ModelError(
            f"{model.path}, {'; '.join(parts)}: not "
            f"{'a construct' if len(unknown) == 1 else 'constructs'} of the database (codes are "
            f"case-sensitive: {', '.join(codes)}). Rename the variable in the model or add it to "
            "constructs.csv."
        )
    return [c for c in codes if c in model.ram.observed]


def chosen_variables(
    needed: list[str], requested: list[str] | None, database: StudyDatabase
) -> list[str]:
    """The variables to pool: the model's, or ``--variables`` (which must include them)."""
    if requested is None:
        return needed
    codes = list(database.constructs["code"])
    _refuse_unknown(
        "--variables",
        requested,
        codes,
        ("a construct", "constructs"),
        f"of the database; its codes are {', '.join(codes)}",
    )
    missing = [v for v in needed if v not in requested]
    if missing:
        raise ModelError(
            f"--variables leaves out {missing}, which the model uses; add them or drop --variables"
        )
    return list(dict.fromkeys(requested))


def _refuse_unknown(
    option: str, given: list[str], known: list[str], kind: tuple[str, str], where: str
) -> None:
    """``--variables: 'js' (did you mean 'JS'?) is not a construct ...``, for every value of an
    option that is not among ``known``.
    """
    unknown = [name for name in given if name not in known]
    if not unknown:
        return
    listed = []
    for name in unknown:
        hint = did_you_mean(name, known)
        listed.append(f"'{name}'" + (f" ({hint})" if hint else ""))
    verb = f"is not {kind[0]}" if len(unknown) == 1 else f"are not {kind[1]}"
    raise DataError(f"{option}: {', '.join(listed)} {verb} {where}.")


def without_excluded(database: StudyDatabase, exclude: list[str] | None) -> StudyDatabase:
    """The database without the studies of ``--exclude`` (each must be a study_id)."""
    if not exclude:
        return database
    ids = list(database.studies["study_id"])
    _refuse_unknown(
        "--exclude",
        exclude,
        ids,
        ("a study_id", "study_ids"),
        f"of studies.csv ({len(ids)} studies, {ids[0]} ... {ids[-1]})",
    )
    if len(set(exclude)) == len(ids):
        raise DataError("--exclude leaves no study; exclude fewer studies.")
    return database.subset(exclude=list(dict.fromkeys(exclude)))


def select_studies(
    database: StudyDatabase, variables: list[str], args: argparse.Namespace
) -> tuple[StudyMatrices, list[str]]:
    """The studies for stage 1, and the lines the command adds to the selection report.

    Refuses, with the command-line options that change the decision: a study whose correlations
    are not positive definite (unless ``--keep-nonpd`` with REM) and, for ``--method FEM``, a
    study that measured two constructs without reporting their correlation.
    """
    with warnings.catch_warnings():
        # The command decides about such studies itself (an error, or a line of the report).
        warnings.simplefilter("ignore", ConvergenceWarning)
        studies = database.matrices(variables)
    selection = studies.selection
    extra = []
    if args.exclude:
        extra.append(f"  excluded:  {', '.join(dict.fromkeys(args.exclude))} (--exclude)")
    if selection.nonpd:
        ids = " ".join(sid for sid, _, _ in selection.nonpd)
        if not args.keep_nonpd:
            raise DataError(
                f"not positive definite: {selection.nonpd_text()}. Such correlations cannot come "
                "from one sample; check the rows for a typo (a sign or a swapped digit). To go on "
                f"without {'the study' if len(selection.nonpd) == 1 else 'them'}, add --exclude "
                f"{ids}; to keep {'it' if len(selection.nonpd) == 1 else 'them'} (random-effects "
                "pooling uses each correlation on its own), add --keep-nonpd."
            )
        if args.method == "FEM":
            raise DataError(
                f"--keep-nonpd works with --method REM only: fixed-effects pooling needs positive "
                f"definite study matrices, and these are not: {selection.nonpd_text()}. Use "
                f"--method REM --keep-nonpd, or leave them out with --exclude {ids}."
            )
        extra.append("  kept although not positive definite (--keep-nonpd): " + ids)
    if args.method == "FEM" and selection.unreported:
        _refuse_fem(database, selection)
    return studies, extra


def _refuse_fem(database: StudyDatabase, selection) -> None:
    ids = selection.unreported_studies()
    rows = "; ".join(
        f"{sid} ({selection.where.get(sid, '')}) does not report {pairs}"
        for sid, pairs in _pairs_by_study(selection).items()
    )
    raise DataError(
        "--method FEM needs every correlation between the constructs a study measured, but "
        f"{len(ids)} {'study leaves' if len(ids) == 1 else 'studies leave'} one out: {rows}. "
        "Use --method REM (random-effects pooling uses the correlations each study reports), "
        f"leave {'it' if len(ids) == 1 else 'them'} out with --exclude {' '.join(ids)}, or add "
        "the missing correlations to correlations.csv if the studies report them."
    )


def _pairs_by_study(selection) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for sid, a, b in selection.unreported:
        out.setdefault(sid, []).append(f"r({a}, {b})")
    return {sid: ", ".join(pairs) for sid, pairs in out.items()}


def check_pairs(database: StudyDatabase, variables: list[str], model: Model) -> tuple[int, int]:
    """Every pair of the model's variables is reported by a study; returns the fewest and most
    studies per pair.
    """
    counts = database.pair_counts(variables).summary()
    missing = counts[counts["k"] == 0]
    if len(missing):
        pairs = []
        for a, b in zip(missing["var1"], missing["var2"]):
            lines = sorted(set(lines_of(model, a)) | set(lines_of(model, b)))
            pairs.append(f"{a}-{b} ({_line_text(lines)})" if lines else f"{a}-{b}")
        raise DataError(
            f"{model.path}: no study reports the correlation of {', '.join(pairs)}, so stage 1 "
            f"cannot pool {'it' if len(pairs) == 1 else 'them'}. Code studies that report "
            f"{'it' if len(pairs) == 1 else 'them'}, or leave one variable of each such pair out "
            "of the model."
        )
    return int(counts["k"].min()), int(counts["k"].max())


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
        What ``masem validate`` prints for a valid folder, before its report of the studies.

    Examples
    --------
    >>> import masem
    >>> print(describe_database(masem.example_data("Becker92").database(), "Becker92"))
    Becker92: a valid study database
      studies:       6 independent samples, total N = 538 (median n = 72, range 69 to 153)
      constructs:    3 (Math, Spatial, Verbal)
      correlations:  18 reported; reliabilities (alphas): 0; measured without a correlation: 0
      pairs:         3 of 3 construct pairs reported (100%), 0 of them by fewer than 3 studies
      coverage per construct (k = studies measuring it, N = their total sample size):
           code  k   N  alphas reported
           Math  6 538                0
        Spatial  6 538                0
         Verbal  6 538                0
    """
    studies = database.studies
    n = studies["n"].to_numpy()
    pairs = database.pair_counts().summary()
    covered = pairs[pairs["k"] > 0]
    few = int(((pairs["k"] > 0) & (pairs["k"] < 3)).sum())
    empty = sorted(set(studies["study_id"]) - set(database.correlations["study_id"]))
    lines = [
        f"{name}: a valid study database",
        f"  studies:       {len(studies):,} independent samples, total N = {int(n.sum()):,} "
        f"(median n = {np.median(n):g}, range {int(n.min()):,} to {int(n.max()):,})"
        + (f"; {len(empty)} without any correlation" if empty else ""),
        f"  constructs:    {len(database.constructs)} ({', '.join(database.constructs['code'])})",
        f"  correlations:  {len(database.correlations):,} reported; reliabilities (alphas): "
        f"{len(database.reliabilities):,}; measured without a correlation: "
        f"{_measured_only(database):,}",
        f"  pairs:         {len(covered)} of {len(pairs)} construct pairs reported "
        f"({100 * len(covered) / max(len(pairs), 1):.0f}%), {few} of them by fewer than 3 studies",
    ]
    source = source_text(database)
    if source:
        lines.append(f"  source:        {source}")
    lines.append(
        "  coverage per construct (k = studies measuring it, N = their total sample size):"
    )
    table = database.summary()[["code", "k", "n", "k_alpha"]].rename(
        columns={"n": "N", "k_alpha": "alphas reported"}
    )
    lines += ["    " + line for line in table.to_string(index=False).splitlines()]
    return "\n".join(lines)


def _measured_only(database: StudyDatabase) -> int:
    """Constructs listed in measured.csv for a study that reports no correlation with them."""
    correlated = set(zip(database.correlations["study_id"], database.correlations["var1"])) | set(
        zip(database.correlations["study_id"], database.correlations["var2"])
    )
    listed = zip(database.measured["study_id"], database.measured["variable"])
    return sum(pair not in correlated for pair in listed)


def source_text(database: StudyDatabase) -> str:
    """Where the studies come from, from the database's metadata ("" when it says nothing)."""
    source = str(database.metadata.get("source", ""))
    if database.simulated:
        return f"simulated studies ({source})" if source else "simulated studies"
    return source
