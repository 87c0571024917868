"""APA-style tables of the results: formatted for a manuscript, shown in notebooks, exported to
files.

:func:`apa_table` turns any tidy DataFrame of the library (``tssem1(...).summary()``,
``tssem2(...).inspect()``, ``fit_stats()``, ``meta(...).summary()``,
:func:`masem.tssem.interval_table`,
:func:`masem.bivariate_table`, ...) into an :class:`APATable`: every cell text, rounded, with the
conventions of the APA Publication Manual (7th ed., sections 6.36 and 7.8-7.21):

* numbers that cannot exceed 1 in absolute value (correlations, proportions, p-values) have no
  leading zero (``.41``); numbers that can (path coefficients, z, chi-square) keep it (``0.41``);
* p-values are exact to three decimals, below .001 written ``< .001``;
* a confidence interval is one cell ``[lower, upper]``, its level in the column heading;
* counts of 1,000 and more have a thousands separator (``49,014``); a missing value is a dash;
* the table has a number and a title above it and a note below it.

The shortcuts :func:`apa_stage1`, :func:`apa_correlations`, :func:`apa_parameters`,
:func:`apa_fit` and :func:`apa_meta` build the usual tables straight from result objects.
An :class:`APATable` displays itself in a notebook (``.style`` is a pandas Styler) and exports
to CSV, Markdown and LaTeX with :func:`export_table` (LaTeX needs ``\\usepackage{booktabs}``).

References
----------
American Psychological Association. (2020). *Publication manual of the American Psychological
Association* (7th ed.). https://doi.org/10.1037/0000165-000
"""

from __future__ import annotations

import hashlib
import html
import io
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from masem._format import MISSING, check_decimals, format_number, format_p, is_missing
from masem.errors import DataError
from masem.meta.univariate import MetaResult
from masem.tssem.indirect import BootstrapResult
from masem.tssem.stage1 import TSSEM1Result
from masem.tssem.stage2 import TSSEM2Result

__all__ = [
    "APATable",
    "apa_correlations",
    "apa_fit",
    "apa_meta",
    "apa_parameters",
    "apa_stage1",
    "apa_table",
    "export_table",
    "format_ci",
    "format_number",
    "format_p",
    "latex_escape",
]

_FORMATS = {".csv": "CSV", ".md": "Markdown", ".tex": "LaTeX", ".html": "HTML"}

# Readable headings of the column names the library produces.
_HEADINGS = {
    "label": "Parameter",
    "parameter": "Parameter",
    "relation": "Relation",
    "method": "Method",
    "code": "Code",
    "name": "Construct",
    "type": "Type",
    "Estimate": "Estimate",
    "estimate": "Estimate",
    "pred": "Estimate",
    "Std. Err": "SE",
    "se": "SE",
    "z-value": "z",
    "z": "z",
    "p-value": "p",
    "p": "p",
    "p_value": "p",
    "pval": "p",
    "boot_mean": "Bootstrap mean",
    "boot_se": "Bootstrap SE",
    "n_valid": "Valid replications",
    "k": "k",
    "N": "N",
    "n": "N",
    "df": "df",
    "chi2": "χ²",
    "chi2_diff": "Δχ²",
    "df_diff": "Δdf",
    "RMSEA": "RMSEA",
    "SRMR": "SRMR",
    "CFI": "CFI",
    "TLI": "TLI",
    "AIC": "AIC",
    "BIC": "BIC",
    "tau2": "τ²",
    "tau2_se": "SE(τ²)",
    "tau": "τ",
    "I2": "I²",
    "H2": "H²",
    "Q": "Q",
    "Q_df": "df(Q)",
    "Q_p": "p(Q)",
    "r": "r",
    "r_mean": "Mean r",
    "r_RE": "r (random effects)",
    "rho": "ρ",
    "rho_se": "SE(ρ)",
    "sd_rho": "SD(ρ)",
}
_P_COLUMNS = {"p-value", "p", "p_value", "pval", "Q_p", "QE_p", "QM_p", "egger_p", "egger_lm_p"}
# statsmodels' multipletests methods, as the library names adjusted p-values: p_holm, egger_p_holm.
_ADJUSTMENTS = {
    "bonferroni": "Bonferroni",
    "sidak": "Šidák",
    "holm-sidak": "Holm-Šidák",
    "holm": "Holm",
    "simes-hochberg": "Hochberg",
    "hommel": "Hommel",
    "fdr_bh": "FDR, BH",
    "fdr_by": "FDR, BY",
    "fdr_tsbh": "FDR, TSBH",
    "fdr_tsbky": "FDR, TSBKY",
}
_INT_COLUMNS = {"k", "N", "n", "df", "Q_df", "df_diff", "n_valid", "df_restricted", "df_general"}
# Statistics bounded by 1 whatever the data: observed correlations and CFI. Pooled correlations,
# whose column names are shared with unbounded statistics, are marked by the callers (bounded=).
_BOUNDED_COLUMNS = {"r", "r_mean", "r_RE", "CFI"}
# (lower, upper, heading); "{level}" is the interval's coverage in percent.
_CI_PAIRS = (
    ("ci_lower", "ci_upper", "{level}% CI"),
    ("ci.lower", "ci.upper", "{level}% CI"),  # inspect(), which keeps metaSEM's and semopy's names
    ("bc_lower", "bc_upper", "{level}% CI (bias-corrected)"),
    ("pi_lower", "pi_upper", "{level}% PI"),
    ("cred_lower", "cred_upper", "Credibility interval"),
    ("RMSEA_lower", "RMSEA_upper", "RMSEA 90% CI"),
)


