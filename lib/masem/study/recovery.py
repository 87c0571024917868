"""Parameter recovery: does the whole MASEM pipeline find the values it was generated from?

A simulation study in the sense of Morris, White & Crowther (2019): study databases are drawn from
the documented population model (:func:`masem.simulate_database`), each one is analysed as a
researcher would (per-study matrices -> stage 1 -> stage 2 -> ``:=`` effects), and the estimates
are compared with the value each analysis should recover (its *estimand*): bias, empirical and
model-based standard errors, RMSE and the coverage of the 95% intervals, each with its Monte Carlo
standard error.

The estimand
------------
Simulated studies report *observed* correlations: each study's true correlations scatter around
the population values (random effects on Fisher's z, SD ``design.tau``) and are attenuated by the
unreliability of the scales. What a pooled analysis estimates is therefore (see
:func:`expected_matrix`):

* corrected for unreliability: E[tanh(atanh(rho) + tau e)], e ~ N(0, 1), the mean of the studies'
  true correlations, a hair (< .003 here) closer to zero than rho;
* uncorrected: that mean times E[sqrt(rxx)] E[sqrt(ryy)], the expected attenuation.

The true parameter values are the model fitted to the first matrix. When the model is the one
that generated the data, it reproduces that matrix (SRMR ~ 0) and the truth is the population
model's own coefficients. An attenuated matrix is not reproduced exactly by the same model
(measurement error breaks the path structure), so the values an uncorrected analysis converges to
are *pseudo-true* values: the best WLS approximation, which depends somewhat on the weight matrix.
:func:`recovery_truth` reports that dependence (OS-weighted vs unweighted fit) next to each value.
"""

from __future__ import annotations

import dataclasses
import numbers
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import joblib
import numpy as np
import pandas as pd
from scipy import integrate, stats

from masem._util import check_jobs, deprecated, tracked
from masem.data.simulate import (
    Population,
    StudyDesign,
    default_design,
    simulate_database,
    study_characteristics,
)
from masem.effects import olkin_siotani, vechs_indices, vechs_inverse, vechs_labels
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.study._common import check_model, parameter_frame
from masem.study.variants import PooledMatrix, Variant, check_variants, variant_stage1
from masem.tssem import gls_terms, refit
from masem.tssem.profile import profile_bounds
from masem.tssem.stage2 import tssem2

__all__ = [
    "RecoveryResult",
    "RecoveryTruth",
    "default_approaches",
    "expected_matrix",
    "parameter_recovery",
    "recovery_coverage",
    "recovery_truth",
    "without_moderators",
]

# Gauss-Hermite nodes for E[tanh(z + tau e)]: 60 nodes integrate this smooth function to ~1e-15.
_HERMITE_NODES = 60
# Study characteristics drawn to average the true matrix over moderators: with 20,000 studies the
# Monte Carlo error of a mean correlation is below .0005 (SD of a moderated correlation < .07),
# a tenth of the smallest standard error of the recovery study.
_CHARACTERISTICS = 20_000
_SEED = 2011
# The truth is a WLS fit; its N only scales chi2, not the estimates.
_TRUTH_N = 1000


def without_moderators(population: Population) -> Population:
    """Deprecated alias of :meth:`Population.without_moderators` (removed in the next release).

    Parameters
    ----------
    population : Population

    Returns
    -------
    Population
        ``population.without_moderators()``: a new object; ``population`` is unchanged.

    Examples
    --------
    >>> import warnings
    >>> import masem
    >>> pop = masem.example_population()
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     stripped = masem.without_moderators(pop)
    >>> len(pop.moderators), len(stripped.moderators)
    (2, 0)
    """
    if not isinstance(population, Population):
        raise DataError(
            "population must be a masem.Population (read_population), got "
            f"{type(population).__name__}."
        )
    deprecated("masem.without_moderators(population)", "population.without_moderators()")
    return population.without_moderators()


def _check_population(population: Population, variables: Sequence[str]) -> list[str]:
    if not isinstance(population, Population):
        raise DataError(
            "population must be a masem.Population (read_population), got "
            f"{type(population).__name__}."
        )
    if isinstance(variables, str) or not isinstance(variables, Sequence):
        raise DataError(f"variables must be a list of construct codes, got {variables!r}.")
    variables = [str(v) for v in variables]
    unknown = [v for v in variables if v not in population.variables]
    if unknown:
        raise DataError(
            f"unknown variable(s) {unknown}; the population has {population.variables}."
        )
    if len(set(variables)) != len(variables) or len(variables) < 2:
        raise DataError(f"variables must name at least two distinct constructs, got {variables}.")
    return variables


def _check_design(design: StudyDesign | None, population: Population) -> StudyDesign:
    if design is None:
        return dataclasses.replace(default_design(population.level), selection=None)
    if not isinstance(design, StudyDesign):
        raise DataError(
            f"design must be a masem.StudyDesign (default_design), got {type(design).__name__}."
        )
    return design


def mean_sqrt_reliability(design: StudyDesign) -> float:
    """E[sqrt(rxx)] for reliabilities drawn as low + (high - low) Beta(a, b), as the generator does.

    sqrt(rxx) is the correlation of a scale score with its true score, so E[sqrt(rxx)] E[sqrt(ryy)]
    is the expected attenuation of a correlation (Spearman, 1904) when the two reliabilities are
    drawn independently. The item loadings' jitter (+-``loading_jitter``) is ignored; it changes
    the result by less than .001 for the default design.
    """
    low, high = design.reliability
    a, b = design.reliability_shape
    value, _ = integrate.quad(
        lambda u: np.sqrt(low + (high - low) * u) * stats.beta.pdf(u, a, b), 0.0, 1.0
    )
    return float(value)


