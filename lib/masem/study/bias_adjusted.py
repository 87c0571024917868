"""Bias-adjusted MASEM: each pooled correlation corrected for small-study effects, stage 2 refitted.

Publication bias in a MASEM sits in the pooled matrix: a correlation inflated by a file drawer of
small, non-significant studies inflates every path that rests on it. A sensitivity analysis
therefore corrects each cell and refits the model (Kepes, Banks, McDaniel & Whetzel, 2012, ask
for such analyses in every meta-analysis; Bergh et al., 2016, for MASEM):

1. each pair of variables is meta-analysed on its own, on Fisher's z, by a random-effects model
   (REML), Egger's regression test is run, and PET-PEESE estimates the effect of a study with
   standard error 0 (:func:`masem.pet_peese`; Stanley & Doucouliagos, 2014). Regressing z rather
   than r on its standard error avoids the artefactual dependence of r's standard error on r;
2. a cell with at least ``min_k`` studies takes the PET-PEESE estimate (back-transformed to r);
   a cell with fewer keeps its stage-1 value, and the diagnostics say so (funnel-asymmetry
   regressions have little power and an unstable intercept with few studies: Sterne et al., 2011,
   recommend at least 10);
3. stage 2 is refitted to the adjusted matrix, by the same WLS as :func:`masem.tssem2`.

The sampling covariance of the adjusted matrix. WLS needs the sampling covariance V of the
correlations it fits. A PET-PEESE intercept is an extrapolation and is less precise than the pooled
value: its variance (on r, by the delta method: se_z (1 - r^2)) replaces the stage-1 variance of
the cell. The covariances between cells come from the same studies' dependent correlations in the
adjusted and the pooled estimates alike, so the stage-1 *correlations* among the cells' sampling
errors (Olkin & Siotani's structure, pooled by stage 1; Cheung & Chan, 2005) are kept:
V_adj = D C D, with C the correlation matrix of the stage-1 V and D the adjusted standard
errors. It is positive definite whenever the stage-1 V is. This is an approximation (the
covariance between two PET-PEESE intercepts is not derived exactly), chosen so that the adjusted
fit is weighted by the adjusted cells' real (larger) uncertainty; the unadjusted fit uses the
stage-1 V.

PET-PEESE corrects well when studies are selected for significance whatever their size; when
only the small studies are selected, the regression on the standard error extrapolates a slope
that the large studies do not share and over-corrects (Stanley, 2017). Read the adjusted fit as
one sensitivity analysis. No selection model is fitted here: a three-parameter selection model
(Vevea & Hedges, 1995) is not implemented in masem and not checked against a reference yet.

References
----------
Bergh, D. D., Aguinis, H., Heavey, C., Ketchen, D. J., Boyd, B. K., Su, P., Lau, C. L. L., &
Joo, H. (2016). Using meta-analytic structural equation modeling to advance strategic management
research. *Strategic Management Journal*, 37(3), 477-497.
Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
approach. *Psychological Methods*, 10(1), 40-64.
Kepes, S., Banks, G. C., McDaniel, M., & Whetzel, D. L. (2012). Publication bias in the
organizational sciences. *Organizational Research Methods*, 15(4), 624-662.
Stanley, T. D. (2017). Limitations of PET-PEESE and other meta-analysis methods. *Social
Psychological and Personality Science*, 8(5), 581-591.
Stanley, T. D., & Doucouliagos, H. (2014). Meta-regression approximations to reduce publication
selection bias. *Research Synthesis Methods*, 5, 60-78.
Sterne, J. A. C., et al. (2011). Recommendations for examining and interpreting funnel plot
asymmetry in meta-analyses of randomised controlled trials. *BMJ*, 343, d4002.
Vevea, J. L., & Hedges, L. V. (1995). A general linear model for estimating effect size in the
presence of publication bias. *Psychometrika*, 60(3), 419-435.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from masem._util import choose
from masem.data import StudyDatabase, StudyMatrices
from masem.data.matrices import prepare_studies
from masem.effects import vechs_indices, vechs_labels, z_to_r
from masem.errors import ConvergenceWarning, DataError, ModelError, relabel_notes
from masem.meta import egger, escalc, meta, pet_peese
from masem.model import model_variables
from masem.study._common import check_model, parameter_frame
from masem.study.variants import PooledMatrix
from masem.tssem import TSSEM1Result, TSSEM2Result, tssem1, tssem2

__all__ = ["BiasAdjustedMASEM", "bias_adjusted_masem"]

MIN_K = 10
_INTERVALS = ("wald", "profile")
_DIAGNOSTICS = [
    "var1",
    "var2",
    "k",
    "N",
    "r_stage1",
    "r_RE",
    "egger_z",
    "egger_p",
    "r_PET",
    "PET_p",
    "r_PEESE",
    "r_adjusted",
    "se_adjusted",
    "used",
    "reason",
]


# ----------------------------------------------------------------------------------------------
# The per-cell diagnostics
# ----------------------------------------------------------------------------------------------


def _matrices(data, model: str, variables) -> StudyMatrices:
    """The per-study matrices of the model's variables (or of ``variables``)."""
    if isinstance(data, StudyDatabase):
        if variables is None:
            variables = model_variables(model, order=list(data.constructs["code"]))
        return data.matrices(list(variables))
    if isinstance(data, StudyMatrices):
        if data.corrected:
            raise DataError(
                "the matrices are corrected for unreliability; PET-PEESE regresses each "
                "correlation on its sampling error, which Fisher's z gives for observed "
                "correlations only: pass db.matrices(variables) without corrected=True"
            )
        if variables is not None and list(variables) != list(data.variables):
            raise DataError(
                f"variables {list(variables)} differ from the matrices' {list(data.variables)}; "
                "leave variables out, or build the matrices with db.matrices(variables)"
            )
        return data
    raise DataError(
        "data must be a StudyDatabase (masem.read_database) or StudyMatrices "
        f"(db.matrices(...)), got {type(data).__name__}"
    )


