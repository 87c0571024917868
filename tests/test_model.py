"""The model layer: lavaan syntax -> RAM (masem.model), rule by rule, each with its source.

The case-by-case agreement with lavaan 0.6-14 and lavaan2RAM is tests/test_model_syntax_reference.py;
here every rule of the rule tables (masem.model.syntax, .partable, .ram) has its own test.

Questions answered:
- test_default_*: do the defaults of lavaanify(fixed.x = FALSE, auto.var = TRUE, std.lv = TRUE)
  hold - free variances and covariances of exogenous observed variables not in any '~~', none
  among latent or dependent variables, latent variances fixed at 1 (also when written), free
  (residual) variances, start values 0.1 / 0.5 / 0, automatic names - and does the parsed model
  say which elements a default added (describe(), print, parameters)?
- test_multiple_left_sides / test_variable_order: are 'y1 + y2 ~ x' and lavaan2RAM's variable
  order read as lavaan reads them?
- test_modifiers_* : labels, fixed values (numeric expressions, scientific notation), NA,
  as.numeric(NA), start(), '?', label(), quoted labels, repeated terms (first of a kind counts),
  chained modifiers (only the label survives, with a note), shared labels (a fixed member fixes
  all), equal() (not effective in metaSEM, with a note), lower()/upper() (ignored, with a note)?
- test_comments_separators_continuations: '#' and '!' comments, ';', and the continuation lines
  lavaan allows (a line without an operator continues the statement)?
- test_constraints_and_definitions: are '==', '<', '>' read into ram.constraints (lhs, op, rhs in
  lavaan's notation), may ':=' use other definitions (in any order, not in a circle), and are
  unknown names refused with the line, a 'did you mean' and the free labels only?
- test_refused: is what a correlation structure cannot hold refused naming the line, the term and
  the remedy (means, thresholds, efa, c(), '<~', names with spaces)?
- test_observed_order / test_model_variables: do 'observed' and model_variables order, check and
  name (with line and 'did you mean') the variables?
- test_definitions_*: are ':=' expressions parsed safely (whitelist) and differentiated exactly?
- test_jacobian_matches_finite_differences: is the analytic Jacobian of the implied correlations
  right, with variances computed (diag_constraints=False) and constrained (True)?
- test_computed_variances_follow_wls: which variances does diag_constraints=False compute, as
  metaSEM's wls does (every dependent variable, latent too; overriding a fixed value)?
- test_with_observed_reorders_without_a_second_parse: one parse per fit.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from masem.errors import ConvergenceWarning, ModelError
from masem.model import Evaluator, did_you_mean, lavaan_to_ram, model_variables
from masem.model.definitions import evaluate, parse_definition


def _quiet(model: str, *args, **kwargs):
    """lavaan_to_ram, returning the notes it warns instead of raising them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ram = lavaan_to_ram(model, *args, **kwargs)
    assert all(issubclass(w.category, ConvergenceWarning) for w in caught)
    return ram, [str(w.message) for w in caught]


def test_default_exogenous_observed_covary() -> None:
    """Source: lavaanify(fixed.x = FALSE) (?lavOptions), as lavaan2RAM calls it (metaSEM
    ?lavaan2RAM); spec T12 (Nohe15 'W2 + S2 ~ W1 + S1') and T44.
    """
    ram = lavaan_to_ram("W2 + S2 ~ W1 + S1")
    assert ram.S.loc["W1", "S1"] == "0*W1withS1"  # free covariance of the exogenous pair
    assert ram.S.loc["W1", "W1"] == "0.5*W1withW1"  # free variances
    assert ram.S.loc["W2", "S2"] == "0"  # no residual covariance among dependent variables
    # A variable named in any '~~' is not exogenous: no covariance with the others (T44).
    partly = lavaan_to_ram("y ~ x1 + x2 + x3\nx1 ~~ 1*x1")
    assert partly.S.loc["x1", "x2"] == "0" and partly.S.loc["x2", "x3"] == "0*x2withx3"


