"""The study database: four CSV files, validated, and their conversion to per-study matrices.

A database is a folder with

``studies.csv``        one row per independent sample: ``study_id``, ``n`` and any moderators;
``correlations.csv``   one row per reported correlation: ``study_id``, ``var1``, ``var2``, ``r``
                       (and optionally the pairwise ``n``);
``constructs.csv``     the codebook: ``code``, ``name`` and any description columns;
``reliabilities.csv``  optional, one row per reported reliability: ``study_id``, ``variable``,
                       ``alpha``.

:func:`read_database` validates everything up front so that the estimators never see a typo; each
message names the file, its line (1-based, as a spreadsheet or editor shows it), the study, the
column and the offending value, and says what to do. The library never writes to the folder it
reads; :func:`write_database` writes a database to a folder of your choice.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from masem._util import frozen
from masem.data.cordata import CorData, cor_data
from masem.errors import DataError

__all__ = [
    "PairCounts",
    "StudyDatabase",
    "StudyMatrices",
    "read_database",
    "write_database",
]

_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_REQUIRED = {
    "studies": ("study_id", "n"),
    "correlations": ("study_id", "var1", "var2", "r"),
    "reliabilities": ("study_id", "variable", "alpha"),
    "constructs": ("code", "name"),
}
# Columns kept as text even when they look numeric (an id "007" must stay "007").
_TEXT = {
    "studies": ("study_id",),
    "correlations": ("study_id", "var1", "var2"),
    "reliabilities": ("study_id", "variable"),
    "constructs": ("code", "name"),
}
_ROW_UNIT = {
    "studies": "independent sample",
    "correlations": "reported correlation",
    "reliabilities": "reported reliability",
    "constructs": "construct",
}
# Smallest eigenvalue below which a study's matrix counts as not positive definite: anything
# smaller is numerically singular for the Olkin-Siotani and ML computations downstream.
_PD_TOL = 1e-8
_DECIMALS = {"r": 3, "alpha": 3}


# ----------------------------------------------------------------------------------------------
# Reading one table
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Table:
    """One input table: its text form (for validation and messages) and its typed form."""

    name: str  # file path or "<kind> frame", used in every message
    kind: str  # studies / correlations / reliabilities / constructs
    raw: pd.DataFrame  # every cell as stripped text, "" = empty
    typed: pd.DataFrame  # pandas' own type inference
    where: Callable[[object], str]  # index label -> "line 7" (files) or "row 5" (frames)

    def fail(self, index: object, message: str) -> DataError:
        return DataError(f"{self.name}, {self.where(index)}: {message}")


def _read_table(path: Path, kind: str, *, optional: bool = False) -> _Table | None:
    """Parse one CSV file; None when an optional file is absent."""
    if not path.is_file():
        if optional:
            return None
        raise DataError(
            f"{path}: file not found. A study database folder needs studies.csv, "
            "correlations.csv and constructs.csv (reliabilities.csv is optional); "
            "see data/README.md for the columns of each."
        )
    blob = path.read_bytes()
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = blob[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: not valid UTF-8 (byte 0x{blob[exc.start]:02x} at position "
            f"{exc.start}). Save the file as UTF-8 (in Excel: 'CSV UTF-8')."
        ) from None
    if not text.strip():
        raise DataError(
            f"{path}: the file is empty. It needs a header row with the columns "
            f"{', '.join(_REQUIRED[kind])} and one row per {_ROW_UNIT[kind]}."
        )
    try:
        raw = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False
        )
        typed = pd.read_csv(
            io.StringIO(text),
            skip_blank_lines=False,
            dtype={c: str for c in _TEXT[kind]},
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(
            f"{path}: cannot be parsed as CSV ({exc}). Check quoting and separators."
        ) from None
    raw.columns = [str(c).strip() for c in raw.columns]
    typed.columns = raw.columns
    raw = raw.apply(lambda col: col.str.strip())
    # Blank lines stay in the frame (so index + 2 is the line number) and are dropped here.
    keep = (raw != "").any(axis=1)
    return _Table(str(path), kind, raw[keep], typed[keep], lambda i: f"line {int(i) + 2}")


def _frame_table(frame: pd.DataFrame, kind: str) -> _Table:
    """Wrap an in-memory DataFrame so it is validated exactly like a file."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"the {kind} table must be a pandas DataFrame, got {type(frame).__name__}.")
    # Unique labels let messages name "row <label>" unambiguously.
    typed = frame.copy() if frame.index.is_unique else frame.reset_index(drop=True)
    typed.columns = [str(c).strip() for c in typed.columns]
    raw = typed.apply(lambda col: col.map(lambda v: "" if pd.isna(v) else str(v).strip()))
    return _Table(f"<{kind} frame>", kind, raw, typed, lambda i: f"row {i}")


# ----------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------
def _more(n_bad: int) -> str:
    return (
        f" ({n_bad - 1} more row{'s' if n_bad > 2 else ''} with the same problem)"
        if n_bad > 1
        else ""
    )


def _study_of(table: _Table, index: object) -> str:
    if "study_id" in table.raw.columns:
        return f", study '{table.raw.at[index, 'study_id']}'"
    return ""


