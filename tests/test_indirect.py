"""Parametric-bootstrap intervals for stage-2 parameters and ':=' definitions (masem.tssem.indirect).

Questions answered:
- test_bootstrap_se_agrees_with_delta_method: on a reference example (Hunter 1983 path model,
  REM stage 1 from metaSEM), do the bootstrap SEs of the indirect effect ``ind`` and of the paths
  agree with the delta-method / information-matrix SEs of metaSEM within Monte Carlo error?
- test_intervals_contain_the_estimate: do the percentile and bias-corrected intervals contain
  the original estimate, with every replication used when none failed?
- test_same_seed_same_result / test_n_jobs_do_not_change_the_draws / test_seed_matters: is the
  bootstrap deterministic, independent of the number of worker processes, and driven by the seed?
- test_replications_are_full_tssem2_fits: is each replication exactly what a full tssem2 fit of
  its draw r* ~ N(r, V) gives (the refit shortcut changes nothing)?
- test_failed_replications_are_counted_and_warned: are replications whose refit fails kept as NaN
  rows, counted, excluded from summary() and reported with a ConvergenceWarning (never dropped
  silently)?
- test_undefined_definitions_are_reported: is a definition that cannot be evaluated in some
  replications (sqrt of a negative path) reported instead of leaking NaN into the summary?
- test_result_layout_and_immutability, test_progress_false_is_silent, test_input_not_mutated:
  the standards on results, notebook output (a progress bar only when asked for) and inputs.
- test_errors / test_unconverged_fit_is_refused: are bad arguments refused with DataError /
  ModelError naming the argument and value?
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json

import numpy as np
import pandas as pd
import pytest

from conftest import ref_matrix, reference_path
from masem.model.definitions import evaluate as evaluate_definition
from masem.effects import vechs_inverse, vechs_labels
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.model import lavaan_to_ram
from masem.tssem.stage2 import tssem2

# The module and its main function share a name; import the module explicitly.
boot = importlib.import_module("masem.tssem.indirect")

N_BOOT = 2000
# Monte Carlo error of a bootstrap SE: the SD of B near-normal replications has relative standard
# error 1 / sqrt(2 (B - 1)) = 1.6% at B = 2000, so 4 of those is 6.3%. On top, the parametric
# bootstrap estimates the sandwich (Gauss-Newton) covariance (J'WJ)^-1, while metaSEM's SE comes
# from the full Hessian of F; they differ by the residual-curvature term (2.2% for `ind` here,
# chi2 = 3.75 on 1 df), and the curvature of a product of paths adds ~(SE / estimate)^2 ~ 1%.
TOL_SE_REL = 0.10


@dataclasses.dataclass(frozen=True)
class Stage1:
    """A stage-1 result in the shape tssem2 accepts."""

    pooled: pd.DataFrame
    vcov: pd.DataFrame
    total_n: int
    variables: list
    method: str


def _hunter83() -> tuple[dict, object]:
    """metaSEM's REM stage 1 and the path model with `ind` for Hunter83, our stage-2 fit of it."""
    with reference_path("expected", "metasem", "Hunter83.json").open(encoding="utf-8") as fh:
        data = json.load(fh)
    block = data["tssem1"]["REM"]
    stage1 = Stage1(
        pooled=ref_matrix(block["pooled_matrix"]),
        vcov=ref_matrix(block["vcov"]),
        total_n=int(block["total_N"]),
        variables=list(data["input"]["variables"]),
        method="REM",
    )
    spec = data["tssem2"]["path_no_direct_effect"]
    return spec, tssem2(stage1, spec["lavaan_syntax"], diag_constraints=bool(spec["diag.constraints"]))


@pytest.fixture(scope="module")
def hunter83():
    spec, fit = _hunter83()
    return spec, fit, boot.indirect(fit, n_boot=N_BOOT, seed=20110905, n_jobs=2, progress=False)


def _small_stage1(R: np.ndarray, variance: float) -> Stage1:
    """Three variables a, b, c with pooled matrix R and sampling covariance variance * I."""
    variables = ["a", "b", "c"]
    labels = vechs_labels(variables)
    return Stage1(
        pooled=pd.DataFrame(R, index=variables, columns=variables),
        vcov=pd.DataFrame(np.eye(3) * variance, index=labels, columns=labels),
        total_n=200,
        variables=variables,
        method="REM",
    )