def test_default_latent_variables() -> None:
    """Source: std.lv = TRUE (?lavOptions, ?lavaan2RAM); auto.cov.lv.x = FALSE; spec T32, T45,
    T53, T54: variances fixed at 1 (also written ones and endogenous or second-order factors), no
    factor covariance, all loadings free.
    """
    ram = lavaan_to_ram("F1 =~ a + b + c\nF2 =~ d + e\nG =~ F1 + F2\nH =~ x + y + z\nH ~ G")
    for factor in ("F1", "F2", "G", "H"):
        assert ram.S.loc[factor, factor] == "1"
    assert ram.S.loc["F1", "F2"] == "0" and ram.S.loc["G", "H"] == "0"
    assert ram.A.loc["a", "F1"] == "0.1*aonF1"  # the first loading is free too
    written, notes = _quiet("F =~ a + b + c\nF ~~ v*F")
    assert written.S.loc["F", "F"] == "1" and "names no free parameter" in notes[0]
    freed = lavaan_to_ram("F =~ 1*a + b + c\nF ~~ NA*F + v*F")
    assert freed.S.loc["F", "F"] == "0.5*v"


def test_default_variances_starts_and_names() -> None:
    """Source: auto.var = TRUE (?lavOptions); lavaan2RAM's A.start = 0.1, S.start = 0.5,
    covariances at 0 and its automatic names (?lavaan2RAM; Cheung's printed Hunter83 RAM, T09).
    """
    ram = lavaan_to_ram("y ~ x\nm ~ x\ny ~~ m")
    assert ram.A.loc["y", "x"] == "0.1*yonx"
    assert ram.S.loc["y", "y"] == "0.5*ywithy" and ram.S.loc["m", "m"] == "0.5*mwithm"
    assert ram.S.loc["y", "m"] == "0*ywithm"
    upper = lavaan_to_ram("y ~ x\nm ~ x\ny ~~ m", A_notation="ON", S_notation="WITH")
    assert upper.A.loc["y", "x"] == "0.1*yONx" and upper.S.loc["y", "m"] == "0*yWITHm"


def test_default_elements_are_stated() -> None:
    """Source: issue 16 (every parameter added by default is stated): parameters, describe(),
    print(ram).
    """
    ram = lavaan_to_ram("F =~ a + b\ny ~ F + x1 + x2")
    table = ram.parameters.set_index(["lval", "op", "rval"])
    assert table.loc[("x1", "~~", "x2"), "default"].endswith("(fixed.x = FALSE)")
    assert table.loc[("a", "~~", "a"), "default"].endswith("(auto.var = TRUE)")
    assert table.loc[("F", "~~", "F"), "default"].endswith("(std.lv = TRUE)")
    assert table.loc[("y", "~", "x1"), "default"] == "" and table.loc[("y", "~", "x1"), "line"] == 2
    text = ram.describe()
    assert str(ram) == text
    assert re.search(r"-\s+x1 ~~ x2\s+x1withx2\s+free\s+start 0\s+added: .*fixed.x = FALSE", text)
    assert re.search(r"2\s+y ~ x1\s+yonx1\s+free\s+start 0.1\s+written", text)


def test_multiple_left_sides() -> None:
    """Source: ?model.syntax ('y1 + y2 ~ x'); spec T12, T14 (Boer16 'JS+OC+LE ~ LMX+TFL'), T49."""
    ram = lavaan_to_ram("JS + OC ~ b*LMX + TFL\nF1 + F2 =~ x1 + x2 + x3\nF1 ~~ 0*F2\nu + v ~~ w")
    assert ram.A.loc["JS", "LMX"] == ram.A.loc["OC", "LMX"] == "0.1*b"
    assert ram.A.loc["OC", "TFL"] == "0.1*OConTFL"
    assert ram.A.loc["x3", "F2"] == "0.1*x3onF2"
    assert ram.S.loc["u", "w"] == "0*uwithw" and ram.S.loc["v", "w"] == "0*vwithw"


def test_variable_order() -> None:
    """Source: lavaan2RAM orders the variables by first appearance in the parameter table's lhs,
    then rhs column (spec section 7; T34, T46); obs.variables reorders the observed ones.
    """
    assert lavaan_to_ram("f =~ x1 + x2 + x3\nx3 ~ z").variables == ("x3", "x1", "x2", "z", "f")
    assert lavaan_to_ram("y ~ x\nz ~~ w").observed == ("y", "z", "w", "x")


