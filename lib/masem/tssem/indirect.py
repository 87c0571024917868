"""Parametric-bootstrap intervals for stage-2 parameters and ':=' definitions (indirect effects).

Stage 2 treats the pooled correlations r as data with sampling covariance V (both from stage 1).
The parametric bootstrap draws r* ~ N(r, V), refits the same structural model with the same
weight matrix W = V^-1 to every draw, and describes the spread of the refitted parameters and
definitions: bootstrap mean and standard error, percentile and bias-corrected percentile
intervals. For products of paths (indirect effects), whose sampling distribution is skewed,
these intervals are preferable to Wald intervals (MacKinnon, Lockwood & Williams, 2004; Cheung,
2009).

References
----------
Cheung, M. W.-L. (2009). Comparison of methods for constructing confidence intervals of
standardized indirect effects. *Behavior Research Methods*, 41(2), 425-438.
Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
approach. *Psychological Methods*, 10(1), 40-64.
Efron, B., & Tibshirani, R. J. (1993). *An introduction to the bootstrap*. Chapman & Hall (ch. 13
and 14: percentile and bias-corrected percentile intervals).
MacKinnon, D. P., Lockwood, C. M., & Williams, J. (2004). Confidence limits for the indirect
effect: Distribution of the product and resampling methods. *Multivariate Behavioral Research*,
39(1), 99-128.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field

import joblib
import numpy as np
import pandas as pd
from scipy import stats

from masem._util import check_jobs, check_level, frozen, tracked
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.tssem import stage2

__all__ = ["BootstrapResult", "indirect", "interval_table"]

MIN_BOOT = 100
# Replication status codes (BootstrapResult.status).
OK, NOT_CONVERGED, FAILED = 0, 1, 2


@dataclass(frozen=True, repr=False, eq=False)
class BootstrapResult:
    """Result of :func:`indirect` (immutable; arrays are read-only, DataFrames built on access).

    Attributes
    ----------
    names : tuple of str
        Free parameters (as in ``TSSEM2Result.coefficients``), then the ``:=`` definitions.
    kinds : tuple of str
        ``"parameter"`` or ``"defined"``, one per name.
    estimates : numpy.ndarray
        The original stage-2 estimates, in the order of ``names``.
    draws : numpy.ndarray
        n_boot x len(names): the refitted values, one row per replication (all replications,
        whatever their status; a failed one is a row of NaN).
    status : numpy.ndarray
        Per replication: 0 ok, 1 not converged, 2 failed (the fit raised an error).
    failures : tuple of (int, str)
        Replication index and optimiser or error message of every replication that is not ok.
    n_boot, seed, level
        The arguments of the call (``seed`` is the integer that reproduces the draws).
    model, method : str
        The stage-2 lavaan syntax and the stage-1 method.
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    estimates: np.ndarray
    draws: np.ndarray
    status: np.ndarray
    failures: tuple[tuple[int, str], ...]
    n_boot: int
    seed: int
    level: float
    model: str = field(repr=False)
    method: str

    @property
    def n_failed(self) -> int:
        """Replications whose refit raised an error (e.g. the model was not identified there)."""
        return int(np.sum(self.status == FAILED))

    @property
    def n_nonconverged(self) -> int:
        """Replications whose refit did not converge."""
        return int(np.sum(self.status == NOT_CONVERGED))

    def summary(self) -> pd.DataFrame:
        """One row per parameter and definition.

        Columns: parameter, type, estimate (original fit), boot_mean, boot_se (standard deviation of
        the replications, ddof = 1), ci_lower / ci_upper (percentile interval, quantiles by linear
        interpolation), bc_lower / bc_upper (bias-corrected percentile interval), n_valid
        (converged replications with a finite value, the ones the columns are computed from).
        """
        usable = self.status == OK
        alpha = 1.0 - self.level
        rows = []
        for j, (name, kind) in enumerate(zip(self.names, self.kinds)):
            column = self.draws[:, j]
            x = column[usable & np.isfinite(column)]
            est = float(self.estimates[j])
            rows.append((name, kind, est, *_describe(x, est, alpha), len(x)))
        return pd.DataFrame(
            rows,
            columns=[
                "parameter",
                "type",
                "estimate",
                "boot_mean",
                "boot_se",
                "ci_lower",
                "ci_upper",
                "bc_lower",
                "bc_upper",
                "n_valid",
            ],
        )

    def __repr__(self) -> str:
        head = (
            f"BootstrapResult(parametric bootstrap of a {self.method} stage-2 fit: {self.n_boot} "
            f"replications, seed={self.seed}, {100 * self.level:g}% intervals, "
            f"{self.n_failed} failed, {self.n_nonconverged} not converged)"
        )
        body = self.summary().to_string(index=False, float_format=lambda v: f"{v:.4f}")
        return "\n".join([head] + ["  " + line for line in body.splitlines()])


