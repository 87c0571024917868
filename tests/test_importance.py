"""Relative importance and incremental validity from a pooled matrix (masem.relative_importance,
masem.incremental_validity).

- test_published_values: are the general dominance weights of R's ``attitude`` data (rating on
  six predictors) the ones the dominanceanalysis package prints in its README (.371, .051, .156,
  .120, .007, .028; R2 = .733), and the raw relative weights of ``mtcars`` (mpg on cyl, disp, hp,
  gear) the ones the rwa package prints in its README (.2284797, .2221469, .2321744, .0963886;
  R2 = .7791896)? (tests/fixtures/relative_importance.json: the matrices and their provenance.)
- test_two_predictors_by_hand: for r1 = .5, r2 = .3, r12 = .4, are R2, the relative weights and
  the general dominance weights the values worked out by hand (.261905; .210952, .050952)?
- test_weights_sum_to_R2: do the relative weights, the general dominance weights and each
  draw's weights sum to that draw's R2?
- test_intervals_cover_the_truth: in a small simulation (studies drawn from a known population,
  pooled by FEM), do the 95% intervals of the weights cover the population weights about 95% of
  the time?
- test_incremental_validity: is delta R2 the difference of the two regressions' R2 computed
  directly, per outcome, with an interval around it?
- test_the_pooled_input_is_read_by_label: does a vcov in another row order give the same result?
- test_bad_input_is_refused: unknown variables, the outcome among the predictors, one predictor,
  too few draws and inputs that are not pooled matrices give a clear error.
"""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import masem
from conftest import ROOT

FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "relative_importance.json").read_text(encoding="utf-8"))


def pooled(R: np.ndarray, names: list[str], n: int) -> SimpleNamespace:
    """A pooled matrix with the sampling covariance of one sample of size n."""
    labels = masem.vechs_labels(names)
    return SimpleNamespace(
        pooled=pd.DataFrame(R, index=names, columns=names),
        vcov=pd.DataFrame(masem.olkin_siotani(R, n), index=labels, columns=labels),
        variables=names,
    )


def published(name: str) -> tuple[SimpleNamespace, dict]:
    data = FIXTURE[name]
    names = data["variables"]
    return pooled(np.array(data["matrix"]), names, data["n"]), data