@pytest.mark.parametrize(
    ("term", "cell", "note"),
    [
        ("2.4*x", "2.4", None),
        ("-4*x", "-4", None),
        ("(-6)*x", "-6", None),
        ("sqrt(3 + 7)*x", "3.16227766016838", None),
        ("1.000000e+00*x", "1", None),
        ("1e-2*x", "0.01", None),
        (".5*x", "0.5", None),
        ("2*3*x", "6", None),
        ("1/3*x", "0.333333333333333", None),
        ("NA*x", "0.1*yonx", None),
        ("as.numeric(NA)*x", "0.1*yonx", None),
        ("start(0.3)*x", "0.3*yonx", None),
        ("0.3?x", "0.3*yonx", None),
        ("-0.3?x", "-0.3*yonx", None),
        ("(0.3)?x", "0.3*yonx", None),
        ('label("b1")*x', "0.1*b1", None),
        ('"b1"*x', "0.1*b1", None),
        ("b1*x + start(0.2)*x", "0.2*b1", None),
        ("NA*x + b1*x", "0.1*b1", None),
        ("start(-1)*lab*x", "0.1*lab", "keeps only the label 'lab'"),
        ("lab*start(-1)*x", "0.1*lab", "keeps only the label 'lab'"),
        ("0.5*a*x", "0.1*a", "keeps only the label 'a'"),
        ("-a*x", "0.1*a", "keeps only the label 'a'"),
        ("pi*x", "0.1*pi", "'pi' is read as a label"),
        ("1*x + start(0.3)*x", "0.3", r"start\(0.3\) replaces the fixed value 1"),
        ("a*x + b*x", "0.1*a", "two labels .* keeps the first, a"),
        ("0.5*x + 0.7*x", "0.5", "two values .* keeps the first, 0.5"),
        ("lower(0)*x", "0.1*yonx", "the bound 'lower\\(0\\)' is not used"),
    ],
)
def test_modifiers(term: str, cell: str, note: str | None) -> None:
    """Source: ?model.syntax (modifiers, 'Multiple modifiers'); lavaan 0.6-14 executed (spec
    section 3.4 and its parser oracle, section 11): where lavaan loses part of a modifier the
    numbers follow lavaan and a note says so.
    """
    ram, notes = _quiet(f"y ~ {term}")
    assert ram.A.loc["y", "x"] == cell
    if note is None:
        assert not notes
    else:
        assert len(notes) == 1 and re.search(note, notes[0]), notes
        assert notes[0].startswith("line 1: ")
        assert notes == list(ram.notes)


def test_modifiers_shared_labels() -> None:
    """Source: ?model.syntax (equality constraints by labels); lavaan 0.6-14 executed (spec T55):
    one label is one parameter; a fixed member fixes them all at the first fixed value.
    """
    ram = lavaan_to_ram("y1 ~ a*x\ny2 ~ a*x\nx ~~ 1*x")
    assert Evaluator(ram, computed=True).names == ("a",)
    fixed, notes = _quiet("y ~ a*x1 + x2\nx2 ~~ 1*x2 + a*x2")
    assert fixed.A.loc["y", "x1"] == "1"
    assert "shares the label 'a' with x2 ~~ x2, which is fixed at 1" in notes[0]
    across = lavaan_to_ram("y ~ a*x\ny ~~ a*y")  # lavaan allows a label on two kinds
    assert across.A.loc["y", "x"] == "0.1*a" and across.S.loc["y", "y"] == "0.5*a"


def test_modifiers_equal_is_not_effective() -> None:
    """Source: ?model.syntax (equal()); lavaan 0.6-14 executed (spec T40, section 5.4):
    lavaan2RAM drops lavaan's internal '.p2. == .p3.' row, so the two loadings stay separate.
    """
    ram, notes = _quiet('visual =~ x1 + x2 + equal("visual=~x2")*x3')
    assert ram.A.loc["x2", "visual"] == "0.1*x2onvisual"
    assert ram.A.loc["x3", "visual"] == "0.1*x3onvisual"
    assert 'equal("visual=~x2") does not make' in notes[0] and "same label" in notes[0]


