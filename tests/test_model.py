"""The model layer: lavaan syntax -> RAM (masem.model) and ':=' expressions (masem.model.definitions).

Questions answered:
- test_labels_fixed_start_and_free: are labels, fixed values, NA*, start() and ``?`` starts read
  as lavaan reads them, with metaSEM's start values and automatic names?
- test_repeated_terms_merge / test_shared_labels_*: do repeated terms merge their modifiers and
  do shared labels make one parameter (fixed everywhere if fixed once)?
- test_std_lv_loadings: does ``=~`` follow std.lv = TRUE (free loadings, factor variance 1, no
  automatic factor covariance) and show loadings in semopy's ``indicator ~ factor`` form?
- test_comments_separators_continuations: are ``#``/``!`` comments, ``;`` and continued lines
  handled?
- test_observed_order: does ``observed`` set the row order (and reject a wrong list)?
- test_model_variables: does masem.model_variables list exactly the observed variables (not the
  factors, not ':=' names), in order of appearance or of a given codebook, and name what is missing?
- test_syntax_errors: does every bad model raise ModelError naming the line and the problem?
- test_definitions_*: are ``:=`` lines parsed safely (whitelist) and differentiated exactly?
- test_jacobian_matches_finite_differences: is the analytic Jacobian of the implied correlations
  right, with error variances computed (diag_constraints=False) and free (True)?
"""

from __future__ import annotations

import numpy as np
import pytest

from masem.model.definitions import evaluate, parse_definition
from masem.errors import ModelError
from masem.model import Evaluator, lavaan_to_ram, model_variables


def test_labels_fixed_start_and_free() -> None:
    ram = lavaan_to_ram(
        "y ~ b1*x1 + -0.5*x2 + start(0.3)*x3 + 0.25?x4\n"
        "x1 ~~ 1*x1\n"
        "x1 ~~ NA*x2\n"
        "y ~~ e*y + start(0.2)*y"
    )
    A, S = ram.A, ram.S
    assert A.loc["y", "x1"] == "0.1*b1"  # metaSEM's A.start = 0.1
    assert A.loc["y", "x2"] == "-0.5"
    assert A.loc["y", "x3"] == "0.3*yonx3"  # start() kept, automatic XonY name
    assert A.loc["y", "x4"] == "0.25*yonx4"  # lavaan's '?' start
    assert S.loc["x1", "x1"] == "1"
    assert S.loc["x1", "x2"] == S.loc["x2", "x1"] == "0*x1withx2"  # covariances start at 0
    assert S.loc["y", "y"] == "0.2*e"
    assert S.loc["x3", "x3"] == "0.5*x3withx3"  # auto.var: free variance, S.start = 0.5
    free = ram.parameters.set_index("label")["free"]
    assert free["b1"] and free["e"] and not free[""].any()


def test_repeated_terms_merge() -> None:
    ram = lavaan_to_ram("y ~ a*x + start(0.7)*x")
    assert ram.A.loc["y", "x"] == "0.7*a"
    assert len(ram.parameters.query("matrix == 'A'")) == 1


def test_shared_labels_make_one_parameter() -> None:
    ram = lavaan_to_ram("y1 ~ a*x\ny2 ~ a*x\nx ~~ 1*x")
    ev = Evaluator(ram, computed=True)
    assert ev.names == ("a",)
    assert ram.A.loc["y1", "x"] == ram.A.loc["y2", "x"] == "0.1*a"


def test_shared_labels_fixed_once_are_fixed_everywhere() -> None:
    ram = lavaan_to_ram("y1 ~ a*x + 0.3*x\ny2 ~ a*x\nx ~~ 1*x")
    assert ram.A.loc["y2", "x"] == "0.3"
    assert Evaluator(ram, computed=True).names == ()


def test_std_lv_loadings() -> None:
    ram = lavaan_to_ram("F1 =~ a + b + c\nF2 =~ d + e")
    assert ram.observed == ("a", "b", "c", "d", "e")
    assert ram.latent == ("F1", "F2")
    assert ram.A.loc["a", "F1"] == "0.1*aonF1"  # first loading free (std.lv = TRUE)
    assert ram.S.loc["F1", "F1"] == "1"
    assert ram.S.loc["F1", "F2"] == "0"  # lavaan2RAM adds no factor covariance
    assert ram.S.loc["a", "a"] == "0.5*awitha"
    loadings = ram.parameters.query("matrix == 'A'")
    assert set(zip(loadings.lval, loadings.op, loadings.rval)) == {
        ("a", "~", "F1"), ("b", "~", "F1"), ("c", "~", "F1"), ("d", "~", "F2"), ("e", "~", "F2")
    }
    np.testing.assert_array_equal(ram.F.to_numpy(), np.eye(5, 7))


