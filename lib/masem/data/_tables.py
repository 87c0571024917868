"""One table of a study database at a time: read it (a CSV file or a DataFrame) and validate it.

Every message names the file (or ``<kind> frame``), its line (1-based, the header being line 1,
as a spreadsheet or an editor shows it; ``row <label>`` for a DataFrame), the study, the column
and the offending value, and says what to do; an unknown id or code is answered with the closest
known one ("did you mean ...?"). :mod:`masem.data.database` builds a database from the tables.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from masem._util import did_you_mean
from masem.errors import DataError

CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# A study_id is a key typed into files and on the command line (--exclude): letters (of any
# alphabet), digits, '_', '-' and '.', starting with a letter or a digit; no spaces or quotes.
STUDY_ID = re.compile(r"^[^\W_][\w.\-]*$")
REQUIRED = {
    "studies": ("study_id", "n"),
    "correlations": ("study_id", "var1", "var2", "r"),
    "reliabilities": ("study_id", "variable", "alpha"),
    "constructs": ("code", "name"),
    "measured": ("study_id", "variable"),
}
# Columns kept as text even when they look numeric (an id "007" must stay "007").
TEXT = {
    "studies": ("study_id",),
    "correlations": ("study_id", "var1", "var2"),
    "reliabilities": ("study_id", "variable"),
    "constructs": ("code", "name"),
    "measured": ("study_id", "variable"),
}
_ROW_UNIT = {
    "studies": "independent sample",
    "correlations": "reported correlation",
    "reliabilities": "reported reliability",
    "constructs": "construct",
    "measured": "construct a study measured",
}
_FIX_CONSTRUCT = "add it to constructs.csv or use one of its codes (codes are case-sensitive)."
_FIX_STUDY = "add the study to studies.csv or fix the id."


# ----------------------------------------------------------------------------------------------
# Reading one table
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Table:
    """One input table: its text form (for validation and messages) and its typed form."""

    name: str  # file path or "<kind> frame", used in every message
    kind: str  # studies / correlations / reliabilities / constructs / measured
    raw: pd.DataFrame  # every cell as stripped text, "" = empty
    typed: pd.DataFrame  # pandas' own type inference
    where: Callable[[object], str]  # index label -> "line 7" (files) or "row 5" (frames)

    def fail(self, index: object, message: str) -> DataError:
        return DataError(f"{self.name}, {self.where(index)}: {message}")


def read_table(path: Path, kind: str, *, optional: bool = False) -> Table | None:
    """Parse one CSV file; None when an optional file is absent."""
    if not path.is_file():
        if optional:
            return None
        raise DataError(
            f"{path}: file not found. A study database folder needs studies.csv, "
            "correlations.csv and constructs.csv (reliabilities.csv and measured.csv are "
            "optional); see data/template/README.md for the columns of each."
        )
    text = _utf8(path)
    if not text.strip():
        raise DataError(
            f"{path}: the file is empty. It needs a header row with the columns "
            f"{', '.join(REQUIRED[kind])} and one row per {_ROW_UNIT[kind]}."
        )
    try:
        raw = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False
        )
        typed = pd.read_csv(
            io.StringIO(text),
            skip_blank_lines=False,
            dtype={c: str for c in TEXT[kind]},
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
    return Table(str(path), kind, raw[keep], typed[keep], lambda i: f"line {int(i) + 2}")


def _utf8(path: Path) -> str:
    blob = path.read_bytes()
    try:
        return blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = blob[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: not valid UTF-8 (byte 0x{blob[exc.start]:02x} at position "
            f"{exc.start}). Save the file as UTF-8 (in Excel: 'CSV UTF-8')."
        ) from None


def frame_table(frame: pd.DataFrame | None, kind: str) -> Table:
    """Wrap an in-memory DataFrame (None: an empty table) so it is validated exactly like a
    file.
    """
    if frame is None:
        frame = pd.DataFrame({c: pd.Series(dtype=str) for c in REQUIRED[kind]})
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"the {kind} table must be a pandas DataFrame, got {type(frame).__name__}.")
    # Unique labels let messages name "row <label>" unambiguously.
    typed = frame.copy() if frame.index.is_unique else frame.reset_index(drop=True)
    typed.columns = [str(c).strip() for c in typed.columns]
    raw = typed.apply(lambda col: col.map(lambda v: "" if pd.isna(v) else str(v).strip()))
    return Table(f"<{kind} frame>", kind, raw, typed, lambda i: f"row {i}")


def read_metadata(path: Path) -> dict:
    """``metadata.json`` of a database folder: a JSON object; {} when the file is absent.

    ``simulated`` (true / false) says whether the studies are simulated, ``source`` (text) where
    they come from; other keys are kept as they are.
    """
    if not path.is_file():
        return {}
    try:
        data = json.loads(_utf8(path))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}). The file describes the "
            'database, e.g. {"source": "Smith (2020), Table 2"}; fix it or delete it.'
        ) from None
    if not isinstance(data, dict):
        raise DataError(
            f'{path}: expected a JSON object such as {{"source": "..."}}, got '
            f"{type(data).__name__}."
        )
    for key, kind in (("simulated", bool), ("source", str)):
        if key in data and not isinstance(data[key], kind):
            raise DataError(
                f"{path}: '{key}' must be {'true or false' if kind is bool else 'text'}, got "
                f"{data[key]!r}."
            )
    return data


# ----------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------
def _more(n_bad: int) -> str:
    return (
        f" ({n_bad - 1} more row{'s' if n_bad > 2 else ''} with the same problem)"
        if n_bad > 1
        else ""
    )


def _study_of(table: Table, index: object) -> str:
    if "study_id" in table.raw.columns:
        return f", study '{table.raw.at[index, 'study_id']}'"
    return ""


def check_columns(table: Table, *, allow_empty: bool = False) -> None:
    """The required columns are there, every required cell is filled, and (unless
    ``allow_empty``) there is a row.
    """
    missing = [c for c in REQUIRED[table.kind] if c not in table.raw.columns]
    if missing:
        raise DataError(
            f"{table.name}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)}; the header has {list(table.raw.columns)}. "
            f"Required columns: {', '.join(REQUIRED[table.kind])}."
        )
    if not allow_empty and table.raw.empty:
        raise DataError(f"{table.name}: the file has a header but no rows; add at least one row.")
    for col in REQUIRED[table.kind]:
        bad = table.raw.index[table.raw[col] == ""]
        if len(bad):
            raise table.fail(
                bad[0], f"column '{col}' is empty{_more(len(bad))}; every row needs a {col}."
            )


def _numbers(table: Table, col: str, what: str) -> pd.Series:
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


def sample_sizes(table: Table, col: str) -> pd.Series:
    """Column ``col`` as whole numbers above 3 (the sample sizes of studies or correlations)."""
    empty = table.raw.index[table.raw[col] == ""]
    if len(empty):
        raise table.fail(
            empty[0],
            f"study '{table.raw.at[empty[0], 'study_id']}': column '{col}' is "
            f"empty{_more(len(empty))}; every row needs its sample size.",
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
            f"{_more(len(small))}; a correlation needs n > 3 (its Fisher-z variance is "
            "1 / (n - 3)).",
        )
    return values.astype("int64")


def _known(table: Table, col: str, allowed: list[str], what: str, fix: str) -> None:
    """Every value of ``col`` is one of ``allowed``; else name the first other one and the
    closest allowed value.
    """
    bad = table.raw.index[~table.raw[col].isin(allowed)]
    if len(bad):
        i = bad[0]
        value = table.raw.at[i, col]
        hint = did_you_mean(value, allowed)
        raise table.fail(
            i,
            f"{what}{_study_of(table, i) if col != 'study_id' else ''}: column '{col}' has value "
            f"'{value}'{f' ({hint})' if hint else ''}{_more(len(bad))}; {fix}",
        )


def _repeated(table: Table, key: pd.Series, message: Callable[[object], str]) -> None:
    """Refuse the first row whose ``key`` repeats an earlier row's; ``message(row)`` says what
    repeats.
    """
    dup = key.index[key.duplicated()]
    if len(dup):
        i = dup[0]
        first = key.index[key == key[i]][0]
        raise table.fail(i, message(i).format(first=table.where(first)))


def validate_constructs(table: Table) -> None:
    """Codes usable as variable names, each once."""
    check_columns(table)
    codes = table.raw["code"]
    bad = codes.index[~codes.map(lambda c: bool(CODE.match(c)))]
    if len(bad):
        raise table.fail(
            bad[0],
            f"construct code '{codes[bad[0]]}' is not usable as a variable name; use letters, "
            "digits and '_' only, starting with a letter (e.g. PE_MEA).",
        )
    _repeated(
        table,
        codes,
        lambda i: (
            f"construct code '{codes[i]}' repeats the code on {{first}}; each code must be "
            "defined once."
        ),
    )


def validate_studies(table: Table) -> pd.Series:
    """Study ids of the allowed characters, each once, and their sample sizes."""
    check_columns(table)
    ids = table.raw["study_id"]
    bad = ids.index[~ids.map(lambda s: bool(STUDY_ID.match(s)))]
    if len(bad):
        value = ids[bad[0]]
        what = "contains a space" if re.search(r"\s", value) else "contains other characters"
        raise table.fail(
            bad[0],
            f"study_id '{value}' {what}{_more(len(bad))}; a study_id may hold letters, digits, "
            "'_', '-' and '.', starting with a letter or a digit (e.g. Smith2019, 12a, "
            "Lee_2020-b). Put the full reference in a column of its own, such as label.",
        )
    _repeated(
        table,
        ids,
        lambda i: (
            f"study_id '{ids[i]}' repeats the study on {{first}}; give each independent "
            "sample its own study_id (e.g. 12a, 12b)."
        ),
    )
    return sample_sizes(table, "n")


def validate_correlations(table: Table, studies: list[str], codes: list[str]) -> pd.Series:
    """Known studies and constructs, two different constructs per row, r in (-1, 1), each pair
    once per study; returns r.
    """
    check_columns(table)
    raw = table.raw
    _known(table, "study_id", studies, "correlation row", _FIX_STUDY)
    for col in ("var1", "var2"):
        _known(table, col, codes, "unknown construct", _FIX_CONSTRUCT)
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
            "between -1 and 1. Check the row for a typo (a missing decimal point or minus sign).",
        )
    first_var = raw["var1"] <= raw["var2"]
    low = raw["var1"].where(first_var, raw["var2"])
    high = raw["var2"].where(first_var, raw["var1"])
    _repeated(
        table,
        raw["study_id"] + "\x00" + low + "\x00" + high,
        lambda i: (
            f"study '{raw.at[i, 'study_id']}': the pair ({raw.at[i, 'var1']}, "
            f"{raw.at[i, 'var2']}) repeats the pair on {{first}} (in either order); keep one "
            "row per pair and study, or give a second independent sample its own study_id."
        ),
    )
    if "n" in raw.columns:
        sample_sizes(table, "n")
    return r


def validate_reliabilities(table: Table, studies: list[str], codes: list[str]) -> pd.Series:
    """Known studies and constructs, alpha in (0, 1], one alpha per study and construct; returns
    alpha.
    """
    check_columns(table, allow_empty=True)
    raw = table.raw
    _known(table, "study_id", studies, "reliability row", _FIX_STUDY)
    _known(table, "variable", codes, "unknown construct", _FIX_CONSTRUCT)
    alpha = _numbers(table, "alpha", "reliability")
    bad = alpha.index[~((alpha > 0) & (alpha <= 1))]
    if len(bad):
        i = bad[0]
        raise table.fail(
            i,
            f"study '{raw.at[i, 'study_id']}': alpha of '{raw.at[i, 'variable']}' = "
            f"{raw.at[i, 'alpha']} is outside (0, 1]{_more(len(bad))}; a reliability is a "
            "proportion (e.g. 0.85, not 85). Leave the row out when the study does not report it.",
        )
    _repeated(
        table,
        raw["study_id"] + "\x00" + raw["variable"],
        lambda i: (
            f"study '{raw.at[i, 'study_id']}': the reliability of "
            f"'{raw.at[i, 'variable']}' repeats {{first}}; keep one row per study and variable."
        ),
    )
    return alpha


def validate_measured(table: Table, studies: list[str], codes: list[str]) -> None:
    """Known studies and constructs, each (study, construct) once."""
    check_columns(table, allow_empty=True)
    raw = table.raw
    _known(table, "study_id", studies, "measured row", _FIX_STUDY)
    _known(table, "variable", codes, "unknown construct", _FIX_CONSTRUCT)
    _repeated(
        table,
        raw["study_id"] + "\x00" + raw["variable"],
        lambda i: (
            f"study '{raw.at[i, 'study_id']}': '{raw.at[i, 'variable']}' repeats "
            "{first}; list each construct a study measured once."
        ),
    )


def check_alphas_measured(table: Table, measured: np.ndarray, study_index, code_index) -> None:
    """Refuse an alpha for a construct the study did not measure (``measured``: studies x
    constructs).
    """
    raw = table.raw
    if raw.empty:
        return
    study = raw["study_id"].map(study_index).to_numpy(dtype=int)
    construct = raw["variable"].map(code_index).to_numpy(dtype=int)
    rows = raw.index[~measured[study, construct]]
    if len(rows):
        i = rows[0]
        sid, code = raw.at[i, "study_id"], raw.at[i, "variable"]
        raise table.fail(
            i,
            f"study '{sid}': alpha of '{code}' = {raw.at[i, 'alpha']}, but the study did not "
            f"measure {code}: it reports no correlation with {code} and measured.csv does not "
            f"list it{_more(len(rows))}. Remove the row or code the study's correlations with "
            f"{code}; if the study measured {code} without reporting its correlations, add the "
            f"row '{sid},{code}' to measured.csv.",
        )