def test_comments_separators_continuations() -> None:
    """Source: ?model.syntax (comments '#' and '!', ';'); lavaan 0.6-14 executed (spec section 2):
    a line with no operator continues the statement before it, wherever the break is.
    """
    ram = lavaan_to_ram(
        "# a comment line\n"
        "y ~ x1 +   # the first predictor\n"
        "    x2\n"
        "  + x3\n"
        "z ~\n"
        "    y\n"
        "x1 ~~ 1*x1; x2 ~~ 1*x2 ! lavaan's other comment character\n"
        "ind := yonx1 *\n"
        "       2\n"
        "G =~ g1*I1 + g2*I2 +\n"
        "     g3*I3"
    )
    assert ram.A.loc["y", "x3"] == "0.1*yonx3" and ram.A.loc["z", "y"] == "0.1*zony"
    assert ram.S.loc["x2", "x2"] == "1"
    assert [(d.name, d.expression, d.line) for d in ram.definitions] == [("ind", "yonx1 * 2", 8)]
    assert ram.A.loc["I3", "G"] == "0.1*g3"
    assert lavaan_to_ram("y ~ x1\r\ny ~~ y\r\n").A.loc["y", "x1"] == "0.1*yonx1"  # Windows ends


def test_constraints_and_definitions() -> None:
    """Source: ?model.syntax and ?lav_constraints ('a == 2*b', 'b - c == 5'), lavaan tutorial
    (nonlinear constraints 'b1 == (b2 + b3)^2', 'b1 > exp(b2 + b3)'); metaSEM ?lavaan2RAM
    ($mxalgebras: definitions may refer to other definitions).
    """
    ram = lavaan_to_ram(
        "y ~ b1*x1 + b2*x2 + b3*x3\n"
        "total := direct + ind\n"
        "ind := b2*b3\n"
        "direct := b1\n"
        "b1 == (b2 + b3)^2\n"
        "b1 > exp(b2 + b3)\n"
        "b2 - b3 == 5\n"
        "ind < 1"
    )
    assert [(c.lhs, c.op, c.rhs, c.line) for c in ram.constraints] == [
        ("b1", "==", "(b2+b3)^2", 5),
        ("b1", ">", "exp(b2+b3)", 6),
        ("b2-b3", "==", "5", 7),
        ("ind", "<", "1", 8),
    ]
    assert [d.name for d in ram.definitions] == ["total", "ind", "direct"]
    with pytest.raises(ModelError, match=r"line 2: the definitions a -> b -> a refer to each"):
        lavaan_to_ram("y ~ c*x\na := b + c\nb := 2*a")


@pytest.mark.parametrize(
    ("syntax", "message"),
    [
        ("y ~ a*x\nd := a*bb", r"line 2: 'd := a\*bb' uses 'bb', which is not a parameter label"),
        ("y ~ a*x\nd := A", r"line 2: .*uses 'A'.*did you mean 'a'\?"),
        ("y ~ beta*x\nd := btea", r"uses 'btea' \(did you mean 'beta'\?\), .*; labels available: \['beta'\]\Z"),
        ("y ~ x\nd := yonx + q", r"labels available: none"),
        ("y ~ a*x + b*z\nd := 2*a\na == dd", r"line 3: the constraint 'a == dd'.*did you mean 'd'"),
        ("y ~ a*x\nd := a\nd := 2*a", r"line 3: the defined name 'd' is already an earlier"),
        ("y ~ a*x\na := 2", r"line 2: the defined name 'a' is already a parameter label"),
    ],
)
def test_unknown_names_in_definitions_and_constraints(syntax: str, message: str) -> None:
    """Source: issue 18 (line number, 'did you mean', only free labels listed)."""
    with pytest.raises(ModelError, match=message):
        lavaan_to_ram(syntax)
    # Automatic names such as xwithx are never listed as available labels.
    with pytest.raises(ModelError) as info:
        lavaan_to_ram("y ~ b*x\nz ~ x\nd := q")
    assert "labels available: ['b']" in str(info.value) and "withx" not in str(info.value)