def test_free_latent_variance_when_written() -> None:
    ram = lavaan_to_ram("F =~ 1*a + b + c\nF ~~ v*F")
    assert ram.S.loc["F", "F"] == "0.5*v"
    assert ram.A.loc["a", "F"] == "1"


def test_comments_separators_continuations() -> None:
    ram = lavaan_to_ram(
        "# a comment line\n"
        "y ~ x1 +   # the first predictor\n"
        "    x2\n"
        "x1 ~~ 1*x1; x2 ~~ 1*x2 ! lavaan's other comment character\n"
        "ind := yonx1 *\n"
        "       2\n"
    )
    assert ram.A.loc["y", "x2"] == "0.1*yonx2"
    assert ram.S.loc["x2", "x2"] == "1"
    assert [d.name for d in ram.definitions] == ["ind"]
    assert ram.definitions[0].expression == "yonx1 * 2"


def test_observed_order() -> None:
    ram = lavaan_to_ram("y ~ x\nx ~~ 1*x", observed=["x", "y"])
    assert list(ram.A.index) == ["x", "y"]
    assert ram.A.loc["y", "x"] == "0.1*yonx"
    with pytest.raises(ModelError, match=r"observed must list each observed variable"):
        lavaan_to_ram("y ~ x", observed=["x", "z"])


def test_model_variables() -> None:
    model = "F =~ x1 + x2 + x3\ny ~ b*F + c*z\nz ~~ 1*z\nind := b*c"
    # The factor F and the definition 'ind' are not data; x1-x3, y and z are.
    assert model_variables(model) == ["x1", "x2", "x3", "y", "z"]
    assert model_variables(model) == list(lavaan_to_ram(model).observed)
    codebook = ["z", "q", "x3", "y", "x2", "x1", "w"]  # extra names are skipped, the order is kept
    assert model_variables(model, order=codebook) == ["z", "x3", "y", "x2", "x1"]
    assert model_variables(model, order=iter(codebook)) == ["z", "x3", "y", "x2", "x1"]
    with pytest.raises(ModelError, match=r"the model uses \['x3', 'z'\], which are not in order"):
        model_variables(model, order=["x1", "x2", "y"])
    with pytest.raises(ModelError, match=r"order must be a list of variable names.*'x1'"):
        model_variables(model, order="x1")
    with pytest.raises(ModelError, match=r"line 1: cannot parse"):
        model_variables("y x")


@pytest.mark.parametrize(
    ("syntax", "message"),
    [
        ("y ~ x\ny x", r"line 2: cannot parse 'y x'"),
        ("y ~ 1", r"line 1: .*intercepts and means"),
        ("y ~ a*x\na == 0.5", r"line 2: .*constraints with ==, < or > are not supported"),
        ("f <~ x1 + x2", r"line 1: operator '<~' is not supported"),
        ("y ~ a*x + b*x", r"line 1: y ~ x has two labels, 'a' and 'b'"),
        ("y ~ 0.3*x + 0.4*x", r"line 1: y ~ x is fixed at both 0.3 and 0.4"),
        ("y ~ x + x*z", r"line 1: the label 'x' of y ~ z is also a variable name"),
        ("y ~ a*x\ny ~~ a*y", r"line 2: the label 'a' is used for a variance .* and for a path"),
        ("y ~ a*x\nd := a*b", r"line 2: 'd := a\*b' uses \['b'\]"),
        ("y ~ a*x\nd := a\nd := 2*a", r"line 3: the defined name 'd' is already"),
        ("y ~ a*x\na := 2", r"line 2: the defined name 'a' is already"),
        ("y ~ a*0.5*x", r"line 1: 'a\*0.5\*x' .* more than one modifier"),
        ("y ~ x +", r"line 1: empty term"),
        ("y ~ y", r"line 1: 'y ~ y' regresses a variable on itself"),
        ("  # only a comment", r"the model syntax is empty"),
        ("y ~ a*x\nd := __import__('os').system('ls')", r"line 2: .*function call"),
        ("y ~ a*x\nd := a.real", r"line 2: .*Attribute"),
        ("y ~ a*x\nd := a if a else 1", r"line 2: .*IfExp"),
        ("y ~ a*x\nd := a +", r"line 2: cannot parse the definition"),
        ("y ~ a*x\n2d := a", r"line 2: '2d' is not a valid name"),
        ("y ~ yonx*x\nz ~ x", None),  # a user label equal to another cell's automatic name is fine here
        ("y ~ zonx*x\nz ~ x", r"automatic name 'zonx' of z ~ x is also used as a label"),
    ],
)
def test_syntax_errors(syntax: str, message: str | None) -> None:
    if message is None:
        lavaan_to_ram(syntax)
        return
    with pytest.raises(ModelError, match=message):
        lavaan_to_ram(syntax)


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
    ["a*b + c", "a^2 + b**2 - 2*a*b*c", "(a - b) / c", "-a + +b", "exp(a) * log(b) / sqrt(c)", "a^b", "a^0", "3"],
)
def test_definitions_value_and_exact_gradient(expression: str) -> None:
    definition = parse_definition("d", expression, line=1)
    point = {"a": 0.4, "b": 0.7, "c": 0.3}
    values = {n: (v, np.eye(3)[k]) for k, (n, v) in enumerate(point.items())}
    value, grad = evaluate(definition, values, 3)
    python = expression.replace("^", "**")
    expected = eval(python, {"exp": np.exp, "log": np.log, "sqrt": np.sqrt}, dict(point))  # test oracle only
    assert value == pytest.approx(expected, rel=1e-14)
    # Central differences are accurate to ~1e-9 here; the forward-mode gradient is exact.
    np.testing.assert_allclose(grad, _numeric_gradient(definition, point), rtol=1e-7, atol=1e-9)


