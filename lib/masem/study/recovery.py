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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import joblib
import numpy as np
import pandas as pd
from scipy import integrate, stats

from masem._util import check_jobs, deprecated, tracked
from masem.data.simulate import Population, StudyDesign, default_design, simulate_database
from masem.effects import olkin_siotani, vechs_labels
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.study._common import check_model, parameter_frame
from masem.study.variants import PooledMatrix, Variant, check_variants, variant_stage1
from masem.tssem.stage2 import tssem2

__all__ = [
    "RecoveryResult",
    "RecoveryTruth",
    "default_approaches",
    "expected_matrix",
    "parameter_recovery",
    "recovery_truth",
    "without_moderators",
]

# Gauss-Hermite nodes for E[tanh(z + tau e)]: 60 nodes integrate this smooth function to ~1e-15.
_HERMITE_NODES = 60
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
    if len(population.moderators):
        raise DataError(
            "the population has moderators (moderators.csv), so the studies reporting each cell "
            "come from different mixes of sub-populations and the estimand is not one matrix; pass "
            "population.without_moderators()."
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
        Without moderators (see :meth:`Population.without_moderators`).
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
    rho = population.rho.loc[variables, variables].to_numpy()
    nodes, weights = np.polynomial.hermite_e.hermegauss(_HERMITE_NODES)
    weights = weights / weights.sum()
    off = ~np.eye(len(variables), dtype=bool)
    mean = np.eye(len(variables))
    z = np.arctanh(rho[off])
    mean[off] = np.tanh(z[:, None] + design.tau * nodes[None, :]) @ weights
    if not corrected:
        mean[off] *= mean_sqrt_reliability(design) ** 2
    return pd.DataFrame(mean, index=variables, columns=variables)


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
    "status",
]


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
    """

    model: str
    variables: tuple[str, ...]
    approaches: tuple[Variant, ...]
    design: StudyDesign
    n_reps: int
    seed: int
    n_studies: int
    _estimates: pd.DataFrame = field(repr=False)
    _truth: pd.DataFrame = field(repr=False)

    @property
    def estimates(self) -> pd.DataFrame:
        """One row per replication, approach and parameter: rep, seed (of that database),
        approach, parameter, type, estimate, se, ci_lower, ci_upper (Wald), status.
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
        Wald intervals and ``coverage_mcse`` = sqrt(coverage (1 - coverage) / n_valid).
        """
        ok = self._estimates[self._estimates["status"] == "ok"]
        truth = self._truth.set_index(["approach", "parameter"])
        rows = []
        for (approach, parameter), group in ok.groupby(["approach", "parameter"], sort=False):
            true = truth.at[(approach, parameter), "truth"]
            est = group["estimate"].to_numpy()
            n = len(est)
            emp_se = float(np.std(est, ddof=1)) if n > 1 else np.nan
            covered = (group["ci_lower"] <= true) & (true <= group["ci_upper"])
            coverage = float(covered.mean())
            rows.append(
                {
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
                    "coverage": coverage,
                    "coverage_mcse": float(np.sqrt(coverage * (1 - coverage) / n)),
                }
            )
        return pd.DataFrame(rows)

    def status(self) -> pd.DataFrame:
        """Fits per approach and status ("ok", "not converged", "failed: ...")."""
        first = self._estimates.drop_duplicates(["rep", "approach"])
        return first.groupby(["approach", "status"], sort=False).size().rename("fits").reset_index()

    def __repr__(self) -> str:
        selection = "off" if self.design.selection is None else "-".join(self.design.selection)
        return (
            f"RecoveryResult(reps={self.n_reps}, seed={self.seed}, studies={self.n_studies}, "
            f"approaches={[a.name for a in self.approaches]}, file drawer={selection})"
        )


def _one_replication(
    population: Population,
    design: StudyDesign,
    n_studies: int,
    rep: int,
    seed: int,
    variables: list[str],
    model: str,
    approaches: tuple[Variant, ...],
    template: pd.DataFrame,
) -> pd.DataFrame:
    """Simulate one database and analyse it with every approach (rows of the estimates table)."""
    try:
        db = simulate_database(population, n_studies=n_studies, seed=seed, design=design)
    except (DataError, ModelError) as exc:
        # e.g. too few studies to meet the design's coverage rules with this seed
        failed = template.assign(status=f"failed: the database could not be drawn: {exc}")
        return pd.concat(
            [failed.assign(rep=rep, seed=seed, approach=a.name) for a in approaches],
            ignore_index=True,
        )[_ESTIMATE_COLUMNS]
    frames = []
    for approach in approaches:
        try:
            with warnings.catch_warnings():
                # Notes of single fits (a tau2 at its bound) are expected in a simulation; what
                # matters, convergence, is read from the results and reported as a status.
                warnings.simplefilter("ignore", ConvergenceWarning)
                stage1, _, _ = variant_stage1(db, variables, approach)
                fit = tssem2(stage1, model)
            converged = fit.converged and getattr(stage1, "converged", True)
            frame = parameter_frame(fit).assign(status="ok" if converged else "not converged")
        except (DataError, ModelError) as exc:
            frame = template.assign(status=f"failed: {exc}")
        frames.append(frame.assign(rep=rep, seed=seed, approach=approach.name))
    return pd.concat(frames, ignore_index=True)[_ESTIMATE_COLUMNS]


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
    n_jobs: int = 1,
    progress: bool = True,
) -> RecoveryResult:
    """Simulate study databases from a population model and check how well each analysis recovers
    it.

    Replication r draws a database with :func:`masem.simulate_database` (item-level data,
    unreliable scales, random effects, missing correlations and reliabilities, as the bundled
    database) from its own seed, ``SeedSequence(seed).spawn(n_reps)[r]``, so a replication's
    result does not depend on ``n_jobs`` or on the other replications. Each approach then runs the
    whole pipeline on it (per-study matrices, stage 1, :func:`masem.tssem2` with Wald intervals,
    ``:=`` effects), and the estimates are compared with the approach's estimand
    (:func:`recovery_truth`: corrected approaches with the true-score values, uncorrected ones
    with the attenuated pseudo-true values).

    Parameters
    ----------
    population : Population
        Without moderators (:meth:`Population.without_moderators`), so that the estimand is one
        matrix.
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
    n_jobs : int, default 1
        Worker processes (joblib); -1 uses all cores. Results do not depend on it.
    progress : bool, default True
        Show a tqdm progress bar (stderr); pass False in notebooks.

    Returns
    -------
    RecoveryResult
        ``summary()`` (bias, SEs, RMSE, coverage with Monte Carlo SEs), ``estimates`` (every
        replication), ``truth``, ``status()``.

    Raises
    ------
    DataError, ModelError
        For bad arguments, a population with moderators, or a model that cannot be fitted to the
        expected matrix.

    Warns
    -----
    ConvergenceWarning
        When some replications' fits fail or do not converge (they are left out of ``summary()``).

    References
    ----------
    Morris, T. P., White, I. R., & Crowther, M. J. (2019). Using simulation studies to evaluate
    statistical methods. *Statistics in Medicine*, 38, 2074-2102.
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10, 40-64.

    Examples
    --------
    The approaches compared by default; the simulation itself draws databases from the project's
    population model (``data/population``, not part of the package) and takes about a second per
    replication:

    >>> import masem
    >>> [a.name for a in masem.default_approaches()]
    ['TSSEM', 'univariate r', 'TSSEM, uncorrected']
    >>> population = masem.read_population("data/population", "individual")  # doctest: +SKIP
    >>> pop = population.without_moderators()  # doctest: +SKIP
    >>> res = masem.parameter_recovery(pop, "PE ~ HPWP\\nJS ~ PE", ["HPWP", "PE", "JS"],
    ...                                n_reps=10, n_studies=40, progress=False)  # doctest: +SKIP
    >>> res.summary()  # doctest: +SKIP
    """
    variables = _check_population(population, variables)
    model = check_model(model)
    design = _check_design(design, population)
    for name, value, low in (("n_reps", n_reps, 2), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise DataError(f"{name} must be an integer of at least {low}, got {value!r}.")
    n_studies = design.n_studies if n_studies is None else n_studies
    if isinstance(n_studies, bool) or not isinstance(n_studies, numbers.Integral) or n_studies < 3:
        raise DataError(f"n_studies must be an integer of at least 3, got {n_studies!r}.")
    approaches = check_variants(
        default_approaches() if approaches is None else approaches, "approach"
    )
    check_jobs(n_jobs, progress)

    truths = {}
    for approach in approaches:
        if approach.corrected not in truths:
            truths[approach.corrected] = recovery_truth(
                population, model, variables, design, approach.corrected
            )
    truth = pd.concat(
        [truths[a.corrected].summary().assign(approach=a.name) for a in approaches],
        ignore_index=True,
    )[["approach", "parameter", "type", "truth", "weight_sensitivity"]]
    template = (
        truths[approaches[0].corrected]
        .summary()[["parameter", "type"]]
        .assign(estimate=np.nan, se=np.nan, ci_lower=np.nan, ci_upper=np.nan)
    )

    seeds = [
        int(child.generate_state(1)[0])
        for child in np.random.SeedSequence(int(seed)).spawn(int(n_reps))
    ]
    args = (variables, model, approaches, template)
    workers = joblib.effective_n_jobs(n_jobs)
    if workers == 1:
        parts = (
            _one_replication(population, design, int(n_studies), r, s, *args)
            for r, s in enumerate(seeds)
        )
    else:
        parts = joblib.Parallel(n_jobs=workers, return_as="generator")(
            joblib.delayed(_one_replication)(population, design, int(n_studies), r, s, *args)
            for r, s in enumerate(seeds)
        )
    frames = list(tracked(parts, len(seeds), "replications", unit="rep", show=progress))
    result = RecoveryResult(
        model=model,
        variables=tuple(variables),
        approaches=approaches,
        design=design,
        n_reps=int(n_reps),
        seed=int(seed),
        n_studies=int(n_studies),
        _estimates=pd.concat(frames, ignore_index=True),
        _truth=truth,
    )
    _warn_unusable(result)
    return result


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