@pytest.mark.parametrize(
    ("syntax", "message"),
    [
        ("y ~ x\ny ~ 1", r"line 2: 'y ~ 1': '1' is an intercept or mean .*remove the term"),
        ("y ~ a*1 + x", r"line 1: .*'a\*1' is an intercept or mean"),
        ("f =~ x1 + x2\nx1 | t1 + t2", r"line 2: .*thresholds \('\|'\)"),
        ('efa("b")*f1 + efa("b")*f2 =~ x1 + x2 + x3', r"line 1: .*efa\(\) blocks.*write a"),
        ("y ~ c(a, b)*x", r"line 1: .*group vectors c\(\.\.\.\).*tssem2_multigroup"),
        ("f <~ z1 + z2\ny ~ f", r"line 1: .*formative composites.*'y ~ z1 \+ z2'"),
        ("y ~ x1 x2", r"line 1: .*'x1 x2' has no operator.*one name 'x1x2'.*join .* '\+'"),
        ("y ~ x1\n  x2", r"lines 1-2: .*'x1 x2' has no operator"),
        ("my var ~ x", r"line 1: .*the name 'my var' on the left-hand side holds a space"),
        ("y ~ x1:x2", r"line 1: .*interaction term"),
        ("group: 1\ny ~ x", r"line 1: .*'group:' and 'level:' blocks.*tssem2_multigroup"),
        ("a*y ~ x", r"line 1: .*modifier on the left-hand side"),
        ("y ~ x\ny = x", r"line 2: 'y = x' holds no operator: '=' alone is not one"),
        ("y\n ~ x", r"line 1: 'y' holds no operator"),
        ("y ~ x +", r"line 1: .*ends with '\+'"),
        ("y ~ y", r"line 1: .*regresses a variable on itself"),
        ("y ~ x\ny ~ b*x", r"line 2: .*y ~ x is already specified on line 1"),
        ("y ~ x + x*z", r"line 1: the label 'x' of y ~ z is also a variable name"),
        ("y ~ zonx*x\nz ~ x", r"automatic name 'zonx' of z ~ x is also used as a label"),
        ("  # only a comment", r"the model syntax is empty"),
        ("y ~ `x 1`", r"line 1: .*backticks"),
        ("y ~ Inf*x", r"line 1: .*not a finite number"),
        ("y ~ a*x\nd := exec('ls')", r"line 2: .*the function call 'exec\('ls'\)'"),
        ("y ~ a*x\nd := __import__('os')", r"line 2: cannot read the definition"),
        ("y ~ a*x\nd := a +", r"line 2: cannot read the definition"),
        ("y ~ a*x\n2d := a", r"line 2: '2d' is not a valid name"),
        ('y ~ equal("y~z*x', r"line 1: .*a quote \(\"\) is not closed"),
    ],
)
def test_refused(syntax: str, message: str) -> None:
    """Source: issue 16 (refuse what a correlation structure cannot hold, naming the line, the
    term and the remedy); ?model.syntax for what each construct means.
    """
    with pytest.raises(ModelError, match=message):
        lavaan_to_ram(syntax)


def test_observed_order() -> None:
    """Source: lavaan2RAM's obs.variables (?lavaan2RAM): the same set, in the given order."""
    ram = lavaan_to_ram("y ~ x\nx ~~ 1*x", observed=["x", "y"])
    assert list(ram.A.index) == ["x", "y"]
    assert ram.A.loc["y", "x"] == "0.1*yonx"
    with pytest.raises(ModelError, match=r"observed must list each .*not in the model: \['z'\]"):
        lavaan_to_ram("y ~ x", observed=["x", "z"])


