"""Moderators written in the model itself, as metaSEM's ``osmasem2`` reads them.

A line ``a == a0 + a1*data.individualism`` says that the parameter labelled ``a`` is ``a0`` at
moderator 0 and changes by ``a1`` per unit of the data column ``individualism`` (several
``+ b*data.z`` terms for several moderators). Such lines are taken out of the lavaan syntax before
it is parsed (lavaan knows no ``data.`` variables) and become the moderation of :func:`osmasem`,
with the user's names for the intercept and the slopes. Only this linear form is read; anything
else on a line with ``data.`` is refused with a message that shows the form.

References
----------
Cheung, M. W.-L. (2024). metaSEM 1.4/1.5, ``osmasem2`` (help page): moderators as definition
variables in the model syntax, e.g. ``b1 == b1_0 + b1_1*data.x``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from masem.errors import ModelError

_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*==\s*(.*\bdata\.[A-Za-z_]\w*.*?)\s*$")
_FORM = (
    "write it as 'a == a0 + a1*data.x' (a the label of a path or covariance, a0 and a1 new names)"
)


@dataclass(frozen=True)
class Moderation:
    """One ``label == intercept + slope*data.moderator + ...`` line."""

    label: str
    intercept: str
    slopes: tuple[tuple[str, str], ...]  # (slope name, moderator column)
    line: int


def split_moderation(model: str) -> tuple[str, list[Moderation]]:
    """The syntax without its moderation lines, and those lines read."""
    kept, found = [], []
    for number, raw in enumerate(model.splitlines(), start=1):
        text = re.split(r"[#!]", raw, maxsplit=1)[0]
        if "data." not in text:
            kept.append(raw)
            continue
        match = _LINE.match(text)
        if not match:
            raise ModelError(
                f"line {number}: cannot read '{text.strip()}' as a moderation; {_FORM}"
            )
        found.append(_read(match.group(1), match.group(2), number))
        kept.append("")  # keep the line numbers of the rest
    return "\n".join(kept), found


def _read(label: str, rhs: str, line: int) -> Moderation:
    try:
        tree = ast.parse(rhs, mode="eval").body
    except SyntaxError:
        raise ModelError(f"line {line}: cannot read '{label} == {rhs}'; {_FORM}") from None
    intercepts, slopes = [], []
    for term in _terms(tree, label, rhs, line):
        if isinstance(term, ast.Name):
            intercepts.append(term.id)
            continue
        name, column = _slope(term, label, rhs, line)
        slopes.append((name, column))
    if len(intercepts) != 1 or not slopes:
        raise ModelError(
            f"line {line}: '{label} == {rhs}' needs one intercept name and at least one slope term "
            f"name*data.column; {_FORM}"
        )
    names = [intercepts[0], *(s for s, _ in slopes)]
    if len(set(names)) != len(names) or label in names:
        raise ModelError(f"line {line}: '{label} == {rhs}' uses a name twice; {_FORM}")
    return Moderation(label, intercepts[0], tuple(slopes), line)


def _terms(node: ast.AST, label: str, rhs: str, line: int) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _terms(node.left, label, rhs, line) + _terms(node.right, label, rhs, line)
    if isinstance(node, (ast.Name, ast.BinOp)):
        return [node]
    raise ModelError(
        f"line {line}: cannot read '{label} == {rhs}': each term must be a name or "
        f"name*data.column; {_FORM}"
    )


def _slope(term: ast.AST, label: str, rhs: str, line: int) -> tuple[str, str]:
    if isinstance(term, ast.BinOp) and isinstance(term.op, ast.Mult):
        for a, b in ((term.left, term.right), (term.right, term.left)):
            if (
                isinstance(a, ast.Name)
                and isinstance(b, ast.Attribute)
                and isinstance(b.value, ast.Name)
                and b.value.id == "data"
            ):
                return a.id, b.attr
    raise ModelError(
        f"line {line}: the term '{ast.unparse(term)}' in '{label} == {rhs}' is not "
        f"name*data.column; {_FORM}"
    )