# ----------------------------------------------------------------------------------------------
# Formatting single values
# ----------------------------------------------------------------------------------------------


def format_ci(lower: float, upper: float, decimals: int = 3, bounded: bool = False) -> str:
    """A confidence interval as one cell, ``[lower, upper]``.

    Examples
    --------
    >>> format_ci(0.3123, 0.3752, decimals=2, bounded=True)
    '[.31, .38]'
    """
    if is_missing(lower) and is_missing(upper):
        return MISSING
    return f"[{format_number(lower, decimals, bounded)}, {format_number(upper, decimals, bounded)}]"


def _format_int(value: object) -> str:
    if is_missing(value):
        return MISSING
    x = float(value)
    if x != round(x):
        return format_number(x, 2)
    return f"{int(round(x)):,}"


# ----------------------------------------------------------------------------------------------
# The table object
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class APATable:
    """An APA-style table: number, title, body (every cell text) and note.

    Build it with :func:`apa_table` or one of the shortcuts (:func:`apa_stage1`, ...). In a
    notebook it shows itself as HTML; :attr:`style` gives the pandas Styler, :meth:`to_markdown`,
    :meth:`to_latex`, :meth:`to_csv` and :meth:`to_html` give the text of each export format, and
    :func:`export_table` writes them.

    Attributes
    ----------
    title : str
        The title (APA: italic, above the table).
    note : str
        The note below the table (abbreviations, the method, the data source); may be empty.
    number : int or None
        The table number (``Table 1``); None leaves it out.
    align : tuple of str
        ``"l"`` or ``"r"`` per column (text left, numbers right).
    """

    title: str
    _body: pd.DataFrame = field(repr=False)
    note: str = ""
    number: int | None = None
    align: tuple[str, ...] = ()

    @property
    def body(self) -> pd.DataFrame:
        """The formatted cells (a copy; every value a string)."""
        return self._body.copy()

    @property
    def heading(self) -> str:
        """``"Table N. Title"`` (or the title alone when the table has no number)."""
        return f"Table {self.number}. {self.title}" if self.number is not None else self.title

    @property
    def style(self) -> Styler:
        """The body as a pandas Styler: caption, no index, text left and numbers right."""
        escaped = self._body.map(html.escape)
        escaped.columns = [html.escape(c) for c in self._body.columns]
        # A fixed uuid (from the title) keeps the HTML identical run after run.
        uuid = hashlib.sha1(self.heading.encode("utf-8")).hexdigest()[:10]
        styler = Styler(escaped, uuid=uuid, cell_ids=False).hide(axis="index")
        caption = f"<strong>Table {self.number}</strong><br>" if self.number is not None else ""
        styler = styler.set_caption(f"{caption}<em>{html.escape(self.title)}</em>")
        styles = [
            {
                "selector": "caption",
                "props": "caption-side: top; text-align: left; padding-bottom: .4em;",
            },
            {
                "selector": "th",
                "props": "border-bottom: 1px solid currentColor; font-weight: normal;",
            },
            {"selector": "th, td", "props": "text-align: right;"},
        ]
        left = [j for j, side in enumerate(self.align) if side == "l"]
        if left:
            cells = ", ".join(f"th.col{j}, td.col{j}" for j in left)
            styles.append({"selector": cells, "props": "text-align: left;"})
        return styler.set_table_styles(styles)

    def to_html(self) -> str:
        """The table as an HTML fragment: the Styler's table followed by the note."""
        note = (
            f'<p class="apa-note"><em>Note.</em> {html.escape(self.note)}</p>' if self.note else ""
        )
        return f'<div class="apa-table">{self.style.to_html()}{note}</div>'

    def to_csv(self) -> str:
        """The body as CSV text (header row, then the formatted cells; no title or note)."""
        buffer = io.StringIO()
        self._body.to_csv(buffer, index=False, lineterminator="\n")
        return buffer.getvalue()

    def to_markdown(self) -> str:
        """The table as GitHub-flavoured Markdown: number in bold, title in italics, a pipe table,
        the note.
        """
        header = [_markdown_cell(c) for c in self._body.columns]
        rows = [[_markdown_cell(v) for v in row] for row in self._body.itertuples(index=False)]
        widths = [max([len(header[j]), 3] + [len(r[j]) for r in rows]) for j in range(len(header))]

        def line(cells: list[str]) -> str:
            padded = [
                c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, self.align)
            ]
            return "| " + " | ".join(padded) + " |"

        rule = [
            "-" * (w - 1) + ":" if a == "r" else ":" + "-" * (w - 1)
            for w, a in zip(widths, self.align)
        ]
        parts = []
        if self.number is not None:
            parts.append(f"**Table {self.number}**\n")
        parts.append(f"*{_markdown_text(self.title)}*\n")
        parts.append(
            "\n".join([line(header), "| " + " | ".join(rule) + " |"] + [line(r) for r in rows])
        )
        if self.note:
            parts.append(f"\n*Note.* {_markdown_text(self.note)}")
        return "\n".join(parts) + "\n"

    def to_latex(self, label: str | None = None) -> str:
        """The table as a LaTeX ``table`` float (booktabs rules; needs ``\\usepackage{booktabs}``).

        Every cell, heading, the title and the note are escaped (``% & _ # $ { } ~ ^ \\ < >``);
        Greek letters, superscript 2, arrows and dashes become LaTeX commands, and a minus sign
        before a number is set in math mode.

        Parameters
        ----------
        label : str, optional
            A ``\\label`` for cross-references (e.g. ``"tab:fit"``).
        """
        escaped = self._body.map(latex_escape)
        escaped.columns = [latex_escape(c) for c in self._body.columns]
        styler = Styler(escaped, uuid="apa").hide(axis="index")
        text = styler.to_latex(
            hrules=True,
            column_format="".join(self.align),
            caption=latex_escape(self.title),
            label=label,
            position_float="centering",
        )
        if self.note:
            note = f"\\par\\smallskip\n{{\\small \\textit{{Note.}} {latex_escape(self.note)}}}\n"
            text = text.replace("\\end{table}", note + "\\end{table}")
        return text

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        lines = [self.heading]
        lines += self._body.to_string(index=False).splitlines()
        if self.note:
            lines.append(f"Note. {self.note}")
        return "\n".join(lines)