def test_model_variables() -> None:
    """Source: masem's own contract (the stage-1 variables a model needs); issue 18 (line numbers
    and 'did you mean' for unknown names).
    """
    model = "F =~ x1 + x2 + x3\ny ~ b*F + c*z\nz ~~ 1*z\nind := b*c"
    assert model_variables(model) == list(lavaan_to_ram(model).observed)
    assert set(model_variables(model)) == {"x1", "x2", "x3", "y", "z"}
    codebook = ["z", "q", "x3", "y", "x2", "x1", "w"]  # extra names are skipped, the order is kept
    assert model_variables(model, order=codebook) == ["z", "x3", "y", "x2", "x1"]
    assert model_variables(model, order=iter(codebook)) == ["z", "x3", "y", "x2", "x1"]
    with pytest.raises(ModelError, match=r"the model uses .*'x3' \(line 1\)") as info:
        model_variables(model, order=["x1", "x2", "y"])
    assert "'z' (line 2)" in str(info.value)
    with pytest.raises(ModelError, match=r"'js' \(line 1\) \(did you mean 'JS'\?\)"):
        model_variables("js ~ TFL", order=["JS", "TFL"])
    with pytest.raises(ModelError, match=r"'TLF' \(line 2\) \(did you mean 'TFL'\?\)"):
        model_variables("JS ~ LMX\nLMX ~ TLF", order=["JS", "LMX", "TFL"])
    with pytest.raises(ModelError, match=r"order must be a list of variable names.*'x1'"):
        model_variables(model, order="x1")


def test_did_you_mean() -> None:
    """Source: issue 18 (case-insensitive and close matches, difflib)."""
    assert did_you_mean("js", ["JS", "OC"]) == " (did you mean 'JS'?)"
    assert did_you_mean("TLF", ["JS", "TFL"]) == " (did you mean 'TFL'?)"
    assert did_you_mean("zzz", ["JS", "TFL"]) == ""


def test_model_must_be_text() -> None:
    with pytest.raises(ModelError, match="model must be lavaan syntax in a str, got dict"):
        lavaan_to_ram({"y": "x"})


def _numeric_gradient(definition, point: dict[str, float]) -> np.ndarray:
    names = list(point)
    grad = np.zeros(len(names))
    for k, name in enumerate(names):
        h = 1e-6
        up = {n: (v + (h if n == name else 0.0), np.zeros(len(names))) for n, v in point.items()}
        down = {n: (v - (h if n == name else 0.0), np.zeros(len(names))) for n, v in point.items()}
        grad[k] = (evaluate(definition, up, len(names))[0] - evaluate(definition, down, len(names))[0]) / (2 * h)
    return grad