def test_definitions_outside_their_domain_are_nan() -> None:
    definition = parse_definition("d", "log(a) + sqrt(b)", line=1)
    value, grad = evaluate(definition, {"a": (-1.0, np.ones(1)), "b": (1.0, np.ones(1))}, 1)
    assert np.isnan(value) and np.isnan(grad).all()


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
        "F1 =~ a + b + c\nF2 =~ d + e + f\nF2 ~ F1\ng ~ F2 + a\nb ~~ c\ng ~~ 1*g"
        if not computed
        else "F1 =~ a + b + c\nF2 =~ d + e + f\nF2 ~ F1\ng ~ F2 + a\nb ~~ c"
    )
    ev = Evaluator(ram, computed=computed)
    rng = np.random.default_rng(20240611)
    theta = rng.uniform(0.2, 0.6, size=ev.n)
    state = ev.evaluate(theta)
    # Central differences with h = 1e-6 are accurate to ~1e-9 for these smooth functions.
    np.testing.assert_allclose(state["J"], _finite_jacobian(ev, theta, "rho"), atol=1e-8)
    if computed:
        assert np.allclose(np.diag(state["sigma"]), 1.0)
        assert state["Jh"].shape == (0, ev.n)
    else:
        assert ev.n_constraints == 6  # a..f have free error variances; g's is fixed at 1
        np.testing.assert_allclose(state["Jh"], _finite_jacobian(ev, theta, "h"), atol=1e-8)


def test_with_observed_reorders_without_a_second_parse(monkeypatch) -> None:
    """RAMModel.with_observed(order) equals lavaan_to_ram(syntax, order), and tssem2 reads its model once."""
    import masem
    from masem.model import syntax

    text = "F =~ a*x1 + x2 + x3\ny ~ F + start(0.3)*x4\nx4 ~~ y\nind := a*2"
    order = ["x4", "x3", "y", "x2", "x1"]
    again = lavaan_to_ram(text).with_observed(order)
    direct = lavaan_to_ram(text, order)
    assert (again.observed, again.latent, again.cells) == (direct.observed, direct.latent, direct.cells)
    assert [(d.name, d.expression) for d in again.definitions] == [(d.name, d.expression) for d in direct.definitions]
    assert again.parameters.equals(direct.parameters)
    assert again.A.equals(direct.A) and again.S.equals(direct.S)
    with pytest.raises(ModelError, match="observed must list each observed variable"):
        lavaan_to_ram(text).with_observed(["x1"])

    calls = []
    parse = syntax._parse
    monkeypatch.setattr("masem.model.ram._parse", lambda model: calls.append(model) or parse(model))
    ex = masem.example_data("Becker92")
    masem.tssem2(masem.tssem1(ex.matrices, ex.n), "Math ~ Spatial + Verbal")
    assert len(calls) == 1
