"""Safe arithmetic for lavaan ``:=`` definitions: parse with :mod:`ast`, evaluate with exact
gradients.

A defined parameter such as ``ind := a*b + c`` is a function of the model parameters. Its value
and its gradient (for the delta method, and as the constraint gradient of a likelihood-based
interval) are computed together by forward-mode differentiation over a whitelisted expression
tree: numbers, names, ``+ - * / ** ^``, unary minus, parentheses and ``exp``, ``log``, ``sqrt``.
User text is never passed to ``eval``.

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software*, 48(2), 1-36 (the ``:=`` operator).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

import numpy as np

from masem.errors import ModelError

_FUNCTIONS = ("exp", "log", "sqrt")
_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_UNARY = (ast.USub, ast.UAdd)


@dataclass(frozen=True)
class Definition:
    """One ``name := expression`` line: the parsed tree and the names it refers to."""

    name: str
    expression: str
    line: int
    tree: ast.Expression
    names: tuple[str, ...]


def parse_definition(name: str, expression: str, line: int) -> Definition:
    """Parse the right-hand side of a ``:=`` line; raise ModelError for anything outside the
    whitelist.
    """
    if not name.isidentifier():
        raise ModelError(
            f"line {line}: '{name}' is not a valid name for a defined parameter "
            "(use letters, digits and underscores, starting with a letter)"
        )
    text = expression.strip()
    if not text:
        raise ModelError(f"line {line}: the definition of '{name}' has no expression after ':='")
    # R and lavaan write powers as '^'; Python's '^' is XOR, which the whitelist would reject.
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ModelError(
            f"line {line}: cannot parse the definition '{name} := {text}': {exc.msg}"
        ) from None
    names: list[str] = []
    for node in ast.walk(tree):
        _check_node(node, name, text, line)
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS and node.id not in names:
            names.append(node.id)
    return Definition(name=name, expression=text, line=line, tree=tree, names=tuple(names))


def _check_node(node: ast.AST, name: str, text: str, line: int) -> None:
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Call, ast.Load)
    bad = None
    if not isinstance(node, allowed + _BINARY + _UNARY):
        bad = type(node).__name__
    elif isinstance(node, ast.BinOp) and not isinstance(node.op, _BINARY):
        bad = f"operator {type(node.op).__name__}"
    elif isinstance(node, ast.UnaryOp) and not isinstance(node.op, _UNARY):
        bad = f"operator {type(node.op).__name__}"
    elif isinstance(node, ast.Constant) and (
        isinstance(node.value, bool) or not isinstance(node.value, (int, float))
    ):
        bad = f"constant {node.value!r}"
    elif isinstance(node, ast.Call) and not (
        isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and len(node.args) == 1
        and not node.keywords
    ):
        bad = "function call (only exp(x), log(x) and sqrt(x) are allowed)"
    if bad is not None:
        raise ModelError(
            f"line {line}: the definition '{name} := {text}' uses {bad}; a definition may only "
            "combine numbers and parameter labels with + - * / ^ ( ) exp log sqrt"
        )


def evaluate(
    definition: Definition, values: dict[str, tuple[float, np.ndarray]], n: int
) -> tuple[float, np.ndarray]:
    """Value and gradient (length ``n``) of a definition, given (value, gradient) for every name it
    uses.

    Gradients are exact (forward-mode differentiation of the expression tree), so the delta
    method needs no numerical derivatives.
    """
    return _eval(definition.tree.body, values, n)


def _eval(
    node: ast.AST, values: dict[str, tuple[float, np.ndarray]], n: int
) -> tuple[float, np.ndarray]:
    if isinstance(node, ast.Constant):
        return float(node.value), np.zeros(n)
    if isinstance(node, ast.Name):
        value, grad = values[node.id]
        return value, grad
    if isinstance(node, ast.UnaryOp):
        v, g = _eval(node.operand, values, n)
        return (-v, -g) if isinstance(node.op, ast.USub) else (v, g)
    if isinstance(node, ast.Call):
        v, g = _eval(node.args[0], values, n)
        return _call(node.func.id, v, g)
    a, ga = _eval(node.left, values, n)
    b, gb = _eval(node.right, values, n)
    op = node.op
    if isinstance(op, ast.Add):
        return a + b, ga + gb
    if isinstance(op, ast.Sub):
        return a - b, ga - gb
    if isinstance(op, ast.Mult):
        return a * b, b * ga + a * gb
    if isinstance(op, ast.Div):
        if b == 0.0:
            return math.nan, np.full_like(ga, math.nan)
        return a / b, ga / b - (a / b**2) * gb
    # Power: d(a^b) = b a^(b-1) da + a^b log(a) db; the log term only when b varies.
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
    if v <= 0.0 and (func == "log" or v < 0.0):
        return math.nan, np.full_like(g, math.nan)
    if func == "log":
        return math.log(v), g / v
    root = math.sqrt(v)
    return root, (g / (2.0 * root) if root > 0.0 else np.full_like(g, math.nan))
