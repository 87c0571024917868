"""The R expressions of lavaan syntax: right-hand sides, modifiers, ``:=`` and constraint text.

lavaan reads a model line by R's parser (Rosseel, 2012; lavaan 0.6-14, ``?model.syntax``): the
right-hand side of ``y ~ a*x1 + start(0.3)*x2`` is an R formula, a modifier is any R expression
left of the last ``*`` of a term, and ``:=`` definitions and ``==`` / ``<`` / ``>`` constraints are
R expressions. This module reads the part of R that a model can use, with R's precedence
(R Core Team, *R Language Definition*, sec. 10.4.2): ``^`` (right-associative, also ``**``), then
unary ``-`` and ``+``, then ``:``, then ``*`` and ``/``, then binary ``+`` and ``-``; numbers
(``2``, ``.5``, ``1e-2``, ``0x1F``, ``2L``), names (``x``, ``x.1``, ``x_2``), quoted strings,
function calls and parentheses. lavaan's start-value shorthand ``0.5?x`` is rewritten to
``start(0.5)*x`` before parsing, as lavaan does.

lavaan deletes every space of a model before reading it, so ``x1 x2`` silently becomes the one
name ``x1x2``; here two names (or numbers) side by side are an error that says so. Nothing is ever
passed to ``eval``: constants are computed by :func:`constant_value` from a whitelist of
functions, and :mod:`masem.model.definitions` differentiates expressions exactly.

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software*, 48(2), 1-36.
R Core Team (2022). *R Language Definition* (version 4.2), sec. 10.3 (tokens) and 10.4
(expressions).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from masem.errors import ModelError

__all__ = ["NA", "Node", "RSyntaxError", "constant_value", "parse_expression", "symbols"]

# R's reserved words (?Reserved): never names. The constants among them are values.
_CONSTANTS = {
    "TRUE": True,
    "FALSE": False,
    "NULL": None,
    "Inf": math.inf,
    "NaN": math.nan,
    "NA": "NA",
    "NA_integer_": "NA",
    "NA_real_": "NA",
    "NA_character_": "NA",
}
RESERVED = frozenset(
    {"if", "else", "repeat", "while", "function", "for", "in", "next", "break", *_CONSTANTS}
)

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>0[xX][0-9a-fA-F]+L?|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?L?)
      | (?P<name>[^\W\d_][\w.]*|\.(?!\d)[\w.]*)
      | (?P<string>"[^"]*"|'[^']*')
      | (?P<open>["'])
      | (?P<badname>_[\w.]*)
      | (?P<backtick>`[^`]*`?)
      | (?P<op>\*\*|[-+*/^(),:?%<>=!~|&\[\]{}$@;])
    """,
    re.VERBOSE,
)


class RSyntaxError(ModelError):
    """Text that is not an R expression a lavaan model may hold (the caller adds the line)."""


class _NAType:
    """R's missing value NA: a modifier NA frees a parameter (lavaan, ?model.syntax)."""

    def __repr__(self) -> str:
        return "NA"


NA = _NAType()


@dataclass(frozen=True)
class Node:
    """One node of an expression tree.

    ``kind`` is ``"num"`` (``value`` a float), ``"name"`` / ``"str"`` (``value`` the text),
    ``"const"`` (``value`` a reserved constant: NA, TRUE, Inf, ...), ``"call"`` (``value`` the
    function name, ``args`` its arguments), ``"neg"`` / ``"pos"`` (``args`` the operand) or
    ``"bin"`` (``value`` the operator, ``args`` the two operands). ``text`` is the source.
    """

    kind: str
    value: object
    args: tuple[Node, ...] = ()
    text: str = ""
    parens: bool = False  # written in parentheses


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    spaced: bool  # preceded by white space


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos, spaced = 0, False
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise RSyntaxError(f"the character {text[pos]!r} cannot appear here")
        kind = m.lastgroup
        if kind == "space":
            spaced = True
        elif kind == "badname":
            raise RSyntaxError(
                f"'{m.group()}' is not a valid name (a name starts with a letter, or a dot not "
                "followed by a digit)"
            )
        elif kind == "open":
            raise RSyntaxError(f"a quote ({m.group()}) is not closed")
        elif kind == "backtick":
            raise RSyntaxError(
                f"the quoted name {m.group()} (backticks): write names without backticks; a "
                "variable name cannot hold spaces or special characters"
            )
        else:
            out.append(_Token(kind, m.group(), m.start(), spaced))
            spaced = False
        pos = m.end()
    return _start_shorthand(out)


