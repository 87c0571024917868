"""The model layer: lavaan syntax -> RAM matrices (A, S, F), parameter map and implied correlations.

A structural model is written in lavaan syntax (Rosseel, 2012) and translated to McArdle and
McDonald's (1984) reticular action model (RAM): A holds the asymmetric paths (regressions and
loadings), S the symmetric paths (variances and covariances), F filters the observed variables,
and the model-implied matrix of the observed variables is

    Sigma = F (I - A)^-1 S (I - A)^-T F'.

The conventions are those of metaSEM's ``lavaan2RAM`` (Cheung, 2015): latent variances fixed at
1 (``std.lv = TRUE``), every variable given a (residual) variance (``auto.var = TRUE``), no
automatic covariances, start values 0.1 for paths, 0.5 for variances and 0 for covariances, and
unlabelled parameters named ``XonY`` (X regressed on, or loading on, Y) and ``XwithY``.

Statements are split into left side, operator and right side by semopy's lavaan parser
(:func:`semopy.parser.separate_token`); what semopy does not handle (``:=`` definitions,
``start()`` modifiers, repeated terms that merge their modifiers, line numbers in errors) is
handled here.

References
----------
McArdle, J. J., & McDonald, R. P. (1984). Some algebraic properties of the reticular action
model for moment structures. *British Journal of Mathematical and Statistical Psychology*, 37,
234-251.
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software*, 48(2), 1-36.
Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.
Neudecker, H., & Satorra, A. (1991). Linear structural relations: Gradient and Hessian of the
fitting function. *Statistics & Probability Letters*, 11, 57-61.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from semopy.parser import separate_token

from masem.model.definitions import Definition, parse_definition
from masem.effects import vechs_indices
from masem.errors import ModelError

__all__ = ["RAMModel", "lavaan_to_ram", "model_variables"]

# metaSEM's lavaan2RAM defaults (A.start, S.start for variances; covariances start at 0).
PATH_START = 0.1
VARIANCE_START = 0.5
COVARIANCE_START = 0.0

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NAME = r"[A-Za-z_][\w.]*"
_START = re.compile(rf"start\(\s*({_NUMBER})\s*\)\s*\*\s*({_NAME})")
_QUESTION_START = re.compile(rf"({_NUMBER})\s*\?\s*({_NAME})")
_LABEL_CALL = re.compile(r"label\(\s*[\"']?([A-Za-z_]\w*)[\"']?\s*\)")
_CONSTRAINT = re.compile(r"==|<(?!~)|>")
_IS_NUMBER = re.compile(rf"{_NUMBER}\Z")
_IS_NAME = re.compile(rf"{_NAME}\Z")
_ROUGH = re.compile(r"\s*([\w.]+)\s*(=~|~~|~)(.*)\Z")
_TERM = re.compile(rf"(?:(?:{_NUMBER}|{_NAME})\s*\*\s*)?{_NAME}\Z")


@dataclass(frozen=True)
class _Cell:
    """One element of A or S as the syntax specifies it (modifiers of repeated terms merged)."""

    matrix: str  # "A" or "S"
    row: str  # A: the dependent variable / indicator; S: the first variable as written
    col: str
    op: str  # display operator: "~" (paths and loadings) or "~~"
    line: int
    label: str | None = None
    fixed: float | None = None
    start: float | None = None

    @property
    def kind(self) -> str:
        if self.matrix == "A":
            return "path"
        return "variance" if self.row == self.col else "covariance"

    @property
    def default_label(self) -> str:
        return f"{self.row}on{self.col}" if self.matrix == "A" else f"{self.row}with{self.col}"

    @property
    def name(self) -> str:
        return self.label if self.label is not None else self.default_label


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
        Every specified element of A and S, in syntax order, then the automatic variances.
    definitions : tuple of Definition
        The ``:=`` lines, in order.
    """

    syntax: str
    observed: tuple[str, ...]
    latent: tuple[str, ...]
    cells: tuple[_Cell, ...] = field(repr=False)
    definitions: tuple[Definition, ...] = field(repr=False)

    @property
    def variables(self) -> tuple[str, ...]:
        """All variables: observed first, then latent (the row/column order of A and S)."""
        return self.observed + self.latent

    @property
    def A(self) -> pd.DataFrame:
        """Asymmetric paths in metaSEM's string notation: ``"start*label"`` if free, the value if fixed."""
        return self._notation("A")

    @property
    def S(self) -> pd.DataFrame:
        """Symmetric paths in metaSEM's string notation."""
        return self._notation("S")

    @property
    def F(self) -> pd.DataFrame:
        """Filter matrix: observed variables (rows) by all variables (columns)."""
        v = self.variables
        return pd.DataFrame(np.eye(len(self.observed), len(v)), index=list(self.observed), columns=list(v))

    @property
    def parameters(self) -> pd.DataFrame:
        """One row per specified element: lval, op, rval, label, free, value/start, matrix."""
        rows = []
        for c in self.cells:
            fixed = c.fixed
            rows.append(
                {
                    "lval": c.row,
                    "op": c.op,
                    "rval": c.col,
                    "label": c.name if (c.label is not None or c.fixed is None) else "",
                    "free": fixed is None,
                    "value": fixed if fixed is not None else self._start(c),
                    "matrix": c.matrix,
                }
            )
        return pd.DataFrame(rows)

    def _start(self, cell: _Cell) -> float:
        return self._starts[cell.name]

    @functools.cached_property
    def _starts(self) -> dict[str, float]:
        """Start value per parameter name: the first start() given for it, else metaSEM's default."""
        defaults = {"path": PATH_START, "variance": VARIANCE_START, "covariance": COVARIANCE_START}
        out: dict[str, float] = {}
        for c in self.cells:
            if c.start is not None:
                out.setdefault(c.name, c.start)
        for c in self.cells:
            out.setdefault(c.name, defaults[c.kind])
        return out

    def _label_values(self) -> dict[str, float]:
        """Labels whose value is fixed by the syntax (usable in ':=' definitions)."""
        return {c.name: c.fixed for c in self.cells if c.fixed is not None and c.label is not None}

    def _notation(self, matrix: str) -> pd.DataFrame:
        v = list(self.variables)
        out = pd.DataFrame("0", index=v, columns=v)
        for c in self.cells:
            if c.matrix != matrix:
                continue
            text = f"{c.fixed:g}" if c.fixed is not None else f"{self._start(c):g}*{c.name}"
            out.loc[c.row, c.col] = text
            if matrix == "S":
                out.loc[c.col, c.row] = text
        return out