@pytest.fixture(scope="module")
def mediation():
    """A small mediation model a -> b -> c with a defined indirect effect (fast to refit)."""
    R = np.array([[1.0, 0.4, 0.3], [0.4, 1.0, 0.35], [0.3, 0.35, 1.0]])
    return tssem2(_small_stage1(R, 0.002), "b ~ x*a\nc ~ y*b + a\na ~~ 1*a\nxy := x*y")


def test_bootstrap_se_agrees_with_delta_method(hunter83) -> None:
    spec, _, result = hunter83
    reference = spec["on_REM"]["z"]
    table = result.summary().set_index("parameter")
    se_ref = {c["name"]: c["se"] for c in reference["coefficients"]}
    for name, se in se_ref.items():
        assert table.loc[name, "boot_se"] == pytest.approx(se, rel=TOL_SE_REL), name

    # Delta-method SE of `ind` from metaSEM's estimates and parameter covariance matrix.
    vcov = ref_matrix(reference["vcov"])
    names = list(vcov.index)
    estimates = np.array([reference["estimates"][n] for n in names])
    eye = np.eye(len(names))
    values = {n: (float(estimates[k]), eye[k]) for k, n in enumerate(names)}
    (definition,) = lavaan_to_ram(spec["lavaan_syntax"]).definitions
    value, grad = evaluate_definition(definition, values, len(names))
    delta_se = float(np.sqrt(grad @ vcov.to_numpy() @ grad))
    # README tolerance for defined parameters (absolute): the point estimate is metaSEM's.
    assert table.loc["ind", "estimate"] == pytest.approx(reference["algebras"]["ind"], abs=1e-4)
    assert value == pytest.approx(reference["algebras"]["ind"], abs=1e-4)
    assert table.loc["ind", "boot_se"] == pytest.approx(delta_se, rel=TOL_SE_REL)


def test_intervals_contain_the_estimate(hunter83) -> None:
    _, fit, result = hunter83
    table = result.summary()
    assert result.n_failed == result.n_nonconverged == 0
    assert (table["n_valid"] == N_BOOT).all()
    for col in ("ci", "bc"):
        assert (table[f"{col}_lower"] < table["estimate"]).all(), col
        assert (table["estimate"] < table[f"{col}_upper"]).all(), col
    # The percentile bounds are the 2.5% and 97.5% quantiles of the replications (1e-12: only
    # the rounding of alpha = 1 - level may move the interpolation).
    j = result.names.index("ind")
    assert table.loc[j, "ci_lower"] == pytest.approx(np.quantile(result.draws[:, j], 0.025), abs=1e-12)
    assert table.loc[j, "ci_upper"] == pytest.approx(np.quantile(result.draws[:, j], 0.975), abs=1e-12)
    assert list(table["estimate"][: len(fit.coefficients)]) == list(fit.coefficients)


def test_same_seed_same_result(mediation) -> None:
    first = boot.indirect(mediation, n_boot=100, seed=5, progress=False)
    second = boot.indirect(mediation, n_boot=100, seed=5, progress=False)
    np.testing.assert_array_equal(first.draws, second.draws)
    pd.testing.assert_frame_equal(first.summary(), second.summary())


def test_n_jobs_do_not_change_the_draws(mediation) -> None:
    serial = boot.indirect(mediation, n_boot=100, seed=5, n_jobs=1, progress=False)
    parallel = boot.indirect(mediation, n_boot=100, seed=5, n_jobs=2, progress=False)
    np.testing.assert_array_equal(serial.draws, parallel.draws)
    np.testing.assert_array_equal(serial.status, parallel.status)


def test_replications_are_full_tssem2_fits(mediation) -> None:
    result = boot.indirect(mediation, n_boot=100, seed=5, progress=False)
    # The documented draws: one Generator seeded with `seed`, r* = r + L z with V = L L'.
    r, V = mediation.sample_vector.to_numpy(), mediation.acov
    rng = np.random.default_rng(5)
    r_draws = r + rng.standard_normal((100, len(r))) @ np.linalg.cholesky(V.to_numpy()).T
    variables = list(mediation.variables)
    for i in range(0, 100, 10):
        pooled = pd.DataFrame(vechs_inverse(r_draws[i], len(variables)), index=variables, columns=variables)
        full = tssem2(Stage1(pooled, V, mediation.n, variables, mediation.method), mediation.model)
        expected = np.concatenate([full.coefficients.to_numpy(), full.defined.to_numpy()])
        # Same start values, same iterations: the refit is the full fit without its inference.
        np.testing.assert_array_equal(result.draws[i], expected)


def test_seed_matters(mediation) -> None:
    a = boot.indirect(mediation, n_boot=100, seed=1, progress=False)
    b = boot.indirect(mediation, n_boot=100, seed=2, progress=False)
    assert not np.array_equal(a.draws, b.draws)