def _start_shorthand(tokens: list[_Token]) -> list[_Token]:
    """Rewrite lavaan's ``0.5?x`` (also ``-0.5?x``, ``(0.5)?x``) is ``start(0.5)*x``."""
    while any(t.text == "?" for t in tokens):
        at = next(i for i, t in enumerate(tokens) if t.text == "?")
        first = at - 1
        if first >= 0 and tokens[first].text == ")":
            depth = 0
            for first in range(at - 1, -1, -1):
                depth += {")": 1, "(": -1}.get(tokens[first].text, 0)
                if depth == 0:
                    break
        elif first < 0 or tokens[first].kind != "number":
            raise RSyntaxError(
                "'?' must follow a number: 'value?x' gives x the start value 'value' (lavaan's "
                "shorthand for start(value)*x)"
            )
        if (
            first > 0
            and tokens[first - 1].text in "-+"
            and (first == 1 or tokens[first - 2].kind == "op" and tokens[first - 2].text != ")")
        ):
            first -= 1  # a sign that belongs to the number
        where = tokens[first].start
        tokens = (
            tokens[:first]
            + [
                _Token("name", "start", where, tokens[first].spaced),
                _Token("op", "(", where, False),
            ]
            + tokens[first:at]
            + [_Token("op", ")", where, False), _Token("op", "*", where, False)]
            + tokens[at + 1 :]
        )
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> _Token:
        token = self.peek()
        if token is None:
            last = self.tokens[-1].text if self.tokens else ""
            raise RSyntaxError(
                f"the expression ends with '{last}', which needs something after it"
                if last in ("+", "-", "*", "/", "^", "**", "(", ",", ":")
                else "the expression ends too early"
                + (f" (a '{expected}' is missing)" if expected else "")
            )
        if expected is not None and token.text != expected:
            raise RSyntaxError(f"expected '{expected}' but found '{token.text}'")
        self.i += 1
        return token

    def span(self, start: int) -> str:
        end = self.tokens[self.i - 1]
        return self.text[self.tokens[start].start : end.start + len(end.text)]

    def parse(self) -> Node:
        if not self.tokens:
            raise RSyntaxError("the expression is empty")
        node = self.sum()
        token = self.peek()
        if token is not None:
            self.unexpected(token)
        return node

    def unexpected(self, token: _Token) -> None:
        previous = self.tokens[self.i - 1] if self.i else None
        operand = ("name", "number", "string")
        if previous is not None and previous.kind in operand and token.kind in operand:
            pair = self.text[previous.start : token.start + len(token.text)]
            raise RSyntaxError(
                f"'{pair}' has no operator between '{previous.text}' and '{token.text}': lavaan "
                f"deletes every space and would read the one name '{previous.text}{token.text}'. "
                "A name cannot hold a space: join separate terms with '+' (or rename the "
                "variable)"
            )
        raise RSyntaxError(f"unexpected '{token.text}'")

    def binary(self, operators: tuple[str, ...], operand) -> Node:
        start = self.i
        node = operand()
        while (token := self.peek()) is not None and token.text in operators:
            self.take()
            right = operand()
            op = "^" if token.text == "**" else token.text
            node = Node("bin", op, (node, right), self.span(start))
        return node

    def sum(self) -> Node:
        return self.binary(("+", "-"), self.product)

    def product(self) -> Node:
        return self.binary(("*", "/"), self.colon)

    def colon(self) -> Node:
        return self.binary((":",), self.unary)

    def unary(self) -> Node:
        token = self.peek()
        if token is not None and token.text in ("-", "+"):
            start = self.i
            self.take()
            operand = self.unary()
            return Node("neg" if token.text == "-" else "pos", None, (operand,), self.span(start))
        return self.power()

    def power(self) -> Node:
        start = self.i
        base = self.primary()
        token = self.peek()
        if token is not None and token.text in ("^", "**"):
            self.take()
            exponent = self.unary()  # right-associative; 2^-1 is 2^(-1) in R
            return Node("bin", "^", (base, exponent), self.span(start))
        return base

    def primary(self) -> Node:
        start = self.i
        token = self.take()
        if token.kind == "number":
            return Node("num", _number(token.text), (), token.text)
        if token.kind == "string":
            return Node("str", token.text[1:-1], (), token.text)
        if token.kind == "name":
            nxt = self.peek()
            if nxt is not None and nxt.text == "(":
                if token.text in RESERVED:
                    raise RSyntaxError(f"'{token.text}' is an R reserved word, not a function")
                self.take("(")
                args: list[Node] = []
                if self.peek() is not None and self.peek().text != ")":
                    args.append(self.sum())
                    while self.peek() is not None and self.peek().text == ",":
                        self.take(",")
                        args.append(self.sum())
                self.take(")")
                return Node("call", token.text, tuple(args), self.span(start))
            if token.text in _CONSTANTS:
                return Node("const", _CONSTANTS[token.text], (), token.text)
            if token.text in RESERVED:
                raise RSyntaxError(f"'{token.text}' is an R reserved word and cannot be a name")
            return Node("name", token.text, (), token.text)
        if token.text == "(":
            inner = self.sum()
            self.take(")")
            return Node(inner.kind, inner.value, inner.args, self.span(start), parens=True)
        self.i -= 1
        raise RSyntaxError(
            f"unexpected '{token.text}'"
            + ("" if token.kind == "op" else " where a value is expected")
        )