def indirect(
    stage2_result: stage2.TSSEM2Result,
    n_boot: int = 2000,
    seed: int = 2011,
    level: float = 0.95,
    n_jobs: int = 1,
    progress: bool = True,
) -> BootstrapResult:
    """Parametric-bootstrap intervals for the stage-2 parameters and ':=' definitions (indirect
    effects).

    Draws ``n_boot`` pooled correlation vectors r* ~ N(r, V), where r and V are the stage-1 pooled
    correlations and their sampling covariance that the stage-2 fit used
    (``stage2_result.sample_vector`` and ``.acov``), refits the same model with the same weight
    matrix V^-1 to each with :func:`masem.refit` (``start="data"``: each replication is exactly
    the :func:`masem.tssem2` estimate for its r*, without standard errors or fit indices), and
    summarises the replications.

    Parameters
    ----------
    stage2_result : TSSEM2Result
        A converged result of :func:`masem.tssem2`; its model, ``diag_constraints``, pooled
        correlations and sampling covariance are reused.
    n_boot : int, default 2000
        Number of replications, at least 100 (intervals need 1000 or more).
    seed : int, default 2011
        Seed of the :class:`numpy.random.Generator` that draws r*. All draws are made up front in
        this process, so the result does not depend on ``n_jobs``.
    level : float, default 0.95
        Coverage of the intervals, in (0, 1).
    n_jobs : int, default 1
        Workers for the refits (joblib); -1 uses all cores. The refits run through
        ``joblib.Parallel``, so the active joblib backend decides where: local processes (loky)
        by default, a Dask or Ray cluster inside ``with joblib.parallel_backend("dask"):`` or
        ``"ray"`` (see benchmarks/README.md). With 1 they run in this process.
    progress : bool, default True
        Show a tqdm progress bar (on stderr; a widget in notebooks when ipywidgets is installed);
        pass False where the output is compared or logged (nbval notebooks, scripts).

    Returns
    -------
    BootstrapResult
        ``summary()`` (estimate, boot_mean, boot_se, percentile and bias-corrected intervals,
        n_valid), the raw ``draws``, per-replication ``status`` and ``failures``. Replications that
        fail or do not converge are kept in ``draws``, counted, excluded from ``summary()`` and
        reported with a :class:`masem.ConvergenceWarning`.

    References
    ----------
    Cheung, M. W.-L. (2009). Comparison of methods for constructing confidence intervals of
    standardized indirect effects. *Behavior Research Methods*, 41(2), 425-438.
    MacKinnon, D. P., Lockwood, C. M., & Williams, J. (2004). Confidence limits for the indirect
    effect: Distribution of the product and resampling methods. *Multivariate Behavioral
    Research*, 39(1), 99-128.
    Efron, B., & Tibshirani, R. J. (1993). *An introduction to the bootstrap*. Chapman & Hall.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> s2 = masem.tssem2(s1, "Verbal ~ a*Spatial\\nMath ~ b*Verbal\\nab := a*b")
    >>> boot = masem.indirect(s2, n_boot=200, seed=1, progress=False)
    >>> ab = boot.summary().set_index("parameter").loc["ab"]
    >>> [round(float(ab[c]), 3) for c in ("estimate", "ci_lower", "ci_upper")]
    [0.12, 0.054, 0.187]
    """
    if not isinstance(stage2_result, stage2.TSSEM2Result):
        raise ModelError(
            f"stage2_result must be a tssem2() result, got {type(stage2_result).__name__}; "
            "fit the model with masem.tssem2 first"
        )
    if not stage2_result.converged:
        raise ModelError(
            f"the stage-2 fit did not converge ({stage2_result.message}); bootstrapping it would "
            "describe an arbitrary point: fix the fit first (start values, a simpler model)"
        )
    if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or n_boot < MIN_BOOT:
        raise DataError(f"n_boot must be an integer of at least {MIN_BOOT}, got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    level = check_level(level)
    check_jobs(n_jobs, progress)

    r = stage2_result.sample_vector.to_numpy()
    V = stage2_result.acov.to_numpy()
    coefficients, defined = stage2_result.coefficients, stage2_result.defined
    names = tuple(coefficients.index) + tuple(defined.index)
    kinds = ("parameter",) * len(coefficients) + ("defined",) * len(defined)
    estimates = np.concatenate([coefficients.to_numpy(), defined.to_numpy()])
    rng = np.random.default_rng(int(seed))
    # V is positive definite: tssem2 has already factored it.
    r_draws = r + rng.standard_normal((int(n_boot), len(r))) @ np.linalg.cholesky(V).T

    draws, status, failures = _run(stage2_result, r_draws, len(names), int(n_jobs), bool(progress))
    result = BootstrapResult(
        names=names,
        kinds=kinds,
        estimates=frozen(estimates),
        draws=frozen(draws),
        status=frozen(status, dtype=np.int8),
        failures=failures,
        n_boot=int(n_boot),
        seed=int(seed),
        level=float(level),
        model=stage2_result.model,
        method=stage2_result.method,
    )
    _report_unusable(result)
    return result


# ----------------------------------------------------------------------------------------------
# Refitting
# ----------------------------------------------------------------------------------------------


def _run(fit: stage2.TSSEM2Result, r_draws: np.ndarray, k: int, n_jobs: int, progress: bool):
    n_boot = len(r_draws)
    workers = joblib.effective_n_jobs(n_jobs)
    # Several chunks per worker balance the load; chunks of many fits keep the overhead small.
    n_chunks = min(n_boot, max(8 * workers, 32))
    chunks = np.array_split(np.arange(n_boot), n_chunks)
    draws = np.full((n_boot, k), np.nan)
    status = np.full(n_boot, FAILED, dtype=np.int8)
    failures: list[tuple[int, str]] = []
    if workers == 1:
        parts = (_refit_chunk(fit, r_draws[idx]) for idx in chunks)
    else:
        parallel = joblib.Parallel(n_jobs=workers, return_as="generator")
        parts = parallel(joblib.delayed(_refit_chunk)(fit, r_draws[idx]) for idx in chunks)
    done = tracked(
        zip(chunks, parts), n_boot, "bootstrap", show=progress, size=lambda part: len(part[0])
    )
    for idx, (values, codes, messages) in done:
        draws[idx] = values
        status[idx] = codes
        failures.extend((int(idx[i]), message) for i, message in messages)
    return draws, status, tuple(failures)


def _refit_chunk(original: stage2.TSSEM2Result, r_draws: np.ndarray):
    """Refit the model to each row of r_draws: (values, status codes, [(row, message)])."""
    values = None
    codes = np.full(len(r_draws), FAILED, dtype=np.int8)
    messages = []
    for i, r in enumerate(r_draws):
        try:
            # A replication's own warnings (not converged, a definition undefined) are read from
            # the result and counted instead. tssem2's data-based start values make each refit
            # the exact tssem2 fit of its draw (a warm start saves little: 0-15% of iterations).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = stage2.refit(original, r, start="data")
        except (ModelError, DataError) as exc:
            messages.append((i, f"failed: {exc}"))
            continue
        row = np.concatenate([fit.estimates, fit.defined_values])
        if values is None:
            values = np.full((len(r_draws), len(row)), np.nan)
        values[i] = row
        if fit.converged:
            codes[i] = OK
        else:
            codes[i] = NOT_CONVERGED
            messages.append((i, f"not converged: {fit.message}"))
    if values is None:  # every fit in the chunk failed
        values = np.nan
    return values, codes, messages


# ----------------------------------------------------------------------------------------------
# Summaries
# ----------------------------------------------------------------------------------------------


def _describe(x: np.ndarray, estimate: float, alpha: float) -> tuple[float, ...]:
    """Mean, SD, percentile and bias-corrected percentile bounds of the replications x.

    Bias correction (Efron & Tibshirani, 1993, eq. 14.14 with acceleration 0): z0 = Phi^-1 of the
    share of replications below the estimate (ties count half), bounds at the quantiles
    Phi(2 z0 -+ z_{1 - alpha/2}).
    """
    nan = math.nan
    if len(x) < 2:
        return (nan,) * 6
    lower, upper = np.quantile(x, [alpha / 2.0, 1.0 - alpha / 2.0])
    bc = (nan, nan)
    share = (np.sum(x < estimate) + 0.5 * np.sum(x == estimate)) / len(x)
    if np.isfinite(estimate) and 0.0 < share < 1.0:
        z0 = stats.norm.ppf(share)
        z = stats.norm.ppf(1.0 - alpha / 2.0)
        bc = tuple(np.quantile(x, stats.norm.cdf([2.0 * z0 - z, 2.0 * z0 + z])))
    return float(np.mean(x)), float(np.std(x, ddof=1)), float(lower), float(upper), *map(float, bc)


def _report_unusable(result: BootstrapResult) -> None:
    """Raise when no replication is usable; warn about failed ones and NaN summaries."""
    usable = result.status == OK
    if not usable.any():
        first = result.failures[0][1] if result.failures else "unknown reason"
        raise ModelError(
            f"none of the {result.n_boot} bootstrap replications could be fitted (first: {first}); "
            "check the stage-2 model on the original data and its start values"
        )
    bad = result.n_failed + result.n_nonconverged
    if bad:
        examples = "; ".join(f"#{i}: {m}" for i, m in result.failures[:3])
        warnings.warn(
            f"{result.n_failed} of {result.n_boot} bootstrap replications failed and "
            f"{result.n_nonconverged} did not converge (e.g. {examples}); they are excluded from "
            "summary() (see .status and .failures). Many of them bias the intervals: simplify the "
            "model or give start values",
            ConvergenceWarning,
            stacklevel=3,
        )
    undefined = [
        f"{name} ({int(np.sum(usable & ~np.isfinite(result.draws[:, j])))})"
        for j, name in enumerate(result.names)
        if np.any(usable & ~np.isfinite(result.draws[:, j]))
    ]
    if undefined:
        warnings.warn(
            f"some definitions could not be evaluated in converged replications (count in "
            f"brackets): {', '.join(undefined)}; those values are excluded (see n_valid)",
            ConvergenceWarning,
            stacklevel=3,
        )
    table = result.summary()
    no_bc = table.loc[table["bc_lower"].isna() & table["n_valid"].ge(2), "parameter"].tolist()
    if no_bc:
        warnings.warn(
            f"no bias-corrected interval for {no_bc}: the original estimate lies outside all "
            "replications (or is undefined); use the percentile interval",
            ConvergenceWarning,
            stacklevel=3,
        )


def interval_table(
    wald=None, profile=None, bootstrap=None, parameters: list[str] | None = None
) -> pd.DataFrame:
    """Estimates and 95% intervals of stage-2 parameters from up to three methods, in long format.

    Parameters
    ----------
    wald, profile : TSSEM2Result, optional
        Fits with ``intervals="wald"`` (delta-method / Wald intervals) and ``intervals="profile"``
        (likelihood-based intervals).
    bootstrap : BootstrapResult, optional
        A parametric bootstrap (:func:`masem.tssem.indirect`); its percentile intervals are used.
    parameters : list of str, optional
        Labels to keep (default: the ``:=`` defined parameters of the first fit given).

    Returns
    -------
    DataFrame
        Columns ``parameter``, ``method``, ``estimate``, ``ci_lower``, ``ci_upper``, ready for
        :func:`masem.plots.interval_plot`.
    """
    frames = []
    for method, fit in (("Wald (delta method)", wald), ("profile likelihood", profile)):
        if fit is None:
            continue
        table = fit.inspect()
        if parameters is None:
            parameters = list(table.loc[table["op"] == ":=", "label"])
        table = table[table["label"].isin(parameters)].drop_duplicates("label")
        frames.append(
            pd.DataFrame(
                {
                    "parameter": table["label"],
                    "method": method,
                    "estimate": table["Estimate"],
                    "ci_lower": table["ci.lower"],
                    "ci_upper": table["ci.upper"],
                }
            )
        )
    if bootstrap is not None:
        table = bootstrap.summary()
        if parameters is None:
            parameters = list(table.loc[table["type"] == "defined", "parameter"])
        table = table[table["parameter"].isin(parameters)]
        frames.append(
            pd.DataFrame(
                {
                    "parameter": table["parameter"],
                    "method": "parametric bootstrap",
                    "estimate": table["estimate"],
                    "ci_lower": table["ci_lower"],
                    "ci_upper": table["ci_upper"],
                }
            )
        )
    if not frames:
        raise ValueError("interval_table needs at least one of wald=, profile= or bootstrap=")
    return pd.concat(frames, ignore_index=True)
