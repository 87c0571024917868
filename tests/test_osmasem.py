"""The one-stage MASEM's machinery and properties, beyond the metaSEM reference.

Questions answered:

- test_gradient_and_hessian_are_exact: are the analytic gradient and observed Hessian of -2LL
  (paths, covariances, slopes, log tau2; a latent variable and a computed latent error variance
  included; Diag and Symm heterogeneity) the finite-difference derivatives of -2LL?
- test_slopes_at_zero_give_the_model_without_moderators: with every slope fixed at 0, does the
  moderated model reproduce the fit without moderators (estimates and -2LL)?
- test_shifted_moderator_changes_only_the_intercepts: does a moderator that is a constant shift of
  another give the same -2LL and slopes, the paths at 0 moving by slope x shift?
- test_order_of_studies_and_variables_does_not_matter: does permuting the studies (and the
  variables of the matrices) leave every estimate unchanged?
- test_missing_moderator_drop_equals_the_subset: does ``missing="drop"`` fit exactly the studies
  that have the moderator, with the sampling covariances of their own mean matrix?
- test_null_diagonal_convention: is a correlation given against an unmeasured variable left out
  of the likelihood but kept in the mean matrix (metaSEM's Cor2DataFrame)?
- test_recovers_known_slopes: on a large simulated literature with known moderator slopes (one
  of them zero), are the slopes recovered within 3 standard errors?
- test_zero_heterogeneity_and_symm: does ``re_type="Zero"`` fit worse than ``"Diag"`` and
  ``"Symm"`` better (nested), each reported with its parameters?
- test_notes: are a tau2 at its bound, left-out studies and a moderator that makes an implied
  matrix indefinite each reported in words (ConvergenceWarning), never as NaN?
- test_result_api: do ``summary()``, ``fit_stats()``, ``heterogeneity``, ``per_study()``,
  ``implied(at=...)`` and the repr agree with the estimates?
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import masem
from masem.model import lavaan_to_ram
from masem.osmasem._likelihood import Likelihood
from masem.osmasem._optimize import maximise
from masem.osmasem._structure import Structure

NOHE_MODEL = (
    "W2 ~ w2w*W1 + s2w*S1\nS2 ~ w2s*W1 + s2s*S1\nW1 ~~ w1WITHs1*S1\nW2 ~~ w2WITHs2*S2\n"
    "W1 ~~ 1*W1\nS1 ~~ 1*S1"
)


def _nohe(scale: bool = True) -> masem.CorData:
    ex = masem.example_data("Nohe15A1")
    lag = ex.moderators[["Lag"]].astype(float)
    if scale:
        lag = (lag - lag.mean()) / lag.std()
    return masem.cor_data(ex.matrices, ex.n, moderators=lag)


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)
        return masem.osmasem(*args, **kwargs)


def _likelihood(model: str, data: masem.CorData, moderated: dict, mods: list[str], re_type: str):
    ram = lavaan_to_ram(model, list(data.variables))
    structure = Structure(ram, moderated, mods)
    x = data.moderators[mods].to_numpy(dtype=float) if mods else np.zeros((data.k, 0))

    def mean(theta, jacobian):
        if jacobian:
            rho, J, _ = structure.evaluate(theta, x)
            return rho, J
        return structure.implied(theta, x), None

    like = Likelihood(
        data.r, data.observed, data.n, data.acov, mean, lambda t, u: structure.curvature(t, x, u),
        structure.n_params, re_type,
    )
    return structure, like


@pytest.mark.parametrize(
    "model,re_type",
    [
        (NOHE_MODEL, "Diag"),
        (NOHE_MODEL, "Symm"),
        # a latent variable, its loadings moderated, a computed latent residual variance
        ("F =~ W1 + S1\nG =~ W2 + S2\nG ~ F\nW1 ~~ W2", "Diag"),
    ],
)
def test_gradient_and_hessian_are_exact(model, re_type):
    data = _nohe()
    ram = lavaan_to_ram(model, list(data.variables))
    free = [c.name for c in ram.cells if c.fixed is None and c.matrix == "A"]
    structure, like = _likelihood(model, data, {free[0]: ["Lag"], free[1]: ["Lag"]}, ["Lag"], re_type)
    rng = np.random.default_rng(5)
    theta = np.concatenate([structure.start + rng.normal(0, 0.1, structure.n_params) + 0.2,
                            np.full(like.q, np.log(0.02)) + rng.normal(0, 0.3, like.q),
                            rng.uniform(-0.2, 0.2, like.n_tau - like.q)])
    f, g, hess, _ = like.derivatives(theta, observed_hessian=True)
    # Central differences of a smooth function: error O(h^2) ~ 1e-8 of the scale of -2LL.
    h = 1e-5
    numeric_g = np.array([(like.value(theta + h * e) - like.value(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    np.testing.assert_allclose(g, numeric_g, rtol=1e-5, atol=1e-4)
    numeric_h = np.array([
        (like.derivatives(theta + h * e, False)[1] - like.derivatives(theta - h * e, False)[1]) / (2 * h)
        for e in np.eye(theta.size)
    ])
    np.testing.assert_allclose(hess, (numeric_h + numeric_h.T) / 2, rtol=1e-4, atol=1e-3)


def test_slopes_at_zero_give_the_model_without_moderators():
    data = _nohe()
    fit0 = _quiet(data, NOHE_MODEL)
    structure, like = _likelihood(NOHE_MODEL, data, {n: ["Lag"] for n in ("w2w", "s2w", "w2s", "s2s")}, ["Lag"], "Diag")
    n0 = len(structure.base_names)
    start = np.concatenate([fit0.coefficients["estimate"].to_numpy()[:n0], np.zeros(4), np.log(fit0.tau2.to_numpy())])
    fixed = np.zeros(start.size, dtype=bool)
    fixed[n0 : n0 + 4] = True
    lower = np.full(start.size, -np.inf)
    # the slopes at zero reproduce the -2LL of the model without moderators exactly
    assert like.value(start) == pytest.approx(fit0.minus2LL, abs=1e-9)
    refit = maximise(like, start + 0.01 * ~fixed, lower, fixed=fixed)
    assert refit.f == pytest.approx(fit0.minus2LL, abs=1e-7)
    np.testing.assert_allclose(refit.x[:n0], start[:n0], atol=1e-6)


def test_shifted_moderator_changes_only_the_intercepts():
    data = _nohe(scale=False)
    shifted = masem.cor_data(
        masem.example_data("Nohe15A1").matrices, data.n,
        moderators=pd.DataFrame({"Lag": data.moderators["Lag"].astype(float) + 12.0}),
    )
    a = _quiet(data, NOHE_MODEL, moderators="Lag").coefficients
    b = _quiet(shifted, NOHE_MODEL, moderators="Lag").coefficients
    assert _quiet(data, NOHE_MODEL, moderators="Lag").minus2LL == pytest.approx(
        _quiet(shifted, NOHE_MODEL, moderators="Lag").minus2LL, abs=1e-7)
    slopes = [n for n in a.index if n.endswith(":Lag")]
    np.testing.assert_allclose(b.loc[slopes, "estimate"], a.loc[slopes, "estimate"], atol=1e-6)
    for slope in slopes:
        base = slope.removesuffix(":Lag")
        assert b.loc[base, "estimate"] == pytest.approx(a.loc[base, "estimate"] - 12.0 * a.loc[slope, "estimate"], abs=1e-6)


def test_order_of_studies_and_variables_does_not_matter():
    ex = masem.example_data("Nohe15A1")
    data = _nohe()
    order = np.random.default_rng(3).permutation(data.k)
    names = list(ex.matrices)
    variables = ["S2", "W1", "W2", "S1"]
    matrices = {names[i]: ex.matrices[names[i]].loc[variables, variables] for i in order}
    permuted = masem.cor_data(matrices, [ex.n[i] for i in order], moderators=data.moderators.iloc[order].reset_index(drop=True))
    a = _quiet(data, NOHE_MODEL, moderators="Lag")
    b = _quiet(permuted, NOHE_MODEL, moderators="Lag")
    assert b.minus2LL == pytest.approx(a.minus2LL, abs=1e-8)
    structural = [n for n in a.coefficients.index if not n.startswith("Tau1")]
    np.testing.assert_allclose(b.coefficients.loc[structural, "estimate"], a.coefficients.loc[structural, "estimate"], atol=1e-7)
    # the same correlation is labelled row_col in the order of each data set's variables
    pair = {frozenset(label.split("_")): value for label, value in b.tau2.items()}
    np.testing.assert_allclose([pair[frozenset(label.split("_"))] for label in a.tau2.index], a.tau2, rtol=1e-6)


def test_missing_moderator_drop_equals_the_subset():
    ex = masem.example_data("Nohe15A1")
    lag = ex.moderators["Lag"].astype(float).to_numpy().copy()
    lag[[2, 7]] = np.nan
    data = masem.cor_data(ex.matrices, ex.n, moderators=pd.DataFrame({"Lag": lag}))
    with pytest.raises(masem.DataError, match="missing='drop'"):
        masem.osmasem(data, NOHE_MODEL, moderators="Lag")
    with pytest.warns(masem.ConvergenceWarning, match="2 studies without a value"):
        dropped = masem.osmasem(data, NOHE_MODEL, moderators="Lag", missing="drop")
    keep = [i for i in range(len(lag)) if i not in (2, 7)]
    names = list(ex.matrices)
    subset = masem.cor_data({names[i]: ex.matrices[names[i]] for i in keep}, [ex.n[i] for i in keep],
                            moderators=pd.DataFrame({"Lag": lag[keep]}))
    direct = _quiet(subset, NOHE_MODEL, moderators="Lag")
    assert dropped.k == 30 and dropped.dropped == (names[2], names[7])
    assert dropped.minus2LL == pytest.approx(direct.minus2LL, abs=1e-9)
    np.testing.assert_allclose(dropped.data.acov, subset.acov)


def test_null_diagonal_convention():
    ex = masem.example_data("Becker92")
    matrices = {k: v.copy() for k, v in ex.matrices.items()}
    first = next(iter(matrices))
    matrices[first].loc["Verbal", "Verbal"] = np.nan  # Verbal marked as not measured, values still given
    data = masem.cor_data(matrices, ex.n)
    full = masem.cor_data(ex.matrices, ex.n)
    assert data.observed.sum() == full.observed.sum() - 2  # Verbal_Math and Verbal_Spatial set aside
    assert np.isnan(data.r[0, 1]) and np.isnan(data.r[0, 2]) and not np.isnan(data.r[0, 0])
    np.testing.assert_allclose(data.mean_matrix, full.mean_matrix)  # the mean still averages them


def test_recovers_known_slopes():
    rng = np.random.default_rng(2020)
    model = "m ~ a*x\ny ~ b*m + c*x\nx ~~ 1*x"
    ram = lavaan_to_ram(model, ["x", "m", "y"])
    truth = {"a": (0.4, 0.10), "b": (0.3, 0.0), "c": (0.1, -0.05)}
    structure = Structure(ram, {name: ["mod"] for name in truth}, ["mod"])
    k = 300
    moderator = rng.normal(size=k)
    theta = np.array([truth[n][0] for n in structure.base_names] + [truth[n.split(":")[0]][1] for n in structure.names[3:]])
    matrices, n = [], rng.integers(80, 400, size=k)
    implied = structure.implied(theta, moderator[:, None])
    for i in range(k):
        R = np.eye(3)
        R[structure.rows, structure.cols] = implied[i] + rng.normal(0, 0.05, 3)
        R[structure.cols, structure.rows] = R[structure.rows, structure.cols]
        sample = rng.multivariate_normal(np.zeros(3), R, size=int(n[i]))
        matrices.append(np.corrcoef(sample, rowvar=False))
    data = masem.cor_data(matrices, n, variables=["x", "m", "y"], moderators=pd.DataFrame({"mod": moderator}))
    co = _quiet(data, model, moderators="mod").coefficients
    for name, (value, slope) in truth.items():
        assert abs(co.loc[name, "estimate"] - value) < 3 * co.loc[name, "se"]
        assert abs(co.loc[f"{name}:mod", "estimate"] - slope) < 3 * co.loc[f"{name}:mod", "se"]


def test_zero_heterogeneity_and_symm():
    data = _nohe()
    zero, diag = _quiet(data, NOHE_MODEL, re_type="Zero"), _quiet(data, NOHE_MODEL)
    symm = _quiet(data, NOHE_MODEL, re_type="Symm")
    assert zero.n_parameters == 6 and diag.n_parameters == 12 and symm.n_parameters == 12 + 15
    assert zero.minus2LL > diag.minus2LL > symm.minus2LL
    assert (zero.tau2 == 0).all() and (zero.heterogeneity["tau2"] == 0).all()
    assert masem.compare(zero, diag).iloc[0]["df_diff"] == 6


def test_notes():
    ex = masem.example_data("Becker92")
    model = "Math ~ s*Spatial + Verbal\nSpatial ~~ Verbal\nSpatial ~~ 1*Spatial\nVerbal ~~ 1*Verbal"
    same = masem.cor_data([ex.matrices[next(iter(ex.matrices))]] * 6, ex.n)  # no heterogeneity at all
    with pytest.warns(masem.ConvergenceWarning, match=r"tau2 at its lower bound .* for Spatial_Math, Verbal_Math"):
        fit = masem.osmasem(same, model)
    assert np.isfinite(fit.coefficients.loc[["s", "MathonVerbal"], "se"]).all()  # the paths keep their SEs
    assert np.isnan(fit.coefficients.loc["Tau1_1", "se"])  # log tau2 at its bound has none
    extreme = masem.cor_data(ex.matrices, ex.n, moderators=pd.DataFrame({"m": [0.0, 0.1, -0.1, 0.05, 0.0, 60.0]}))
    structure = Structure(lavaan_to_ram(model, ["Math", "Spatial", "Verbal"]), {"s": ["m"]}, ["m"])
    theta = structure.start.copy()
    theta[structure.names.index("s:m")] = 0.05  # at m = 60 the path is 3.1: no correlation matrix
    from masem.osmasem.fit import _warn_not_positive_definite

    with pytest.warns(masem.ConvergenceWarning, match=r"not positive definite.*m = 60"):
        _warn_not_positive_definite(theta, structure, extreme.moderators[["m"]].to_numpy(), extreme, ["m"])


def test_result_api():
    fit = _quiet(_nohe(), NOHE_MODEL, moderators="Lag")
    summary = fit.summary()
    assert list(summary.columns) == ["kind", "estimate", "se", "z", "p", "ci_lower", "ci_upper"]
    assert summary.loc["w2w:Lag", "kind"] == "slope" and summary.loc["Tau1_1", "kind"] == "log tau2"
    stats = fit.fit_stats()
    assert stats["df"] == 192 - 16 and stats["AIC"] == pytest.approx(fit.minus2LL + 32)
    het = fit.heterogeneity
    assert (het["ci_lower"] < het["tau2"]).all() and (het["tau2"] < het["ci_upper"]).all()
    per = fit.per_study()
    assert per["minus2LL"].sum() == pytest.approx(fit.minus2LL, abs=1e-8)
    at0 = fit.implied()
    assert at0.loc["S1", "W1"] == pytest.approx(fit.coefficients.loc["w1WITHs1", "estimate"])
    lag1 = fit.implied(at={"Lag": 1.0})
    assert lag1.loc["W2", "W1"] != pytest.approx(at0.loc["W2", "W1"])
    with pytest.raises(masem.ModelError, match="not a moderator"):
        fit.implied(at={"Year": 1.0})
    assert "moderators=['Lag']" in repr(fit) and "converged" in repr(fit)


def test_conditional_paths_and_their_plot():
    """conditional(): a + b x with the delta-method SE; at 0 the coefficient itself; the plot draws it."""
    fit = _quiet(_nohe(), NOHE_MODEL, moderators="Lag")
    table = fit.conditional("w2w", "Lag", [0.0, 1.0, -2.0])
    co, V = fit.coefficients, fit.vcov
    assert table.loc[0, "estimate"] == pytest.approx(co.loc["w2w", "estimate"])
    assert table.loc[0, "se"] == pytest.approx(co.loc["w2w", "se"])
    expected = co.loc["w2w", "estimate"] + co.loc["w2w:Lag", "estimate"]
    assert table.loc[1, "estimate"] == pytest.approx(expected)
    var = V.loc["w2w", "w2w"] + 4 * V.loc["w2w:Lag", "w2w:Lag"] - 4 * V.loc["w2w", "w2w:Lag"]
    assert table.loc[2, "se"] == pytest.approx(np.sqrt(var))
    # the implied correlation W2-W1 at Lag = 1 follows from the conditional path (W1 and S1 exogenous)
    implied = fit.implied(at={"Lag": 1.0})
    s2w = fit.conditional("s2w", "Lag", [1.0]).loc[0, "estimate"]
    assert implied.loc["W2", "W1"] == pytest.approx(expected + s2w * co.loc["w1WITHs1", "estimate"])
    with pytest.raises(masem.ModelError, match="not a moderator"):
        fit.conditional("w2w", "Year", [0.0])
    import matplotlib

    matplotlib.use("Agg")
    from masem import plots

    ax = plots.moderated_path(fit, "w2w", "Lag", truth=(0.6, -0.05))
    assert len(ax.lines) == 3 and ax.get_title() == "w2w by Lag"
    assert ax.get_legend_handles_labels()[1] == ["95% confidence band", "estimate", "simulated truth"]


def test_database_cor_data_is_cor_data_of_its_matrices():
    db = masem.example_data("Nohe15A1").database()
    data = db.cor_data(["W1", "S1", "W2", "S2"], moderators=["Lag"])
    m = db.matrices(["W1", "S1", "W2", "S2"])
    direct = masem.cor_data(m.matrices, m.n, moderators=db.studies[["Lag"]].reset_index(drop=True))
    np.testing.assert_array_equal(data.observed, direct.observed)
    np.testing.assert_allclose(data.acov, direct.acov)
    assert data.studies == tuple(m.study_ids)
    with pytest.raises(masem.DataError, match="did you mean 'Lag'"):
        db.cor_data(["W1", "S1"], moderators=["lag"])


def test_moderators_written_in_the_model():
    """metaSEM's osmasem2 form ``a == a0 + a1*data.x``: the same fit as moderators=/moderate=, the
    user's names for the intercept and the slope, and a clear message for anything else."""
    data = _nohe()
    written = NOHE_MODEL + "\nw2w == w2w0 + w2w1*data.Lag\ns2s == s2s0 + s2s1*data.Lag"
    fit = _quiet(data, written)
    reference = _quiet(data, NOHE_MODEL, moderators="Lag", moderate=["w2w", "s2s"])
    assert fit.minus2LL == pytest.approx(reference.minus2LL, abs=1e-9)
    mine, theirs = fit.coefficients, reference.coefficients
    assert mine.loc["w2w1", "estimate"] == pytest.approx(theirs.loc["w2w:Lag", "estimate"])
    assert mine.loc["s2s0", "se"] == pytest.approx(theirs.loc["s2s", "se"])
    assert fit.moderators == ("Lag",)
    np.testing.assert_allclose(fit.conditional("w2w0", "Lag", [1.0])["estimate"],
                               reference.conditional("w2w", "Lag", [1.0])["estimate"])
    with pytest.raises(masem.ModelError, match=r"line 7: .*name\*data.column"):
        masem.osmasem(data, NOHE_MODEL + "\nw2w == w2w0 + exp(data.Lag)")
    with pytest.raises(masem.ModelError, match="leave out moderators="):
        masem.osmasem(data, written, moderators="Lag")
    with pytest.raises(masem.DataError, match="did you mean 'Lag'"):
        masem.osmasem(data, NOHE_MODEL + "\nw2w == w2w0 + w2w1*data.lag")