def expected_matrix(
    population: Population,
    variables: Sequence[str],
    design: StudyDesign | None = None,
    corrected: bool = True,
) -> pd.DataFrame:
    """The mean of the studies' correlations: what a pooled correlation matrix estimates.

    Each simulated study's true correlation is tanh(atanh(rho) + tau e) with e ~ N(0, 1)
    (:func:`masem.simulate_database`); its mean is computed by Gauss-Hermite quadrature. For
    uncorrected analyses the mean is multiplied by the expected attenuation
    E[sqrt(rxx)] E[sqrt(ryy)] (:func:`mean_sqrt_reliability`). Second-order effects are left out:
    the small-sample bias of r (about rho (1 - rho^2) / 2n, Olkin & Pratt, 1958), the redraw of
    study matrices that are not positive definite, and for corrected analyses the difference
    between Cronbach's alpha and the reliability; the simulation itself shows whether they matter.

    Parameters
    ----------
    population : Population
        With moderators, the mean is over the population of studies (their characteristics drawn
        as the generator draws them); without (:meth:`Population.without_moderators`), every study
        shares one matrix.
    variables : list of str
    design : StudyDesign, optional
        Supplies ``tau`` and the reliability distribution; default the population level's
        documented design.
    corrected : bool, default True
        True: the true-score mean; False: attenuated by unreliability.

    Returns
    -------
    pandas.DataFrame
        p x p, unit diagonal, rows and columns in the order of ``variables``.

    References
    ----------
    Olkin, I., & Pratt, J. W. (1958). Unbiased estimation of certain correlation coefficients.
    *Annals of Mathematical Statistics*, 29, 201-211.
    Spearman, C. (1904). The proof and measurement of association between two things.
    *American Journal of Psychology*, 15, 72-101.

    Examples
    --------
    >>> import masem
    >>> pop = masem.example_population().without_moderators()
    >>> masem.expected_matrix(pop, ["X", "Y"], corrected=False).round(3)
           X      Y
    X  1.000  0.101
    Y  0.101  1.000
    """
    variables = _check_population(population, variables)
    design = _check_design(design, population)
    if not isinstance(corrected, (bool, np.bool_)):
        raise DataError(f"corrected must be True or False, got {corrected!r}.")
    mean, _ = _study_moments(population, variables, design)
    if not corrected:
        off = ~np.eye(len(variables), dtype=bool)
        mean[off] *= mean_sqrt_reliability(design) ** 2
    return pd.DataFrame(mean, index=variables, columns=variables)


