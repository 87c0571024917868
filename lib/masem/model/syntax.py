"""lavaan syntax -> the cells of A and S as written: statements, terms, modifiers and label rules.

What semopy's lavaan parser (:func:`semopy.parser.separate_token`) splits into left side,
operator and right side is read here into one cell per model element, with the modifiers of
repeated terms merged (labels, fixed values, ``start()``); ``:=`` lines go to
:mod:`masem.model.definitions`. :func:`masem.lavaan_to_ram` assembles the cells into a
:class:`~masem.model.ram.RAMModel`. semopy is imported on the first parse, not with masem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from masem.errors import ModelError
from masem.model.definitions import Definition, parse_definition

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


def _statements(syntax: str) -> list[tuple[int, str]]:
    """Logical statements with the line they start on: comments dropped, ';' split, continuations
    joined.
    """
    pieces: list[tuple[int, str]] = []
    for number, raw in enumerate(syntax.splitlines(), start=1):
        text = re.split(r"[#!]", raw, maxsplit=1)[0]
        for part in text.split(";"):
            part = part.strip()
            if part:
                pieces.append((number, part))
    joined: list[tuple[int, str]] = []
    for number, part in pieces:
        # lavaan continues a formula on the next line after a trailing operator or before a
        # leading '+'.
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
            kind, groups = _separate_token(text)
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
                    f"line {line}: {row} {display} {col} is fixed at both {cell.fixed:g} and "
                    f"{value:g}"
                )
            cell = replace(cell, fixed=value)
        elif _IS_NAME.match(modifier):
            if cell.label is not None and cell.label != modifier:
                raise ModelError(
                    f"line {line}: {row} {display} {col} has two labels, '{cell.label}' and "
                    f"'{modifier}'"
                )
            cell = replace(cell, label=modifier)
        else:
            raise ModelError(f"line {line}: cannot read the modifier '{modifier}' of {rhs}")
    cells[key] = cell


def _add_auto_variances(cells: list[_Cell], observed: list[str], latent: list[str]) -> list[_Cell]:
    """auto.var = TRUE and std.lv = TRUE: a free (residual) variance for every observed variable,
    a variance fixed at 1 for every latent variable, unless the syntax specifies it.
    """
    specified = {c.row for c in cells if c.matrix == "S" and c.row == c.col}
    auto = [
        _Cell(matrix="S", row=v, col=v, op="~~", line=0, fixed=1.0 if v in latent else None)
        for v in observed + latent
        if v not in specified
    ]
    return cells + auto


def _check_labels(
    cells: list[_Cell], definitions: list[Definition], variables: list[str]
) -> list[_Cell]:
    """Validate labels and definitions; return the cells with fixed values spread over shared
    labels.
    """
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


def _separate_token(text: str):
    """Semopy's split of one statement into (kind, (left, operator, right)); semopy loads on first
    use.
    """
    from semopy.parser import (
        separate_token,
    )  # semopy and its imports take 0.4 s: not at `import masem`

    return separate_token(text)