def _check_columns(table: _Table, *, allow_empty: bool = False) -> None:
    missing = [c for c in _REQUIRED[table.kind] if c not in table.raw.columns]
    if missing:
        raise DataError(
            f"{table.name}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)}; the header has {list(table.raw.columns)}. "
            f"Required columns: {', '.join(_REQUIRED[table.kind])}."
        )
    if not allow_empty and table.raw.empty:
        raise DataError(f"{table.name}: the file has a header but no rows; add at least one row.")
    for col in _REQUIRED[table.kind]:
        bad = table.raw.index[table.raw[col] == ""]
        if len(bad):
            raise table.fail(
                bad[0], f"column '{col}' is empty{_more(len(bad))}; every row needs a {col}."
            )


def _numbers(table: _Table, col: str, what: str) -> pd.Series:
    """A text column as floats; a non-number is an error naming the row and value."""
    text = table.raw[col]
    values = pd.to_numeric(text, errors="coerce")
    bad = text.index[values.isna() & (text != "")]
    if len(bad):
        i = bad[0]
        hint = " Use a decimal point, not a comma." if "," in text[i] else ""
        raise table.fail(
            i,
            f"{what}{_study_of(table, i)}: column '{col}' has value '{text[i]}', which is not a "
            f"number{_more(len(bad))}.{hint}",
        )
    # Python's own parser rounds each decimal correctly, so values round-trip exactly.
    return pd.Series([float(t) if t != "" else np.nan for t in text], index=text.index)


def _sample_sizes(table: _Table, col: str) -> pd.Series:
    empty = table.raw.index[table.raw[col] == ""]
    if len(empty):
        raise table.fail(
            empty[0],
            f"study '{table.raw.at[empty[0], 'study_id']}': column '{col}' is "
            f"empty{_more(len(empty))};"
            " every row needs its sample size.",
        )
    values = _numbers(table, col, "sample size")
    fractional = values.index[(values % 1 != 0) & values.notna()]
    if len(fractional):
        i = fractional[0]
        raise table.fail(
            i,
            f"study '{table.raw.at[i, 'study_id']}': {col} = {table.raw.at[i, col]} is not a whole "
            f"number{_more(len(fractional))}; enter the number of participants (or teams) as an "
            "integer.",
        )
    small = values.index[values <= 3]
    if len(small):
        i = small[0]
        raise table.fail(
            i,
            f"study '{table.raw.at[i, 'study_id']}': {col} = {table.raw.at[i, col]} is too small"
            f"{_more(len(small))}; a correlation needs n > 3 (its Fisher-z variance is 1 / (n - "
            "3)).",
        )
    return values.astype("int64")


def _known(table: _Table, col: str, allowed: set[str], what: str, fix: str) -> None:
    bad = table.raw.index[~table.raw[col].isin(allowed)]
    if len(bad):
        i = bad[0]
        raise table.fail(
            i,
            f"{what}{_study_of(table, i) if col != 'study_id' else ''}: column '{col}' has value "
            f"'{table.raw.at[i, col]}'{_more(len(bad))}; {fix}",
        )


def _validate_constructs(table: _Table) -> None:
    _check_columns(table)
    codes = table.raw["code"]
    bad = codes.index[~codes.map(lambda c: bool(_CODE.match(c)))]
    if len(bad):
        raise table.fail(
            bad[0],
            f"construct code '{codes[bad[0]]}' is not usable as a variable name; use letters, "
            "digits "
            "and '_' only, starting with a letter (e.g. PE_MEA).",
        )
    dup = codes.index[codes.duplicated()]
    if len(dup):
        first = codes.index[codes == codes[dup[0]]][0]
        raise table.fail(
            dup[0],
            f"construct code '{codes[dup[0]]}' repeats the code on {table.where(first)}; each code "
            "must be defined once.",
        )


def _validate_studies(table: _Table) -> pd.Series:
    _check_columns(table)
    ids = table.raw["study_id"]
    dup = ids.index[ids.duplicated()]
    if len(dup):
        first = ids.index[ids == ids[dup[0]]][0]
        raise table.fail(
            dup[0],
            f"study_id '{ids[dup[0]]}' repeats the study on {table.where(first)}; give each "
            "independent sample its own study_id (e.g. 12a, 12b).",
        )
    return _sample_sizes(table, "n")


def _validate_correlations(table: _Table, studies: set[str], codes: set[str]) -> pd.Series:
    _check_columns(table)
    raw = table.raw
    _known(
        table, "study_id", studies, "correlation row", "add the study to studies.csv or fix the id."
    )
    for col in ("var1", "var2"):
        _known(
            table,
            col,
            codes,
            "unknown construct",
            "add it to constructs.csv or use one of its codes (codes are case-sensitive).",
        )
    same = raw.index[raw["var1"] == raw["var2"]]
    if len(same):
        i = same[0]
        raise table.fail(
            i,
            f"study '{raw.at[i, 'study_id']}': var1 and var2 are both '{raw.at[i, 'var1']}'; a row "
            "must correlate two different constructs.",
        )
    r = _numbers(table, "r", "correlation")
    outside = r.index[~(r.abs() < 1)]
    if len(outside):
        i = outside[0]
        what = "a perfect correlation" if abs(r[i]) == 1 else "outside [-1, 1]"
        raise table.fail(
            i,
            f"study '{raw.at[i, 'study_id']}': r({raw.at[i, 'var1']}, {raw.at[i, 'var2']}) = "
            f"{raw.at[i, 'r']} is {what}{_more(len(outside))}; a correlation must lie strictly "
            "between "
            "-1 and 1. Check the row for a typo (a missing decimal point or minus sign).",
        )
    first_var = raw["var1"] <= raw["var2"]
    low = raw["var1"].where(first_var, raw["var2"])
    high = raw["var2"].where(first_var, raw["var1"])
    key = raw["study_id"] + "\x00" + low + "\x00" + high
    dup = key.index[key.duplicated()]
    if len(dup):
        i = dup[0]
        first = key.index[key == key[i]][0]
        raise table.fail(
            i,
            f"study '{raw.at[i, 'study_id']}': the pair ({raw.at[i, 'var1']}, {raw.at[i, 'var2']}) "
            f"repeats the pair on {table.where(first)} (in either order); keep one row per pair "
            "and "
            "study, or give a second independent sample its own study_id.",
        )
    if "n" in raw.columns:
        _sample_sizes(table, "n")
    return r