def _cell(
    label: str, z: pd.DataFrame, ids: list[str], alpha: float, min_k: int
) -> tuple[dict, float | None, float | None]:
    """Diagnostics of one cell, and its adjusted r and standard error (None: keep stage 1)."""
    k = len(z)
    row: dict = {"k": k}
    if k < 3:
        row["reason"] = (
            f"stage 1 kept: k = {k} studies, too few for any regression on the standard error"
        )
        return row, None, None
    with relabel_notes(f"bias diagnostics of {label}", stacklevel=4):
        fit = meta(z["yi"], z["vi"], method="REML", labels=ids)
        row["r_RE"] = float(z_to_r(fit.estimate))
        try:
            test, pp = egger(fit, model="rma"), pet_peese(fit, alpha=alpha)
        except DataError as exc:  # every study of the same size: no regression on precision
            row["reason"] = f"stage 1 kept: {exc}"
            return row, None, None
    row |= {
        "egger_z": test.statistic,
        "egger_p": test.p,
        "r_PET": float(z_to_r(pp.pet_estimate)),
        "PET_p": pp.pet_p,
        "r_PEESE": float(z_to_r(pp.peese_estimate)),
    }
    if k < min_k:
        row["reason"] = (
            f"stage 1 kept: k = {k} < min_k = {min_k} studies, too few for a trustworthy "
            "PET-PEESE intercept"
        )
        return row, None, None
    relation = "<" if pp.pet_p < alpha else ">="
    verdict = (
        "differs from 0, so PEESE estimates it"
        if pp.chosen == "PEESE"
        else "does not differ from 0"
    )
    row["reason"] = (
        f"{pp.chosen}: PET's intercept {verdict} (p = {pp.pet_p:.3g} {relation} {alpha:g})"
    )
    row["used"] = pp.chosen
    r = float(z_to_r(pp.estimate))
    se_z = pp.peese_se if pp.chosen == "PEESE" else pp.pet_se
    return row, r, se_z * (1.0 - r**2)  # delta method: dr/dz = 1 - r^2


