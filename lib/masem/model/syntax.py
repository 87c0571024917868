"""lavaan model text -> statements -> the elements the user wrote, with their modifiers merged.

The rules are those of lavaan 0.6-14's parser, which metaSEM 1.5.5's ``lavaan2RAM`` calls
(lavaan ``?model.syntax``; Rosseel, 2012), read as follows:

1. ``#`` and ``!`` start a comment that runs to the end of the line; ``;`` separates statements.
2. A line holding an operator (``=~ ~ ~~ := == < >`` and the ones refused below) starts a
   statement; a line without one continues the statement before it (``y ~ x1 +`` / ``x2``).
3. The first operator found, in lavaan's order ``=~ <~ ~*~ ~~ ~ == < > := : | %``, splits a
   statement into a left and a right side.
4. Several names joined by ``+`` on the left repeat the statement for each (``y1 + y2 ~ x``).
5. The right side of ``=~ ~ ~~`` is a sum of terms ``modifier*variable``. The modifier is the R
   expression left of the term's last ``*`` (:mod:`masem.model.rexpr`): if it contains names,
   they are the label and the rest of it is lost (``start(-1)*lab*x`` is labelled ``lab`` with no
   start value); otherwise ``start(v)`` is a start value, ``label("s")`` / ``equal("s")`` /
   ``"s"`` a label, ``lower()`` / ``upper()`` bounds (which ``lavaan2RAM`` does not pass on), and
   anything else a constant: a number fixes the parameter, ``NA`` frees it. ``0.5?x`` is
   ``start(0.5)*x``.
6. A variable repeated in one right side merges its modifiers; per kind (fixed value or NA, start
   value, label) the first one counts.
7. The same element written again in a later statement is an error, except a covariance written
   in the same orientation, which lavaan ignores (with a warning).

Where lavaan loses something the user wrote (rules 5-7), the numbers follow lavaan and a note says
what was lost and how to write it instead. What a correlation structure cannot hold is refused
with a :class:`~masem.ModelError` that names the line: intercepts and means (``~ 1``), thresholds
(``|``), formative composites (``<~``), ``efa()`` blocks, group vectors ``c(...)``, interaction
terms, ``group:`` blocks, and names with a space (which lavaan would silently glue together).
``<=`` and ``>=`` are read as ``<`` and ``>`` with a note: lavaan itself reads ``b <= 1`` as
``b < =1``, which metaSEM's ``lavaan2RAM`` cannot run, but for a continuous parameter the two
constraints give the same estimates (an inequality constraint already lets both sides become
equal).

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software*, 48(2), 1-36.
Cheung, M. W.-L. (2015). metaSEM: An R package for meta-analysis using structural equation
modeling. *Frontiers in Psychology*, 5, 1521 (``lavaan2RAM``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from masem.errors import ModelError
from masem.model.definitions import Constraint, Definition, parse_constraint, parse_definition
from masem.model.rexpr import (
    NA,
    RESERVED,
    Node,
    RSyntaxError,
    constant_value,
    parse_expression,
    symbols,
)

# lavaan's operators in the order it looks for them (the first one found splits the statement).
_OPERATORS = ("=~", "<~", "~*~", "~~", "~", "==", "<", ">", ":=", ":", "|", "%")
_PATHS = ("=~", "~", "~~")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
NAME = re.compile(r"(?:[^\W\d_]|\.(?!\d))[\w.]*\Z")
_REFUSED = {
    "<~": "formative composites ('<~') are not part of a correlation structure (metaSEM's "
    "lavaan2RAM would drop them and give the composite no paths); regress on its parts instead, "
    "e.g. 'y ~ z1 + z2'",
    "~*~": "scaling factors ('~*~') belong to ordered categorical data, not to a correlation "
    "structure; remove the line",
    "|": "thresholds ('|') belong to ordered categorical data, not to a correlation structure; "
    "remove the line",
    ":": "'group:' and 'level:' blocks are not read here; fit one model to several groups with "
    "masem.tssem2_multigroup (and equal= for equality across groups)",
    "%": "the operator '%' is not part of lavaan's model syntax for a correlation structure; "
    "remove it",
}


@dataclass(frozen=True)
class Statement:
    """One statement: its first line, its text (comments removed, continuation lines joined) and
    its last line.
    """

    line: int
    text: str
    last: int = 0

    @property
    def where(self) -> str:
        """``line 3`` or, for a statement continued on later lines, ``lines 3-4``."""
        if self.last > self.line:
            return f"lines {self.line}-{self.last}"
        return f"line {self.line}"


@dataclass
class Element:
    """One model element the user wrote (lavaan's ``lhs op rhs``), modifiers merged (rule 6)."""

    lhs: str
    op: str
    rhs: str
    line: int
    statement: str
    fixed: object = None  # a float, NA (free) or None (not given)
    start: float | None = None
    label: str | None = None
    equal: str | None = None  # the text of equal("...")

    @property
    def key(self) -> tuple[str, str, str]:
        """(lhs, op, rhs): the element as written."""
        return (self.lhs, self.op, self.rhs)


@dataclass
class Parsed:
    """What a model text says: its elements, definitions, constraints, and the notes on it."""

    elements: list[Element] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # variable -> line of first appearance


def statements(text: str) -> list[Statement]:
    """Rules 1-2: comments dropped, ``;`` split, continuation lines joined to their statement."""
    out: list[Statement] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u02dc", "~").split("\n")
    for number, raw in enumerate(lines, start=1):
        code = re.split(r"[#!]", raw, maxsplit=1)[0]
        for piece in code.split(";"):
            piece = piece.strip()
            if not piece:
                continue
            if _operator(piece) is not None:
                out.append(Statement(number, piece))
            elif "=" in _QUOTED.sub("", piece):
                raise ModelError(
                    f"line {number}: '{piece}' holds no operator: '=' alone is not one; write "
                    "'==' for a constraint, ':=' for a definition or '~' for a regression"
                )
            elif out:
                out[-1] = Statement(out[-1].line, f"{out[-1].text} {piece}", number)
            else:
                raise ModelError(
                    f"line {number}: '{piece}' holds no operator (=~, ~, ~~, :=, ==, <, >) and "
                    "there is no statement before it to continue"
                )
    return out


def _operator(text: str) -> tuple[str, int] | None:
    """Rule 3: lavaan's operator of a statement and where it is (quoted text ignored)."""
    masked = _QUOTED.sub(lambda m: '"' + "_" * (len(m.group()) - 2) + '"', text)
    for op in _OPERATORS:
        at = masked.find(op)
        if at >= 0:
            return op, at
    return None


def parse(text: str) -> Parsed:
    """Read a model text into a :class:`Parsed` (rules 1-7 of the module docstring)."""
    found = statements(text)
    if not found:
        raise ModelError("the model syntax is empty: give at least one '~', '=~' or '~~' statement")
    parsed = Parsed()
    registry: dict[tuple[str, str, str], Element] = {}
    for st in found:
        located = _operator(st.text)
        if located is None:  # the joined lines opened a quote that hides the operator
            raise ModelError(
                f"line {st.line}: cannot find the operator of '{st.text}': a quote (\" or ') is "
                "not closed on its line"
            )
        op, at = located
        lhs, rhs = st.text[:at].strip(), st.text[at + len(op) :].strip()
        where = f"{st.where}: '{st.text}'"
        if op in _REFUSED:
            raise ModelError(f"{where}: {_REFUSED[op]}")
        if op in ("==", "<", ">"):
            parsed.constraints.append(_constraint(lhs, op, rhs, st, where, parsed))
        elif op == ":=":
            parsed.definitions.append(parse_definition(lhs, rhs, st.line))
        else:
            for element in _elements(lhs, op, rhs, st, where, parsed):
                _register(element, registry, parsed)
    return parsed


def _constraint(lhs: str, op: str, rhs: str, st: Statement, where: str, parsed) -> Constraint:
    if op in "<>" and rhs.startswith("="):
        rhs = rhs[1:].strip()
        parsed.notes.append(
            f"{where}: '{op}=' is read as '{op}' (an inequality constraint already lets both sides "
            "become equal, so the estimates are the same); lavaan itself does not know "
            f"'{op}=' and metaSEM's lavaan2RAM stops on it, so write '{lhs} {op} {rhs}' to share "
            "the model with them"
        )
    return parse_constraint(lhs, op, rhs, st.line)


def _elements(lhs: str, op: str, rhs: str, st: Statement, where: str, parsed: Parsed):
    """Rules 4-6: the elements of one ``=~`` / ``~`` / ``~~`` statement, lhs by lhs."""
    if "efa(" in lhs.replace(" ", ""):
        raise ModelError(
            f"{where}: efa() blocks (exploratory factor analysis with rotation) are not part of "
            "a correlation structure here; write a confirmatory model with =~"
        )
    names = [part.strip() for part in lhs.split("+")]
    for name in names:
        _check_name(name, "left-hand side", where)
    try:
        tree = parse_expression(rhs)
    except RSyntaxError as exc:
        raise ModelError(f"{where}: cannot read the right-hand side '{rhs}': {exc}") from None
    merged: dict[str, Element] = {}
    for term in _terms(tree, where):
        variable, modifier = _split_term(term, op, where)
        entries = [] if modifier is None else _modifier(modifier, variable, where, parsed)
        for name in dict.fromkeys(names):
            if variable == name and op != "~~":
                what = "regresses a variable on itself" if op == "~" else "loads a factor on itself"
                raise ModelError(f"{where}: '{name} {op} {variable}' {what}")
            element = merged.setdefault(
                f"{name}\0{variable}", Element(name, op, variable, st.line, st.text)
            )
            _merge(element, entries, parsed, where)
    for element in merged.values():
        for variable in (element.lhs, element.rhs):
            parsed.lines.setdefault(variable, st.line)
    # lhs-major order, as lavaan repeats the statement for each left-hand name
    return sorted(merged.values(), key=lambda e: names.index(e.lhs))


def _check_name(name: str, side: str, where: str) -> None:
    if not name:
        raise ModelError(f"{where}: the {side} has an empty name (a '+' with nothing beside it?)")
    if "*" in name:
        raise ModelError(
            f"{where}: '{name}' puts a modifier on the {side}; modifiers (labels, values, "
            "start()) go on the right-hand side, e.g. 'y ~ b*x'"
        )
    if re.search(r"\s", name):
        glued, renamed = re.sub(r"\s+", "", name), re.sub(r"\s+", "_", name)
        raise ModelError(
            f"{where}: the name '{name}' on the {side} holds a space; lavaan deletes every space "
            f"and would read '{glued}'. A name cannot hold a space: rename the variable (e.g. "
            f"'{renamed}') or join separate names with '+'"
        )
    if not NAME.match(name) or name in RESERVED:
        raise ModelError(
            f"{where}: '{name}' on the {side} is not a valid variable name (use letters, digits, "
            "'.' and '_', starting with a letter; R's reserved words are not allowed)"
        )


def _terms(tree: Node, where: str) -> list[Node]:
    """The terms of a right-hand side: its top-level sum, flattened."""
    if tree.kind == "bin" and tree.value == "+" and not tree.parens:
        return _terms(tree.args[0], where) + _terms(tree.args[1], where)
    if tree.kind == "bin" and tree.value == "-" and not tree.parens:
        raise ModelError(
            f"{where}: terms are joined by '+' only; '-' between terms is not lavaan syntax (to "
            f"fix a path at a negative value write e.g. '-0.5*x')"
        )
    return [tree]


def _split_term(term: Node, op: str, where: str) -> tuple[str, Node | None]:
    """A term ``modifier*variable`` -> (variable, modifier or None)."""
    variable, modifier = term, None
    if term.kind == "bin" and term.value == "*":
        modifier, variable = term.args
    if variable.kind == "name":
        return str(variable.value), modifier
    if variable.kind in ("num", "const") or (variable.kind == "str" and op == "~"):
        raise ModelError(
            f"{where}: '{term.text}' is an intercept or mean ('~ 1'); a correlation structure "
            "has no means or intercepts: remove the term"
        )
    if variable.kind == "bin" and variable.value == ":":
        raise ModelError(
            f"{where}: '{term.text}' is an interaction term; a correlation structure cannot hold "
            "products of variables: add the product as a variable of the data instead"
        )
    if variable.kind == "bin" and variable.value == "+":
        raise ModelError(
            f"{where}: '{term.text}' groups terms in parentheses, which lavaan does not allow; "
            "write the terms without parentheses"
        )
    raise ModelError(
        f"{where}: cannot read the term '{term.text}'; expected 'variable', 'label*variable', "
        "'value*variable', 'NA*variable' or 'start(value)*variable'"
    )


def _modifier(mod: Node, variable: str, where: str, parsed: Parsed) -> list[tuple[str, object]]:
    """Rule 5: the entries (kind, value) of one modifier, with a note where lavaan loses part."""
    term = f"{mod.text}*{variable}"
    calls = _calls(mod)
    for func, why in (
        (
            "c",
            "group vectors c(...) give one value per group; fit several groups with "
            "masem.tssem2_multigroup and name shared parameters in equal=",
        ),
        ("efa", "efa() blocks are not part of a correlation structure here"),
        ("rv", "rv() (random slopes) is not part of a correlation structure"),
        ("prior", "prior() belongs to Bayesian estimation, not to TSSEM"),
    ):
        if func in calls:
            raise ModelError(f"{where}: '{term}': {why}")
    names = symbols(mod)
    if len(names) > 1:
        raise ModelError(
            f"{where}: the modifier '{mod.text}' of '{term}' holds several names "
            f"({', '.join(names)}); a term takes one label: write 'label*variable'"
        )
    if names:
        label = names[0]
        _check_label(label, where)
        if mod.kind != "name" and not (
            mod.kind == "call" and mod.value in ("label", "equal") and len(mod.args) == 1
        ):
            parsed.notes.append(
                f"{where}: lavaan (and so metaSEM's lavaan2RAM) keeps only the label '{label}' of "
                f"the modifier '{mod.text}' and ignores the rest of it; to keep both, repeat the "
                f"term: '{_both(label, mod, variable)}'"
            )
        elif label == "pi":
            parsed.notes.append(
                f"{where}: 'pi' is read as a label, as lavaan reads it, not as the number "
                "3.14159...; write the number to fix the parameter at it"
            )
        return [("label", label)]
    return _constant_modifier(mod, term, where, parsed)


def _both(label: str, mod: Node, variable: str) -> str:
    """What to write to give a variable a label and the start value or number of ``mod``."""
    stack, other = [mod], None
    while stack and other is None:
        node = stack.pop()
        if node.kind == "call" and node.value == "start":
            other = node.text
        elif node.kind == "num":
            other = node.text
        stack.extend(node.args)
    return f"{label}*{variable}" + (f" + {other}*{variable}" if other else "")


def _constant_modifier(mod: Node, term: str, where: str, parsed: Parsed):
    if mod.kind == "call" and mod.value in ("start", "label", "equal", "lower", "upper"):
        if len(mod.args) != 1:
            raise ModelError(f"{where}: '{mod.text}' takes one value")
        value = _constant(mod.args[0], mod, where)
        if mod.value == "start":
            if not isinstance(value, float):
                raise ModelError(f"{where}: the start value in '{mod.text}' must be a number")
            return [("start", value)]
        if mod.value in ("lower", "upper"):
            parsed.notes.append(
                f"{where}: the bound '{mod.text}' is not used: metaSEM's lavaan2RAM passes no "
                "bounds on (a constraint such as 'b > 0' with a label 'b*x' bounds a parameter)"
            )
            return []
        if not isinstance(value, str):
            raise ModelError(f"{where}: '{mod.text}' needs quoted text, e.g. {mod.value}(\"b1\")")
        if mod.value == "equal":
            return [("equal", re.sub(r"\s+", "", value))]
        _check_label(value, where)
        return [("label", value)]
    value = _constant(mod, mod, where)
    if isinstance(value, str):
        _check_label(value, where)
        return [("label", value)]
    if value is not NA and not (value == value and abs(value) != float("inf")):
        raise ModelError(f"{where}: '{mod.text}' in '{term}' is not a finite number")
    return [("fixed", value)]


def _constant(node: Node, whole: Node, where: str):
    try:
        return constant_value(node)
    except RSyntaxError as exc:
        raise ModelError(f"{where}: cannot read the modifier '{whole.text}': {exc}") from None


def _calls(node: Node) -> set[str]:
    out, stack = set(), [node]
    while stack:
        item = stack.pop()
        if item.kind == "call":
            out.add(str(item.value))
        stack.extend(item.args)
    return out


def _check_label(label: str, where: str) -> None:
    if re.search(r"\s", label):
        glued = re.sub(r"\s+", "", label)
        raise ModelError(
            f"{where}: the label '{label}' holds a space; lavaan would delete it and read "
            f"'{glued}': write the label without spaces"
        )
    if not NAME.match(label) or label in RESERVED:
        raise ModelError(
            f"{where}: '{label}' is not a valid label (use letters, digits, '.' and '_', starting "
            "with a letter)"
        )


def _merge(element: Element, entries: list[tuple[str, object]], parsed: Parsed, where: str):
    """Rule 6: the first entry of each kind counts; a later, different one is noted as lost."""
    for kind, value in entries:  # kind names the attribute: fixed, start, label or equal
        current = getattr(element, kind)
        if current is None:
            setattr(element, kind, value)
        elif current is not value and current != value:
            parsed.notes.append(
                f"{where}: {element.lhs} {element.op} {element.rhs} is given two "
                f"{'values' if kind == 'fixed' else kind + 's'} ({_show(current)} and "
                f"{_show(value)}); lavaan keeps the first, {_show(current)}"
            )


def _show(value) -> str:
    return (
        "NA (free)" if value is NA else (f"{value:g}" if isinstance(value, float) else str(value))
    )


def _register(element: Element, registry: dict, parsed: Parsed) -> None:
    """Rule 7: an element written again in a later statement."""
    where = f"line {element.line}: '{element.statement}'"
    reverse = (element.rhs, element.op, element.lhs)
    if element.key in registry or (element.op == "~~" and reverse in registry):
        first = registry.get(element.key) or registry[reverse]
        same_covariance = (
            element.op == "~~" and element.lhs != element.rhs and element.key in registry
        )
        if not same_covariance:
            raise ModelError(
                f"{where}: {element.lhs} {element.op} {element.rhs} is already specified on line "
                f"{first.line}; give every element once (write all its modifiers there, e.g. "
                "'y ~ b*x + start(0.3)*x')"
            )
        parsed.notes.append(
            f"{where}: {element.lhs} ~~ {element.rhs} is already specified on line {first.line}; "
            "lavaan ignores the repetition, so only line "
            f"{first.line}'s version counts: write the covariance once"
        )
        return
    registry[element.key] = element
    parsed.elements.append(element)