def lavaan_to_ram(model: str, observed: list[str] | None = None) -> RAMModel:
    """Translate lavaan model syntax into RAM matrices, metaSEM style.

    Parameters
    ----------
    model : str
        lavaan syntax: ``=~`` (loadings), ``~`` (regressions), ``~~`` (variances, covariances),
        labels ``a*x``, fixed values ``1*x``, free ``NA*x``, start values ``start(0.2)*x``,
        equality by shared labels, ``name := expression`` definitions, ``#`` comments, ``;``
        between statements.
    observed : list of str, optional
        The order of the observed variables (e.g. the stage-1 variables that the model uses).
        Defaults to their order of appearance. Must contain exactly the model's observed
        variables.

    Returns
    -------
    RAMModel
        With ``A``, ``S``, ``F`` (DataFrames in metaSEM's string notation) and ``parameters``.

    References
    ----------
    McArdle, J. J., & McDonald, R. P. (1984). *British Journal of Mathematical and Statistical
    Psychology*, 37, 234-251. Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation
    modeling approach*. Wiley (``lavaan2RAM``).

    Examples
    --------
    >>> ram = lavaan_to_ram("y ~ b*x\\nx ~~ 1*x")
    >>> ram.A.loc["y", "x"]
    '0.1*b'
    """
    if not isinstance(model, str):
        raise ModelError(f"model must be lavaan syntax in a str, got {type(model).__name__}")
    cells, definitions, latent, seen = _parse(model)
    observed_seen = [v for v in seen if v not in latent]
    if observed is None:
        order = observed_seen
    else:
        order = [str(v) for v in observed]
        missing = [v for v in observed_seen if v not in order]
        extra = [v for v in order if v not in observed_seen]
        if missing or extra or len(set(order)) != len(order):
            raise ModelError(
                f"observed must list each observed variable of the model once; model variables: "
                f"{observed_seen}, given: {order}"
            )
    cells = _check_labels(_add_auto_variances(cells, order, latent), definitions, order + latent)
    return RAMModel(
        syntax=model,
        observed=tuple(order),
        latent=tuple(latent),
        cells=tuple(cells),
        definitions=tuple(definitions),
    )


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
        them. Default: the order in which the variables first appear in the model.

    Returns
    -------
    list of str
        The observed variables, in the order of ``order`` (or of appearance).

    Raises
    ------
    ModelError
        ``model`` is not valid lavaan syntax (the message names the line), ``order`` is not a
        collection of names, or the model uses a variable that ``order`` lacks (named in the
        message).

    Examples
    --------
    >>> model_variables("PE ~ HPWP\\nJS ~ PE")
    ['PE', 'HPWP', 'JS']
    >>> model_variables("PE ~ HPWP\\nJS ~ PE", order=["HPWP", "PE", "TP", "JS"])
    ['HPWP', 'PE', 'JS']
    """
    observed = lavaan_to_ram(model).observed
    if order is None:
        return list(observed)
    if isinstance(order, str) or not isinstance(order, Iterable):
        raise ModelError(f"order must be a list of variable names (e.g. a codebook), got {order!r}")
    names = [str(v) for v in order]
    missing = [v for v in observed if v not in names]
    if missing:
        raise ModelError(
            f"the model uses {missing}, which {'is' if len(missing) == 1 else 'are'} not in order "
            f"({names}); add {'it' if len(missing) == 1 else 'them'} there (for a study database: to "
            "constructs.csv) or rename the model's variables"
        )
    return [v for v in dict.fromkeys(names) if v in observed]


def _statements(syntax: str) -> list[tuple[int, str]]:
    """Logical statements with the line they start on: comments dropped, ';' split, continuations joined."""
    pieces: list[tuple[int, str]] = []
    for number, raw in enumerate(syntax.splitlines(), start=1):
        text = re.split(r"[#!]", raw, maxsplit=1)[0]
        for part in text.split(";"):
            part = part.strip()
            if part:
                pieces.append((number, part))
    joined: list[tuple[int, str]] = []
    for number, part in pieces:
        # lavaan continues a formula on the next line after a trailing operator or before a leading '+'.
        if joined and (joined[-1][1].endswith(("+", "*", "~", "=")) or part.startswith("+")):
            joined[-1] = (joined[-1][0], f"{joined[-1][1]} {part}")
        else:
            joined.append((number, part))
    return joined


def _parse(syntax: str) -> tuple[list[_Cell], list[Definition], list[str], list[str]]:
    cells: dict[tuple[str, str, str], _Cell] = {}
    definitions: list[Definition] = []
    latent: list[str] = []
    seen: list[str] = []
    statements = _statements(syntax)
    if not statements:
        raise ModelError("the model syntax is empty: give at least one '~', '=~' or '~~' statement")
    for line, text in statements:
        if ":=" in text:
            name, expression = text.split(":=", 1)
            definitions.append(parse_definition(name.strip(), expression, line))
            continue
        if _CONSTRAINT.search(text):
            raise ModelError(
                f"line {line}: '{text}': constraints with ==, < or > are not supported; give "
                "parameters the same label to make them equal"
            )
        starts = {}
        for regex in (_START, _QUESTION_START):
            for value, name in regex.findall(text):
                starts[name] = float(value)
            text = regex.sub(lambda m: m.group(2), text)
        text = _LABEL_CALL.sub(lambda m: m.group(1), text)
        try:
            kind, groups = separate_token(text)
        except SyntaxError:
            kind, groups = -1, ()
        if kind != 0:
            rough = _ROUGH.match(text)
            if rough:  # a recognisable statement: let the term check say what is wrong
                for term in rough.group(3).split("+"):
                    _term(term, line, text)
            raise ModelError(
                f"line {line}: cannot parse '{text}'; expected 'lhs op rhs' with op one of "
                "=~ (loadings), ~ (regressions), ~~ (variances and covariances) or := (definitions)"
            )
        lefts, op, rights = groups
        op = op.strip()
        if op not in ("=~", "~", "~~"):
            raise ModelError(f"line {line}: operator '{op}' is not supported; use =~, ~, ~~ or :=")
        for lhs in (s.strip() for s in lefts.split(",")):
            _check_variable_name(lhs, line, text)
            if op == "=~" and lhs not in latent:
                latent.append(lhs)
            _remember(seen, lhs)
            for term in rights.split("+"):
                rhs, modifier = _term(term, line, text)
                start = starts.get(rhs)
                _remember(seen, rhs)
                _add_cell(cells, op, lhs, rhs, modifier, start, line)
    return list(cells.values()), definitions, latent, seen


def _remember(seen: list[str], name: str) -> None:
    if name not in seen:
        seen.append(name)


def _check_variable_name(name: str, line: int, text: str) -> None:
    if not _IS_NAME.match(name):
        raise ModelError(f"line {line}: '{name}' in '{text}' is not a valid variable name")


def _term(term: str, line: int, text: str) -> tuple[str, str | None]:
    """Split one right-hand-side term ``modifier*variable`` into (variable, modifier)."""
    term = term.strip()
    if not term:
        raise ModelError(f"line {line}: empty term in '{text}' (a '+' with nothing after it?)")
    if _IS_NUMBER.match(term):
        raise ModelError(
            f"line {line}: '{text}' has the constant '{term}' where a variable is expected; "
            "intercepts and means (~ 1) are not part of a correlation structure"
        )
    if term.count("*") > 1:
        raise ModelError(
            f"line {line}: '{term}' in '{text}' has more than one modifier; repeat the term "
            "instead, e.g. 'a*x + start(0.2)*x'"
        )
    match = _TERM.match(term)
    if not match:
        raise ModelError(
            f"line {line}: cannot read the term '{term}' in '{text}'; expected 'variable', "
            "'label*variable', 'value*variable', 'NA*variable' or 'start(value)*variable'"
        )
    modifier, _, name = term.rpartition("*")
    return name.strip(), (modifier.strip() or None)


def _add_cell(
    cells: dict, op: str, lhs: str, rhs: str, modifier: str | None, start: float | None, line: int
) -> None:
    if op == "=~":
        matrix, row, col, display = "A", rhs, lhs, "~"
    elif op == "~":
        matrix, row, col, display = "A", lhs, rhs, "~"
    else:
        matrix, row, col, display = "S", lhs, rhs, "~~"
    if matrix == "A" and row == col:
        raise ModelError(f"line {line}: '{lhs} {op} {rhs}' regresses a variable on itself")
    key = (matrix,) + ((row, col) if matrix == "A" else tuple(sorted((row, col))))
    cell = cells.get(key) or _Cell(matrix=matrix, row=row, col=col, op=display, line=line)
    if start is not None:
        cell = replace(cell, start=start)
    if modifier is not None and modifier != "NA":
        if _IS_NUMBER.match(modifier):
            value = float(modifier)
            if cell.fixed is not None and cell.fixed != value:
                raise ModelError(
                    f"line {line}: {row} {display} {col} is fixed at both {cell.fixed:g} and {value:g}"
                )
            cell = replace(cell, fixed=value)
        elif _IS_NAME.match(modifier):
            if cell.label is not None and cell.label != modifier:
                raise ModelError(
                    f"line {line}: {row} {display} {col} has two labels, '{cell.label}' and '{modifier}'"
                )
            cell = replace(cell, label=modifier)
        else:
            raise ModelError(f"line {line}: cannot read the modifier '{modifier}' of {rhs}")
    cells[key] = cell


def _add_auto_variances(cells: list[_Cell], observed: list[str], latent: list[str]) -> list[_Cell]:
    """auto.var = TRUE and std.lv = TRUE: a free (residual) variance for every observed variable,
    a variance fixed at 1 for every latent variable, unless the syntax specifies it."""
    specified = {c.row for c in cells if c.matrix == "S" and c.row == c.col}
    auto = [
        _Cell(matrix="S", row=v, col=v, op="~~", line=0, fixed=1.0 if v in latent else None)
        for v in observed + latent
        if v not in specified
    ]
    return cells + auto


def _check_labels(cells: list[_Cell], definitions: list[Definition], variables: list[str]) -> list[_Cell]:
    """Validate labels and definitions; return the cells with fixed values spread over shared labels."""
    kinds: dict[str, tuple[str, _Cell]] = {}
    fixed: dict[str, float] = {}
    user_labels = {c.label for c in cells if c.label is not None}
    for c in cells:
        if c.label is None and c.fixed is not None:
            continue  # a fixed, unlabelled element is not a parameter
        name = c.name
        where = f"line {c.line}" if c.line else "automatic variance"
        if name in variables:
            raise ModelError(
                f"{where}: the label '{name}' of {c.row} {c.op} {c.col} is also a variable name; "
                "rename the label"
            )
        if c.label is None and name in user_labels:
            raise ModelError(
                f"{where}: the automatic name '{name}' of {c.row} {c.op} {c.col} is also used as a "
                "label elsewhere; label this parameter explicitly"
            )
        if name in kinds and kinds[name][0] != c.kind:
            other = kinds[name][1]
            raise ModelError(
                f"{where}: the label '{name}' is used for a {c.kind} ({c.row} {c.op} {c.col}) and "
                f"for a {other.kind} ({other.row} {other.op} {other.col}); equal labels must join "
                "parameters of the same kind"
            )
        kinds.setdefault(name, (c.kind, c))
        if c.fixed is not None:
            if name in fixed and fixed[name] != c.fixed:
                raise ModelError(
                    f"{where}: the label '{name}' is fixed at both {fixed[name]:g} and {c.fixed:g}"
                )
            fixed[name] = c.fixed
    # An element that shares its label with a fixed element is fixed too (lavaan semantics).
    cells = [replace(c, fixed=fixed[c.label]) if c.label in fixed else c for c in cells]
    for d in definitions:
        if d.name in kinds or d.name in variables:
            raise ModelError(
                f"line {d.line}: the defined name '{d.name}' is already a parameter label, a "
                "variable or an earlier definition; choose another name"
            )
        unknown = [n for n in d.names if n not in kinds]
        if unknown:
            raise ModelError(
                f"line {d.line}: '{d.name} := {d.expression}' uses {unknown}, which "
                f"{'is' if len(unknown) == 1 else 'are'} not a parameter label or an earlier "
                f"definition; labels available: {sorted(kinds)}"
            )
        kinds[d.name] = ("defined", None)
    return cells


class Evaluator:
    """Implied correlations of a RAM model and their exact Jacobian, for a given parameter vector.

    ``computed=True`` (diag_constraints=False) removes the free variances of the observed
    variables from the parameters and solves them from diag(Sigma) = 1; the Jacobian then
    includes their implicit derivatives. ``computed=False`` keeps them free and reports the
    constraints h = diag(Sigma) - 1 with their Jacobian instead (Cheung, 2015, ch. 7).

    The derivatives are those of Sigma = F B S B' F' with B = (I - A)^-1:
    dSigma/dA_ij = F B e_i e_j' B S B' F' + its transpose, dSigma/dS_ij = F B (e_i e_j' + e_j e_i') B' F'
    (Neudecker & Satorra, 1991).
    """

    def __init__(self, ram: RAMModel, computed: bool):
        self.ram = ram
        variables = list(ram.variables)
        index = {v: i for i, v in enumerate(variables)}
        self.m, self.p = len(variables), len(ram.observed)
        self.A0 = np.zeros((self.m, self.m))
        self.S0 = np.zeros((self.m, self.m))
        names: list[str] = []
        starts: list[float] = []
        cell_rows: list[tuple] = []
        for c in ram.cells:
            i, j = index[c.row], index[c.col]
            if c.fixed is not None:
                target = self.A0 if c.matrix == "A" else self.S0
                target[i, j] = c.fixed
                if c.matrix == "S":
                    target[j, i] = c.fixed
                continue
            if c.name not in names:
                names.append(c.name)
                starts.append(ram._start(c))
            cell_rows.append((c, i, j, names.index(c.name)))
        # Which observed variables have their variance solved from / constrained by diag = 1.
        diag_vars = [
            (i, k) for (c, i, j, k) in cell_rows if c.matrix == "S" and i == j and i < self.p
        ]
        self.diag_obs = np.array([i for i, _ in diag_vars], dtype=int)
        self.computed = computed
        if computed:
            for i, k in diag_vars:
                sharing = [c.row for (c, _, _, kk) in cell_rows if kk == k]
                if len(sharing) > 1:
                    raise ModelError(
                        f"the label '{names[k]}' makes the error variances of {sharing} equal; with "
                        "diag_constraints=False error variances are computed, not estimated, so they "
                        "cannot be constrained: use diag_constraints=True or remove the label"
                    )
            drop = {k for _, k in diag_vars}
            self.computed_names = tuple(names[k] for _, k in diag_vars)
            keep = [k for k in range(len(names)) if k not in drop]
            renumber = {k: n for n, k in enumerate(keep)}
            cell_rows = [(c, i, j, renumber[k]) for (c, i, j, k) in cell_rows if k not in drop]
            names = [names[k] for k in keep]
            starts = [starts[k] for k in keep]
        else:
            self.computed_names = ()
        self.names = tuple(names)
        self.start = np.array(starts, dtype=float)
        self.cells = tuple(cell_rows)
        a = [(i, j, k) for (c, i, j, k) in cell_rows if c.matrix == "A"]
        s = [(i, j, k) for (c, i, j, k) in cell_rows if c.matrix == "S"]
        self.a_row, self.a_col, self.a_par = (np.array(x, dtype=int) for x in zip(*a)) if a else _empty3()
        self.s_row, self.s_col, self.s_par = (np.array(x, dtype=int) for x in zip(*s)) if s else _empty3()
        n = len(names)
        self.n = n
        self.a_map = np.zeros((len(a), n))
        self.a_map[np.arange(len(a)), self.a_par] = 1.0
        self.s_map = np.zeros((len(s), n))
        self.s_map[np.arange(len(s)), self.s_par] = 1.0
        self.s_half = np.where(self.s_row == self.s_col, 0.5, 1.0)
        rows, cols = vechs_indices(self.p)
        self.rows, self.cols = rows, cols
        self.n_constraints = 0 if computed else len(self.diag_obs)
        self.fixed_labels = ram._label_values()

    def matrices(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A, S (with computed variances filled in) and B = (I - A)^-1 at theta."""
        A = self.A0.copy()
        A[self.a_row, self.a_col] = theta[self.a_par]
        S = self.S0.copy()
        S[self.s_row, self.s_col] = theta[self.s_par]
        S[self.s_col, self.s_row] = theta[self.s_par]
        try:
            B = np.linalg.inv(np.eye(self.m) - A)
        except np.linalg.LinAlgError:
            raise ModelError(
                "I - A is singular at the current parameter values: the paths form a loop with "
                "unit gain; check the model's feedback loops"
            ) from None
        if self.computed and len(self.diag_obs):
            d = self.diag_obs
            U = B[: self.p]
            sigma0 = np.einsum("ij,ij->i", (U[d] @ S), U[d])
            M = U[d][:, d] ** 2
            try:
                S[d, d] = np.linalg.solve(M, 1.0 - sigma0)
            except np.linalg.LinAlgError:
                raise ModelError(
                    "the error variances cannot be solved from diag(Sigma) = 1 for this model; "
                    "use diag_constraints=True"
                ) from None
        return A, S, B

    def evaluate(self, theta: np.ndarray) -> dict:
        """rho = vechs(Sigma), its Jacobian J, the constraints h (diag = 1) and their Jacobian.

        With computed variances, also their values ``s`` and derivatives ``ds``.
        """
        A, S, B = self.matrices(theta)
        p = self.p
        U = B[:p]
        V = U @ S @ B.T  # F B S B' : Sigma = V[:, :p]
        sigma = V[:, :p]
        r, c = self.rows, self.cols
        d = self.diag_obs
        if self.computed:
            J = self._jacobian(U, V, r, c)
            out = {"rho": sigma[r, c], "A": A, "S": S, "sigma": sigma}
            if len(d):
                Jd = self._jacobian(U, V, d, d)
                M = U[d][:, d] ** 2
                ds = -np.linalg.solve(M, Jd)
                Js = U[r][:, d] * U[c][:, d]
                J = J + Js @ ds
                out["s"] = S[d, d]
                out["ds"] = ds
            out["J"] = J
            out["h"] = np.zeros(0)
            out["Jh"] = np.zeros((0, self.n))
            return out
        J = self._jacobian(U, V, r, c)
        Jh = self._jacobian(U, V, d, d)
        return {
            "rho": sigma[r, c],
            "J": J,
            "h": sigma[d, d] - 1.0,
            "Jh": Jh,
            "A": A,
            "S": S,
            "sigma": sigma,
        }

    def _jacobian(self, U: np.ndarray, V: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        Ur, Uc, Vr, Vc = U[r], U[c], V[r], V[c]
        ai, aj = self.a_row, self.a_col
        JA = Ur[:, ai] * Vc[:, aj] + Vr[:, aj] * Uc[:, ai]
        si, sj = self.s_row, self.s_col
        JS = (Ur[:, si] * Uc[:, sj] + Ur[:, sj] * Uc[:, si]) * self.s_half
        return JA @ self.a_map + JS @ self.s_map

    def label_values(self, theta: np.ndarray, state: dict) -> dict[str, tuple[float, np.ndarray]]:
        """(value, gradient wrt theta) of every label: free, computed and fixed."""
        eye = np.eye(self.n)
        values = {name: (float(theta[k]), eye[k]) for k, name in enumerate(self.names)}
        for k, name in enumerate(self.computed_names):
            values[name] = (float(state["s"][k]), state["ds"][k])
        for name, value in self.fixed_labels.items():
            values[name] = (float(value), np.zeros(self.n))
        return values


def _empty3() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    e = np.zeros(0, dtype=int)
    return e, e.copy(), e.copy()