@pytest.mark.parametrize(
    "expression",
    ["a*b + c", "a^2 + b**2 - 2*a*b*c", "(a - b) / c", "-a + +b", "exp(a) * log(b) / sqrt(c)", "a^b", "a^0",
     "abs(a - b)", "-a^2", "2^-a", "3"],
)  # fmt: skip
def test_definitions_value_and_exact_gradient(expression: str) -> None:
    """Source: R's arithmetic and precedence (R Language Definition 10.4.2: -a^2 = -(a^2))."""
    definition = parse_definition("d", expression, line=1)
    point = {"a": 0.4, "b": 0.7, "c": 0.3}
    values = {n: (v, np.eye(3)[k]) for k, (n, v) in enumerate(point.items())}
    value, grad = evaluate(definition, values, 3)
    python = expression.replace("^", "**")
    expected = eval(python, {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": abs}, dict(point))  # test oracle only
    assert value == pytest.approx(expected, rel=1e-14)
    # Central differences are accurate to ~1e-9 here; the forward-mode gradient is exact.
    np.testing.assert_allclose(grad, _numeric_gradient(definition, point), rtol=1e-7, atol=1e-9)


def test_definitions_outside_their_domain_are_nan() -> None:
    definition = parse_definition("d", "log(a) + sqrt(b)", line=1)
    value, grad = evaluate(definition, {"a": (-1.0, np.ones(1)), "b": (1.0, np.ones(1))}, 1)
    assert np.isnan(value) and np.isnan(grad).all()


@pytest.mark.parametrize("text", ["a$real", "a if a else 1", "lambda: 1", "[a]", "a == b", "'x'"])
def test_definitions_refuse_code(text: str) -> None:
    """Source: the whitelist of masem.model.definitions (no user text is evaluated)."""
    with pytest.raises(ModelError, match="line 3: "):
        parse_definition("d", text, line=3)


def _finite_jacobian(ev: Evaluator, theta: np.ndarray, key: str) -> np.ndarray:
    cols = []
    for k in range(len(theta)):
        h = 1e-6
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        cols.append((ev.evaluate(up)[key] - ev.evaluate(down)[key]) / (2 * h))
    return np.column_stack(cols)


@pytest.mark.parametrize("computed", [True, False])
def test_jacobian_matches_finite_differences(computed: bool) -> None:
    ram = lavaan_to_ram(
        "F1 =~ a + lb*b + c\nF2 =~ ld*d + le*e + f\nF2 ~ F1\ng ~ F2 + a\nb ~~ c\ng ~~ 1*g\n"
        "F1 ~~ NA*F1\nld == le*2\nlb > 0"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ev = Evaluator(ram, computed=computed)
    rng = np.random.default_rng(20240611)
    theta = rng.uniform(0.2, 0.6, size=ev.n)
    state = ev.evaluate(theta)
    # Central differences with h = 1e-6 are accurate to ~1e-9 for these smooth functions.
    np.testing.assert_allclose(state["J"], _finite_jacobian(ev, theta, "rho"), atol=1e-8)
    np.testing.assert_allclose(state["Jg"], _finite_jacobian(ev, theta, "g"), atol=1e-8)
    if computed:
        assert np.allclose(np.diag(state["total"])[list(ev.diag)], 1.0)
        assert state["Jh"].shape == (0, ev.n)
    else:
        # a-f have free error variances, F1 a free variance; g's is fixed at 1, F2's at 1 (std.lv)
        assert ev.n_constraints == 7
        np.testing.assert_allclose(state["Jh"], _finite_jacobian(ev, theta, "h"), atol=1e-8)


def test_computed_variances_follow_wls() -> None:
    """Source: metaSEM 1.5.5 wls() (diag.constraints = FALSE): every variable with a free
    incoming path - latent ones too - gets the error variance that makes its variance 1, whatever
    the syntax fixed it at; other variances stay as written (Cheung, 2015, ch. 7).
    """
    ram = lavaan_to_ram("F1 =~ a + b + c\nF2 =~ d + e\nF2 ~ F1\ny ~ F2 + x\ny ~~ 0.3*y\nx ~~ 1*x")
    ev = Evaluator(ram, computed=True)
    computed = {ram.variables[i] for i in ev.diag}
    assert computed == {"a", "b", "c", "d", "e", "y", "F2"}
    assert ev.overridden == ("y ~~ y (line 5, fixed at 0.3)",)  # tssem2 warns about it
    state = ev.evaluate(np.full(ev.n, 0.4))
    assert np.allclose(np.diag(state["total"]), 1.0)  # F1 and x stay at 1 as written


def test_with_observed_reorders_without_a_second_parse(monkeypatch) -> None:
    """RAMModel.with_observed(order) equals lavaan_to_ram(syntax, order), and tssem2 reads its model once."""
    import masem
    from masem.model import ram as ram_module

    text = "F =~ a*x1 + x2 + x3\ny ~ F + start(0.3)*x4\nx4 ~~ y\nind := a*2\na > 0"
    order = ["x4", "x3", "y", "x2", "x1"]
    again = lavaan_to_ram(text).with_observed(order)
    direct = lavaan_to_ram(text, order)
    assert (again.observed, again.latent, again.cells) == (direct.observed, direct.latent, direct.cells)
    assert [(d.name, d.expression) for d in again.definitions] == [(d.name, d.expression) for d in direct.definitions]
    assert again.constraints == direct.constraints
    assert again.parameters.equals(direct.parameters)
    assert again.A.equals(direct.A) and again.S.equals(direct.S)
    with pytest.raises(ModelError, match="observed must list each observed variable"):
        lavaan_to_ram(text).with_observed(["x1"])

    calls = []
    parse = ram_module.parse
    monkeypatch.setattr("masem.model.ram.parse", lambda model: calls.append(model) or parse(model))
    ex = masem.example_data("Becker92")
    masem.tssem2(masem.tssem1(ex.matrices, ex.n), "Math ~ Spatial + Verbal")
    assert len(calls) == 1
