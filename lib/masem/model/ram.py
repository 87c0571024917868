"""lavaan syntax -> RAM matrices (A, S, F): one parse gives one :class:`RAMModel`.

A structural model is written in lavaan syntax (Rosseel, 2012) and translated to McArdle and
McDonald's (1984) reticular action model (RAM): A holds the asymmetric paths (regressions and
loadings), S the symmetric paths (variances and covariances), F filters the observed variables,
and the model-implied matrix of the observed variables is

    Sigma = F (I - A)^-1 S (I - A)^-T F'.

The translation is metaSEM's ``lavaan2RAM`` (Cheung, 2015; metaSEM 1.5.5, ``?lavaan2RAM``): the
model is read by lavaan's rules (:mod:`masem.model.syntax`), completed by the defaults of
``lavaanify(model, fixed.x = FALSE, auto.var = TRUE, std.lv = TRUE)`` (the rule table of
:mod:`masem.model.partable`), and written into matrices as follows:

==========================================================  =======================================
Rule                                                        Source
==========================================================  =======================================
Free paths and loadings start at 0.1, free variances at     ``lavaan2RAM(A.start = 0.1, S.start =
0.5, free covariances at 0; ``start()`` overrides.          0.5)``
Variables are ordered as they first appear in the table's   ``lavaan2RAM``; ``observed`` (its
left, then right column; latent variables come last.        ``obs.variables``) reorders them
An unlabelled parameter is named ``XonY`` (X regressed on,  ``lavaan2RAM(A.notation, S.notation)``;
or loading on, Y) or ``XwithY``; pass                       masem's names are those of metaSEM's
``A_notation="ON", S_notation="WITH"`` for metaSEM's        own examples (``?Digman97``)
default ``XONY`` / ``XWITHY``.
A fixed cell holds its value (R's 15 significant digits),   ``lavaan2RAM``
a free one ``"start*label"``; a later statement about the
same cell replaces an earlier one.
``:=`` lines are definitions and ``==``, ``<``, ``>`` lines  ``lavaan2RAM`` (``mxalgebras``)
constraints, in the order written; a definition may use
another one.
==========================================================  =======================================

The parsed model states where every parameter comes from (:meth:`RAMModel.describe`, also
``print(ram)``): written in the syntax, or added or fixed by a default rule. Where lavaan loses
something the user wrote (a start value in ``start(-1)*lab*x``, a label on a variance that std.lv
fixes, ``equal()``), the numbers follow lavaan and a :class:`~masem.ConvergenceWarning` says what
was lost; the notes are also in :attr:`RAMModel.notes`.

A parsed model can be given another order of its observed variables
(:meth:`RAMModel.with_observed`) without reading the text again. The implied correlations and
their Jacobian are computed by :class:`masem.model.implied.Evaluator`.

References
----------
McArdle, J. J., & McDonald, R. P. (1984). Some algebraic properties of the reticular action
model for moment structures. *British Journal of Mathematical and Statistical Psychology*, 37,
234-251.
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software*, 48(2), 1-36.
Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.
"""

from __future__ import annotations

import difflib
import functools
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from masem.errors import ConvergenceWarning, ModelError
from masem.model.definitions import Constraint, Definition
from masem.model.partable import Row, lavaanify
from masem.model.syntax import parse

__all__ = ["RAMModel", "did_you_mean", "lavaan_to_ram", "model_variables"]

# metaSEM's lavaan2RAM defaults (A.start, S.start for variances; covariances start at 0).
PATH_START = 0.1
VARIANCE_START = 0.5
COVARIANCE_START = 0.0


@dataclass(frozen=True)
class _Cell:
    """One element of A or S: where it is, and whether it is free, fixed or labelled.

    ``row``/``col``: A[dependent variable or indicator, predictor or factor], S[lhs, rhs] in
    lavaan's order. ``label`` is the user's label (None if none), ``fixed`` the fixed value (None
    when free), ``start`` the user's start value of a free cell (None if not given). ``lhs``,
    ``lavaan_op``, ``rhs`` write the element as lavaan does; ``auto_name`` is its automatic
    name and ``default`` the default rule that added or fixed it ("" when written as it stands).
    """

    matrix: str  # "A" or "S"
    row: str
    col: str
    op: str  # display operator: "~" (paths and loadings, semopy's form) or "~~"
    line: int  # 0 when a default added it
    label: str | None = None
    fixed: float | None = None
    start: float | None = None
    lhs: str = ""
    lavaan_op: str = ""
    rhs: str = ""
    auto_name: str = ""
    default: str = ""

    @property
    def kind(self) -> str:
        if self.matrix == "A":
            return "path"
        return "variance" if self.row == self.col else "covariance"

    @property
    def name(self) -> str:
        """The parameter's name: its label, else its automatic name."""
        return self.label if self.label is not None else self.auto_name

    @property
    def element(self) -> str:
        """The element as lavaan writes it, e.g. ``f =~ x1`` or ``y ~~ x``."""
        return f"{self.lhs} {self.lavaan_op} {self.rhs}"


