"""``:=`` definitions and ``==`` / ``<`` / ``>`` constraints: parsed safely, evaluated with exact
gradients.

A defined parameter such as ``ind := a*b + c`` and a constraint such as ``c == a*b`` or
``b1 > exp(b2 + b3)`` are functions of the model parameters (lavaan, ``?model.syntax`` and
``?lav_constraints``; Rosseel, 2012). Their value and gradient (for the delta method, the
constrained fit and the likelihood-based intervals) are computed together by forward-mode
differentiation over the expression tree of :mod:`masem.model.rexpr`: numbers, names,
``+ - * / ^`` (also ``**``), unary minus, parentheses and ``exp``, ``log``, ``sqrt``, ``abs``.
User text is never passed to ``eval``.

A constraint ``lhs op rhs`` is held as g(theta) = lhs - rhs with g = 0 (``==``), g >= 0 (``>``)
or g <= 0 (``<``); an optimiser cannot tell ``>`` from ``>=``, so ``>`` lets g reach 0, as OpenMx's
``mxConstraint`` does.

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software*, 48(2), 1-36 (the ``:=``, ``==``, ``<`` and ``>`` operators).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from masem.errors import ModelError
from masem.model.rexpr import Node, RSyntaxError, parse_expression, symbols

__all__ = ["Constraint", "Definition", "evaluate", "parse_constraint", "parse_definition"]

_FUNCTIONS = ("exp", "log", "sqrt", "abs")
_NAME = re.compile(r"(?:[^\W\d_]|\.(?!\d))[\w.]*\Z")


@dataclass(frozen=True)
class Definition:
    """One ``name := expression`` line: the parsed tree and the names it refers to."""

    name: str
    expression: str
    line: int
    tree: Node
    names: tuple[str, ...]


@dataclass(frozen=True)
class Constraint:
    """One ``lhs op rhs`` constraint line (``op`` one of ``==``, ``<``, ``>``).

    ``lhs`` and ``rhs`` are the text in lavaan's notation (spaces removed, as lavaan stores them);
    ``names`` are the labels and definitions they use.
    """

    lhs: str
    op: str
    rhs: str
    line: int
    lhs_tree: Node
    rhs_tree: Node
    names: tuple[str, ...]

    @property
    def text(self) -> str:
        """The constraint as lavaan writes it, e.g. ``c == a*b``."""
        return f"{self.lhs} {self.op} {self.rhs}"


def parse_definition(name: str, expression: str, line: int) -> Definition:
    """Parse one ``:=`` line; raise ModelError (naming the line) for anything outside the
    whitelist.

    Parameters
    ----------
    name : str
        The defined name (left of ``:=``).
    expression : str
        Its expression (right of ``:=``).
    line : int
        The model line, for messages.

    Returns
    -------
    Definition

    Examples
    --------
    >>> parse_definition("ind", "a*b + c", 1).names
    ('a', 'b', 'c')
    """
    if not _NAME.match(name):
        raise ModelError(
            f"line {line}: '{name}' is not a valid name for a defined parameter "
            "(use letters, digits, '.' and '_', starting with a letter)"
        )
    text = expression.strip()
    if not text:
        raise ModelError(f"line {line}: the definition of '{name}' has no expression after ':='")
    tree = _parse(text, f"the definition '{name} := {text}'", line)
    return Definition(name=name, expression=text, line=line, tree=tree, names=tuple(symbols(tree)))


def parse_constraint(lhs: str, op: str, rhs: str, line: int) -> Constraint:
    """Parse one ``lhs op rhs`` constraint (``==``, ``<`` or ``>``); raise ModelError naming the
    line.

    Parameters
    ----------
    lhs, rhs : str
        The two sides as written.
    op : str
        ``"=="``, ``"<"`` or ``">"``.
    line : int
        The model line, for messages.

    Returns
    -------
    Constraint

    Examples
    --------
    >>> parse_constraint("b1", "==", "(b2 + b3)^2", 3).rhs
    '(b2+b3)^2'
    """
    what = f"the constraint '{lhs.strip()} {op} {rhs.strip()}'"
    sides = []
    for side, text in (("left", lhs), ("right", rhs)):
        if not text.strip():
            raise ModelError(f"line {line}: {what} has nothing on its {side} side")
        sides.append(_parse(text.strip(), what, line))
    names = tuple(dict.fromkeys(symbols(sides[0]) + symbols(sides[1])))
    return Constraint(
        lhs=re.sub(r"\s+", "", lhs),
        op=op,
        rhs=re.sub(r"\s+", "", rhs),
        line=line,
        lhs_tree=sides[0],
        rhs_tree=sides[1],
        names=names,
    )


def _parse(text: str, what: str, line: int) -> Node:
    try:
        tree = parse_expression(text)
    except RSyntaxError as exc:
        raise ModelError(f"line {line}: cannot read {what}: {exc}") from None
    stack = [tree]
    while stack:
        node = stack.pop()
        bad = None
        if node.kind == "str":
            bad = f"the text {node.text}"
        elif node.kind == "const" and not isinstance(node.value, float):
            bad = f"the constant {node.text}"
        elif node.kind == "call" and (node.value not in _FUNCTIONS or len(node.args) != 1):
            bad = f"the function call '{node.text}' (only exp(x), log(x), sqrt(x) and abs(x))"
        elif node.kind == "bin" and node.value not in ("+", "-", "*", "/", "^"):
            bad = f"the operator '{node.value}'"
        if bad is not None:
            raise ModelError(
                f"line {line}: {what} uses {bad}; it may only combine numbers, parameter labels "
                "and defined names with + - * / ^ ( ) exp log sqrt abs"
            )
        stack.extend(node.args)
    return tree


def evaluate(
    item: Definition | Node, values: dict[str, tuple[float, np.ndarray]], n: int
) -> tuple[float, np.ndarray]:
    """Value and gradient (length ``n``) of a definition or expression tree, given (value,
    gradient) for every name it uses.

    Gradients are exact (forward-mode differentiation of the expression tree), so the delta
    method and the constrained fit need no numerical derivatives. Outside an expression's domain
    (the log of a negative number, a division by zero) both are NaN.

    Parameters
    ----------
    item : Definition or Node
        What to evaluate.
    values : dict
        name -> (value, gradient).
    n : int
        Length of the gradients.

    Returns
    -------
    (float, numpy.ndarray)

    Examples
    --------
    >>> import numpy as np
    >>> d = parse_definition("ab", "a*b", 1)
    >>> evaluate(d, {"a": (2.0, np.array([1.0, 0.0])), "b": (3.0, np.array([0.0, 1.0]))}, 2)
    (6.0, array([3., 2.]))
    """
    tree = item.tree if isinstance(item, Definition) else item
    return _eval(tree, values, n)


def _eval(
    node: Node, values: dict[str, tuple[float, np.ndarray]], n: int
) -> tuple[float, np.ndarray]:
    kind = node.kind
    if kind in ("num", "const"):
        return float(node.value), np.zeros(n)
    if kind == "name":
        value, grad = values[str(node.value)]
        return value, grad
    if kind in ("neg", "pos"):
        v, g = _eval(node.args[0], values, n)
        return (-v, -g) if kind == "neg" else (v, g)
    if kind == "call":
        v, g = _eval(node.args[0], values, n)
        return _call(str(node.value), v, g)
    a, ga = _eval(node.args[0], values, n)
    b, gb = _eval(node.args[1], values, n)
    op = node.value
    if op == "+":
        return a + b, ga + gb
    if op == "-":
        return a - b, ga - gb
    if op == "*":
        return a * b, b * ga + a * gb
    if op == "/":
        if b == 0.0:
            return math.nan, np.full_like(ga, math.nan)
        return a / b, ga / b - (a / b**2) * gb
    return _power(a, ga, b, gb)


def _power(a: float, ga: np.ndarray, b: float, gb: np.ndarray) -> tuple[float, np.ndarray]:
    """d(a^b) = b a^(b-1) da + a^b log(a) db; the log term only when b varies."""
    varies = bool(np.any(gb != 0.0))
    if b == 0.0 and not varies:
        return 1.0, np.zeros_like(ga)
    if (a == 0.0 and b < 1.0) or (a < 0.0 and not float(b).is_integer()) or (a <= 0.0 and varies):
        return math.nan, np.full_like(ga, math.nan)
    try:
        value = a**b
        grad = b * a ** (b - 1.0) * ga
    except (OverflowError, ZeroDivisionError):
        return math.nan, np.full_like(ga, math.nan)
    if varies:
        grad = grad + value * math.log(a) * gb
    return value, grad


def _call(func: str, v: float, g: np.ndarray) -> tuple[float, np.ndarray]:
    if func == "exp":
        if v > 700.0:  # beyond double precision
            return math.nan, np.full_like(g, math.nan)
        e = math.exp(v)
        return e, e * g
    if func == "abs":
        return abs(v), (math.copysign(1.0, v) * g if v != 0.0 else np.full_like(g, math.nan))
    if v <= 0.0 and (func == "log" or v < 0.0):
        return math.nan, np.full_like(g, math.nan)
    if func == "log":
        return math.log(v), g / v
    root = math.sqrt(v)
    return root, (g / (2.0 * root) if root > 0.0 else np.full_like(g, math.nan))