def _study_moments(
    population: Population, variables: list[str], design: StudyDesign
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance, over the population of studies, of each true (construct) correlation.

    A study's true correlation is tanh(atanh(rho(x)) + tau e): rho(x) the population matrix at
    the study's moderator values x (:meth:`Population.implied`), e ~ N(0, 1). The moments over e
    come from Gauss-Hermite quadrature; over x from a large sample of study characteristics drawn
    as the generator draws them (:func:`masem.data.simulate.study_characteristics`, a fixed seed),
    one quadrature per distinct x. Without moderators every study has x = {} and rho(x) = rho.
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(_HERMITE_NODES)
    weights = weights / weights.sum()
    table = population.moderators
    # A moderator whose slopes are all zero (the publication year) changes no study's matrix.
    names = sorted(set(table.loc[table["shift"] != 0, "moderator"]))
    if names:
        sample = study_characteristics(population, design, n=_CHARACTERISTICS, seed=_SEED)
        groups = sample.groupby(names, sort=True).size()
        combos = [dict(zip(names, key if len(names) > 1 else (key,))) for key in groups.index]
        counts = groups.to_numpy(dtype=float)
    else:
        combos, counts = [{}], np.ones(1)
    index = [population.variables.index(v) for v in variables]
    off = ~np.eye(len(variables), dtype=bool)
    first, second = np.zeros(off.sum()), np.zeros(off.sum())
    for combo, count in zip(combos, counts / counts.sum()):
        rho = population._implied_array(combo)[np.ix_(index, index)]
        draws = np.tanh(np.arctanh(rho[off])[:, None] + design.tau * nodes[None, :])
        first += count * (draws @ weights)
        second += count * (draws**2 @ weights)
    mean, variance = np.eye(len(variables)), np.zeros((len(variables), len(variables)))
    mean[off], variance[off] = first, second - first**2
    return mean, variance


@dataclass(frozen=True, repr=False, eq=False)
class RecoveryTruth:
    """The values an analysis should recover (see :func:`recovery_truth`).

    Attributes
    ----------
    corrected : bool
        Whether the estimand is for analyses corrected for unreliability.
    srmr : float
        Root mean square residual of the model at the expected matrix: ~0 when the model
        reproduces it (the values are true values), larger for pseudo-true values.
    """

    corrected: bool
    srmr: float
    _table: pd.DataFrame = field(repr=False)

    @property
    def values(self) -> pd.Series:
        """The true (or pseudo-true) value of every free parameter and ``:=`` effect."""
        return self._table.set_index("parameter")["truth"].copy()

    def summary(self) -> pd.DataFrame:
        """parameter, type, truth, weight_sensitivity (|OS-weighted - unweighted fit|)."""
        return self._table.copy()

    def __repr__(self) -> str:
        kind = "corrected" if self.corrected else "uncorrected"
        return (
            f"RecoveryTruth({kind}, parameters={len(self._table)}, SRMR={self.srmr:.4f}, "
            f"max weight sensitivity={self._table['weight_sensitivity'].max():.4f})"
        )


def recovery_truth(
    population: Population,
    model: str,
    variables: Sequence[str],
    design: StudyDesign | None = None,
    corrected: bool = True,
) -> RecoveryTruth:
    """True (or pseudo-true) parameter values: ``model`` fitted to :func:`expected_matrix`.

    The fit is the WLS of :func:`masem.tssem2` with the Olkin-Siotani covariance of the expected
    matrix as weight, which is where TSSEM's estimates converge when every study reports every
    correlation (Cheung & Chan, 2005). When the model does not reproduce the matrix exactly
    (SRMR clearly above 0, e.g. for uncorrected correlations), the limit depends on the weight
    matrix, and with missing correlations TSSEM's weights differ from this one. The column
    ``weight_sensitivity`` measures that dependence as the absolute difference from an unweighted
    (identity-weight) fit: a value small against the standard errors means the estimand is well
    defined; a large one means the "bias" of that parameter is partly a matter of definition.

    Parameters
    ----------
    population, variables, design, corrected
        As for :func:`expected_matrix`.
    model : str
        lavaan syntax.

    Returns
    -------
    RecoveryTruth

    Examples
    --------
    >>> import masem
    >>> pop = masem.example_population().without_moderators()
    >>> truth = masem.recovery_truth(pop, "M ~ X\\nY ~ M", ["X", "M", "Y"])
    >>> truth.values.round(2).tolist()
    [0.4, 0.3]

    References
    ----------
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10, 40-64.
    White, H. (1982). Maximum likelihood estimation of misspecified models. *Econometrica*, 50,
    1-25.
    """
    model = check_model(model)
    matrix = expected_matrix(population, variables, design, corrected)
    labels = vechs_labels(list(matrix.columns))
    fits, srmr = [], None
    for acov in (olkin_siotani(matrix.to_numpy(), _TRUTH_N), np.eye(len(labels)) / _TRUTH_N):
        target = PooledMatrix(
            pooled=matrix,
            vcov=pd.DataFrame(acov, index=labels, columns=labels),
            total_n=_TRUTH_N,
            method="expected matrix",
        )
        with warnings.catch_warnings():
            # A pseudo-true fit has chi2 > 0 by construction; nothing here is sampling noise.
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = tssem2(target, model)
        if not fit.converged:
            raise ModelError(
                f"the model cannot be fitted to the expected matrix ({fit.message}); it cannot "
                "define true values. Check the model against the population's variables."
            )
        fits.append(parameter_frame(fit))
        srmr = float(fit.fit_stats()["SRMR"]) if srmr is None else srmr
    weighted, unweighted = fits
    table = pd.DataFrame(
        {
            "parameter": weighted["parameter"],
            "type": weighted["type"],
            "truth": weighted["estimate"],
            "weight_sensitivity": (weighted["estimate"] - unweighted["estimate"]).abs(),
        }
    )
    return RecoveryTruth(corrected=bool(corrected), srmr=srmr, _table=table)


# ----------------------------------------------------------------------------------------------
# The simulation
# ----------------------------------------------------------------------------------------------
def default_approaches() -> tuple[Variant, ...]:
    """The analyses compared in the recovery study.

    Returns
    -------
    tuple of Variant
        ``TSSEM`` (random effects, correlations corrected for unreliability), ``univariate r``
        (the same corrected correlations, :func:`masem.uni_r_pooled`) and ``TSSEM, uncorrected``
        (random effects on the observed correlations, as notebook 05 does; its estimand is the
        attenuated pseudo-true value).

    Examples
    --------
    >>> [a.name for a in default_approaches()]
    ['TSSEM', 'univariate r', 'TSSEM, uncorrected']
    """
    return (
        Variant("TSSEM", method="REM", corrected=True),
        Variant("univariate r", method="univariate r", corrected=True),
        Variant("TSSEM, uncorrected", method="REM", corrected=False),
    )


_ESTIMATE_COLUMNS = [
    "rep",
    "seed",
    "approach",
    "parameter",
    "type",
    "estimate",
    "se",
    "ci_lower",
    "ci_upper",
    "profile_lower",
    "profile_upper",
    "boot_lower",
    "boot_upper",
    "status",
]
INTERVALS = ("wald", "profile", "bootstrap")
# Columns of each interval type in the estimates table, and the suffix of its summary columns.
_BOUNDS = {
    "wald": ("ci_lower", "ci_upper", ""),
    "profile": ("profile_lower", "profile_upper", "_profile"),
    "bootstrap": ("boot_lower", "boot_upper", "_bootstrap"),
}
# Profile and bootstrap intervals are computed for the paths and the ':=' effects (the
# covariances among the antecedents describe the samples, not the mediation).
_TARGETS = ("path", "defined")


@dataclass(frozen=True, repr=False, eq=False)
class RecoveryResult:
    """Result of :func:`parameter_recovery` (immutable; tables are returned as copies).

    Attributes
    ----------
    model : str
    variables : tuple of str
    approaches : tuple of Variant
    design : StudyDesign
        The study design the databases were drawn with (``selection`` None: no file drawer).
    n_reps, seed, n_studies : int
        Replications, the seed of their ``numpy.random.SeedSequence`` and studies per database.
    intervals : tuple of str
        The interval types computed: ``"wald"`` always, ``"profile"``, ``"bootstrap"``.
    n_boot : int
        Parametric-bootstrap draws per replication (when ``"bootstrap"`` is computed).
    tau2 : str
        ``"estimated"`` (random-effects stage 1) or ``"known"`` (the true between-study variances).
    moderators : bool
        Whether the population's moderators were on.
    cpu_seconds : float
        CPU time of the replications, summed over the workers (the cost of the study on one
        core, whatever ``n_jobs``).
    """

    model: str
    variables: tuple[str, ...]
    approaches: tuple[Variant, ...]
    design: StudyDesign
    n_reps: int
    seed: int
    n_studies: int
    intervals: tuple[str, ...]
    n_boot: int
    tau2: str
    moderators: bool
    cpu_seconds: float = field(compare=False)
    _estimates: pd.DataFrame = field(repr=False)
    _truth: pd.DataFrame = field(repr=False)

    @property
    def estimates(self) -> pd.DataFrame:
        """One row per replication, approach and parameter: rep, seed (of that database),
        approach, parameter, type, estimate, se, ci_lower / ci_upper (Wald), profile_lower /
        profile_upper, boot_lower / boot_upper (NaN where not computed), status.
        """
        return self._estimates.copy()

    @property
    def truth(self) -> pd.DataFrame:
        """approach, parameter, type, truth, weight_sensitivity (see :func:`recovery_truth`)."""
        return self._truth.copy()

    def summary(self) -> pd.DataFrame:
        """Performance of each approach for each parameter (Morris, White & Crowther, 2019).

        Over the n_valid replications whose fits converged: ``mean`` estimate, ``bias`` = mean -
        truth and its Monte Carlo SE ``bias_mcse`` = emp_se / sqrt(n_valid); ``emp_se`` (SD of the
        estimates) and ``mean_se`` (mean model-based SE; ``se_ratio`` = mean_se / emp_se, 1 when
        the SEs are right); ``rmse`` = sqrt(mean((estimate - truth)^2)); ``coverage`` of the 95%
        Wald intervals and ``coverage_mcse`` = sqrt(coverage (1 - coverage) / n_valid); for
        profile-likelihood and bootstrap intervals ``coverage_profile`` / ``coverage_bootstrap``
        with their MCSEs over the ``n_profile`` / ``n_bootstrap`` replications whose bounds were
        found.
        """
        ok = self._estimates[self._estimates["status"] == "ok"]
        truth = self._truth.set_index(["approach", "parameter"])
        rows = []
        for (approach, parameter), group in ok.groupby(["approach", "parameter"], sort=False):
            true = truth.at[(approach, parameter), "truth"]
            est = group["estimate"].to_numpy()
            n = len(est)
            emp_se = float(np.std(est, ddof=1)) if n > 1 else np.nan
            row = {
                "approach": approach,
                "parameter": parameter,
                "type": group["type"].iloc[0],
                "truth": true,
                "weight_sensitivity": truth.at[(approach, parameter), "weight_sensitivity"],
                "n_valid": n,
                "mean": float(est.mean()),
                "bias": float(est.mean() - true),
                "bias_mcse": emp_se / np.sqrt(n),
                "emp_se": emp_se,
                "mean_se": float(group["se"].mean()),
                "se_ratio": float(group["se"].mean()) / emp_se,
                "rmse": float(np.sqrt(np.mean((est - true) ** 2))),
            }
            for kind in self.intervals:
                row.update(_coverage(group, true, kind))
            rows.append(row)
        return pd.DataFrame(rows)

    def coverage(self, by: Sequence[str] = ("approach", "type")) -> pd.DataFrame:
        """Coverage of each interval type over groups of parameters: :func:`recovery_coverage`
        of this result's estimates and truth.
        """
        return recovery_coverage(self._estimates, self._truth, by)

    def status(self) -> pd.DataFrame:
        """Fits per approach and status ("ok", "not converged", "failed: ...")."""
        first = self._estimates.drop_duplicates(["rep", "approach"])
        return first.groupby(["approach", "status"], sort=False).size().rename("fits").reset_index()

    def __repr__(self) -> str:
        selection = "off" if self.design.selection is None else "-".join(self.design.selection)
        return (
            f"RecoveryResult(reps={self.n_reps}, seed={self.seed}, studies={self.n_studies}, "
            f"approaches={[a.name for a in self.approaches]}, file drawer={selection}, "
            f"moderators={'on' if self.moderators else 'off'}, tau2 {self.tau2}, "
            f"intervals={list(self.intervals)})"
        )


def recovery_coverage(
    estimates: pd.DataFrame,
    truth: pd.DataFrame,
    by: Sequence[str] = ("approach", "type"),
) -> pd.DataFrame:
    """Coverage of each interval type over a group of parameters, with its Monte Carlo SE.

    For a group of K parameters (e.g. the paths of one approach) and one interval type, each
    replication contributes the share of its intervals that contain their true value; the
    group's coverage is the mean share over the R replications, and its Monte Carlo SE the SD of
    the shares divided by sqrt(R) (Morris, White & Crowther, 2019, for a mean over replications).
    The intervals of one replication share a database and are correlated, which this SE takes
    into account and K x R binomial draws would not. Only fits with status "ok" and intervals
    with both bounds found count; a replication without any is left out of ``reps``.

    Parameters
    ----------
    estimates : pandas.DataFrame
        :attr:`RecoveryResult.estimates`, or the stored ``estimates.csv`` of
        ``scripts/recovery_study.py`` (with an ``arm`` column).
    truth : pandas.DataFrame
        :attr:`RecoveryResult.truth` (or ``truth.csv``): approach, parameter, truth (and arm
        when ``by`` uses it).
    by : sequence of str, default ("approach", "type")
        Columns of ``estimates`` that define the groups (``type``: path, defined, covariance).

    Returns
    -------
    pandas.DataFrame
        One row per group and interval type computed (``wald``, ``profile``, ``bootstrap``):
        the ``by`` columns, interval, parameters (K), reps (R), coverage, coverage_mcse, and the
        parameter with the lowest coverage (``lowest``, ``lowest_parameter``) and the number of
        parameters whose own coverage is below .95 by more than 1.96 binomial Monte Carlo SEs
        (``n_below``).

    References
    ----------
    Morris, T. P., White, I. R., & Crowther, M. J. (2019). Using simulation studies to evaluate
    statistical methods. *Statistics in Medicine*, 38, 2074-2102.

    Examples
    --------
    >>> import pandas as pd
    >>> from masem.study.recovery import recovery_coverage
    >>> est = pd.DataFrame({"rep": [0, 0, 1, 1], "approach": "TSSEM", "parameter": ["a", "b"] * 2,
    ...                     "type": "path", "estimate": [0.2, 0.5, 0.3, 0.4],
    ...                     "ci_lower": [0.1, 0.45, 0.15, 0.35], "ci_upper": [0.35, 0.6, 0.4, 0.45],
    ...                     "status": "ok"})
    >>> truth = pd.DataFrame({"approach": "TSSEM", "parameter": ["a", "b"], "truth": [0.3, 0.5]})
    >>> recovery_coverage(est, truth)[["interval", "parameters", "reps", "coverage"]]
      interval  parameters  reps  coverage
    0     wald           2     2      0.75
    """
    by = [str(b) for b in ([by] if isinstance(by, str) else by)]
    needed = {"rep", "approach", "parameter", "status", "ci_lower", "ci_upper", *by}
    missing = sorted(needed - set(estimates.columns))
    if missing:
        raise DataError(
            f"recovery_coverage: estimates lack the column(s) {missing}; pass "
            "RecoveryResult.estimates or the estimates.csv of scripts/recovery_study.py."
        )
    keys = [k for k in ("arm", "approach") if k in estimates.columns and k in truth.columns]
    merged = estimates[estimates["status"] == "ok"].merge(
        truth[[*keys, "parameter", "truth"]], on=[*keys, "parameter"], how="left"
    )
    if merged["truth"].isna().any():
        lost = sorted(set(merged.loc[merged["truth"].isna(), "parameter"]))
        raise DataError(
            f"recovery_coverage: no true value for {lost}; pass the truth of the same study "
            "(RecoveryResult.truth or its truth.csv)."
        )
    rows = []
    for kind in INTERVALS:
        low, high, _ = _BOUNDS[kind]
        if low not in merged.columns or merged[low].notna().sum() == 0:
            continue
        found = merged[np.isfinite(merged[low]) & np.isfinite(merged[high])]
        hit = found.assign(hit=((found[low] <= found["truth"]) & (found["truth"] <= found[high])))
        for key, group in hit.groupby(by, sort=False):
            shares = group.groupby([*keys, "rep"], sort=False)["hit"].mean()
            per = group.groupby("parameter", sort=False)["hit"].agg(["mean", "size"])
            binomial = np.sqrt(per["mean"] * (1 - per["mean"]) / per["size"])
            row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
            row.update(
                interval=kind,
                parameters=len(per),
                reps=len(shares),
                coverage=float(shares.mean()),
                coverage_mcse=float(shares.std(ddof=1) / np.sqrt(len(shares)))
                if len(shares) > 1
                else np.nan,
                lowest=float(per["mean"].min()),
                lowest_parameter=str(per["mean"].idxmin()),
                n_below=int((per["mean"] + 1.96 * binomial < 0.95).sum()),
            )
            rows.append(row)
    return pd.DataFrame(rows)


def _coverage(group: pd.DataFrame, true: float, kind: str) -> dict:
    """Coverage of one interval type over the replications whose bounds are finite."""
    low, high, suffix = _BOUNDS[kind]
    found = group[np.isfinite(group[low]) & np.isfinite(group[high])]
    n = len(found)
    coverage = float(((found[low] <= true) & (true <= found[high])).mean()) if n else np.nan
    out = {
        f"coverage{suffix}": coverage,
        f"coverage{suffix}_mcse": float(np.sqrt(coverage * (1 - coverage) / n)) if n else np.nan,
    }
    if kind != "wald":
        out[f"n{suffix}"] = n
    return out


@dataclass(frozen=True)
class _Settings:
    """What every replication of one recovery study shares (sent once to each worker task)."""

    population: Population
    design: StudyDesign
    n_studies: int
    variables: list[str]
    model: str
    approaches: tuple[Variant, ...]
    template: pd.DataFrame
    intervals: tuple[str, ...]
    n_boot: int
    generator: str
    known_tau2: np.ndarray | None


def _one_replication(settings: _Settings, rep: int, seed: int) -> tuple[pd.DataFrame, float]:
    """One replication's rows of the estimates table, and the CPU seconds it took."""
    start = time.process_time()
    return _replication_rows(settings, rep, seed), time.process_time() - start


def _replication_rows(settings: _Settings, rep: int, seed: int) -> pd.DataFrame:
    """Simulate one database and analyse it with every approach (rows of the estimates table)."""
    try:
        db = simulate_database(
            settings.population,
            n_studies=settings.n_studies,
            seed=seed,
            design=settings.design,
            generator=settings.generator,
        )
    except (DataError, ModelError) as exc:
        # e.g. too few studies to meet the design's coverage rules with this seed
        failed = settings.template.assign(status=f"failed: the database could not be drawn: {exc}")
        return pd.concat(
            [failed.assign(rep=rep, seed=seed, approach=a.name) for a in settings.approaches],
            ignore_index=True,
        ).reindex(columns=_ESTIMATE_COLUMNS)
    frames = []
    for number, approach in enumerate(settings.approaches):
        try:
            with warnings.catch_warnings():
                # Notes of single fits (a tau2 at its bound, a bound not found) are expected in a
                # simulation; what matters, convergence, is read from the results and reported.
                warnings.simplefilter("ignore", ConvergenceWarning)
                stage1 = _stage1(db, settings, approach)
                fit = tssem2(stage1, settings.model)
                frame = parameter_frame(fit)
                frame = _extra_intervals(fit, frame, settings, [seed, number])
            converged = fit.converged and getattr(stage1, "converged", True)
            frame = frame.assign(status="ok" if converged else "not converged")
        except (DataError, ModelError) as exc:
            frame = settings.template.assign(status=f"failed: {exc}")
        frames.append(frame.assign(rep=rep, seed=seed, approach=approach.name))
    return pd.concat(frames, ignore_index=True).reindex(columns=_ESTIMATE_COLUMNS)


def _stage1(db, settings: _Settings, approach: Variant):
    """Stage 1 of an approach; with the true between-study variances when tau2 is known."""
    if settings.known_tau2 is None:
        stage1, _, _ = variant_stage1(db, settings.variables, approach)
        return stage1
    m = db.matrices(settings.variables, corrected=approach.corrected)
    terms = gls_terms(m.matrices, m.n, m.variables, settings.known_tau2)
    vcov = np.linalg.inv(terms.information.sum(axis=0))
    rho = vcov @ terms.score.sum(axis=0)
    labels = vechs_labels(list(terms.variables))
    p = len(terms.variables)
    return PooledMatrix(
        pooled=pd.DataFrame(vechs_inverse(rho, p), index=terms.variables, columns=terms.variables),
        vcov=pd.DataFrame((vcov + vcov.T) / 2, index=labels, columns=labels),
        total_n=int(terms.n.sum()),
        method="REM (tau2 known)",
    )


def _extra_intervals(fit, frame: pd.DataFrame, settings: _Settings, key: list[int]) -> pd.DataFrame:
    """The profile-likelihood and parametric-bootstrap bounds of the paths and ':=' effects."""
    targets = list(frame.loc[frame["type"].isin(_TARGETS), "parameter"])
    frame = frame.assign(profile_lower=np.nan, profile_upper=np.nan)
    frame = frame.assign(boot_lower=np.nan, boot_upper=np.nan)
    rows = frame["parameter"].isin(targets).to_numpy()
    if "profile" in settings.intervals and fit.converged:
        bounds = profile_bounds(fit, targets)
        frame.loc[rows, ["profile_lower", "profile_upper"]] = bounds[
            ["ci_lower", "ci_upper"]
        ].to_numpy()
    if "bootstrap" in settings.intervals and fit.converged:
        draws = _bootstrap_draws(fit, settings.n_boot, key)
        order = {
            name: j for j, name in enumerate(list(fit.coefficients.index) + list(fit.defined.index))
        }
        values = draws[:, [order[name] for name in targets]]
        usable = values[np.all(np.isfinite(values), axis=1)]
        if len(usable) >= settings.n_boot // 2:
            # Order statistics at (B + 1) .025 and (B + 1) .975 (Weibull positions): exact
            # 95% percentile intervals for B = 79, 119, 199, ... (Hall, 1986).
            bounds = np.quantile(usable, [0.025, 0.975], axis=0, method="weibull").T
            frame.loc[rows, ["boot_lower", "boot_upper"]] = bounds
    return frame


def _bootstrap_draws(fit, n_boot: int, key: list[int]) -> np.ndarray:
    """Refitted values of n_boot pooled vectors r* ~ N(r, V): the parametric bootstrap of stage 2
    (Cheung, 2009), warm-started at the estimates; a failed or not converged refit is a NaN row.
    """
    rng = np.random.default_rng(np.random.SeedSequence(key))
    r = fit.sample_vector.to_numpy()
    draws = r + rng.standard_normal((n_boot, len(r))) @ np.linalg.cholesky(fit.acov.to_numpy()).T
    values = np.full((n_boot, len(fit.coefficients) + len(fit.defined)), np.nan)
    for i, draw in enumerate(draws):
        try:
            again = refit(fit, draw)
        except (DataError, ModelError):
            continue
        if again.converged:
            values[i] = np.concatenate([again.estimates, again.defined_values])
    return values


def parameter_recovery(
    population: Population,
    model: str,
    variables: Sequence[str],
    *,
    n_reps: int = 20,
    seed: int = 2011,
    n_studies: int | None = None,
    design: StudyDesign | None = None,
    approaches: Sequence[Variant] | None = None,
    intervals: Sequence[str] = ("wald",),
    n_boot: int = 79,
    tau2: str = "estimated",
    generator: str = "statistics",
    n_jobs: int = 1,
    progress: bool = True,
) -> RecoveryResult:
    """Simulate study databases from a population model and check how well each analysis recovers
    it.

    Replication r draws a database with :func:`masem.simulate_database` (unreliable scales,
    random effects, moderators, missing correlations and reliabilities, as the bundled database)
    from its own seed, ``SeedSequence(seed).spawn(n_reps)[r]``, so a replication's result does
    not depend on ``n_jobs``, on the joblib backend or on the other replications. Each approach
    then runs the whole pipeline on it (per-study matrices, stage 1, :func:`masem.tssem2`,
    ``:=`` effects, the requested intervals), and the estimates are compared with the
    approach's estimand (:func:`recovery_truth`: corrected approaches with the true-score
    values, uncorrected ones with the attenuated pseudo-true values). With moderators on, the
    estimand is the model fitted to the mean true matrix over the population of studies (the
    average study); the studies that report a cell are not a random sample of them (customer
    ratings come mostly from high-contact jobs), which the recovery study is there to show.

    Parameters
    ----------
    population : Population
        With or without moderators (:meth:`Population.without_moderators`).
    model : str
        lavaan syntax; the population's own structure gives true values, any other model
        pseudo-true ones.
    variables : list of str
        Constructs to pool.
    n_reps : int, default 20
        Replications (at least 2). Monte Carlo SEs shrink with 1 / sqrt(n_reps): with 500, the
        coverage of a 95% interval is known to +-1 percentage point.
    seed : int, default 2011
        Root seed.
    n_studies : int, optional
        Studies per database (default: the design's, 150 at the individual level).
    design : StudyDesign, optional
        Default: the documented design with publication selection switched off
        (``dataclasses.replace(default_design(level), selection=None)``); pass
        ``default_design(level)`` to keep the file drawer on PE - TP.
    approaches : sequence of Variant, optional
        Default :func:`default_approaches`.
    intervals : sequence of {"wald", "profile", "bootstrap"}, default ("wald",)
        95% intervals whose coverage is measured: Wald (always), profile likelihood
        (:func:`masem.tssem.profile.profile_bounds`) and the parametric bootstrap of stage 2
        (percentiles of ``n_boot`` refits), the latter two for the paths and ``:=`` effects.
    n_boot : int, default 79
        Bootstrap draws per replication, with (n_boot + 1) .025 a whole number (39, 79, 119,
        199, ...) so that the bounds are single order statistics, whose coverage does not
        depend on n_boot for a pivotal quantity (Hall, 1986): a coverage study needs few draws
        per replication; the Monte Carlo error of the coverage comes from the replications.
    tau2 : {"estimated", "known"}, default "estimated"
        "known": stage 1 pools by generalised least squares with the true between-study
        variances of the corrected correlations (their variance over the population of studies:
        random effects and moderators) instead of estimating them (:func:`masem.gls_terms`), an
        experiment that shows what the uncertainty of tau2 costs. Corrected approaches only.
    generator : {"statistics", "items"}, default "statistics"
        How each study's statistics are drawn (:func:`masem.simulate_database`).
    n_jobs : int, default 1
        Worker processes (joblib); -1 uses all cores, on the active joblib backend (a Dask
        cluster inside ``joblib.parallel_backend("dask")``). Results do not depend on it.
    progress : bool, default True
        Show a tqdm progress bar (stderr); pass False in notebooks.

    Returns
    -------
    RecoveryResult
        ``summary()`` (bias, SEs, RMSE, coverage of every interval type with Monte Carlo SEs),
        ``estimates`` (every replication), ``truth``, ``status()``.

    Raises
    ------
    DataError, ModelError
        For bad arguments, or a model that cannot be fitted to the expected matrix.

    Warns
    -----
    ConvergenceWarning
        When some replications' fits fail or do not converge (they are left out of ``summary()``).

    References
    ----------
    Cheung, M. W.-L. (2009). Comparison of methods for constructing confidence intervals of
    standardized indirect effects. *Behavior Research Methods*, 41, 425-438.
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10, 40-64.
    Hall, P. (1986). On the number of bootstrap simulations required to construct a confidence
    interval. *The Annals of Statistics*, 14, 1453-1462.
    Morris, T. P., White, I. R., & Crowther, M. J. (2019). Using simulation studies to evaluate
    statistical methods. *Statistics in Medicine*, 38, 2074-2102.

    Examples
    --------
    The approaches compared by default; the simulation itself draws databases from the project's
    population model (``data/population``, not part of the package):

    >>> import masem
    >>> [a.name for a in masem.default_approaches()]
    ['TSSEM', 'univariate r', 'TSSEM, uncorrected']
    >>> population = masem.read_population("data/population", "individual")  # doctest: +SKIP
    >>> res = masem.parameter_recovery(population, "PE ~ HPWP\\nJS ~ PE", ["HPWP", "PE", "JS"],
    ...                                n_reps=10, n_studies=40, progress=False)  # doctest: +SKIP
    >>> res.summary()  # doctest: +SKIP
    """
    options = dict(n_studies=n_studies, design=design, approaches=approaches, generator=generator)
    options.update(n_reps=n_reps, seed=seed, intervals=intervals, n_boot=n_boot, tau2=tau2)
    checked, n_reps = _recovery_settings(population, model, variables, options)
    check_jobs(n_jobs, progress)
    task = checked.shared
    truth = pd.concat(
        [checked.truths[a.corrected].summary().assign(approach=a.name) for a in task.approaches],
        ignore_index=True,
    )[["approach", "parameter", "type", "truth", "weight_sensitivity"]]
    seeds = [
        int(child.generate_state(1)[0]) for child in np.random.SeedSequence(int(seed)).spawn(n_reps)
    ]
    workers = joblib.effective_n_jobs(n_jobs)
    if workers == 1:
        parts = (_one_replication(task, r, s) for r, s in enumerate(seeds))
    else:
        parts = joblib.Parallel(n_jobs=workers, return_as="generator")(
            joblib.delayed(_one_replication)(task, r, s) for r, s in enumerate(seeds)
        )
    done = list(tracked(parts, len(seeds), "replications", unit="rep", show=progress))
    frames = [frame for frame, _ in done]
    result = RecoveryResult(
        model=task.model,
        variables=tuple(task.variables),
        approaches=task.approaches,
        design=task.design,
        n_reps=n_reps,
        seed=int(seed),
        n_studies=task.n_studies,
        intervals=task.intervals,
        n_boot=task.n_boot,
        tau2=tau2,
        moderators=bool(len(population.moderators)),
        cpu_seconds=float(sum(seconds for _, seconds in done)),
        _estimates=pd.concat(frames, ignore_index=True),
        _truth=truth,
    )
    _warn_unusable(result)
    return result


@dataclass(frozen=True)
class _Checked:
    shared: _Settings
    truths: dict


def _recovery_settings(population, model, variables, options: dict) -> tuple[_Checked, int]:
    """The arguments of :func:`parameter_recovery`, checked, and the true values."""
    n_reps, seed, n_boot, tau2 = (options[k] for k in ("n_reps", "seed", "n_boot", "tau2"))
    n_studies, approaches, intervals = (
        options[k] for k in ("n_studies", "approaches", "intervals")
    )
    variables = _check_population(population, variables)
    model = check_model(model)
    design = _check_design(options["design"], population)
    for name, value, low in (("n_reps", n_reps, 2), ("seed", seed, 0), ("n_boot", n_boot, 19)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise DataError(f"{name} must be an integer of at least {low}, got {value!r}.")
    n_studies = design.n_studies if n_studies is None else n_studies
    if isinstance(n_studies, bool) or not isinstance(n_studies, numbers.Integral) or n_studies < 3:
        raise DataError(f"n_studies must be an integer of at least 3, got {n_studies!r}.")
    approaches = check_variants(
        default_approaches() if approaches is None else approaches, "approach"
    )
    if isinstance(intervals, str) or not set(intervals) <= set(INTERVALS):
        raise DataError(f"intervals must be a list of {list(INTERVALS)}, got {intervals!r}.")
    intervals = tuple(k for k in INTERVALS if k == "wald" or k in intervals)
    if tau2 not in ("estimated", "known"):
        raise DataError(f"tau2 must be 'estimated' or 'known', got {tau2!r}.")
    known = None
    if tau2 == "known":
        if not all(a.corrected and a.method == "REM" for a in approaches):
            raise DataError(
                "tau2='known' needs corrected random-effects approaches (Variant(method='REM', "
                "corrected=True)): the true between-study variances are those of the construct "
                "correlations."
            )
        _, variance = _study_moments(population, variables, design)
        known = np.diag(variance[vechs_indices(len(variables))])
    truths = {}
    for approach in approaches:
        if approach.corrected not in truths:
            truths[approach.corrected] = recovery_truth(
                population, model, variables, design, approach.corrected
            )
    template = (
        truths[approaches[0].corrected]
        .summary()[["parameter", "type"]]
        .assign(estimate=np.nan, se=np.nan, ci_lower=np.nan, ci_upper=np.nan)
    )
    shared = _Settings(
        population=population,
        design=design,
        n_studies=int(n_studies),
        variables=variables,
        model=model,
        approaches=approaches,
        template=template,
        intervals=intervals,
        n_boot=int(n_boot),
        generator=options["generator"],
        known_tau2=known,
    )
    return _Checked(shared=shared, truths=truths), int(n_reps)


def _warn_unusable(result: RecoveryResult) -> None:
    status = result.status()
    bad = status[status["status"] != "ok"]
    if len(bad):
        described = "; ".join(
            f"{row.approach}: {row.fits} {str(row.status).split(':')[0]}"
            for row in bad.itertuples()
        )
        warnings.warn(
            f"parameter_recovery: some fits are left out of summary() ({described}); see "
            "estimates['status'] for the messages. Many failures suggest too few studies per "
            "database.",
            ConvergenceWarning,
            stacklevel=3,
        )