def _markdown_text(text: str) -> str:
    # Backslash first, so the escapes added after it stay single.
    for char in ("\\", "*", "`", "|"):
        text = text.replace(char, "\\" + char)
    # An underscore inside a word (HPWP_JS, full_mediation) cannot start or end emphasis in
    # CommonMark, so it stays as typed; only one at a word's edge is escaped.
    return re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)


def _markdown_cell(text: str) -> str:
    return _markdown_text(str(text)).replace("\n", " ")


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}
# \ensuremath keeps adjacent symbols apart (two $...$ in a row would read as $$).
_LATEX_UNICODE = {
    "χ": r"\ensuremath{\chi}",
    "τ": r"\ensuremath{\tau}",
    "ρ": r"\ensuremath{\rho}",
    "Δ": r"\ensuremath{\Delta}",
    "²": r"\textsuperscript{2}",
    "→": r"\ensuremath{\rightarrow}",
    "↔": r"\ensuremath{\leftrightarrow}",
    "–": "--",
    "—": "---",
    "−": r"\ensuremath{-}",
    "∞": r"\ensuremath{\infty}",
}


def latex_escape(text: object) -> str:
    """Escape text for LaTeX: special characters, the few Unicode symbols the tables use, minus
    signs.

    Examples
    --------
    >>> latex_escape("95% CI [-.12, .30] & τ²")
    '95\\\\% CI [\\\\ensuremath{-}.12, .30] \\\\& \\\\ensuremath{\\\\tau}\\\\textsuperscript{2}'
    """
    out = "".join(_LATEX_SPECIAL.get(ch, _LATEX_UNICODE.get(ch, ch)) for ch in str(text))
    # A hyphen that starts a number (after a space, "[" or the start) is a minus sign.
    return re.sub(r"(?<![\w.\-}])-(?=\.?\d)", r"\\ensuremath{-}", out)


# ----------------------------------------------------------------------------------------------
# The generic builder
# ----------------------------------------------------------------------------------------------


def _level_text(level: float) -> str:
    return f"{100 * level:g}"