def _validate_reliabilities(table: _Table, studies: set[str], codes: set[str]) -> pd.Series:
    _check_columns(table, allow_empty=True)
    raw = table.raw
    _known(
        table, "study_id", studies, "reliability row", "add the study to studies.csv or fix the id."
    )
    _known(
        table,
        "variable",
        codes,
        "unknown construct",
        "add it to constructs.csv or use one of its codes (codes are case-sensitive).",
    )
    alpha = _numbers(table, "alpha", "reliability")
    bad = alpha.index[~((alpha > 0) & (alpha <= 1))]
    if len(bad):
        i = bad[0]
        raise table.fail(
            i,
            f"study '{raw.at[i, 'study_id']}': alpha of '{raw.at[i, 'variable']}' = "
            f"{raw.at[i, 'alpha']}"
            f" is outside (0, 1]{_more(len(bad))}; a reliability is a proportion (e.g. 0.85, not "
            "85). "
            "Leave the row out when the study does not report it.",
        )
    key = raw["study_id"] + "\x00" + raw["variable"]
    dup = key.index[key.duplicated()]
    if len(dup):
        i = dup[0]
        first = key.index[key == key[i]][0]
        raise table.fail(
            i,
            f"study '{raw.at[i, 'study_id']}': the reliability of '{raw.at[i, 'variable']}' "
            "repeats "
            f"{table.where(first)}; keep one row per study and variable.",
        )
    return alpha


def _check_positive_definite(
    table: _Table,
    study_pos: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    r: np.ndarray,
    study_ids: list[str],
    codes: list[str],
    n_studies: int,
) -> None:
    """Every study's observed matrix must be positive definite (fully observed triples if
    incomplete).
    """
    order = np.argsort(study_pos, kind="stable")
    bounds = np.searchsorted(study_pos[order], np.arange(n_studies + 1))
    for s in range(n_studies):
        rows = order[bounds[s] : bounds[s + 1]]
        if len(rows) < 2:
            continue
        vars_ = np.unique(np.concatenate([i[rows], j[rows]]))
        pos = np.searchsorted(vars_, i[rows]), np.searchsorted(vars_, j[rows])
        m = len(vars_)
        R = np.full((m, m), np.nan)
        np.fill_diagonal(R, 1.0)
        R[pos[0], pos[1]] = r[rows]
        R[pos[1], pos[0]] = r[rows]
        names = [codes[v] for v in vars_]
        if not np.isnan(R).any():
            smallest = float(np.linalg.eigvalsh(R)[0])
            bad_vars = names
        elif m >= 3:
            # With unreported cells the full matrix is unknown; every fully observed triple of a
            # positive definite matrix must be positive definite, which catches most typos.
            trios = np.array(list(combinations(range(m), 3)))
            blocks = R[trios[:, :, None], trios[:, None, :]]
            full = ~np.isnan(blocks).any(axis=(1, 2))
            if not full.any():
                continue
            eigenvalues = np.linalg.eigvalsh(blocks[full])[:, 0]
            t = int(np.argmin(eigenvalues))
            smallest = float(eigenvalues[t])
            bad_vars = [names[v] for v in trios[full][t]]
        else:
            continue
        if smallest <= _PD_TOL:
            raise DataError(
                f"{table.name}: study '{study_ids[s]}': the correlation matrix of "
                f"{', '.join(bad_vars)} is not positive definite (smallest eigenvalue "
                f"{smallest:.4g}); such correlations cannot come from one sample. Check the "
                "study's "
                "rows for typos (a sign or a swapped digit), or exclude the study."
            )


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyMatrices:
    """Per-study correlation matrices for a chosen set of variables (see
    :meth:`StudyDatabase.matrices`).

    Attributes
    ----------
    variables : list of str
        The requested variables, in the requested order.
    matrices : list of pandas.DataFrame
        One p x p matrix per kept study; NaN for an unreported cell, a unit diagonal for a
        measured variable and a NaN diagonal for one the study did not measure.
    n : numpy.ndarray of int
        Sample sizes (from ``studies.csv``), read-only.
    study_ids : list of str
        The kept studies, in the order of ``studies.csv``.
    corrected : bool
        True when the correlations are corrected for unreliability (see
        :meth:`StudyDatabase.matrices`).
    """

    variables: list[str]
    matrices: list[pd.DataFrame]
    n: np.ndarray
    study_ids: list[str]
    corrected: bool = False

    def summary(self) -> pd.DataFrame:
        """One row per study: ``study_id``, ``n``, variables measured and correlations reported."""
        measured = [int(np.sum(np.diag(m.to_numpy()) == 1)) for m in self.matrices]
        pairs = [
            int(np.sum(~np.isnan(m.to_numpy())) - k) // 2 for m, k in zip(self.matrices, measured)
        ]
        return pd.DataFrame(
            {"study_id": self.study_ids, "n": self.n, "measured": measured, "pairs": pairs}
        )

    def __repr__(self) -> str:
        return (
            f"StudyMatrices(variables={self.variables}, studies={len(self.study_ids)}, "
            f"total_n={int(self.n.sum())}"
            f"{', corrected for unreliability' if self.corrected else ''})"
        )