def bias_diagnostics(
    m: StudyMatrices, stage1: TSSEM1Result, alpha: float, min_k: int
) -> pd.DataFrame:
    """One row per cell of the matrices: diagnostics, the adjusted value and its standard error."""
    data = prepare_studies(m.matrices, m.n, list(m.variables))
    names = list(data.variables)
    rows_idx, cols_idx = vechs_indices(len(names))
    pooled = stage1.pooled.loc[names, names].to_numpy()
    V = stage1.vcov.loc[vechs_labels(names), vechs_labels(names)].to_numpy()
    out = []
    for q, (i, j) in enumerate(zip(rows_idx, cols_idx)):
        a, b = names[j], names[i]
        keep = data.observed[:, q] & data.measured[:, i] & data.measured[:, j]
        z = escalc("ZCOR", data.r[keep, q], data.n[keep])
        ids = [str(s) for s, kept in zip(m.study_ids, keep) if kept]
        row, r, se = _cell(f"{a}-{b}", z, ids, alpha, min_k)
        if r is None:
            row["used"], r, se = "stage 1", float(pooled[i, j]), float(np.sqrt(V[q, q]))
        out.append(
            {"var1": a, "var2": b, "N": int(data.n[keep].sum()), "r_stage1": float(pooled[i, j])}
            | row
            | {"r_adjusted": r, "se_adjusted": se}
        )
    return pd.DataFrame(out).reindex(columns=_DIAGNOSTICS)


def adjusted_input(stage1: TSSEM1Result, diagnostics: pd.DataFrame) -> PooledMatrix:
    """The adjusted matrix with V_adj = D C D (C: the stage-1 V as correlations; D: the adjusted
    standard errors), as a stage-2 input.
    """
    names = list(stage1.variables)
    labels = vechs_labels(names)
    V = stage1.vcov.loc[labels, labels].to_numpy()
    sd = np.sqrt(np.diag(V))
    C = V / np.outer(sd, sd)
    se = diagnostics["se_adjusted"].to_numpy()
    R = np.eye(len(names))
    rows, cols = vechs_indices(len(names))
    R[rows, cols] = R[cols, rows] = diagnostics["r_adjusted"].to_numpy()
    smallest = float(np.linalg.eigvalsh(R)[0])
    if smallest <= 0.0:
        warnings.warn(
            f"the bias-adjusted matrix is not positive definite (smallest eigenvalue "
            f"{smallest:.3g}): the cells were corrected one by one and no longer fit together; "
            "stage 2 is fitted to it by WLS all the same, but read its paths with care",
            ConvergenceWarning,
            stacklevel=3,
        )
    return PooledMatrix(
        pooled=pd.DataFrame(R, index=names, columns=names),
        vcov=pd.DataFrame(np.outer(se, se) * C, index=labels, columns=labels),
        total_n=int(stage1.total_n),
        method=f"{stage1.method}, PET-PEESE adjusted",
    )


