"""Properties of the model language that must hold for every input (hypothesis).

Questions answered:
- test_any_text_gives_a_model_or_a_model_error: does arbitrary text - random characters, and
  random near-lavaan statements built from its operators, modifiers and names - give a RAMModel
  or a ModelError, never another exception (issue 16)?
- test_multiple_left_sides_equal_one_path_per_line: does a model written with several names on
  the left of '=~', '~' and '~~' parse to the same RAM as the same model written one element per
  statement (lavaan's rule: the statement is repeated for each left-hand name)?
- test_whitespace_and_line_breaks_do_not_matter: does moving spaces and breaking a statement after
  an operator or before a '+' (where lavaan continues a statement) leave the RAM unchanged?
"""

from __future__ import annotations

import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masem.errors import ConvergenceWarning, ModelError
from masem.model import Evaluator, lavaan_to_ram

VARIABLES = ["x1", "x2", "x3", "y", "m", "f", "g", "a", "b", "x.1", "Self_confidence"]
MODIFIERS = [
    "", "a*", "b*", "0.5*", "NA*", "start(0.3)*", "0.2?", 'label("c")*', "-a*", "start(-1)*a*",
    "2*3*", "sqrt(2)*", "1e-2*", "as.numeric(NA)*", "lower(0)*", "pi*", '"q"*', "c(a)*",
    'equal("f=~x1")*', "a*b*", "(0.4)*", "Inf*", "1/0*", "TRUE*", "-", "+",
]  # fmt: skip
OPERATORS = ["~", "=~", "~~", "<~", "|", "~*~", ":", "%"]
EXTRAS = [
    "ab := a*b", "d := ab + 1", "a == b", "a > 0", "b < 2*a", "a == sqrt(b^2)", "e := exp(a)",
    "a <= 1", "x1 ~ 1", "efa(\"e\")*f =~ x1", "group: 1", "# comment", "y ~ x1 # note",
    "y ~ x1 ! note", "y ~ x1;", "ab := a*", "+ x2", "f =~", "= 3",
]  # fmt: skip


def _statement():
    names = st.lists(st.sampled_from(VARIABLES), min_size=1, max_size=2, unique=True)
    terms = st.lists(
        st.tuples(st.sampled_from(MODIFIERS), st.sampled_from(VARIABLES)), min_size=1, max_size=3
    )
    built = st.builds(
        lambda lhs, op, rhs: f"{' + '.join(lhs)} {op} {' + '.join(m + v for m, v in rhs)}",
        names,
        st.sampled_from(OPERATORS),
        terms,
    )
    return st.one_of(built, built, built, st.sampled_from(EXTRAS))


def _read(text: str) -> None:
    """Parse (and prepare both evaluators); only a model or a ModelError may come out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            ram = lavaan_to_ram(text)
        except ModelError:
            return
        for computed in (True, False):
            try:
                ev = Evaluator(ram, computed=computed)
            except ModelError:
                continue
            if ev.n:
                try:
                    ev.evaluate(ev.start)
                except ModelError:
                    pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("xyab12 .+-*/^()~=<>:;#!?\"'\n\t|%_,`")), max_size=40))
def test_any_text_gives_a_model_or_a_model_error(text: str) -> None:
    """Source: issue 16 (never another exception type)."""
    _read(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_statement(), min_size=1, max_size=5), st.sampled_from(["\n", ";", "\n\n  "]))
def test_any_statements_give_a_model_or_a_model_error(statements: list[str], sep: str) -> None:
    """Source: issue 16 (never another exception type), on near-lavaan statements."""
    _read(sep.join(statements))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["y1", "y2", "y3"]), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(["x1", "x2", "x3"]), min_size=1, max_size=3, unique=True),
    st.sampled_from(["~", "=~"]),
    st.lists(st.sampled_from(["", "b*", "0.3*", "start(0.2)*"]), min_size=3, max_size=3),
)
def test_multiple_left_sides_equal_one_path_per_line(lhs, rhs, op, modifiers) -> None:
    """Source: ?model.syntax ('y1 + y2 ~ x1 + x2'); lavaan 0.6-14 executed (spec T12, T49)."""
    terms = [m + v for m, v in zip(modifiers, rhs)]
    together = f"{' + '.join(lhs)} {op} {' + '.join(terms)}\nz ~~ {lhs[0]}"
    apart = "\n".join(f"{name} {op} {term}" for name in lhs for term in terms) + f"\nz ~~ {lhs[0]}"
    one, two = lavaan_to_ram(together), lavaan_to_ram(apart)
    assert one.variables == two.variables
    assert one.A.equals(two.A) and one.S.equals(two.S)
    assert one.parameters.drop(columns="line").equals(two.parameters.drop(columns="line"))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([" ", "  ", "\t"]), st.sampled_from(["after_op", "before_plus", "after_plus"]))
def test_whitespace_and_line_breaks_do_not_matter(space: str, where: str) -> None:
    """Source: lavaan 0.6-14 executed (spec section 2: a line without an operator continues the
    statement; spaces are insignificant between tokens).
    """
    base = "y ~ b1*x1 + b2*x2 + x3\nx1 ~~ 1*x1\nd := b1*b2"
    broken = {
        "after_op": f"y{space}~\n{space}b1*x1{space}+ b2*x2 + x3",
        "before_plus": f"y ~ b1*x1\n{space}+ b2*x2{space}\n + x3",
        "after_plus": f"y ~{space}b1 * x1 +\nb2*x2 +{space}\n{space}x3",
    }[where]
    one = lavaan_to_ram(base)
    two = lavaan_to_ram(broken + "\nx1 ~~ 1*x1\nd := b1*b2")
    assert one.A.equals(two.A) and one.S.equals(two.S)
    assert [d.name for d in one.definitions] == [d.name for d in two.definitions]