@pytest.mark.parametrize(
    ("name", "column", "tolerance"),
    # The READMEs print 3 (dominanceanalysis) and 7 (rwa) decimals: half a unit of the last one.
    [("attitude", "dominance", 5e-4), ("mtcars", "weight", 5e-8)],
)
def test_published_values(name: str, column: str, tolerance: float) -> None:
    s1, data = published(name)
    predictors = [v for v in data["variables"] if v != data["outcome"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)  # n = 30, 32: some draws not PD
        result = masem.relative_importance(s1, data["outcome"], predictors, n_draws=200, seed=1)
    got = result.summary().set_index("predictor")[column]
    for predictor, value in data["expected"][column].items():
        assert got[predictor] == pytest.approx(value, abs=tolerance), predictor
    assert result.R2 == pytest.approx(data["expected"]["R2"], abs=tolerance)


def test_two_predictors_by_hand() -> None:
    R = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    result = masem.relative_importance(pooled(R, ["y", "x1", "x2"], 500), "y", ["x1", "x2"], n_draws=100)
    table = result.summary().set_index("predictor")
    # Closed forms, exact up to rounding (1e-12). R2 = (r1^2 + r2^2 - 2 r1 r2 r12) / (1 - r12^2)
    # = .22 / .84.
    assert result.R2 == pytest.approx(0.22 / 0.84, abs=1e-12)
    # Dominance: (r1^2 + (R2 - r2^2)) / 2 and (r2^2 + (R2 - r1^2)) / 2.
    assert table.loc["x1", "dominance"] == pytest.approx((0.25 + 0.22 / 0.84 - 0.09) / 2, abs=1e-12)
    assert table.loc["x2", "dominance"] == pytest.approx((0.09 + 0.22 / 0.84 - 0.25) / 2, abs=1e-12)
    # Relative weights by hand, rounded to 6 decimals (hence 2e-6): R_xx^1/2 = [[.978906, .204310], ...],
    # beta_z = R_xx^-1/2 r = (.467161, .208962), eps_1 = .978906^2 .467161^2 + .204310^2 .208962^2.
    assert table.loc["x1", "weight"] == pytest.approx(0.210952, abs=2e-6)
    assert table.loc["x2", "weight"] == pytest.approx(0.050952, abs=2e-6)
    assert table.loc["x1", "beta"] == pytest.approx((0.5 - 0.3 * 0.4) / 0.84, abs=1e-12)


def test_weights_sum_to_R2() -> None:
    s1, data = published("attitude")
    predictors = [v for v in data["variables"] if v != data["outcome"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)
        result = masem.relative_importance(s1, data["outcome"], predictors, n_draws=200, seed=3)
    table = result.summary()
    # Both decompositions are exact: equal up to floating-point rounding.
    assert table["weight"].sum() == pytest.approx(result.R2, abs=1e-12)
    assert table["dominance"].sum() == pytest.approx(result.R2, abs=1e-12)
    assert table["weight_percent"].sum() == pytest.approx(100.0, abs=1e-9)
    assert result.conditional[0].tolist() == pytest.approx((table["r"] ** 2).tolist(), abs=1e-12)
    from masem.study.importance import dominance, r2, relative_weights

    rng = np.random.default_rng(4)
    R = np.array(data["matrix"])[None] + 0.0
    draws = np.repeat(R, 20, axis=0)
    noise = rng.normal(scale=0.02, size=draws.shape)
    draws = draws + (noise + noise.transpose(0, 2, 1)) / 2
    draws[:, range(7), range(7)] = 1.0
    full = r2(draws, range(1, 7))
    # Exact decompositions of each draw's R2: equal up to rounding.
    np.testing.assert_allclose(relative_weights(draws).sum(axis=1), full, atol=1e-12)
    np.testing.assert_allclose(dominance(draws)[0].sum(axis=1), full, atol=1e-12)


def _study(R: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.corrcoef(rng.multivariate_normal(np.zeros(len(R)), R, size=n), rowvar=False)


def test_intervals_cover_the_truth() -> None:
    names = ["y", "x1", "x2", "x3"]
    R = np.array(
        [[1.0, 0.40, 0.30, 0.20], [0.40, 1.0, 0.30, 0.40], [0.30, 0.30, 1.0, 0.20], [0.20, 0.40, 0.20, 1.0]]
    )
    from masem.study.importance import dominance, relative_weights

    truth = np.concatenate([relative_weights(R[None])[0], dominance(R[None])[0][0]])
    rng = np.random.default_rng(19)
    hits, reps = np.zeros(6), 100
    for rep in range(reps):
        n = rng.integers(60, 300, size=12)
        matrices = [_study(R, int(k), rng) for k in n]
        s1 = masem.tssem1(matrices, n, method="FEM", variables=names)
        result = masem.relative_importance(s1, "y", ["x1", "x2", "x3"], n_draws=400, seed=rep)
        t = result.summary()
        lower = np.concatenate([t["weight_ci_lower"], t["dominance_ci_lower"]])
        upper = np.concatenate([t["weight_ci_upper"], t["dominance_ci_upper"]])
        hits += (lower <= truth) & (truth <= upper)
    coverage = hits / reps
    # 100 replications: a binomial SD of .022 around .95; .87 is 3.6 SD below it. The upper bound
    # guards against intervals that are far too wide.
    assert np.all(coverage >= 0.87), coverage
    assert np.all(coverage <= 1.0) and coverage.mean() <= 0.99, coverage


def test_incremental_validity() -> None:
    names = ["TP", "TI", "JS", "OC", "PE"]
    R = np.array(
        [
            [1.0, -0.20, 0.30, 0.25, 0.36],
            [-0.20, 1.0, -0.45, -0.50, -0.25],
            [0.30, -0.45, 1.0, 0.60, 0.50],
            [0.25, -0.50, 0.60, 1.0, 0.45],
            [0.36, -0.25, 0.50, 0.45, 1.0],
        ]
    )
    table = masem.incremental_validity(pooled(R, names, 5000), ["TP", "TI"], ["JS", "OC"], "PE", n_draws=300)
    for outcome, row in table.set_index("outcome").iterrows():
        y = names.index(outcome)
        base, full = [2, 3], [2, 3, 4]
        r2_base = R[y, base] @ np.linalg.solve(R[np.ix_(base, base)], R[base, y])
        r2_full = R[y, full] @ np.linalg.solve(R[np.ix_(full, full)], R[full, y])
        # Closed-form regressions on the same matrix: equal up to rounding.
        # Closed-form regressions on the same matrix: equal up to rounding.
        assert row["R2_base"] == pytest.approx(r2_base, abs=1e-12)
        assert row["delta_R2"] == pytest.approx(r2_full - r2_base, abs=1e-12)
        assert row["ci_lower"] < row["delta_R2"] < row["ci_upper"]
        assert row["base"] == "JS + OC" and row["added"] == "PE"


def test_the_pooled_input_is_read_by_label() -> None:
    R = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    s1 = pooled(R, ["y", "x1", "x2"], 500)
    shuffled = SimpleNamespace(pooled=s1.pooled, vcov=s1.vcov.iloc[::-1, ::-1], variables=s1.variables)
    a = masem.relative_importance(s1, "y", ["x1", "x2"], n_draws=100).summary()
    b = masem.relative_importance(shuffled, "y", ["x1", "x2"], n_draws=100).summary()
    pd.testing.assert_frame_equal(a, b)


def test_bad_input_is_refused() -> None:
    R = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    s1 = pooled(R, ["y", "x1", "x2"], 500)
    with pytest.raises(masem.DataError, match=r"\['zz'\] not in the pooled matrix"):
        masem.relative_importance(s1, "y", ["x1", "zz"])
    with pytest.raises(masem.ModelError, match="outcome 'y' is also among"):
        masem.relative_importance(s1, "y", ["x1", "y"])
    with pytest.raises(masem.ModelError, match="2 to 12 predictors, got 1"):
        masem.relative_importance(s1, "y", ["x1"])
    with pytest.raises(masem.DataError, match="n_draws .* at least 100, got 10"):
        masem.relative_importance(s1, "y", ["x1", "x2"], n_draws=10)
    with pytest.raises(masem.DataError, match="tssem1"):
        masem.relative_importance(R, "y", ["x1", "x2"])
    with pytest.raises(masem.ModelError, match="both in base and in added"):
        masem.incremental_validity(s1, "y", ["x1"], ["x1", "x2"])