def apa_table(
    frame: pd.DataFrame,
    title: str,
    note: str = "",
    *,
    columns: Mapping[str, str] | Sequence[str] | None = None,
    bounded: Iterable[str] = (),
    decimals: int | Mapping[str, int] = 3,
    level: float = 0.95,
    number: int | None = None,
) -> APATable:
    """Format a tidy DataFrame as an APA-style table.

    Column headings of the library's tables become readable (``Std. Err`` -> ``SE``, ``chi2`` ->
    ``χ²``); a pair of interval columns (``ci_lower``/``ci_upper``, ``ci.lower``/``ci.upper`` of
    ``inspect()``, ``pi_lower``/``pi_upper``, ``RMSEA_lower``/``RMSEA_upper``, ...) becomes
    one ``[lower, upper]`` column; p-value columns are written as APA asks (``< .001``); count
    columns (``k``, ``N``, ``df``, integer dtypes) get thousands separators; text stays text.
    A DataFrame index other than the default 0, 1, ... becomes the first column.

    Parameters
    ----------
    frame : DataFrame
        The tidy table (not modified).
    title : str
        The table title.
    note : str, optional
        The note under the table: define abbreviations and say where the numbers come from.
    columns : mapping or sequence of str, optional
        The columns to keep, in order: a list of names (default headings) or a mapping
        name -> heading. An interval is kept when both of its columns are listed; its heading is
        the one given for the lower column. Default: every column.
    bounded : iterable of str, optional
        Further columns whose values cannot exceed 1 in absolute value (e.g. the ``estimate``
        and interval columns of pooled correlations): printed without the leading zero. p-values,
        the columns ``r``, ``r_mean``, ``r_RE`` and ``CFI`` are always treated so.
    decimals : int or mapping, default 3
        Digits after the decimal point, for all columns or per column name (default 3 for the
        rest). p-values always get three.
    level : float, default 0.95
        Coverage of the intervals, shown in their headings (``95% CI``); RMSEA intervals are 90%.
    number : int, optional
        The table number.

    Returns
    -------
    APATable

    Raises
    ------
    masem.DataError
        For a frame that is not a DataFrame, an empty title, an unknown column in ``columns`` or
        ``bounded``, bad ``decimals`` or ``level``, or a bounded column holding a value above 1.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"label": ["PE_JS"], "estimate": [0.5531], "ci_lower": [0.531],
    ...                       "ci_upper": [0.576], "p": [1e-9], "k": [46], "N": [15230]})
    >>> apa_table(frame, "Pooled correlation", bounded=["estimate", "ci_lower", "ci_upper"],
    ...           decimals=2).body.iloc[0].tolist()
    ['PE_JS', '.55', '[.53, .58]', '< .001', '46', '15,230']
    """
    _check_table_arguments(frame, title, note, number, level)
    data = _tidy_copy(frame)
    headings = _headings(columns, data)
    bounded = _bounded(bounded, data)
    if isinstance(decimals, Mapping):
        digits = {str(c): check_decimals(d, f"decimals[{c!r}]") for c, d in decimals.items()}
        default_digits = 3
    else:
        digits, default_digits = {}, check_decimals(decimals)
    pairs = {lo: (hi, text) for lo, hi, text in _CI_PAIRS if lo in headings and hi in headings}
    uppers = {hi for hi, _ in pairs.values()}
    out: dict[str, list[str]] = {}
    align: list[str] = []
    for col in headings:
        if col in uppers:
            continue
        places = digits.get(col, default_digits)
        if col in pairs:
            hi, text = pairs[col]
            heading = headings[col] or text.format(level=_level_text(level))
            cells = [format_ci(a, b, places, col in bounded) for a, b in zip(data[col], data[hi])]
            kind = "r"
        else:
            heading, cells, kind = _column(col, data[col], headings[col], places, col in bounded)
        if heading in out:
            raise DataError(
                f"two columns would both be headed {heading!r}; give them distinct headings with "
                "columns="
            )
        out[heading] = cells
        align.append(kind)
    body = pd.DataFrame(out, dtype=object)
    return APATable(
        title=title.strip(), _body=body, note=note.strip(), number=number, align=tuple(align)
    )


def _check_table_arguments(
    frame: object, title: object, note: object, number: object, level: object
) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"apa_table needs a pandas DataFrame, got {type(frame).__name__}")
    if not isinstance(title, str) or not title.strip():
        raise DataError(f"a table needs a title (a non-empty str), got {title!r}")
    if not isinstance(note, str):
        raise DataError(f"note must be a str, got {type(note).__name__}")
    if number is not None and (
        isinstance(number, bool) or not isinstance(number, numbers.Integral) or number < 1
    ):
        raise DataError(f"number must be a positive whole number or None, got {number!r}")
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0.0 < level < 1.0:
        raise DataError(
            f"level must be a number strictly between 0 and 1 (e.g. 0.95), got {level!r}"
        )


