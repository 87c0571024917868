"""Robustness of a MASEM: leave-one-study-out influence and analysis variants side by side.

Two questions a reader of a meta-analytic structural equation model should ask before trusting it:

* **Does one study drive the result?** :func:`leave_one_out` refits stage 1 and stage 2 without
  each study in turn and reports, for every path and ``:=`` effect, how far the estimate moves
  (Viechtbauer & Cheung, 2010, for the univariate case).
* **Do reasonable analysis choices change it?** :func:`compare_variants` fits the same model under
  several choices (fixed vs random effects, corrected vs observed correlations, published studies
  only, TSSEM vs the univariate-r approach) and returns one tidy table.

The variants themselves (:class:`~masem.Variant`, the univariate-r approach as a stage-2 input)
are in :mod:`masem.study.variants`.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import joblib
import numpy as np
import pandas as pd

from masem._util import check_jobs, tracked
from masem.data import StudyDatabase, StudyMatrices
from masem.effects import vechs_indices, vechs_inverse, vechs_labels
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.study._common import check_model, parameter_frame, select
from masem.study.variants import (
    PooledMatrix,
    Variant,
    check_variants,
    default_variants,
    variant_stage1,
)
from masem.tssem import TSSEM2Result, gls_terms, tssem1, tssem2

__all__ = ["LeaveOneOutResult", "VariantComparison", "compare_variants", "leave_one_out"]

# Viechtbauer & Cheung (2010) flag a study whose DFBETAS exceeds 1 in absolute value.
DFBETAS_CUTOFF = 1.0


# ----------------------------------------------------------------------------------------------
# Leave one study out
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False, eq=False)
class LeaveOneOutResult:
    """Result of :func:`leave_one_out` (immutable; tables are returned as copies).

    Attributes
    ----------
    method : str
        Stage-1 method, ``"REM"`` or ``"FEM"``.
    approximate : bool
        True when the between-study variances were held at their full-data values.
    full : TSSEM2Result
        The stage-2 fit to all studies.
    n_studies : int
        Number of studies (= number of leave-one-out fits).
    """

    method: str
    approximate: bool
    full: TSSEM2Result
    n_studies: int
    _table: pd.DataFrame = field(repr=False)
    _status: pd.DataFrame = field(repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """One row per omitted study and parameter (long format).

        Columns: ``omitted`` (study id), ``parameter``, ``type`` (path, covariance,
        defined), ``estimate`` and ``se`` without the study, ``full_estimate``, ``full_se``,
        ``influence`` = full_estimate - estimate (positive: the study pulls the estimate up) and
        ``dfbetas`` = influence / se (Viechtbauer & Cheung, 2010).
        """
        return self._table.copy()

    @property
    def status(self) -> pd.DataFrame:
        """One row per omitted study: ``omitted``, ``status`` ("ok", "not converged", "not
        estimable: ..."), ``notes`` (numerical notes of that refit, e.g. a tau2 at its bound).
        """
        return self._status.copy()

    def summary(self, parameters: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per parameter: how far leaving out single studies moves it.

        Columns: ``parameter``, ``type``, ``full_estimate``, ``full_se``, ``min`` and ``max``
        (range of the leave-one-out estimates), ``max_abs_influence``, ``most_influential`` (the
        study with the largest absolute influence), ``dfbetas`` (of that study) and ``n_flagged``
        (studies with |DFBETAS| > 1).
        """
        table = select(self._table, parameters, self._parameters())
        valid = table.dropna(subset=["estimate"])
        rows = []
        for name, group in valid.groupby("parameter", sort=False):
            top = group.loc[group["influence"].abs().idxmax()]
            rows.append(
                {
                    "parameter": name,
                    "type": top["type"],
                    "full_estimate": top["full_estimate"],
                    "full_se": top["full_se"],
                    "min": group["estimate"].min(),
                    "max": group["estimate"].max(),
                    "max_abs_influence": abs(top["influence"]),
                    "most_influential": top["omitted"],
                    "dfbetas": top["dfbetas"],
                    "n_flagged": int((group["dfbetas"].abs() > DFBETAS_CUTOFF).sum()),
                }
            )
        return pd.DataFrame(rows)

    def influential(self, parameter: str, top: int = 5) -> pd.DataFrame:
        """The ``top`` studies with the largest absolute influence on ``parameter``."""
        if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 1:
            raise DataError(f"top must be a positive integer, got {top!r}.")
        rows = select(self._table, [parameter], self._parameters()).dropna(subset=["estimate"])
        order = rows["influence"].abs().sort_values(ascending=False, kind="stable").index
        return rows.loc[order[:top]].reset_index(drop=True)

    def _parameters(self) -> list[str]:
        return list(dict.fromkeys(self._table["parameter"]))

    def __repr__(self) -> str:
        bad = int((self._status["status"] != "ok").sum())
        how = (
            "between-study variances held at full-data values"
            if self.approximate
            else "exact refits"
        )
        return (
            f"LeaveOneOutResult(method={self.method!r}, studies={self.n_studies}, {how}, "
            f"parameters={len(self._parameters())}, problem fits={bad})"
        )


def leave_one_out(
    studies: StudyMatrices,
    model: str,
    *,
    method: str = "REM",
    approximate: bool = False,
    n_jobs: int = 1,
    progress: bool = True,
) -> LeaveOneOutResult:
    """Leave-one-study-out influence on every stage-2 parameter and ``:=`` effect.

    For each study in turn the whole analysis is repeated without it: stage 1 pools the other
    studies, stage 2 fits ``model`` (Wald standard errors). The shift of each estimate is its
    *influence*, full - without (positive when the study pulls the estimate up), and the
    standardized shift is a DFBETAS in the sense of Viechtbauer & Cheung (2010, eq. 11),
    influence divided by the standard error of the leave-one-out estimate; |DFBETAS| > 1 marks
    a study that moves the estimate by more than its standard error.

    Parameters
    ----------
    studies : StudyMatrices
        Per-study matrices, e.g. ``db.matrices(variables)``; their ``study_ids`` name the rows.
    model : str
        lavaan syntax (see :func:`masem.tssem2`).
    method : {"REM", "FEM"}
        Stage-1 method.
    approximate : bool, default False
        False: refit stage 1 without each study (k stage-1 fits; about a second each for the
        12-variable empowerment model, so minutes in all). True (REM only): hold the
        between-study covariance T at its full-data estimate; the pooled correlations without
        study i are then the generalised least squares solution
        (sum_j!=i X_j' W_j X_j)^-1 sum_j!=i X_j' W_j r_j, W_j = (V_j + T)^-1, which is the
        maximum-likelihood estimate of rho given T (Cheung, 2013), and their sampling covariance is
        the inverse of that sum. This costs one linear solve per study; it ignores the study's
        effect on the heterogeneity estimates, and with T known the standard errors are slightly
        smaller than those of the exact refit.
    n_jobs : int, default 1
        Worker processes for the exact refits (joblib); -1 uses all cores. Results do not depend
        on it.
    progress : bool, default True
        Show a tqdm progress bar (stderr); pass False in notebooks.

    Returns
    -------
    LeaveOneOutResult
        ``table`` (long: omitted study x parameter), ``summary()``, ``influential(parameter)``,
        ``status`` and the full-data fit ``full``.

    Raises
    ------
    DataError
        For bad arguments, or when the full data cannot be pooled.
    ModelError
        For a model stage 2 cannot fit to the full data, or ``approximate=True`` with FEM.

    Warns
    -----
    ConvergenceWarning
        When leave-one-out fits do not converge, or a study cannot be left out because it alone
        reports a correlation the model needs (its rows are NaN, and ``status`` says why).

    References
    ----------
    Viechtbauer, W., & Cheung, M. W.-L. (2010). Outlier and influence diagnostics for
    meta-analysis. *Research Synthesis Methods*, 1, 112-125.
    Cheung, M. W.-L. (2013). Multivariate meta-analysis as structural equation models.
    *Structural Equation Modeling*, 20, 429-454.

    Examples
    --------
    >>> import masem
    >>> db = masem.example_data("Hunter83").database()
    >>> m = db.matrices(["Ability", "Job_knowledge", "Supervisor"])
    >>> model = "Job_knowledge ~ Ability\\nSupervisor ~ Job_knowledge"
    >>> loo = masem.leave_one_out(m, model, approximate=True, progress=False)
    >>> loo.summary()[["parameter", "most_influential", "n_flagged"]]
                       parameter most_influential  n_flagged
    0     Job_knowledgeonAbility              S01          0
    1  SupervisoronJob_knowledge              S02          0
    """
    if not isinstance(studies, StudyMatrices):
        raise DataError(
            "studies must be a StudyMatrices (db.matrices(variables)), got "
            f"{type(studies).__name__}."
        )
    model = check_model(model)
    if not isinstance(method, str) or method.upper() not in ("REM", "FEM"):
        raise ModelError(f"method must be 'REM' or 'FEM', got {method!r}.")
    method = method.upper()
    if not isinstance(approximate, (bool, np.bool_)):
        raise DataError(f"approximate must be True or False, got {approximate!r}.")
    if approximate and method != "REM":
        raise ModelError(
            "approximate=True holds the REM between-study variances fixed; it has no meaning for "
            "FEM. Use method='REM' or approximate=False."
        )
    check_jobs(n_jobs, progress)
    k = len(studies.study_ids)
    if k < 3:
        raise DataError(f"leave-one-out needs at least 3 studies, got {k}.")

    if approximate:
        full, fits, status = _loo_fixed_tau2(studies, model, progress)
    else:
        full, fits, status = _loo_exact(studies, model, method, int(n_jobs), progress)
    table = _influence_table(full, fits, studies.study_ids)
    status_frame = pd.DataFrame(status, columns=["omitted", "status", "notes"])
    _warn_problems(status_frame)
    return LeaveOneOutResult(
        method=method,
        approximate=bool(approximate),
        full=full,
        n_studies=k,
        _table=table,
        _status=status_frame,
    )


def _sole_reporters(studies: StudyMatrices) -> dict[int, list[str]]:
    """Studies that alone report a correlation: without them the cell cannot be pooled."""
    rows, cols = vechs_indices(len(studies.variables))
    observed = np.array([~np.isnan(m.to_numpy(dtype=float)[rows, cols]) for m in studies.matrices])
    alone = np.flatnonzero(observed.sum(axis=0) == 1)
    labels = vechs_labels(list(studies.variables))
    out: dict[int, list[str]] = {}
    for cell in alone:
        out.setdefault(int(np.flatnonzero(observed[:, cell])[0]), []).append(labels[cell])
    return out


def _not_estimable(cells: list[str]) -> str:
    return f"not estimable: the only study reporting {', '.join(cells)}"


def _fit_stage2(stage1, model: str) -> tuple[TSSEM2Result, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = tssem2(stage1, model)
    return fit, [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]


def _one_exact(studies: StudyMatrices, model: str, method: str, omit: int):
    keep = [j for j in range(len(studies.study_ids)) if j != omit]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        stage1 = tssem1([studies.matrices[j] for j in keep], studies.n[keep], method=method)
    notes = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    fit, more = _fit_stage2(stage1, model)
    converged = stage1.converged and fit.converged
    return parameter_frame(fit), ("ok" if converged else "not converged"), len(notes) + len(more)


def _loo_exact(studies: StudyMatrices, model: str, method: str, n_jobs: int, progress: bool):
    # The full-data fit's own notes reach the caller (collect_notes in notebooks).
    full_stage1 = tssem1(studies.matrices, studies.n, method=method)
    full = tssem2(full_stage1, model)
    alone = _sole_reporters(studies)
    k = len(studies.study_ids)
    todo = [i for i in range(k) if i not in alone]
    workers = joblib.effective_n_jobs(n_jobs)
    if workers == 1:
        parts = (_one_exact(studies, model, method, i) for i in todo)
    else:
        parts = joblib.Parallel(n_jobs=workers, return_as="generator")(
            joblib.delayed(_one_exact)(studies, model, method, i) for i in todo
        )
    fits: dict[int, pd.DataFrame] = {}
    status: dict[int, tuple] = {
        i: (studies.study_ids[i], _not_estimable(alone[i]), 0) for i in alone
    }
    for i, (frame, state, notes) in tracked(
        zip(todo, parts), len(todo), "leave one out", show=progress
    ):
        fits[i] = frame
        status[i] = (studies.study_ids[i], state, notes)
    return full, fits, [status[i] for i in range(k)]


def _loo_fixed_tau2(studies: StudyMatrices, model: str, progress: bool):
    full_stage1 = tssem1(studies.matrices, studies.n, method="REM")
    terms = gls_terms(
        studies.matrices, studies.n, studies.variables, full_stage1.tau2_matrix.to_numpy()
    )
    info, score, n = terms.information, terms.score, terms.n
    k = len(n)
    total_info, total_score = info.sum(axis=0), score.sum(axis=0)
    variables = list(terms.variables)
    labels = vechs_labels(variables)

    def pooled(information: np.ndarray, scores: np.ndarray, n: float) -> PooledMatrix:
        vcov = np.linalg.inv(information)
        rho = vcov @ scores
        return PooledMatrix(
            pooled=pd.DataFrame(
                vechs_inverse(rho, len(variables)), index=variables, columns=variables
            ),
            vcov=pd.DataFrame((vcov + vcov.T) / 2, index=labels, columns=labels),
            total_n=int(n),
            method="REM (tau2 fixed)",
        )

    full = tssem2(pooled(total_info, total_score, n.sum()), model)
    alone = _sole_reporters(studies)
    fits: dict[int, pd.DataFrame] = {}
    status = []
    for i in tracked(range(k), k, "leave one out", show=progress):
        if i in alone:
            status.append((studies.study_ids[i], _not_estimable(alone[i]), 0))
        else:
            stage1 = pooled(total_info - info[i], total_score - score[i], n.sum() - n[i])
            fit, notes = _fit_stage2(stage1, model)
            fits[i] = parameter_frame(fit)
            state = "ok" if fit.converged else "not converged"
            status.append((studies.study_ids[i], state, len(notes)))
    return full, fits, status


def _influence_table(
    full: TSSEM2Result, fits: Mapping[int, pd.DataFrame], study_ids: list[str]
) -> pd.DataFrame:
    reference = parameter_frame(full)
    frames = []
    for i, sid in enumerate(study_ids):
        frame = fits.get(i)
        if frame is None:
            frame = reference.assign(estimate=np.nan, se=np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "omitted": sid,
                    "parameter": reference["parameter"].to_numpy(),
                    "type": reference["type"].to_numpy(),
                    "estimate": frame["estimate"].to_numpy(),
                    "se": frame["se"].to_numpy(),
                    "full_estimate": reference["estimate"].to_numpy(),
                    "full_se": reference["se"].to_numpy(),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    table["influence"] = table["full_estimate"] - table["estimate"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["dfbetas"] = table["influence"] / table["se"]
    return table


def _warn_problems(status: pd.DataFrame) -> None:
    for kind, advice in (
        (
            "not converged",
            "their estimates are unreliable; check those studies for extreme correlations",
        ),
        ("not estimable", "their rows are NaN; the correlation cannot be pooled without them"),
    ):
        rows = status[status["status"].str.startswith(kind)]
        if len(rows):
            shown = ", ".join(rows["omitted"].head(10)) + (" ..." if len(rows) > 10 else "")
            warnings.warn(
                f"leave_one_out: {len(rows)} of {len(status)} leave-one-out fits are {kind} "
                f"(omitting {shown}); {advice}. See the result's status table.",
                ConvergenceWarning,
                stacklevel=3,
            )


@dataclass(frozen=True, repr=False, eq=False)
class VariantComparison:
    """Result of :func:`compare_variants` (immutable; tables are returned as copies).

    Attributes
    ----------
    variants : tuple of Variant
        In the order given; the first is the reference.
    fits : mapping of str to TSSEM2Result
        The stage-2 fit of each variant, by name (read-only).
    """

    variants: tuple[Variant, ...]
    fits: Mapping[str, TSSEM2Result]
    _table: pd.DataFrame = field(repr=False)
    _sizes: pd.DataFrame = field(repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """Long format: variant, parameter, type, estimate, se, ci_lower, ci_upper, difference
        (estimate minus the reference variant's).
        """
        return self._table.copy()

    def summary(self, parameters: Sequence[str] | None = None) -> pd.DataFrame:
        """Estimates side by side: one row per parameter, one column per variant."""
        table = select(self._table, parameters, list(dict.fromkeys(self._table["parameter"])))
        wide = table.pivot(index="parameter", columns="variant", values="estimate")
        order = list(dict.fromkeys(table["parameter"]))
        return wide.loc[order, [v.name for v in self.variants]].rename_axis(columns=None)

    def fit_table(self) -> pd.DataFrame:
        """One row per variant: studies, N, and the stage-2 chi2, df, RMSEA, SRMR and CFI."""
        stats = pd.DataFrame(
            {
                name: fit.fit_stats()[["chi2", "df", "RMSEA", "SRMR", "CFI"]]
                for name, fit in self.fits.items()
            }
        ).T
        return self._sizes.set_index("variant").join(stats).reset_index()

    def interval_table(self, parameters: Sequence[str] | None = None) -> pd.DataFrame:
        """Columns parameter, method (the variant), estimate, ci_lower, ci_upper: the input of
        :func:`masem.plots.interval_plot` (a dot-and-whisker plot by variant).
        """
        table = select(self._table, parameters, list(dict.fromkeys(self._table["parameter"])))
        return pd.DataFrame(
            {
                "parameter": table["parameter"].to_numpy(),
                "method": table["variant"].to_numpy(),
                "estimate": table["estimate"].to_numpy(),
                "ci_lower": table["ci_lower"].to_numpy(),
                "ci_upper": table["ci_upper"].to_numpy(),
            }
        )

    def __repr__(self) -> str:
        return f"VariantComparison(variants={[v.name for v in self.variants]})"


def compare_variants(
    database: StudyDatabase,
    variables: Sequence[str],
    model: str,
    variants: Sequence[Variant] | None = None,
) -> VariantComparison:
    """Fit one structural model under several analysis choices and put the estimates side by side.

    Each variant runs the whole pipeline: select studies (``subset``), build the per-study
    matrices (observed or corrected for unreliability), pool them (TSSEM random or fixed effects,
    Cheung, 2014; or the univariate-r approach, :func:`uni_r_pooled`) and fit ``model`` by WLS
    (:func:`masem.tssem2`, Wald intervals).

    Parameters
    ----------
    database : StudyDatabase
    variables : list of str
        The constructs to pool (the model may use a subset).
    model : str
        lavaan syntax.
    variants : sequence of Variant, optional
        Default :func:`default_variants`; the first is the reference of ``difference``.

    Returns
    -------
    VariantComparison
        ``table`` (long: variant, parameter, type, estimate, se, ci_lower, ci_upper,
        difference), ``summary()`` (wide), ``fit_table()``, ``interval_table()``, ``fits``.

    Raises
    ------
    DataError, ModelError
        For bad arguments, duplicated variant names, or a variant that cannot be fitted (the
        message names the variant).

    References
    ----------
    Cheung, M. W.-L. (2014). Fixed- and random-effects meta-analytic structural equation
    modeling: Examples and analyses in R. *Behavior Research Methods*, 46, 29-40.
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10, 40-64.

    Examples
    --------
    >>> import masem
    >>> db = masem.example_data("Nohe15A1").database()
    >>> variants = [masem.Variant("REM"), masem.Variant("FEM", method="FEM"),
    ...             masem.Variant("published", subset={"Publication": "P"})]
    >>> cmp = masem.compare_variants(db, ["W1", "S2"], "S2 ~ W1", variants)
    >>> cmp.summary().round(3)  # doctest: +NORMALIZE_WHITESPACE
               REM    FEM  published
    parameter
    S2onW1     0.3  0.325      0.262
    """
    if not isinstance(database, StudyDatabase):
        raise DataError(
            "database must be a StudyDatabase (masem.read_database), got "
            f"{type(database).__name__}."
        )
    if isinstance(variables, str) or not isinstance(variables, Sequence):
        raise DataError(f"variables must be a list of construct codes, got {variables!r}.")
    model = check_model(model)
    variants = check_variants(default_variants() if variants is None else variants)
    names = [v.name for v in variants]

    fits, frames, sizes = {}, [], []
    for v in variants:
        try:
            stage1, k, n = variant_stage1(database, list(variables), v)
            fits[v.name] = tssem2(stage1, model)
        except (DataError, ModelError) as exc:
            raise type(exc)(f"variant {v.name!r}: {exc}") from None
        frames.append(parameter_frame(fits[v.name]).assign(variant=v.name))
        sizes.append({"variant": v.name, "k": k, "N": n})
    table = pd.concat(frames, ignore_index=True)
    reference = table[table["variant"] == names[0]].set_index("parameter")["estimate"]
    table["difference"] = table["estimate"] - table["parameter"].map(reference)
    columns = [
        "variant",
        "parameter",
        "type",
        "estimate",
        "se",
        "ci_lower",
        "ci_upper",
        "difference",
    ]
    return VariantComparison(
        variants=variants,
        fits=MappingProxyType(fits),
        _table=table[columns],
        _sizes=pd.DataFrame(sizes),
    )