def test_failed_replications_are_counted_and_warned() -> None:
    # A one-factor model of three weakly correlated indicators with a wide sampling covariance:
    # draws where a correlation falls near 0 leave the factor unidentified, so some refits fail.
    R = np.array([[1.0, 0.3, 0.2], [0.3, 1.0, 0.1], [0.2, 0.1, 1.0]])
    fit = tssem2(_small_stage1(R, 0.005), "F =~ a + b + c")
    with pytest.warns(ConvergenceWarning, match="bootstrap replications failed"):
        result = boot.indirect(fit, n_boot=200, seed=3, progress=False)
    bad = result.status != boot.OK
    assert result.n_failed > 0
    assert result.n_failed + result.n_nonconverged == bad.sum() == len(result.failures)
    assert [i for i, _ in result.failures] == list(np.flatnonzero(bad))
    assert np.isnan(result.draws[result.status == boot.FAILED]).all()
    assert (result.summary()["n_valid"] == (~bad).sum()).all()
    assert np.isfinite(result.summary()[["boot_se", "ci_lower", "ci_upper"]].to_numpy()).all()


def test_undefined_definitions_are_reported() -> None:
    # The path x is small relative to its sampling SD, so sqrt(x) is undefined in some draws.
    R = np.array([[1.0, 0.03, 0.3], [0.03, 1.0, 0.3], [0.3, 0.3, 1.0]])
    fit = tssem2(_small_stage1(R, 0.0004), "b ~ x*a\nc ~ a + b\na ~~ 1*a\nroot := sqrt(x)")
    with pytest.warns(ConvergenceWarning, match="root"):
        result = boot.indirect(fit, n_boot=100, seed=1, progress=False)
    table = result.summary().set_index("parameter")
    assert 0 < table.loc["root", "n_valid"] < 100
    assert (table.drop(index="root")["n_valid"] == 100).all()
    assert np.isfinite(table.loc["root", ["boot_mean", "boot_se"]].astype(float)).all()


def test_result_layout_and_immutability(mediation) -> None:
    result = boot.indirect(mediation, n_boot=100, seed=5, progress=False)
    table = result.summary()
    assert list(table["parameter"]) == list(mediation.coefficients.index) + ["xy"]
    assert list(table["type"]) == ["parameter"] * len(mediation.coefficients) + ["defined"]
    assert result.draws.shape == (100, len(table))
    assert "BootstrapResult" in repr(result) and "xy" in repr(result)
    with pytest.raises(ValueError):
        result.draws[0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.seed = 1


def test_progress_false_is_silent(mediation, capsys) -> None:
    boot.indirect(mediation, n_boot=100, seed=5, progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    boot.indirect(mediation, n_boot=100, seed=5, progress=True)
    assert "100/100" in capsys.readouterr().err


def test_input_not_mutated(mediation) -> None:
    before = copy.deepcopy(mediation)
    boot.indirect(mediation, n_boot=100, seed=5, progress=False)
    pd.testing.assert_frame_equal(before.inspect(), mediation.inspect())
    pd.testing.assert_series_equal(before.sample_vector, mediation.sample_vector)
    pd.testing.assert_frame_equal(before.acov, mediation.acov)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_boot": 99}, DataError, "n_boot .* at least 100, got 99"),
        ({"n_boot": 150.0}, DataError, "n_boot .* got 150.0"),
        ({"n_boot": True}, DataError, "n_boot"),
        ({"level": 1.0}, DataError, "level .* got 1.0"),
        ({"level": 0}, DataError, "level"),
        ({"level": "95%"}, DataError, "level"),
        ({"seed": -1}, DataError, "seed .* got -1"),
        ({"seed": None}, DataError, "seed .* got None"),
        ({"n_jobs": 0}, DataError, "n_jobs .* got 0"),
        ({"progress": "no"}, DataError, "progress"),
    ],
)
def test_errors(mediation, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        boot.indirect(mediation, **{"progress": False, **kwargs})


def test_not_a_stage2_result_is_refused(mediation) -> None:
    with pytest.raises(ModelError, match="tssem2\\(\\) result, got dict"):
        boot.indirect({}, progress=False)


def test_unconverged_fit_is_refused(mediation) -> None:
    stalled = dataclasses.replace(mediation, converged=False, message="stalled")
    with pytest.raises(ModelError, match="did not converge \\(stalled\\)"):
        boot.indirect(stalled, progress=False)