@dataclass(frozen=True)
class PairCounts:
    """How many studies (``k``) and participants (``n``) inform each pair of variables.

    The diagonal holds the number of studies that measure the variable and their total N.

    Attributes
    ----------
    k : pandas.DataFrame
        Studies per pair, variables x variables.
    n : pandas.DataFrame
        Total sample size per pair, variables x variables.
    """

    k: pd.DataFrame
    n: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """One row per pair (codebook order of the requested variables): var1, var2, k, n."""
        names = list(self.k.index)
        a, b = np.triu_indices(len(names), k=1)
        return pd.DataFrame(
            {
                "var1": [names[x] for x in a],
                "var2": [names[y] for y in b],
                "k": self.k.to_numpy()[a, b],
                "n": self.n.to_numpy()[a, b],
            }
        )

    def __repr__(self) -> str:
        off = self.k.to_numpy()[np.triu_indices(len(self.k), k=1)]
        return (
            f"PairCounts(variables={len(self.k)}, pairs={off.size}, "
            f"k_min={int(off.min()) if off.size else 0}, k_max={int(off.max()) if off.size else 0})"
        )


@dataclass(frozen=True, repr=False, eq=False)
class StudyDatabase:
    """A validated study database. Build it with :func:`read_database` or :meth:`from_frames`.

    The tables are available as read-only copies: :attr:`studies`, :attr:`correlations`,
    :attr:`reliabilities` and :attr:`constructs`.

    Attributes
    ----------
    studies : pandas.DataFrame
        One row per study: ``study_id``, ``label``, ``n`` and the moderators.
    correlations : pandas.DataFrame
        One row per reported correlation: ``study_id``, ``var1``, ``var2``, ``r``.
    reliabilities : pandas.DataFrame
        One row per reported reliability: ``study_id``, ``variable``, ``alpha``.
    constructs : pandas.DataFrame
        The codebook: ``code``, ``name`` (and descriptions).
    folder : str or None
        The folder it was read from (None when built in memory).

    Examples
    --------
    >>> import masem
    >>> db = masem.example_data("Becker92").database()
    >>> len(db.studies), list(db.constructs["code"])
    (6, ['Math', 'Spatial', 'Verbal'])
    """

    _studies: pd.DataFrame
    _correlations: pd.DataFrame
    _reliabilities: pd.DataFrame
    _constructs: pd.DataFrame
    folder: str | None = None
    # Integer codes of the long table, so that matrices() is a few fancy-indexing operations.
    _pos: dict = field(default_factory=dict)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        studies: pd.DataFrame,
        correlations: pd.DataFrame,
        constructs: pd.DataFrame,
        reliabilities: pd.DataFrame | None = None,
    ) -> StudyDatabase:
        """Validate in-memory tables with the same rules as :func:`read_database`.

        Parameters
        ----------
        studies, correlations, constructs : pandas.DataFrame
            Tables with the columns described in :func:`read_database`.
        reliabilities : pandas.DataFrame, optional
            ``study_id``, ``variable``, ``alpha``; omitted means no reliabilities were reported.

        Returns
        -------
        StudyDatabase
        """
        if reliabilities is None:
            reliabilities = pd.DataFrame(
                {c: pd.Series(dtype=str) for c in _REQUIRED["reliabilities"]}
            )
        tables = {
            "studies": _frame_table(studies, "studies"),
            "correlations": _frame_table(correlations, "correlations"),
            "constructs": _frame_table(constructs, "constructs"),
            "reliabilities": _frame_table(reliabilities, "reliabilities"),
        }
        return _build(tables, folder=None)

    # -- the tables --------------------------------------------------------------------------
    @property
    def studies(self) -> pd.DataFrame:
        """One row per independent sample (a copy)."""
        return self._studies.copy()

    @property
    def correlations(self) -> pd.DataFrame:
        """One row per reported correlation (a copy)."""
        return self._correlations.copy()

    @property
    def reliabilities(self) -> pd.DataFrame:
        """One row per reported reliability (a copy)."""
        return self._reliabilities.copy()

    @property
    def constructs(self) -> pd.DataFrame:
        """The codebook (a copy)."""
        return self._constructs.copy()

    # -- views ---------------------------------------------------------------------------------
    def _indices(self, variables: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
        codes = self._pos["codes"]
        if variables is None:
            return list(codes), np.arange(len(codes))
        if isinstance(variables, str) or not isinstance(variables, Sequence):
            raise DataError(
                f"variables must be a list of construct codes, got {variables!r}; e.g. ['PE', "
                "'JS']."
            )
        variables = [str(v) for v in variables]
        unknown = [v for v in variables if v not in self._pos["code_index"]]
        if unknown:
            raise DataError(
                f"unknown variable{'s' if len(unknown) > 1 else ''} {unknown}; the codebook has "
                f"{list(codes)}."
            )
        repeated = sorted({v for v in variables if variables.count(v) > 1})
        if repeated:
            raise DataError(
                f"variables {repeated} are listed more than once; list each variable once."
            )
        if len(variables) < 2:
            raise DataError(
                f"need at least two variables for correlation matrices, got {variables}."
            )
        return variables, np.array([self._pos["code_index"][v] for v in variables])

    def matrices(
        self, variables: Sequence[str], min_pairs: int = 1, corrected: bool = False
    ) -> StudyMatrices:
        """Per-study correlation matrices over ``variables``, in the requested order.

        Parameters
        ----------
        variables : list of str
            Construct codes (at least two).
        min_pairs : int, default 1
            Keep only studies that report at least this many correlations among ``variables``.
        corrected : bool, default False
            Correct each correlation for unreliability, r / sqrt(rxx * ryy) (Spearman, 1904), with
            the study's reported alphas; a missing alpha is replaced by the sample-size-weighted
            mean alpha of that construct over the studies reporting one (the mean-reliability
            imputation of Hunter & Schmidt, 2004, ch. 3).

        Returns
        -------
        StudyMatrices
            ``matrices`` (list of p x p DataFrames: NaN = unreported, NaN diagonal = not
            measured), ``n`` and ``study_ids`` of the kept studies, in ``studies.csv`` order.

        Raises
        ------
        DataError
            With ``corrected=True``: a construct without any reported alpha, or a corrected
            correlation outside (-1, 1) (names the study, the pair and the values).

        Notes
        -----
        Corrected matrices are meant for sensitivity analyses. TSSEM computes their sampling
        covariance as if they were observed correlations with the study's n, which understates
        it by the factor 1 / (rxx ryy); standard errors from corrected matrices are therefore
        somewhat too small (Cheung, 2015, sec. 7.5 discusses the options).

        References
        ----------
        Spearman, C. (1904). The proof and measurement of association between two things.
        *American Journal of Psychology*, 15, 72-101.
        Hunter, J. E., & Schmidt, F. L. (2004). *Methods of meta-analysis* (2nd ed.). Sage.
        Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.

        Examples
        --------
        >>> import masem
        >>> db = masem.example_data("Hunter83").database()
        >>> m = db.matrices(["Ability", "Job_knowledge", "Supervisor"], min_pairs=1)
        >>> len(m.matrices), int(m.n.sum())
        (14, 3975)
        """
        variables, idx = self._indices(variables)
        if (
            isinstance(min_pairs, bool)
            or not isinstance(min_pairs, (int, np.integer))
            or min_pairs < 1
        ):
            raise DataError(f"min_pairs must be a positive integer, got {min_pairs!r}.")
        pos = self._pos
        p, k = len(variables), len(self._studies)
        where = np.full(len(pos["codes"]), -1)
        where[idx] = np.arange(p)
        a, b = where[pos["i"]], where[pos["j"]]
        use = (a >= 0) & (b >= 0)
        s, a, b, r = pos["study"][use], a[use], b[use], pos["r"][use]
        cube = np.full((k, p, p), np.nan)
        cube[s, a, b] = r
        cube[s, b, a] = r
        diag = np.where(pos["measured"][:, idx], 1.0, np.nan)
        cube[:, np.arange(p), np.arange(p)] = diag
        keep = np.flatnonzero(np.bincount(s, minlength=k) >= min_pairs)
        if not isinstance(corrected, (bool, np.bool_)):
            raise DataError(f"corrected must be True or False, got {corrected!r}.")
        if corrected:
            cube = self._disattenuate(cube, variables, keep)
        n = frozen(pos["n"][keep], dtype=None)
        return StudyMatrices(
            variables=list(variables),
            matrices=[pd.DataFrame(cube[t], index=variables, columns=variables) for t in keep],
            n=n,
            study_ids=[pos["study_ids"][t] for t in keep],
            corrected=bool(corrected),
        )

    def _disattenuate(self, cube: np.ndarray, variables: list[str], keep: np.ndarray) -> np.ndarray:
        """Divide every correlation of ``cube`` (studies x p x p) by sqrt(rxx ryy); see
        matrices().
        """
        rel = self._reliabilities
        ids = self._pos["study_ids"]
        n_of = dict(zip(ids, self._pos["n"]))
        alpha = np.full((len(ids), len(variables)), np.nan)
        row_of = {sid: t for t, sid in enumerate(ids)}
        for j, code in enumerate(variables):
            reported = rel[rel["variable"] == code]
            if reported.empty:
                raise DataError(
                    "corrected=True needs reliabilities, but no study reports an alpha for "
                    f"{code}; "
                    "add them to reliabilities.csv or use corrected=False."
                )
            weights = reported["study_id"].map(n_of).to_numpy(dtype=float)
            mean_alpha = float(np.average(reported["alpha"].to_numpy(dtype=float), weights=weights))
            alpha[:, j] = mean_alpha
            alpha[reported["study_id"].map(row_of).to_numpy(), j] = reported["alpha"].to_numpy(
                dtype=float
            )
        out = cube / np.sqrt(alpha[:, :, None] * alpha[:, None, :])
        p = len(variables)
        out[:, np.arange(p), np.arange(p)] = cube[:, np.arange(p), np.arange(p)]
        bad = np.argwhere((np.abs(out) >= 1) & ~np.eye(p, dtype=bool)[None])
        bad = bad[np.isin(bad[:, 0], keep)]
        if len(bad):
            t, a, b = bad[0]
            raise DataError(
                f"study '{ids[t]}': the correlation of {variables[a]} and {variables[b]} "
                f"(r = {cube[t, a, b]:.3f}) corrected with alphas {alpha[t, a]:.3f} and "
                f"{alpha[t, b]:.3f} "
                f"is {out[t, a, b]:.3f}, outside (-1, 1); check the study's r and alphas, or "
                "exclude "
                "the study with subset(exclude=[...])."
            )
        return out

    def subset(
        self,
        studies: Sequence[str] | None = None,
        *,
        exclude: Sequence[str] | None = None,
        **moderators: object,
    ) -> StudyDatabase:
        """A database with only some of the studies (their correlations and reliabilities follow).

        Parameters
        ----------
        studies : list of str, optional
            Study ids to keep (default: all).
        exclude : list of str, optional
            Study ids to drop.
        **moderators
            ``column=value`` or ``column=[values]`` on columns of ``studies.csv``, e.g.
            ``industry="service"`` or ``published=1``. Conditions are combined with "and".

        Returns
        -------
        StudyDatabase
            A new, validated database (the codebook is kept whole); this one is unchanged.

        Raises
        ------
        DataError
            For an unknown study id or column, a value no study has, or when no study is left.

        Examples
        --------
        >>> import masem
        >>> db = masem.example_data("Nohe15A1").database()
        >>> db.subset(Publication="P")
        StudyDatabase(studies=19, correlations=114, reliabilities=0, constructs=4)
        """
        table = self._studies
        ids = table["study_id"]
        keep = pd.Series(True, index=table.index)
        for argument, chosen in (("studies", studies), ("exclude", exclude)):
            if chosen is None:
                continue
            if isinstance(chosen, str) or not isinstance(chosen, Sequence):
                raise DataError(f"{argument} must be a list of study ids, got {chosen!r}.")
            unknown = [c for c in chosen if c not in set(ids)]
            if unknown:
                raise DataError(
                    f"{argument}: unknown study id{'s' if len(unknown) > 1 else ''} {unknown}; "
                    f"the database has {len(ids)} studies ({ids.iloc[0]} ... {ids.iloc[-1]})."
                )
            inside = ids.isin(list(chosen))
            keep &= inside if argument == "studies" else ~inside
        for column, wanted in moderators.items():
            if column not in table.columns or column in ("study_id", "n"):
                choices = [c for c in table.columns if c not in ("study_id", "n")]
                raise DataError(f"unknown moderator column {column!r}; studies.csv has {choices}.")
            values = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
            present = set(table[column].dropna().tolist())
            absent = [v for v in values if v not in present]
            if absent:
                raise DataError(
                    f"no study has {column} = {absent[0]!r}; the values of {column} are "
                    f"{sorted(present, key=str)}."
                )
            keep &= table[column].isin(values)
        if not keep.any():
            raise DataError(
                f"no study is left after subset(studies={studies!r}, exclude={exclude!r}, "
                f"{', '.join(f'{k}={v!r}' for k, v in moderators.items())})."
            )
        kept = set(ids[keep])
        return StudyDatabase.from_frames(
            self._studies[keep].reset_index(drop=True),
            self._correlations[self._correlations["study_id"].isin(kept)].reset_index(drop=True),
            self._constructs,
            self._reliabilities[self._reliabilities["study_id"].isin(kept)].reset_index(drop=True),
        )

    def pair(self, var1: str, var2: str) -> pd.DataFrame:
        """Every study reporting the correlation of ``var1`` and ``var2``: the input of a bivariate
        meta-analysis.

        Parameters
        ----------
        var1, var2 : str
            Construct codes (either order).

        Returns
        -------
        DataFrame
            One row per reporting study, in ``studies.csv`` order: ``study_id``, ``r``, ``n`` (the
            study's sample size), ``rxx`` and ``ryy`` (the reported alphas of ``var1`` and ``var2``,
            NaN when not reported), then every moderator column of ``studies.csv``.

        Raises
        ------
        DataError
            For an unknown code, the same code twice, or a pair no study reports.
        """
        variables, _ = self._indices([var1, var2])
        a, b = variables
        corr = self._correlations
        rows = corr[
            ((corr["var1"] == a) & (corr["var2"] == b))
            | ((corr["var1"] == b) & (corr["var2"] == a))
        ]
        if rows.empty:
            raise DataError(
                f"no study reports the correlation of {a} and {b}; "
                f"see pair_counts() for the pairs the database covers."
            )
        alphas = self._reliabilities.pivot(index="study_id", columns="variable", values="alpha")
        out = rows[["study_id", "r"]].merge(self._studies, on="study_id", how="left")
        out.insert(3, "rxx", out["study_id"].map(alphas[a]) if a in alphas else np.nan)
        out.insert(4, "ryy", out["study_id"].map(alphas[b]) if b in alphas else np.nan)
        order = {sid: i for i, sid in enumerate(self._studies["study_id"])}
        out = out.sort_values("study_id", key=lambda s: s.map(order)).reset_index(drop=True)
        moderators = [c for c in self._studies.columns if c not in ("study_id", "n")]
        return out[["study_id", "r", "n", "rxx", "ryy", *moderators]]

    def pair_counts(self, variables: Sequence[str] | None = None) -> PairCounts:
        """Number of studies ``k`` and total N per pair of ``variables`` (default: all constructs).

        Parameters
        ----------
        variables : list of str, optional
            Construct codes; default all, in codebook order.

        Returns
        -------
        PairCounts
            ``k`` and ``n`` as p x p DataFrames; the diagonal counts studies measuring the variable.
            ``n`` sums the study sample sizes of ``studies.csv``.

        Examples
        --------
        >>> import masem
        >>> db = masem.example_data("Hunter83").database()
        >>> db.pair_counts(["Ability", "Job_knowledge", "Supervisor"]).summary()
                    var1           var2   k     n
        0        Ability  Job_knowledge  11  3372
        1        Ability     Supervisor  12  3605
        2  Job_knowledge     Supervisor  11  3322
        """
        variables, idx = self._indices(variables)
        pos = self._pos
        M = pos["measured"][:, idx].astype(float)
        reported = np.zeros((len(self._studies), len(pos["codes"]), len(pos["codes"])), dtype=bool)
        reported[pos["study"], pos["i"], pos["j"]] = True
        reported[pos["study"], pos["j"], pos["i"]] = True
        rep = reported[:, idx][:, :, idx].astype(float)
        rep[:, np.arange(len(idx)), np.arange(len(idx))] = M
        k = rep.sum(axis=0).astype("int64")
        n = np.einsum("s,sab->ab", pos["n"].astype(float), rep).astype("int64")
        return PairCounts(
            k=pd.DataFrame(k, index=variables, columns=variables),
            n=pd.DataFrame(n, index=variables, columns=variables),
        )

    def cor_data(
        self, variables: Sequence[str], moderators: Sequence[str] | None = None, min_pairs: int = 1
    ) -> CorData:
        """The studies' correlations over ``variables`` with moderators, for :func:`masem.osmasem`.

        The same object as :func:`masem.cor_data` (metaSEM's ``Cor2DataFrame``) builds from the
        matrices of :meth:`matrices`: observed correlations, their sampling covariances at the
        n-weighted mean matrix, and the moderator columns of ``studies.csv`` as given.

        Parameters
        ----------
        variables : list of str
            Construct codes (at least two), in the order wanted.
        moderators : list of str, optional
            Columns of ``studies.csv`` (e.g. ``"individualism"``, ``"year"``).
        min_pairs : int, default 1
            Keep only studies that report at least this many correlations among ``variables``.

        Returns
        -------
        CorData

        Raises
        ------
        DataError
            An unknown construct or a moderator that is not a column of ``studies.csv`` (with the
            closest names).

        Examples
        --------
        >>> import masem
        >>> db = masem.example_data("Nohe15A1").database()
        >>> data = db.cor_data(["W1", "S1", "W2", "S2"], moderators=["Lag"])
        >>> data.k, list(data.moderators.columns)
        (32, ['Lag'])
        """
        names = (
            []
            if moderators is None
            else [moderators]
            if isinstance(moderators, str)
            else list(moderators)
        )
        columns = [c for c in self._studies.columns if c not in ("study_id", "n")]
        unknown = [m for m in names if m not in columns]
        if unknown:
            close = {m: difflib.get_close_matches(m, columns, n=1) for m in unknown}
            hints = "".join(f" (did you mean {c[0]!r} for {m!r}?)" for m, c in close.items() if c)
            raise DataError(
                f"moderator(s) {unknown} are not columns of studies.csv{hints}; columns: {columns}"
            )
        m = self.matrices(variables, min_pairs=min_pairs)
        rows = self._studies.set_index("study_id").loc[m.study_ids, names].reset_index(drop=True)
        return cor_data(dict(zip(m.study_ids, m.matrices)), m.n, moderators=rows)

    def summary(self) -> pd.DataFrame:
        """One row per construct: studies measuring it (``k``), their total N, alphas reported."""
        pos = self._pos
        M = pos["measured"]
        rel = self._reliabilities
        alpha_k = rel.groupby("variable")["alpha"].count()
        alpha_mean = rel.groupby("variable")["alpha"].mean()
        out = pd.DataFrame({"code": pos["codes"]})
        for col in ("name", "role"):
            if col in self._constructs.columns:
                out[col] = self._constructs[col].to_numpy()
        out["k"] = M.sum(axis=0).astype("int64")
        out["n"] = (M * pos["n"][:, None]).sum(axis=0).astype("int64")
        out["k_alpha"] = out["code"].map(alpha_k).fillna(0).astype("int64")
        out["mean_alpha"] = out["code"].map(alpha_mean).astype(float)
        return out

    def __repr__(self) -> str:
        where = f"folder={self.folder!r}, " if self.folder else ""
        return (
            f"StudyDatabase({where}studies={len(self._studies)}, "
            f"correlations={len(self._correlations)}, "
            f"reliabilities={len(self._reliabilities)}, constructs={len(self._constructs)})"
        )


# ----------------------------------------------------------------------------------------------
# Building, reading, writing
# ----------------------------------------------------------------------------------------------
def _build(tables: dict[str, _Table], folder: str | None) -> StudyDatabase:
    con, stu, cor, rel = (
        tables[k] for k in ("constructs", "studies", "correlations", "reliabilities")
    )
    _validate_constructs(con)
    n = _validate_studies(stu)
    codes = list(con.raw["code"])
    ids = list(stu.raw["study_id"])
    r = _validate_correlations(cor, set(ids), set(codes))
    alpha = _validate_reliabilities(rel, set(ids), set(codes))

    code_index = {c: t for t, c in enumerate(codes)}
    study_index = {s: t for t, s in enumerate(ids)}
    i = cor.raw["var1"].map(code_index).to_numpy()
    j = cor.raw["var2"].map(code_index).to_numpy()
    study = cor.raw["study_id"].map(study_index).to_numpy()
    measured = np.zeros((len(ids), len(codes)), dtype=bool)
    measured[study, i] = True
    measured[study, j] = True

    n_measured = measured.sum(axis=1)
    small = np.flatnonzero(n.to_numpy() <= n_measured)
    if len(small):
        t = small[0]
        raise stu.fail(
            stu.raw.index[t],
            f"study '{ids[t]}': n = {n.iloc[t]} does not exceed the {n_measured[t]} variables it "
            "measures, so its correlation matrix cannot be positive definite; check n.",
        )
    _check_positive_definite(cor, study, i, j, r.to_numpy(), ids, codes, len(ids))

    def finish(table: _Table, numeric: dict[str, pd.Series]) -> pd.DataFrame:
        out = table.typed.copy()
        for col in _TEXT[table.kind]:
            if col in out.columns:
                out[col] = table.raw[col].astype(str)
        for col, values in numeric.items():
            out[col] = values
        return out.reset_index(drop=True)

    cor_numeric = {"r": r}
    if "n" in cor.raw.columns:
        cor_numeric["n"] = _sample_sizes(cor, "n")
    frames = {
        "studies": finish(stu, {"n": n}),
        "correlations": finish(cor, cor_numeric),
        "reliabilities": finish(rel, {"alpha": alpha}),
        "constructs": finish(con, {}),
    }
    pos = {
        "codes": codes,
        "code_index": code_index,
        "study_ids": ids,
        "study": study,
        "i": i,
        "j": j,
        "r": r.to_numpy(dtype=float),
        "n": n.to_numpy(dtype="int64"),
        "measured": measured,
    }
    for key in ("study", "i", "j", "r", "n", "measured"):
        pos[key] = frozen(pos[key], dtype=None)
    return StudyDatabase(
        frames["studies"],
        frames["correlations"],
        frames["reliabilities"],
        frames["constructs"],
        folder=folder,
        _pos=pos,
    )


def read_database(folder: str | Path) -> StudyDatabase:
    """Read and validate a study database folder.

    Parameters
    ----------
    folder : str or pathlib.Path
        A folder with ``studies.csv`` (``study_id``, ``n``, moderators...), ``correlations.csv``
        (``study_id``, ``var1``, ``var2``, ``r``, optional ``n``), ``constructs.csv`` (``code``,
        ``name``, ...) and optionally ``reliabilities.csv`` (``study_id``, ``variable``,
        ``alpha``); UTF-8, comma-separated, one header row. See ``data/README.md``.

    Returns
    -------
    StudyDatabase
        Validated tables (read-only copies via ``.studies``, ``.correlations``,
        ``.reliabilities``, ``.constructs``) and the views ``.matrices()`` and ``.pair_counts()``.

    Raises
    ------
    masem.DataError
        For a missing folder, file or column, an empty file, a file that is not UTF-8, an unknown
        study or construct, a repeated pair, a correlation outside (-1, 1) or not a number, a
        sample size that is not a whole number above 3 (and above the number of variables the
        study measures), a reliability outside (0, 1], or a study whose correlations are not
        positive definite. The message names the file, line, study, column and value.

    Notes
    -----
    The folder is only read, never written. Line numbers count the header as line 1.

    Examples
    --------
    >>> import masem
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = masem.write_database(masem.example_data("Hunter83").database(), folder)
    ...     db = masem.read_database(folder)
    >>> db.matrices(["Ability", "Supervisor"]).n[:3]
    array([443, 186, 292])
    """
    path = Path(folder)
    if not path.is_dir():
        raise DataError(
            f"{path}: folder not found. Pass the folder that holds studies.csv, correlations.csv "
            "and "
            "constructs.csv (for the bundled data: data/individual or data/team)."
        )
    tables = {
        kind: _read_table(path / f"{kind}.csv", kind)
        for kind in ("studies", "correlations", "constructs")
    }
    reliabilities = _read_table(path / "reliabilities.csv", "reliabilities", optional=True)
    if reliabilities is None:
        empty = pd.DataFrame({c: pd.Series(dtype=str) for c in _REQUIRED["reliabilities"]})
        reliabilities = _frame_table(empty, "reliabilities")
    tables["reliabilities"] = reliabilities
    return _build(tables, folder=str(path))


def _cell_text(series: pd.Series, decimals: int | None) -> list[str]:
    if pd.api.types.is_float_dtype(series) and decimals is not None:
        # Adding 0.0 turns -0.0 into 0.0, so a rounded zero never prints as "-0.000".
        return ["" if np.isnan(v) else f"{round(v, decimals) + 0.0:.{decimals}f}" for v in series]
    return ["" if pd.isna(v) else str(v) for v in series]


def write_database(database: StudyDatabase, folder: str | Path) -> Path:
    """Write a database as UTF-8 CSV files (``\\n`` line ends, fixed decimals) to ``folder``.

    ``r`` and ``alpha`` are written with three decimals; other columns as they are. The folder
    is created when absent; existing files of the same names are replaced.

    Parameters
    ----------
    database : StudyDatabase
    folder : str or pathlib.Path

    Returns
    -------
    pathlib.Path
        The folder written.

    Examples
    --------
    >>> import tempfile
    >>> import masem
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_database(masem.example_data("Becker92").database(), folder)
    ...     sorted(p.name for p in path.iterdir())
    ['constructs.csv', 'correlations.csv', 'reliabilities.csv', 'studies.csv']
    """
    if not isinstance(database, StudyDatabase):
        raise DataError(f"database must be a StudyDatabase, got {type(database).__name__}.")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    frames = {
        "studies": database._studies,
        "correlations": database._correlations,
        "reliabilities": database._reliabilities,
        "constructs": database._constructs,
    }
    for kind, frame in frames.items():
        columns = [_cell_text(frame[c], _DECIMALS.get(c)) for c in frame.columns]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(frame.columns)
        writer.writerows(zip(*columns))
        (path / f"{kind}.csv").write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return path