# ----------------------------------------------------------------------------------------------
# The result and the public function
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class BiasAdjustedMASEM:
    """Result of :func:`bias_adjusted_masem` (immutable; DataFrames built fresh on access).

    Attributes
    ----------
    stage1 : TSSEM1Result
        Stage 1 of the unadjusted analysis.
    unadjusted, adjusted : TSSEM2Result
        The model fitted to the stage-1 matrix and to the bias-adjusted matrix.
    adjusted_input : PooledMatrix
        The adjusted matrix and its sampling covariance (the input of ``adjusted``).
    min_k : int
        Fewest studies for which a cell is adjusted.
    alpha : float
        Level of PET's test that chooses between PET and PEESE.

    Examples
    --------
    >>> import masem
    >>> db = masem.example_data("Nohe15A1").database()
    >>> result = masem.bias_adjusted_masem(db, "S2 ~ W1 + S1", variables=["W1", "S1", "S2"])
    >>> result.diagnostics()["used"].tolist()
    ['PEESE', 'PEESE', 'PEESE']
    """

    stage1: TSSEM1Result
    unadjusted: TSSEM2Result
    adjusted: TSSEM2Result
    adjusted_input: PooledMatrix
    min_k: int
    alpha: float
    _diagnostics: pd.DataFrame = field(repr=False)

    def diagnostics(self) -> pd.DataFrame:
        """One row per cell (every pair of the variables, in vechs order): var1, var2, k, N,
        r_stage1 (pooled by stage 1), r_RE (univariate random effects), egger_z and egger_p
        (Egger's test, metafor's default form), r_PET and PET_p (PET's intercept and the p-value
        of its test against 0), r_PEESE, r_adjusted and se_adjusted (the value stage 2 is refitted
        to and its standard error), used (``"PET"``, ``"PEESE"`` or ``"stage 1"``) and reason (in
        words). Correlations are back-transformed from Fisher's z; the Egger and PET columns are
        empty where a cell has fewer than 3 studies (the reason says so).
        """
        return self._diagnostics.copy()

    def comparison(self) -> pd.DataFrame:
        """Every free parameter and ``:=`` definition side by side: parameter, type,
        unadjusted_estimate, unadjusted_ci_lower, unadjusted_ci_upper, adjusted_estimate,
        adjusted_ci_lower, adjusted_ci_upper, difference (adjusted - unadjusted).
        """
        before = (
            parameter_frame(self.unadjusted).drop(columns="se").set_index(["parameter", "type"])
        )
        after = parameter_frame(self.adjusted).drop(columns="se").set_index(["parameter", "type"])
        out = pd.concat(
            [before.add_prefix("unadjusted_"), after.add_prefix("adjusted_")], axis=1
        ).reset_index()
        out["difference"] = out["adjusted_estimate"] - out["unadjusted_estimate"]
        return out

    def summary(self) -> pd.DataFrame:
        """Same as :meth:`comparison`."""
        return self.comparison()

    def __repr__(self) -> str:
        table = self._diagnostics
        counts = table["used"].value_counts()
        moved = (table["r_adjusted"] - table["r_stage1"]).abs()
        largest = table.loc[moved.idxmax()]
        chi2 = (self.unadjusted.fit_stats()["chi2"], self.adjusted.fit_stats()["chi2"])
        return (
            f"BiasAdjustedMASEM({len(table)} cells: {int(counts.get('PEESE', 0))} PEESE, "
            f"{int(counts.get('PET', 0))} PET, {int(counts.get('stage 1', 0))} kept from stage 1 "
            f"(min_k = {self.min_k}); largest change {largest['var1']}-{largest['var2']} "
            f"{largest['r_stage1']:.3f} -> {largest['r_adjusted']:.3f}; "
            f"chi2 {chi2[0]:.2f} -> {chi2[1]:.2f})"
        )