def _number(text: str) -> float:
    text = text[:-1] if text.endswith("L") else text
    return float(int(text, 16)) if text[:2].lower() == "0x" else float(text)


def parse_expression(text: str) -> Node:
    """Parse R expression text (see the module docstring); raise :class:`RSyntaxError`.

    Parameters
    ----------
    text : str
        One expression, e.g. ``"a*b + c"`` or ``"start(0.3)*x"``.

    Returns
    -------
    Node
        The expression tree.

    Examples
    --------
    >>> parse_expression("2^-1").kind, parse_expression("2^-1").value
    ('bin', '^')
    """
    return _Parser(text).parse()


def symbols(node: Node) -> list[str]:
    """The names an expression uses, in order, without function names (R's ``all.vars``).

    Parameters
    ----------
    node : Node
        An expression tree.

    Returns
    -------
    list of str
        Each name once.

    Examples
    --------
    >>> symbols(parse_expression("start(-1)*lab"))
    ['lab']
    """
    out: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if item.kind == "name" and item.value not in out:
            out.append(str(item.value))
        stack.extend(reversed(item.args))
    return out


# Functions that a constant (a fixed value, a start value) may use.
_MATH = {
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "abs": abs,
    "as.numeric": float,
    "as.double": float,
    "as.integer": lambda v: float(math.trunc(v)),
}


def constant_value(node: Node) -> float | str | _NAType:
    """The value of a constant expression: a float, a string (a quoted label) or :data:`NA`.

    R's arithmetic and ``sqrt``, ``exp``, ``log``, ``log10``, ``log2``, ``abs``, ``as.numeric``,
    ``as.double``, ``as.integer``; NA propagates through them. Anything else (a name, another
    function, TRUE, NULL) raises :class:`RSyntaxError`.

    Parameters
    ----------
    node : Node
        An expression tree without names.

    Returns
    -------
    float, str or NA

    Examples
    --------
    >>> constant_value(parse_expression("sqrt(3 + 7)"))
    3.1622776601683795
    """
    kind = node.kind
    if kind == "num":
        return float(node.value)
    if kind == "str":
        return str(node.value)
    if kind == "const":
        if node.value == "NA":
            return NA
        if isinstance(node.value, float):
            return node.value
        raise RSyntaxError(f"'{node.text}' is not a number")
    if kind == "name":
        raise RSyntaxError(f"'{node.value}' is a name, not a number")
    if kind in ("neg", "pos"):
        value = _numeric(constant_value(node.args[0]), node)
        return value if value is NA or kind == "pos" else -value
    if kind == "call":
        func = _MATH.get(str(node.value))
        if func is None or len(node.args) != 1:
            raise RSyntaxError(f"'{node.text}' cannot be computed as a number")
        value = _numeric(constant_value(node.args[0]), node)
        if value is NA:
            return NA
        try:
            return float(func(value))
        except (ValueError, OverflowError):
            return math.nan
    left = _numeric(constant_value(node.args[0]), node)
    right = _numeric(constant_value(node.args[1]), node)
    if left is NA or right is NA:
        return NA
    return _arithmetic(str(node.value), left, right, node)


def _numeric(value, node: Node):
    if isinstance(value, str):
        raise RSyntaxError(f"'{node.text}' combines text with arithmetic")
    return value


def _arithmetic(op: str, a: float, b: float, node: Node) -> float:
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b if b != 0 else (math.copysign(math.inf, a) if a else math.nan)
        if op == "^":
            return float(a**b) if not (a < 0 and not float(b).is_integer()) else math.nan
    except OverflowError:
        return math.inf
    raise RSyntaxError(f"'{node.text}' uses the operator '{op}', which cannot make a number here")