@dataclass(frozen=True)
class RAMModel:
    """A lavaan model translated to RAM form (see :func:`lavaan_to_ram`).

    Attributes
    ----------
    syntax : str
        The lavaan model as given.
    observed, latent : tuple of str
        Observed variables (in the requested order) and latent variables (order of appearance).
    cells : tuple
        Every element of A and S: the written ones in syntax order, then those the defaults add.
    definitions : tuple of Definition
        The ``:=`` lines, in order.
    constraints : tuple of Constraint
        The ``==``, ``<`` and ``>`` lines, in order; each has ``lhs``, ``op``, ``rhs`` (lavaan's
        notation, spaces removed) and ``line``.
    notes : tuple of str
        What lavaan does with the syntax that the user may not expect (also warned once at the
        parse).
    """

    syntax: str
    observed: tuple[str, ...]
    latent: tuple[str, ...]
    cells: tuple[_Cell, ...] = field(repr=False)
    definitions: tuple[Definition, ...] = field(repr=False)
    constraints: tuple[Constraint, ...] = field(repr=False, default=())
    notes: tuple[str, ...] = field(repr=False, default=())
    # What the parse gave, kept for with_observed(): lavaan's parameter table, the observed
    # variables in their natural order, each variable's first line, the names' notation.
    _rows: tuple[Row, ...] = field(repr=False, compare=False, default=())
    _appearance: tuple[str, ...] = field(repr=False, compare=False, default=())
    _lines: tuple[tuple[str, int], ...] = field(repr=False, compare=False, default=())
    _notation: tuple[str, str] = field(repr=False, compare=False, default=("on", "with"))

    @property
    def variables(self) -> tuple[str, ...]:
        """All variables: observed first, then latent (the row/column order of A and S)."""
        return self.observed + self.latent

    def line_of(self, variable: str) -> int:
        """The model line on which ``variable`` first appears (0 if it does not).

        Parameters
        ----------
        variable : str
            A variable of the model.

        Returns
        -------
        int

        Examples
        --------
        >>> lavaan_to_ram("y ~ x\\nz ~ y").line_of("z")
        2
        """
        return dict(self._lines).get(variable, 0)

    @property
    def free_labels(self) -> tuple[str, ...]:
        """The labels the user gave to free parameters, in order (no automatic names)."""
        return tuple(
            dict.fromkeys(c.label for c in self.cells if c.label is not None and c.fixed is None)
        )

    def with_observed(self, observed: Iterable[str]) -> RAMModel:
        """The same model with its observed variables in the order ``observed`` (no second parse).

        Parameters
        ----------
        observed : iterable of str
            Each observed variable of the model once, e.g. in the order of the stage-1 data.

        Returns
        -------
        RAMModel
            Equal to ``lavaan_to_ram(self.syntax, observed)``.

        Examples
        --------
        >>> lavaan_to_ram("y ~ x").with_observed(["x", "y"]).observed
        ('x', 'y')
        """
        return _assemble(
            self.syntax,
            self._rows,
            self.definitions,
            self.constraints,
            self.notes,
            dict(self._lines),
            self._notation,
            observed,
        )

    @property
    def A(self) -> pd.DataFrame:
        """Asymmetric paths in metaSEM's string notation: ``"start*label"`` if free, the value if
        fixed.
        """
        return self._matrix("A")

    @property
    def S(self) -> pd.DataFrame:
        """Symmetric paths in metaSEM's string notation."""
        return self._matrix("S")

    @property
    def F(self) -> pd.DataFrame:
        """Filter matrix: observed variables (rows) by all variables (columns)."""
        v = self.variables
        return pd.DataFrame(
            np.eye(len(self.observed), len(v)), index=list(self.observed), columns=list(v)
        )

    @property
    def parameters(self) -> pd.DataFrame:
        """One row per element of A and S: lval, op, rval (paths and loadings as ``indicator ~
        factor``), label (empty for a fixed unlabelled element), free, value (the fixed value or
        the start value), matrix, line (0 when a default added it), default (the default rule
        behind the element, empty when written as it stands).
        """
        rows = []
        for c in self.cells:
            rows.append(
                {
                    "lval": c.row,
                    "op": c.op,
                    "rval": c.col,
                    "label": c.name if (c.label is not None or c.fixed is None) else "",
                    "free": c.fixed is None,
                    "value": c.fixed if c.fixed is not None else _cell_start(c),
                    "matrix": c.matrix,
                    "line": c.line,
                    "default": c.default,
                }
            )
        return pd.DataFrame(rows)

    def describe(self) -> str:
        """The parsed model in words: every element, where it comes from, the constraints,
        definitions and notes (also ``print(ram)``).

        Returns
        -------
        str
            A table of the elements (line, element as lavaan writes it, name, free or fixed,
            value or start value, and the default rule that added or fixed it), then the
            constraints, definitions and notes.

        Examples
        --------
        >>> print(lavaan_to_ram("y ~ x1 + x2").describe())  # doctest: +ELLIPSIS
        RAM model: observed y, x1, x2; no latent variables
        ...
        """
        return _describe(self)

    def __str__(self) -> str:
        return self.describe()

    def _start(self, cell: _Cell) -> float:
        """The start value of the parameter of ``cell`` (its first cell's, for a shared label)."""
        return self._starts[cell.name]

    @functools.cached_property
    def _starts(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for c in self.cells:
            out.setdefault(c.name, _cell_start(c))
        return out

    def _label_values(self) -> dict[str, float]:
        """Labels whose value is fixed by the syntax (usable in ':=' definitions)."""
        return {c.name: c.fixed for c in self.cells if c.fixed is not None and c.label is not None}

    def _matrix(self, matrix: str) -> pd.DataFrame:
        v = list(self.variables)
        out = pd.DataFrame("0", index=v, columns=v)
        for c in self.cells:
            if c.matrix != matrix:
                continue
            text = (
                r_number(c.fixed) if c.fixed is not None else f"{r_number(_cell_start(c))}*{c.name}"
            )
            out.loc[c.row, c.col] = text
            if matrix == "S":
                out.loc[c.col, c.row] = text
        return out


def _cell_start(c: _Cell) -> float:
    """The start value lavaan2RAM writes into a free cell."""
    if c.start is not None:
        return c.start
    if c.matrix == "A":
        return PATH_START
    return VARIANCE_START if c.row == c.col else COVARIANCE_START


def r_number(value: float) -> str:
    """A number as R's ``as.character`` writes it (15 significant digits, R's choice of fixed or
    scientific notation), the text ``lavaan2RAM`` puts in a cell.
    """
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return "NaN" if value != value else ("Inf" if value > 0 else "-Inf")
    sci = f"{value:.14e}"
    mantissa, exponent = sci.split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    exp = int(exponent)
    scientific = f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    fixed = f"{float(f'{value:.15g}'):.{max(0, 14 - exp)}f}".rstrip("0").rstrip(".")
    # R prefers fixed notation unless it is wider than the scientific one (scipen = 0).
    return fixed if len(fixed) <= len(scientific) else scientific


def lavaan_to_ram(
    model: str,
    observed: Iterable[str] | None = None,
    *,
    A_notation: str = "on",  # noqa: N803 - metaSEM's argument name
    S_notation: str = "with",  # noqa: N803
) -> RAMModel:
    """Translate lavaan model syntax into RAM matrices, as metaSEM's ``lavaan2RAM`` does.

    Parameters
    ----------
    model : str
        lavaan syntax: ``=~`` (loadings), ``~`` (regressions), ``~~`` (variances, covariances),
        several names joined by ``+`` on either side, modifiers (labels ``a*x``, fixed values
        ``1*x`` or ``sqrt(2)*x``, free ``NA*x``, ``start(0.2)*x`` or ``0.2?x``, ``label("a")``),
        equality by shared labels, ``name := expression`` definitions, ``==``, ``<`` and ``>``
        constraints, ``#`` and ``!`` comments, ``;`` between statements, continuation lines.
        The rules, with their sources, are in the docstrings of :mod:`masem.model.syntax`,
        :mod:`masem.model.partable` and this module.
    observed : iterable of str, optional
        The order of the observed variables (metaSEM's ``obs.variables``, e.g. the stage-1
        variables that the model uses); it must list exactly the model's observed variables.
        Default: lavaan2RAM's order (first appearance in the parameter table).
    A_notation, S_notation : str
        The middle of the automatic names ``XonY`` and ``XwithY`` (metaSEM's ``A.notation``,
        ``S.notation``; its defaults are ``"ON"`` and ``"WITH"``).

    Returns
    -------
    RAMModel
        With ``A``, ``S``, ``F`` (DataFrames in metaSEM's string notation), ``parameters``,
        ``constraints``, ``definitions``, ``describe()`` and ``notes``.

    Raises
    ------
    ModelError
        Syntax that lavaan does not read, or that a correlation structure cannot hold (the
        message names the line, the term and what to write instead).

    Warns
    -----
    ConvergenceWarning
        Once per note: where lavaan (and so metaSEM) loses part of what was written.

    References
    ----------
    McArdle, J. J., & McDonald, R. P. (1984). *British Journal of Mathematical and Statistical
    Psychology*, 37, 234-251. Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation
    modeling approach*. Wiley (``lavaan2RAM``). Rosseel, Y. (2012). *Journal of Statistical
    Software*, 48(2), 1-36.

    Examples
    --------
    >>> ram = lavaan_to_ram("y ~ b*x\\nx ~~ 1*x")
    >>> ram.A.loc["y", "x"]
    '0.1*b'
    >>> lavaan_to_ram("y1 + y2 ~ x1 + x2").S.loc["x1", "x2"]  # exogenous: free covariance
    '0*x1withx2'
    """
    if not isinstance(model, str):
        raise ModelError(f"model must be lavaan syntax in a str, got {type(model).__name__}")
    for name, value in (("A_notation", A_notation), ("S_notation", S_notation)):
        if not isinstance(value, str):
            raise ModelError(f"{name} must be a str, got {value!r}")
    parsed = parse(model)
    rows = lavaanify(parsed)
    ram = _assemble(
        model,
        tuple(rows),
        tuple(parsed.definitions),
        tuple(parsed.constraints),
        tuple(parsed.notes),
        parsed.lines,
        (A_notation, S_notation),
        observed,
    )
    for note in ram.notes:
        warnings.warn(note, ConvergenceWarning, stacklevel=2)
    return ram


def _assemble(
    syntax: str,
    rows: tuple[Row, ...],
    definitions: tuple[Definition, ...],
    constraints: tuple[Constraint, ...],
    notes: tuple[str, ...],
    lines: dict[str, int],
    notation: tuple[str, str],
    observed: Iterable[str] | None,
) -> RAMModel:
    """The RAM model of a parameter table with the observed variables in the order ``observed``."""
    latent = list(dict.fromkeys(r.lhs for r in rows if r.op == "=~"))
    everything = dict.fromkeys([r.lhs for r in rows] + [r.rhs for r in rows])
    appearance = [v for v in everything if v not in latent]
    if observed is None:
        order = appearance
    else:
        if isinstance(observed, str) or not isinstance(observed, Iterable):
            raise ModelError(f"observed must be a list of variable names, got {observed!r}")
        order = [str(v) for v in observed]
        missing = [v for v in appearance if v not in order]
        extra = [v for v in order if v not in appearance]
        if missing or extra or len(set(order)) != len(order):
            raise ModelError(
                f"observed must list each observed variable of the model once; model variables: "
                f"{appearance}, given: {order}"
                + (f"; not in the model: {extra}" if extra else "")
                + (f"; missing: {missing}" if missing else "")
            )
    cells, overwritten = _cells(rows, notation)
    notes = notes + tuple(overwritten)
    ram = RAMModel(
        syntax=syntax,
        observed=tuple(order),
        latent=tuple(latent),
        cells=tuple(cells),
        definitions=definitions,
        constraints=constraints,
        notes=notes,
        _rows=rows,
        _appearance=tuple(appearance),
        _lines=tuple(lines.items()),
        _notation=notation,
    )
    _check_names(ram)
    return ram


def _cells(rows: tuple[Row, ...], notation: tuple[str, str]) -> tuple[list[_Cell], list[str]]:
    """One cell per element of A and S (a later row on the same cell replaces an earlier one)."""
    a_notation, s_notation = notation
    cells: dict[tuple, _Cell] = {}
    notes = []
    for r in rows:
        if r.op == "=~":
            matrix, row, col, auto = "A", r.rhs, r.lhs, f"{r.rhs}{a_notation}{r.lhs}"
        elif r.op == "~":
            matrix, row, col, auto = "A", r.lhs, r.rhs, f"{r.lhs}{a_notation}{r.rhs}"
        else:
            matrix, row, col, auto = "S", r.lhs, r.rhs, f"{r.lhs}{s_notation}{r.rhs}"
        key = (matrix, row, col) if matrix == "A" else ("S", *sorted((row, col)))
        cell = _Cell(
            matrix=matrix,
            row=row,
            col=col,
            op="~" if matrix == "A" else "~~",
            line=r.line,
            label=r.label or None,
            fixed=None if r.free else float(r.value),
            start=r.value if r.free else None,
            lhs=r.lhs,
            lavaan_op=r.op,
            rhs=r.rhs,
            auto_name=auto,
            default=r.default,
        )
        if key in cells and cells[key].line:
            first = cells[key]
            notes.append(
                f"line {r.line}: {cell.element} and {first.element} (line {first.line}) are the "
                f"same element of {matrix}; as in metaSEM's lavaan2RAM the later one counts"
            )
        cells[key] = cell
    return list(cells.values()), notes


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A hint for a misspelt name: the known names that differ only in case or are close to it.

    Parameters
    ----------
    name : str
        The unknown name.
    known : iterable of str
        The names it could have meant.

    Returns
    -------
    str
        ``" (did you mean 'TFL'?)"``, or ``""`` when nothing is close.

    Examples
    --------
    >>> did_you_mean("TLF", ["JS", "TFL", "LMX"])
    " (did you mean 'TFL'?)"
    >>> did_you_mean("js", ["JS", "OC"])
    " (did you mean 'JS'?)"
    """
    known = list(dict.fromkeys(str(k) for k in known))
    same_case = [k for k in known if k.lower() == name.lower()]
    lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.6)
    matches = list(dict.fromkeys(same_case + [lower[c] for c in close]))
    if not matches:
        return ""
    return " (did you mean " + " or ".join(f"'{m}'" for m in matches) + "?)"


def _check_names(ram: RAMModel) -> None:
    """Labels, definitions and constraints must name what they mean (messages name the line)."""
    variables = set(ram.variables)
    user_labels = {c.label for c in ram.cells if c.label is not None}
    known: dict[str, _Cell] = {}
    for c in ram.cells:
        if c.label is None and c.fixed is not None:
            continue  # a fixed, unlabelled element is not a parameter
        where = f"line {c.line}" if c.line else "an element the defaults add"
        if c.name in variables:
            raise ModelError(
                f"{where}: the label '{c.name}' of {c.element} is also a variable name; rename "
                "the label"
            )
        if c.label is None and c.name in user_labels:
            raise ModelError(
                f"{where}: the automatic name '{c.name}' of {c.element} is also used as a label "
                "elsewhere, which would make them one parameter; label this element explicitly "
                "or choose another label"
            )
        known.setdefault(c.name, c)
    defined = _check_definitions(ram, known, variables)
    for con in ram.constraints:
        _unknown_names(ram, con.names, known, defined, con.line, f"the constraint '{con.text}'")


def _check_definitions(ram: RAMModel, known: dict, variables: set[str]) -> set[str]:
    defined = {d.name for d in ram.definitions}
    seen: set[str] = set()
    for d in ram.definitions:
        if d.name in known or d.name in variables or d.name in seen:
            what = (
                "a parameter label"
                if d.name in known
                else ("a variable" if d.name in variables else "an earlier definition")
            )
            raise ModelError(
                f"line {d.line}: the defined name '{d.name}' is already {what}; choose another name"
            )
        seen.add(d.name)
        _unknown_names(ram, d.names, known, defined, d.line, f"'{d.name} := {d.expression}'")
    _check_cycles(ram.definitions)
    return defined


def _unknown_names(ram, names, known, defined, line: int, what: str) -> None:
    unknown = [n for n in names if n not in known and n not in defined]
    if not unknown:
        return
    candidates = list(known) + sorted(defined)
    named = ", ".join(f"'{n}'{did_you_mean(n, candidates)}" for n in unknown)
    labels = list(ram.free_labels)
    defs = [d.name for d in ram.definitions if d.line != line]
    raise ModelError(
        f"line {line}: {what} uses {named}, which {'is' if len(unknown) == 1 else 'are'} not a "
        "parameter label or a defined name; labels available: "
        f"{labels if labels else 'none (label a parameter, e.g. y ~ b*x)'}"
        + (f"; defined names: {defs}" if defs else "")
    )


def _check_cycles(definitions: tuple[Definition, ...]) -> None:
    """A definition may use another (earlier or later), but not itself through a chain."""
    uses = {d.name: [n for n in d.names if n in {e.name for e in definitions}] for d in definitions}
    state: dict[str, int] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            loop = chain[chain.index(name) :] + [name]
            line = next(d.line for d in definitions if d.name == name)
            raise ModelError(
                f"line {line}: the definitions {' -> '.join(loop)} refer to each other in a "
                "circle; a definition cannot depend on itself"
            )
        state[name] = 1
        for other in uses[name]:
            visit(other, chain + [name])
        state[name] = 2

    for d in definitions:
        visit(d.name, [])


def _describe(ram: RAMModel) -> str:
    latent = ", ".join(ram.latent) if ram.latent else None
    lines = [
        f"RAM model: observed {', '.join(ram.observed)}; "
        + (f"latent {latent}" if latent else "no latent variables")
    ]
    rows = [("line", "element", "name", "status", "value", "from")]
    for c in ram.cells:
        rows.append(
            (
                str(c.line) if c.line else "-",
                c.element,
                c.name if (c.label is not None or c.fixed is None) else "",
                "fixed" if c.fixed is not None else "free",
                r_number(c.fixed) if c.fixed is not None else f"start {r_number(_cell_start(c))}",
                ("added: " if not c.line else "default: ") + c.default if c.default else "written",
            )
        )
    widths = [max(len(row[k]) for row in rows) for k in range(5)]
    n_free = len({c.name for c in ram.cells if c.fixed is None})
    lines.append(f"{len(ram.cells)} elements ({n_free} free parameters):")
    for row in rows:
        lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths)) + "  " + row[5])
    if ram.constraints:
        lines.append("constraints:")
        lines += [f"  line {c.line}: {c.text}" for c in ram.constraints]
    if ram.definitions:
        lines.append("definitions:")
        lines += [f"  line {d.line}: {d.name} := {d.expression}" for d in ram.definitions]
    lines.append(
        "in tssem2 with diag_constraints=False (the default) the (residual) variance of every "
        "variable with a free incoming path, and any free variance of an observed variable, is "
        "computed from diag(Sigma) = 1 rather than estimated (metaSEM's wls)"
    )
    if ram.notes:
        lines.append("notes:")
        lines += [f"  {note}" for note in ram.notes]
    return "\n".join(lines)


def model_variables(model: str, order: Iterable[str] | None = None) -> list[str]:
    """The observed variables of a lavaan model: the constructs that stage 1 must pool for it.

    Latent variables (factors defined with ``=~``) are not observed and are left out.

    Parameters
    ----------
    model : str
        lavaan syntax (see :func:`lavaan_to_ram`).
    order : iterable of str, optional
        Names that set the order of the result, typically the codebook of a study database
        (``database.constructs["code"]``); every observed variable of the model must be among
        them. Default: lavaan2RAM's order of the variables.

    Returns
    -------
    list of str
        The observed variables, in the order of ``order`` (or of the model).

    Raises
    ------
    ModelError
        ``model`` is not valid lavaan syntax (the message names the line), ``order`` is not a
        collection of names, or the model uses a variable that ``order`` lacks (named in the
        message with its line and the closest name of ``order``).

    Examples
    --------
    >>> model_variables("PE ~ HPWP\\nJS ~ PE")
    ['PE', 'JS', 'HPWP']
    >>> model_variables("PE ~ HPWP\\nJS ~ PE", order=["HPWP", "PE", "TP", "JS"])
    ['HPWP', 'PE', 'JS']
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the fit warns about the same notes
        ram = lavaan_to_ram(model)
    observed = ram.observed
    if order is None:
        return list(observed)
    if isinstance(order, str) or not isinstance(order, Iterable):
        raise ModelError(f"order must be a list of variable names (e.g. a codebook), got {order!r}")
    names = [str(v) for v in order]
    missing = [v for v in observed if v not in names]
    if missing:
        where = "; ".join(f"'{v}' (line {ram.line_of(v)}){did_you_mean(v, names)}" for v in missing)
        raise ModelError(
            f"the model uses {where}, which {'is' if len(missing) == 1 else 'are'} not in order "
            f"({names}); add {'it' if len(missing) == 1 else 'them'} there (for a study database: "
            "to constructs.csv) or rename the model's variables"
        )
    return [v for v in dict.fromkeys(names) if v in observed]