def _tidy_copy(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with text column names and a non-default index turned into the first column."""
    data = frame.copy()
    if not isinstance(data.index, pd.RangeIndex) or data.index.name is not None:
        data = data.reset_index(
            names=[str(data.index.name or "")] if data.index.nlevels == 1 else None
        )
    data.columns = [str(c) for c in data.columns]
    if len(set(data.columns)) != len(data.columns):
        raise DataError(
            f"the frame has repeated column names {list(data.columns)}; make them unique"
        )
    return data


def _headings(columns: object, data: pd.DataFrame) -> dict[str, str | None]:
    """The columns to show, in order, with their heading (None: the library's readable heading)."""
    if columns is None:
        headings = {c: None for c in data.columns}
    elif isinstance(columns, Mapping):
        headings = {str(c): str(h) for c, h in columns.items()}
    elif isinstance(columns, Sequence) and not isinstance(columns, str):
        headings = {str(c): None for c in columns}
    else:
        raise DataError(
            f"columns must be a list of column names or a mapping name -> heading, got {columns!r}"
        )
    unknown = [c for c in headings if c not in data.columns]
    if unknown:
        raise DataError(f"column(s) {unknown} are not in the frame; it has {list(data.columns)}")
    return headings


def _bounded(bounded: object, data: pd.DataFrame) -> set[str]:
    """The columns written without a leading zero: those asked for (checked) and the library's
    own.
    """
    bounded = {str(c) for c in ([bounded] if isinstance(bounded, str) else bounded)}
    unknown = sorted(bounded - set(data.columns))
    if unknown:
        raise DataError(
            f"bounded names column(s) {unknown}, which are not in the frame {list(data.columns)}"
        )
    for col in sorted(bounded):
        values = pd.to_numeric(data[col], errors="coerce").abs()
        if (values > 1).any():
            raise DataError(
                f"column {col!r} is marked bounded by 1 (no leading zero) but holds "
                f"{data[col][values > 1].iloc[0]!r}, which exceeds 1; leave it out of bounded="
            )
    return bounded | _BOUNDED_COLUMNS | {str(c) for c in data.columns if _is_p_column(str(c))}


def _is_p_column(col: str) -> bool:
    """Whether ``col`` holds p-values: a known name, ``<statistic>_p`` (PET_p, egger_p) or either
    followed by a multiple-testing adjustment (p_holm, egger_p_fdr_bh).
    """
    for method in _ADJUSTMENTS:
        if col.endswith(f"_{method}"):
            col = col[: -len(method) - 1]
            break
    return col in _P_COLUMNS or col.endswith("_p")


def _p_heading(col: str) -> str:
    """``p (Holm)`` for an adjusted p-value column, else the column's usual heading."""
    for method, name in _ADJUSTMENTS.items():
        if col.endswith(f"_{method}"):
            base = col[: -len(method) - 1]
            return f"{_HEADINGS.get(base, base)} ({name})"
    return _HEADINGS.get(col, col)


def _column(
    col: str, values: pd.Series, heading: str | None, places: int, bounded: bool
) -> tuple[str, list[str], str]:
    """Heading, cell texts and alignment ("r" or "l") of one column that is not an interval."""
    if _is_p_column(col):
        return heading or _p_heading(col), [format_p(v) for v in values], "r"
    heading = heading or _HEADINGS.get(col, col)
    if col in _INT_COLUMNS or pd.api.types.is_integer_dtype(values):
        return heading, [_format_int(v) for v in values], "r"
    if pd.api.types.is_float_dtype(values):
        return heading, [format_number(v, places, bounded) for v in values], "r"
    return heading, [MISSING if is_missing(v) else str(v) for v in values], "l"


def export_table(table: APATable, path: str | Path) -> Path:
    """Write an APA table to a file whose suffix picks the format.

    Parameters
    ----------
    table : APATable
        From :func:`apa_table` or a shortcut.
    path : str or Path
        ``.csv`` (the formatted body), ``.md`` (Markdown with number, title and note), ``.tex``
        (a LaTeX table float) or ``.html`` (a fragment). Folders are created when needed.

    Returns
    -------
    Path
        The file written (UTF-8, ``\\n`` line ends).

    Raises
    ------
    masem.DataError
        For something other than an :class:`APATable` or an unsupported suffix.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> s2 = masem.tssem2(masem.tssem1(ex.matrices, ex.n, method="FEM"), "Math ~ Spatial + Verbal")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = export_table(apa_fit(s2, "Fit"), Path(folder) / "tables" / "fit.md")
    ...     path.name, path.read_text().count("Fit")
    ('fit.md', 1)
    """
    if not isinstance(table, APATable):
        raise DataError(
            f"export_table needs an APATable, got {type(table).__name__}; build one with "
            "masem.apa_table(frame, title)"
        )
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise DataError(
            f"{path}: cannot tell the format from the suffix {suffix!r}; use one of "
            + ", ".join(f"{s} ({name})" for s, name in _FORMATS.items())
        )
    text = {
        ".csv": table.to_csv,
        ".md": table.to_markdown,
        ".tex": table.to_latex,
        ".html": table.to_html,
    }[suffix]()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


# ----------------------------------------------------------------------------------------------
# Shortcuts for the library's results
# ----------------------------------------------------------------------------------------------


def _pair_names(variables: Sequence[str]) -> dict[str, str]:
    """Vechs label ``row_col`` -> ``col–row`` (variable names may contain '_', so map, do not
    split).
    """
    return {f"{b}_{a}": f"{a}–{b}" for i, a in enumerate(variables) for b in variables[i + 1 :]}


def apa_stage1(
    result: TSSEM1Result,
    title: str = "Pooled correlations (TSSEM stage 1)",
    note: str | None = None,
    *,
    decimals: int = 3,
    number: int | None = None,
) -> APATable:
    """The pooled correlations of :func:`masem.tssem1`: one row per pair, with k, N, r, SE, CI (,
    τ², I²).

    Parameters
    ----------
    result : TSSEM1Result
    title, note : str
        The default note names the method and defines the abbreviations.
    decimals : int, default 3
    number : int, optional

    Returns
    -------
    APATable
        Columns Correlation, k, N, r, SE, 95% CI, and for random effects τ² and I² (%).

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> apa_stage1(s1).body.iloc[0].tolist()
    ['Math–Spatial', '6', '538', '.379', '0.037', '[.307, .452]']
    """
    if not isinstance(result, TSSEM1Result):
        raise DataError(f"apa_stage1 needs a tssem1() result, got {type(result).__name__}")
    summary = result.summary()
    summary["label"] = summary["label"].map(_pair_names(result.variables))
    columns = {
        "label": "Correlation",
        "k": "k",
        "N": "N",
        "estimate": "r",
        "se": "SE",
        "ci_lower": "95% CI",
        "ci_upper": "",
    }
    digits: dict[str, int] = {}
    if result.method == "REM":
        summary["I2"] = 100.0 * summary["I2"]
        columns |= {"tau2": "τ²", "I2": "I² (%)"}
        digits = {"tau2": max(decimals, 4), "I2": 1}
    if note is None:
        kind = "random-effects" if result.method == "REM" else "fixed-effects"
        note = (
            f"{kind.capitalize()} TSSEM stage 1 (Cheung, 2014) over {result.n_studies} studies, "
            f"N = {result.total_n:,}. k = number of studies reporting the correlation; N = their "
            "total sample size; r = pooled correlation; CI = Wald confidence interval"
            + (
                "; τ² = between-study variance; I² = share of the variation beyond sampling error."
                if result.method == "REM"
                else "."
            )
        )
    return apa_table(
        summary,
        title,
        note,
        columns=columns,
        bounded=["estimate", "ci_lower", "ci_upper"],
        decimals={c: digits.get(c, decimals) for c in columns},
        number=number,
    )


def apa_correlations(
    matrix: TSSEM1Result | pd.DataFrame,
    title: str = "Pooled correlation matrix",
    note: str = "",
    *,
    decimals: int = 2,
    number: int | None = None,
) -> APATable:
    """A correlation matrix the APA way: numbered variables, lower triangle, a dash on the diagonal.

    Parameters
    ----------
    matrix : TSSEM1Result or DataFrame
        A stage-1 result (its ``pooled`` matrix) or a square correlation matrix with names.
    title, note : str
    decimals : int, default 2
    number : int, optional

    Returns
    -------
    APATable
        First column ``Variable`` (``1. HPWP``, ...), then one column per variable number.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> apa_correlations(s1).body.values.tolist()
    [['1. Math', '—', '', ''], ['2. Spatial', '.38', '—', ''], ['3. Verbal', '.30', '.16', '—']]
    """
    if isinstance(matrix, TSSEM1Result):
        matrix = matrix.pooled
    if (
        not isinstance(matrix, pd.DataFrame)
        or matrix.shape[0] != matrix.shape[1]
        or matrix.shape[0] < 2
    ):
        raise DataError(
            "apa_correlations needs a tssem1() result or a square DataFrame of correlations (p >= "
            "2)"
        )
    if list(matrix.index) != list(matrix.columns):
        raise DataError(
            f"the matrix rows {list(matrix.index)} and columns {list(matrix.columns)} must name "
            "the "
            "same variables in the same order"
        )
    names = [str(v) for v in matrix.index]
    values = matrix.to_numpy(dtype=float)
    rows = []
    for i, name in enumerate(names):
        row = {"Variable": f"{i + 1}. {name}"}
        for j in range(len(names)):
            row[str(j + 1)] = (
                format_number(values[i, j], decimals, bounded=True)
                if j < i
                else (MISSING if j == i else "")
            )
        rows.append(row)
    body = pd.DataFrame(rows, dtype=object)
    return APATable(
        title=title, _body=body, note=note, number=number, align=("l",) + ("r",) * len(names)
    )


def _parameter_name(lval: str, op: str, rval: str) -> str:
    if op == "~":
        return f"{rval} → {lval}"
    if op == "~~":
        return f"Var({lval})" if lval == rval else f"{lval} ↔ {rval}"
    return lval


def _is_automatic_label(label: str, lval: str, op: str, rval: str) -> bool:
    return label in (f"{lval}on{rval}", f"{lval}with{rval}", f"{rval}with{lval}")


def apa_parameters(
    result: TSSEM2Result,
    title: str = "Stage-2 parameter estimates",
    note: str | None = None,
    *,
    which: str = "all",
    bootstrap: BootstrapResult | None = None,
    decimals: int = 3,
    number: int | None = None,
) -> APATable:
    """The estimates of :func:`masem.tssem2`: paths, covariances and ``:=`` definitions with
    intervals.

    Parameters
    ----------
    result : TSSEM2Result
    title, note : str
        The default note says how the intervals were computed.
    which : {"all", "paths", "defined"}
        Every free parameter and definition, the regression paths (and loadings) only, or the
        ``:=`` definitions (indirect effects) only.
    bootstrap : BootstrapResult, optional
        A parametric bootstrap of the same fit (:func:`masem.tssem.indirect`): its percentile
        interval
        is added as a further column.
    decimals : int, default 3
    number : int, optional

    Returns
    -------
    APATable
        Columns Parameter (``HPWP → PE``, ``HPWP ↔ SPS``, ``Var(PE)``, or ``name = expression``),
        Label (user labels only), Estimate, SE, z, p, the interval of the fit and, with
        ``bootstrap``, its interval.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> s2 = masem.tssem2(s1, "Math ~ Spatial + Verbal\\nSpatial ~~ 0*Verbal")
    >>> apa_parameters(s2, which="paths").body[["Parameter", "Estimate"]].values.tolist()
    [['Spatial → Math', '0.341'], ['Verbal → Math', '0.240']]
    """
    if not isinstance(result, TSSEM2Result):
        raise DataError(f"apa_parameters needs a tssem2() result, got {type(result).__name__}")
    if which not in ("all", "paths", "defined"):
        raise DataError(f"which must be 'all', 'paths' or 'defined', got {which!r}")
    if bootstrap is not None and not isinstance(bootstrap, BootstrapResult):
        raise DataError(
            f"bootstrap must be a masem.tssem.indirect() result, got {type(bootstrap).__name__}"
        )
    table = result.inspect()
    if which == "paths":
        table = table[table["op"] == "~"]
    elif which == "defined":
        table = table[table["op"] == ":="]
    if table.empty:
        missing = "regression paths" if which == "paths" else ":= definitions"
        raise DataError(
            f"the model has no {missing} to tabulate; add them to the lavaan syntax or use "
            "which='all'"
        )
    names = [
        f"{row.lval} = {row.rval}"
        if row.op == ":="
        else _parameter_name(row.lval, row.op, row.rval)
        for row in table.itertuples()
    ]
    labels = [
        ""
        if row.op == ":=" or _is_automatic_label(row.label, row.lval, row.op, row.rval)
        else row.label
        for row in table.itertuples()
    ]
    kind = "profile likelihood" if result.intervals == "profile" else "Wald"
    frame = pd.DataFrame(
        {
            "Parameter": names,
            "Label": labels,
            "Estimate": table["Estimate"].to_numpy(),
            "Std. Err": table["Std. Err"].to_numpy(),
            "z-value": table["z-value"].to_numpy(),
            "p-value": table["p-value"].to_numpy(),
            "ci.lower": table["ci.lower"].to_numpy(),
            "ci.upper": table["ci.upper"].to_numpy(),
        }
    )
    columns = {
        "Parameter": "Parameter",
        "Label": "Label",
        "Estimate": "Estimate",
        "Std. Err": "SE",
        "z-value": "z",
        "p-value": "p",
        "ci.lower": f"95% CI ({kind})",
        "ci.upper": "",
    }
    if not any(labels):
        del columns["Label"]
    if bootstrap is not None:
        boot = bootstrap.summary().drop_duplicates("parameter").set_index("parameter")
        keys = [row.label for row in table.itertuples()]
        frame["ci_lower"] = [boot["ci_lower"].get(k, np.nan) for k in keys]
        frame["ci_upper"] = [boot["ci_upper"].get(k, np.nan) for k in keys]
        columns |= {"ci_lower": f"{100 * bootstrap.level:g}% CI (bootstrap)", "ci_upper": ""}
    if note is None:
        note = _parameters_note(result, kind, bootstrap, table)
    return apa_table(frame, title, note, columns=columns, decimals=decimals, number=number)


def _symbols(table: pd.DataFrame) -> str:
    """The key to the parameter names the table shows, and only those: → ↔ Var."""
    covariance = (table["op"] == "~~") & (table["lval"] != table["rval"])
    variance = (table["op"] == "~~") & (table["lval"] == table["rval"])
    symbols = [
        text
        for shown, text in (
            ((table["op"] == "~").any(), "→ = regression path"),
            (covariance.any(), "↔ = covariance"),
            (variance.any(), "Var = variance"),
        )
        if shown
    ]
    return f" {', '.join(symbols)}." if symbols else ""


def _parameters_note(
    result: TSSEM2Result, kind: str, bootstrap: BootstrapResult | None, table: pd.DataFrame
) -> str:
    """The note under a table of stage-2 parameters: data, scale, the symbols shown, intervals."""
    return (
        f"TSSEM stage 2 (Cheung & Chan, 2005) on the {result.method} pooled correlations, N = "
        f"{result.n:,}; estimates are standardized."
        + _symbols(table)
        + f" SE and p from the Wald test; CI = 95% {kind} interval"
        + (
            f"; bootstrap = percentile interval of {bootstrap.n_boot:,} parametric-bootstrap "
            f"replications (seed {bootstrap.seed})."
            if bootstrap is not None
            else "."
        )
        + (
            " Definitions (=) are functions of the paths, e.g. indirect effects (delta-method SE)."
            if (table["op"] == ":=").any()
            else ""
        )
    )


def apa_fit(
    fits: TSSEM2Result | Mapping[str, TSSEM2Result],
    title: str = "Fit of the structural models",
    note: str | None = None,
    *,
    decimals: int = 3,
    number: int | None = None,
) -> APATable:
    """Fit statistics of one or more :func:`masem.tssem2` models, one row per model.

    Parameters
    ----------
    fits : TSSEM2Result or mapping of name -> TSSEM2Result
    title, note : str
    decimals : int, default 3 (χ², AIC and BIC get 2)
    number : int, optional

    Returns
    -------
    APATable
        Columns Model, χ², df, p, RMSEA, RMSEA 90% CI, SRMR, CFI, TLI, AIC, BIC.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> s2 = masem.tssem2(s1, "Math ~ Spatial + Verbal\\nSpatial ~~ 0*Verbal")
    >>> apa_fit({"Spatial and verbal": s2}).body.iloc[0, :5].tolist()
    ['Spatial and verbal', '15.14', '1', '< .001', '0.162']
    """
    if isinstance(fits, TSSEM2Result):
        fits = {"Model": fits}
    if not isinstance(fits, Mapping) or not fits:
        raise DataError(
            "apa_fit needs a tssem2() result or a non-empty mapping name -> tssem2() result"
        )
    bad = [name for name, fit in fits.items() if not isinstance(fit, TSSEM2Result)]
    if bad:
        raise DataError(f"apa_fit: {bad} are not tssem2() results")
    keep = [
        "chi2",
        "df",
        "p_value",
        "RMSEA",
        "RMSEA_lower",
        "RMSEA_upper",
        "SRMR",
        "CFI",
        "TLI",
        "AIC",
        "BIC",
    ]
    frame = pd.DataFrame({str(name): fit.fit_stats()[keep] for name, fit in fits.items()}).T
    frame.index.name = "Model"
    saturated = frame["df"] == 0
    # A saturated model reproduces the pooled matrix exactly: chi2 = 0 on 0 df has no test, and
    # RMSEA and TLI divide by df, so none of them is defined (APA: leave the cell empty).
    frame.loc[saturated, ["p_value", "RMSEA", "RMSEA_lower", "RMSEA_upper", "TLI"]] = np.nan
    if note is None:
        n = {fit.n for fit in fits.values()}
        note = (
            "TSSEM stage 2 (weighted least squares; Cheung & Chan, 2005)"
            + (f", N = {n.pop():,}" if len(n) == 1 else "")
            + ". χ² = model chi-square; RMSEA = root mean square error of approximation with its "
            "90% CI; SRMR = standardized root mean square residual; CFI, TLI = comparative and "
            "Tucker-Lewis fit indices against the independence model; AIC, BIC from χ² (lower is "
            "better)."
            + (
                f" {_saturated_text(list(frame.index[saturated]), len(frame))}"
                if saturated.any()
                else ""
            )
        )
    digits = {c: 2 if c in ("chi2", "AIC", "BIC") else decimals for c in keep}
    return apa_table(frame, title, note, decimals=digits, number=number)


def _saturated_text(names: list[str], rows: int) -> str:
    """The note's sentence on saturated models (df = 0) and their empty cells."""
    one = len(names) == 1
    who = "The model" if rows == 1 else ", ".join(names)
    verb, reproduce = ("is", "it reproduces") if one else ("are", "they reproduce")
    return (
        f"{who} {verb} saturated (df = 0): {reproduce} the pooled correlations exactly, so χ² "
        "has no test (no p) and RMSEA and TLI are not defined (—)."
    )


def apa_meta(
    results: Mapping[str, MetaResult],
    title: str = "Random-effects meta-analyses",
    note: str | None = None,
    *,
    transf: str | None = None,
    decimals: int = 3,
    number: int | None = None,
) -> APATable:
    """Univariate meta-analyses (:func:`masem.meta`), one row per relation.

    Parameters
    ----------
    results : mapping of name -> MetaResult
    title, note : str
    transf : {None, "z2r"}
        ``"z2r"``: the effect sizes are Fisher's z; report the estimate and its intervals as
        correlations (tanh), without leading zeros.
    decimals : int, default 3
    number : int, optional

    Returns
    -------
    APATable
        Columns Relation, k, Estimate (or r), CI, PI, τ², I² (%), Q, p(Q).

    Examples
    --------
    >>> import masem
    >>> pair = masem.example_data("Becker92").database().pair("Math", "Spatial")
    >>> es = masem.escalc("ZCOR", pair["r"], pair["n"])
    >>> table = apa_meta({"Math-Spatial": masem.meta(es["yi"], es["vi"])}, transf="z2r")
    >>> table.body.iloc[0, :4].tolist()
    ['Math-Spatial', '6', '.383', '[.299, .461]']
    """
    if not isinstance(results, Mapping) or not results:
        raise DataError("apa_meta needs a non-empty mapping name -> masem.meta() result")
    bad = [name for name, res in results.items() if not isinstance(res, MetaResult)]
    if bad:
        raise DataError(f"apa_meta: {bad} are not masem.meta() results")
    if transf not in (None, "z2r"):
        raise DataError(f"transf must be None or 'z2r', got {transf!r}")
    rows = []
    for name, res in results.items():
        pred = res.predict(transf=transf).iloc[0]
        rows.append(
            {
                "relation": str(name),
                "k": res.k,
                "estimate": pred["pred"],
                "ci_lower": pred["ci_lower"],
                "ci_upper": pred["ci_upper"],
                "pi_lower": pred["pi_lower"],
                "pi_upper": pred["pi_upper"],
                "tau2": res.tau2,
                "I2": res.I2,
                "Q": res.Q,
                "Q_p": res.Q_p,
            }
        )
    frame = pd.DataFrame(rows)
    levels = {res.level for res in results.values()}
    level = levels.pop() if len(levels) == 1 else 0.95
    columns = {
        "relation": "Relation",
        "k": "k",
        "estimate": "r" if transf else "Estimate",
        "ci_lower": f"{_level_text(level)}% CI",
        "ci_upper": "",
        "pi_lower": f"{_level_text(level)}% PI",
        "pi_upper": "",
        "tau2": "τ²",
        "I2": "I² (%)",
        "Q": "Q",
        "Q_p": "p(Q)",
    }
    if note is None:
        methods = sorted({res.method for res in results.values()})
        what = (
            "Fisher-z transformed correlations, back-transformed to r"
            if transf
            else "the effect sizes"
        )
        note = (
            f"Meta-analysis of {what} "
            f"({', '.join(methods)} estimation of τ²; Viechtbauer, 2005). CI = confidence interval "
            "of the mean; "
            "PI = prediction interval for the effect in a new study; τ² = between-study variance "
            "(on the z scale); "
            "I² = share of the variation beyond sampling error; Q = homogeneity test."
        )
    bounded = ["estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper"] if transf else []
    digits = {c: decimals for c in columns} | {"tau2": max(decimals, 4), "I2": 1, "Q": 2}
    return apa_table(
        frame,
        title,
        note,
        columns=columns,
        bounded=bounded,
        decimals=digits,
        level=level,
        number=number,
    )
