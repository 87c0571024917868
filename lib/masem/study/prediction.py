"""Prediction intervals for structural parameters: where a new study's paths are expected to fall.

Stage 1 of random-effects TSSEM estimates how much the true correlations differ between studies
(the between-study covariance T); stage 2 reports intervals for the *average* paths only. A path
computed from one study's true correlation matrix varies from study to study as that matrix does.
:func:`prediction_intervals` carries the stage-1 heterogeneity into stage 2 by simulation: it
draws study-level correlation matrices from their estimated distribution, refits the model to
each, and reports the range in which the path (or ``:=`` effect) of a new study is expected to
lie, beside the confidence interval of the average (Yu et al., 2016; Cheung, 2018; Riley et al.,
2011 for the prediction interval of a univariate meta-analysis).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field

import joblib
import numpy as np
import pandas as pd

from masem._util import check_jobs, check_level, frozen, tail, tracked
from masem.effects import vechs, vechs_indices
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.study._common import parameter_frame
from masem.tssem import TSSEM1Result, TSSEM2Result, refit

__all__ = ["PredictionResult", "prediction_intervals"]

MIN_DRAWS = 100
# Draws are made in rounds of this many times the number still needed, until enough are positive
# definite; a population whose draws are almost never positive definite is refused.
_MAX_ROUNDS = 20
# Above this share of discarded (not positive definite) draws the interval describes a truncated
# distribution noticeably; the result says so with a ConvergenceWarning.
_NONPD_NOTE = 0.01


@dataclass(frozen=True, repr=False, eq=False)
class PredictionResult:
    """Result of :func:`prediction_intervals` (immutable; arrays are read-only).

    Attributes
    ----------
    names : tuple of str
        Free parameters, then the ``:=`` definitions.
    draws : numpy.ndarray
        n_draws x len(names): the refitted values (a row of NaN where a refit failed).
    converged : numpy.ndarray
        Per draw, whether its refit converged.
    n_draws, n_nonpd : int
        Positive definite draws refitted, and draws discarded because the drawn matrix was not
        positive definite.
    kind : str
        ``"prediction"`` (T + the sampling covariance of the pooled correlations) or
        ``"credibility"`` (T only).
    seed : int
    level : float
    """

    names: tuple[str, ...]
    draws: np.ndarray
    converged: np.ndarray
    n_draws: int
    n_nonpd: int
    kind: str
    seed: int
    level: float
    _parameters: pd.DataFrame = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """One row per free parameter and ``:=`` definition.

        Columns: parameter, type, estimate, se, ci_lower / ci_upper (the stage-2 fit's confidence
        interval of the average, Wald or profile as it was fitted), pi_lower / pi_upper (the
        ``level`` interval of a new study's value: percentiles of the refitted draws), pi_sd (SD
        of the draws, ddof = 1), n_valid (converged draws with a finite value).
        """
        usable = self.converged[:, None] & np.isfinite(self.draws)
        q = tail(self.level) / 2.0
        rows = []
        for j in range(len(self.names)):
            x = self.draws[usable[:, j], j]
            # Quantiles at the positions q (n + 1) (Weibull): with 999 draws the 25th and 975th
            # order statistics, whose expected probability content is exactly the level (as for
            # bootstrap intervals with (B + 1) q an integer; Hall, 1986).
            low, high = (
                np.quantile(x, [q, 1.0 - q], method="weibull") if len(x) else (np.nan, np.nan)
            )
            spread = float(np.std(x, ddof=1)) if len(x) > 1 else np.nan
            rows.append((float(low), float(high), spread, int(len(x))))
        extra = pd.DataFrame(rows, columns=["pi_lower", "pi_upper", "pi_sd", "n_valid"])
        return pd.concat([self._parameters.reset_index(drop=True), extra], axis=1)

    def __repr__(self) -> str:
        failed = int(np.sum(~self.converged))
        head = (
            f"PredictionResult({100 * self.level:g}% {self.kind} intervals from {self.n_draws} "
            f"study-level matrices, seed={self.seed}; {self.n_nonpd} draws not positive definite "
            f"(discarded), {failed} refits not converged)"
        )
        shown = ["parameter", "estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper"]
        body = self.summary()[shown].to_string(index=False, float_format=lambda v: f"{v:.4f}")
        return "\n".join([head] + ["  " + line for line in body.splitlines()])


def prediction_intervals(
    stage1: TSSEM1Result,
    stage2: TSSEM2Result,
    n_draws: int = 1999,
    seed: int = 2011,
    level: float = 0.95,
    kind: str = "prediction",
    n_jobs: int = 1,
    progress: bool = True,
) -> PredictionResult:
    """Where the paths and ``:=`` effects of a new study are expected to fall.

    A new study's true correlations are rho_new = rho + u with u ~ N(0, T), T the between-study
    covariance of random-effects stage 1; the pooled correlations r estimate rho with sampling
    covariance V. The draws rho* ~ N(r, T + V) thus describe a new study's correlation matrix
    including the uncertainty about the average (the multivariate form of the prediction
    interval of Riley et al., 2011; ``kind="credibility"`` leaves V out, as the credibility
    interval of psychometric meta-analysis does). Each draw is the correlation matrix of one
    possible study: draws that are not positive definite cannot be, and are discarded and
    replaced (counted in ``n_nonpd``). The stage-2 model is refitted to every draw with the
    fit's own weight matrix (:func:`masem.refit`), and the percentiles of the refitted values
    give the interval: the approach of Yu et al. (2016), here with the multivariate TSSEM
    estimates of the average and of T and with the uncertainty of the average included, as
    Cheung (2018) asks.

    Parameters
    ----------
    stage1 : TSSEM1Result
        A random-effects :func:`masem.tssem1` result (``tau2_matrix`` is used).
    stage2 : TSSEM2Result
        A converged :func:`masem.tssem2` fit of ``stage1``.
    n_draws : int, default 1999
        Study-level matrices to refit (at least 100); the percentiles' Monte Carlo error shrinks
        with 1 / sqrt(n_draws). With (n_draws + 1) (1 - level) / 2 an integer (199, 999, 1999
        for 95%) the bounds are single order statistics.
    seed : int, default 2011
        Seed of the :class:`numpy.random.Generator` of the draws (all made in this process, so
        the result does not depend on ``n_jobs``).
    level : float, default 0.95
    kind : {"prediction", "credibility"}, default "prediction"
    n_jobs : int, default 1
        Workers for the refits (joblib; the active joblib backend decides where they run).
    progress : bool, default True
        Show a progress bar; pass False in notebooks whose output is compared.

    Returns
    -------
    PredictionResult
        ``summary()``: estimate and confidence interval of the average beside pi_lower /
        pi_upper; the raw ``draws``.

    Raises
    ------
    DataError, ModelError
        For a fixed-effects stage 1, a fit of other data, bad arguments, or a distribution whose
        draws are almost never positive definite.

    Warns
    -----
    ConvergenceWarning
        When more than 1% of the draws are not positive definite (the interval then describes a
        truncated distribution) or some refits do not converge (left out, counted).

    References
    ----------
    Cheung, M. W.-L. (2018). Issues in solving the problem of effect size heterogeneity in
    meta-analytic structural equation modeling: A commentary and simulation study on Yu, Downes,
    Carter, and O'Boyle (2016). *Journal of Applied Psychology*, 103, 787-803.
    Hall, P. (1986). On the number of bootstrap simulations required to construct a confidence
    interval. *The Annals of Statistics*, 14, 1453-1462.
    Riley, R. D., Higgins, J. P. T., & Deeks, J. J. (2011). Interpretation of random effects
    meta-analyses. *BMJ*, 342, d549.
    Yu, J., Downes, P. E., Carter, K. M., & O'Boyle, E. H. (2016). The problem of effect size
    heterogeneity in meta-analytic structural equation modeling. *Journal of Applied
    Psychology*, 101, 1457-1473.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="REM")
    >>> s2 = masem.tssem2(s1, "Math ~ Spatial + Verbal")
    >>> pi = masem.prediction_intervals(s1, s2, n_draws=200, seed=1, progress=False)
    >>> row = pi.summary().set_index("parameter").loc["MathonSpatial"]
    >>> bool(row["pi_lower"] < row["ci_lower"] and row["ci_upper"] < row["pi_upper"])
    True
    """
    kind, level = _check_arguments(stage1, stage2, n_draws, seed, level, kind)
    check_jobs(n_jobs, progress)
    labels = list(stage2.sample_vector.index)
    r = stage2.sample_vector.to_numpy()
    cov = stage1.tau2_matrix.loc[labels, labels].to_numpy()
    if kind == "prediction":
        cov = cov + stage2.acov.to_numpy()
    rng = np.random.default_rng(int(seed))
    matrices, n_nonpd = _positive_definite_draws(rng, r, cov, len(stage2.variables), int(n_draws))
    values, converged = _refit_all(stage2, matrices, int(n_jobs), bool(progress))
    names = tuple(stage2.coefficients.index) + tuple(stage2.defined.index)
    result = PredictionResult(
        names=names,
        draws=frozen(values),
        converged=frozen(converged, dtype=bool),
        n_draws=int(n_draws),
        n_nonpd=n_nonpd,
        kind=kind,
        seed=int(seed),
        level=level,
        _parameters=parameter_frame(stage2),
    )
    _report(result)
    return result


def _check_arguments(stage1, stage2, n_draws, seed, level, kind) -> tuple[str, float]:
    if not isinstance(stage1, TSSEM1Result) or stage1.tau2_matrix is None:
        raise DataError(
            "stage1 must be a random-effects tssem1() result (method='REM'): the between-study "
            f"covariance T is what spreads the paths of new studies; got {type(stage1).__name__}"
            + (f" with method={stage1.method!r}" if isinstance(stage1, TSSEM1Result) else "")
            + "."
        )
    if not isinstance(stage2, TSSEM2Result):
        raise ModelError(f"stage2 must be a tssem2() result, got {type(stage2).__name__}.")
    if not stage2.converged:
        raise ModelError(
            f"the stage-2 fit did not converge ({stage2.message}); fix it before predicting."
        )
    known = dict(zip(stage1.labels, vechs(stage1.pooled.to_numpy())))
    fitted = stage2.sample_vector
    if any(label not in known for label in fitted.index) or not np.array_equal(
        [known.get(label, np.nan) for label in fitted.index], fitted.to_numpy()
    ):
        raise DataError(
            "stage2 was not fitted to stage1's pooled correlations; pass the tssem1() result that "
            "tssem2() was given."
        )
    for name, value in (("n_draws", n_draws), ("seed", seed)):
        low = MIN_DRAWS if name == "n_draws" else 0
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise DataError(f"{name} must be an integer of at least {low}, got {value!r}.")
    if kind not in ("prediction", "credibility"):
        raise DataError(f"kind must be 'prediction' or 'credibility', got {kind!r}.")
    return kind, check_level(level)


def _positive_definite_draws(
    rng: np.random.Generator, r: np.ndarray, cov: np.ndarray, p: int, n_draws: int
) -> tuple[np.ndarray, int]:
    """n_draws vectors from N(r, cov) whose correlation matrices are positive definite, and the
    number of draws discarded on the way.
    """
    # cov may be singular (a tau2 at its bound and, for credibility intervals, no V): the
    # eigen-decomposition gives a square root that a Cholesky factor would refuse.
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    rows, cols = vechs_indices(p)
    kept, discarded = [], 0
    for _ in range(_MAX_ROUNDS):
        needed = n_draws - sum(len(k) for k in kept)
        batch = r + rng.standard_normal((2 * needed, len(r))) @ root.T
        matrices = np.tile(np.eye(p), (len(batch), 1, 1))
        matrices[:, rows, cols] = matrices[:, cols, rows] = batch
        ok = np.flatnonzero(np.linalg.eigvalsh(matrices)[:, 0] > 0.0)[:needed]
        # Draws are examined in order: those up to the last one kept count as discarded or kept.
        examined = ok[-1] + 1 if len(ok) == needed else len(batch)
        kept.append(batch[ok])
        discarded += int(examined - len(ok))
        if len(ok) == needed:
            break
    else:
        raise DataError(
            f"fewer than {n_draws} of the drawn correlation matrices are positive definite after "
            f"{_MAX_ROUNDS} rounds: the between-study variances are too large for matrices of "
            "this size to be valid; the prediction intervals would describe a few odd draws."
        )
    return np.concatenate(kept), discarded


def _refit_all(stage2: TSSEM2Result, draws: np.ndarray, n_jobs: int, progress: bool):
    """Refit the model to every draw (in chunks, on the active joblib backend)."""
    workers = joblib.effective_n_jobs(n_jobs)
    chunks = np.array_split(np.arange(len(draws)), min(len(draws), max(8 * workers, 32)))
    if workers == 1:
        parts = (_refit_chunk(stage2, draws[idx]) for idx in chunks)
    else:
        parallel = joblib.Parallel(n_jobs=workers, return_as="generator")
        parts = parallel(joblib.delayed(_refit_chunk)(stage2, draws[idx]) for idx in chunks)
    done = list(
        tracked(parts, len(draws), "new studies", show=progress, size=lambda part: len(part[1]))
    )
    return np.concatenate([v for v, _ in done]), np.concatenate([c for _, c in done])


def _refit_chunk(stage2: TSSEM2Result, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, converged) of the refits of one chunk; a refit that fails is a row of NaN."""
    width = len(stage2.coefficients) + len(stage2.defined)
    values = np.full((len(draws), width), np.nan)
    converged = np.zeros(len(draws), dtype=bool)
    for i, r in enumerate(draws):
        try:
            # The draws' own numerical notes are read from the result and counted instead.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fit = refit(stage2, r)
        except (DataError, ModelError):
            continue
        values[i] = np.concatenate([fit.estimates, fit.defined_values])
        converged[i] = fit.converged
    return values, converged


def _report(result: PredictionResult) -> None:
    share = result.n_nonpd / (result.n_nonpd + result.n_draws)
    notes = []
    if share > _NONPD_NOTE:
        notes.append(
            f"{result.n_nonpd} of {result.n_nonpd + result.n_draws} drawn correlation matrices "
            f"({100 * share:.1f}%) were not positive definite and were replaced, so the intervals "
            "describe the distribution of valid study matrices (a truncated normal)"
        )
    failed = int(np.sum(~result.converged))
    if failed:
        notes.append(f"{failed} refits did not converge or failed and are left out")
    if notes:
        warnings.warn(
            "prediction_intervals: " + "; ".join(notes) + ".", ConvergenceWarning, stacklevel=3
        )