def bias_adjusted_masem(
    data: StudyDatabase | StudyMatrices,
    model: str,
    variables: Sequence[str] | None = None,
    method: str = "REM",
    min_k: int = MIN_K,
    alpha: float = 0.05,
    intervals: str = "wald",
) -> BiasAdjustedMASEM:
    """A MASEM with every pooled correlation adjusted for small-study effects (PET-PEESE), next to
    the unadjusted one.

    Stage 1 pools the studies' matrices (:func:`masem.tssem1`) and the model is fitted to the
    pooled matrix (:func:`masem.tssem2`). Each cell is then meta-analysed on its own: a
    random-effects model on Fisher's z (REML), Egger's test and PET-PEESE (:func:`masem.egger`,
    :func:`masem.pet_peese`). Cells with at least ``min_k`` studies take the PET-PEESE estimate,
    the others keep their stage-1 value; the model is refitted to that matrix with the sampling
    covariance described in :mod:`masem.study.bias_adjusted` (the stage-1 correlations among the
    cells, the adjusted cells' own standard errors). The two fits side by side show how much the
    paths and indirect effects depend on small-study effects; the adjusted fit is a sensitivity
    analysis, not a corrected truth (PET-PEESE itself can over- or under-correct, Stanley &
    Doucouliagos, 2014).

    Parameters
    ----------
    data : StudyDatabase or StudyMatrices
        The studies: a database (:func:`masem.read_database`) or per-study matrices from
        ``db.matrices(...)``.
    model : str
        The stage-2 model (lavaan syntax).
    variables : list of str, optional
        With a database, the variables to pool (default: the model's, in the codebook's order);
        every cell among them is diagnosed. With matrices, their variables.
    method : {"REM", "FEM"}
        Stage 1 of the unadjusted analysis.
    min_k : int, default 10
        Fewest studies a cell needs to be adjusted (Sterne et al., 2011); at least 3.
    alpha : float, default 0.05
        Level of PET's two-sided test of a zero effect, which chooses PEESE (rejected) or PET.
    intervals : {"wald", "profile"}
        Intervals of both stage-2 fits.

    Returns
    -------
    BiasAdjustedMASEM
        ``diagnostics()`` (every cell: k, N, stage-1 and random-effects r, Egger's test, PET,
        PEESE, the value used and why), ``comparison()`` (paths and definitions unadjusted and
        adjusted side by side), the fits ``unadjusted`` and ``adjusted`` and the
        ``adjusted_input``.

    Raises
    ------
    DataError
        ``data`` is not a database or study matrices (or matrices corrected for unreliability),
        or the variables do not match them.
    ModelError
        A bad ``model``, ``method``, ``min_k``, ``alpha`` or ``intervals``.

    References
    ----------
    Stanley, T. D., & Doucouliagos, H. (2014). Meta-regression approximations to reduce
    publication selection bias. *Research Synthesis Methods*, 5, 60-78.
    Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis
    detected by a simple, graphical test. *BMJ*, 315, 629-634.
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10(1), 40-64.
    Sterne, J. A. C., et al. (2011). Recommendations for examining and interpreting funnel plot
    asymmetry in meta-analyses of randomised controlled trials. *BMJ*, 343, d4002.

    Examples
    --------
    >>> import masem
    >>> db = masem.example_data("Nohe15A1").database()
    >>> result = masem.bias_adjusted_masem(db, "S2 ~ W1 + S1", variables=["W1", "S1", "S2"])
    >>> result.comparison()[["parameter", "unadjusted_estimate", "adjusted_estimate"]].round(3)
      parameter  unadjusted_estimate  adjusted_estimate
    0    S2onW1                0.080              0.079
    1    S2onS1                0.586              0.595
    2  W1withS1                0.378              0.455
    """
    model = check_model(model)
    method = choose(method, ("REM", "FEM"), "method", ModelError)
    if isinstance(min_k, bool) or not isinstance(min_k, numbers.Integral) or min_k < 3:
        raise ModelError(f"min_k must be a whole number of at least 3 studies, got {min_k!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < alpha < 1.0:
        raise ModelError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    intervals = choose(intervals, _INTERVALS, "intervals", ModelError)
    m = _matrices(data, model, variables)
    with relabel_notes("stage 1", stacklevel=4):
        stage1 = tssem1(m.matrices, m.n, method=method, variables=list(m.variables))
    with relabel_notes("the unadjusted stage 2", stacklevel=4):
        unadjusted = tssem2(stage1, model, intervals=intervals)
    diagnostics = bias_diagnostics(m, stage1, float(alpha), int(min_k))
    adjusted_data = adjusted_input(stage1, diagnostics)
    with relabel_notes("the bias-adjusted stage 2", stacklevel=4):
        adjusted = tssem2(adjusted_data, model, intervals=intervals)
    return BiasAdjustedMASEM(
        stage1=stage1,
        unadjusted=unadjusted,
        adjusted=adjusted,
        adjusted_input=adjusted_data,
        min_k=int(min_k),
        alpha=float(alpha),
        _diagnostics=diagnostics,
    )
