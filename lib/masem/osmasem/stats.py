"""Heterogeneity explained by moderators (R2) and the SRMR of a one-stage MASEM."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from masem.effects import vechs
from masem.errors import ModelError
from masem.osmasem._likelihood import LOG_TAU2_LOWER, Likelihood
from masem.osmasem._optimize import maximise
from masem.osmasem.fit import TAU2_START
from masem.osmasem.results import OSMASEMResult

__all__ = ["osmasem_r2", "osmasem_srmr"]


def osmasem_r2(fit1: OSMASEMResult, fit0: OSMASEMResult) -> pd.DataFrame:
    """Share of each correlation's between-study variance that the moderators explain.

    R2_j = (tau2_j(M0) - tau2_j(M1)) / tau2_j(M0), set to 0 when negative (metaSEM's
    ``osmasemR2``; Jak & Cheung, 2020): a moderator can leave a correlation's heterogeneity
    unexplained or, by chance, estimate it slightly larger.

    Parameters
    ----------
    fit1 : OSMASEMResult
        The model with moderators.
    fit0 : OSMASEMResult
        The same model without them, fitted to the same studies.

    Returns
    -------
    DataFrame
        One row per correlation (vechs order): ``tau2_0`` (without moderators), ``tau2_1``
        (with them), ``R2``.

    Raises
    ------
    ModelError
        Fits of different data, or without random effects.

    References
    ----------
    Jak, S., & Cheung, M. W.-L. (2020). Meta-analytic structural equation modeling with
    moderating effects on SEM parameters. *Psychological Methods*, 25(4), 430-455.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Nohe15A1")
    >>> lag = ex.moderators[["Lag"]].astype(float)
    >>> data = masem.cor_data(ex.matrices, ex.n, moderators=(lag - lag.mean()) / lag.std())
    >>> model = "W2 ~ W1 + S1\\nS2 ~ W1 + S1\\nW2 ~~ S2\\nW1 ~~ 1*W1\\nS1 ~~ 1*S1\\nW1 ~~ S1"
    >>> fit0 = masem.osmasem(data, model)
    >>> r2 = masem.osmasem_r2(masem.osmasem(data, model, moderators="Lag"), fit0)
    >>> round(float(r2.loc["W2_W1", "R2"]), 3)
    0.407
    """
    for name, fit in (("fit1", fit1), ("fit0", fit0)):
        if not isinstance(fit, OSMASEMResult):
            raise ModelError(f"{name} must be an osmasem() result, got {type(fit).__name__}")
    if not fit1.same_data(fit0):
        raise ModelError(
            f"the two fits use different data ({fit1.k} and {fit0.k} studies, variables "
            f"{list(fit1.data.variables)} and {list(fit0.data.variables)}); R2 compares the "
            "same studies"
        )
    if "Zero" in (fit1.re_type, fit0.re_type):
        raise ModelError(
            "osmasem_r2 needs between-study variances in both fits (re_type 'Diag' or 'Symm')"
        )
    t0, t1 = fit0.tau2.to_numpy(), fit1.tau2.to_numpy()
    r2 = np.divide(t0 - t1, t0, out=np.zeros_like(t0), where=t0 > 0)
    return pd.DataFrame(
        {"tau2_0": t0, "tau2_1": t1, "R2": np.maximum(r2, 0.0)},
        index=pd.Index(fit0.tau2.index, name="correlation"),
    )


def osmasem_srmr(fit: OSMASEMResult) -> float:
    """Standardized root mean square residual of a one-stage MASEM without moderators.

    The residuals are the pooled correlations of a saturated one-stage model (free mean
    correlations, the same between-study covariance structure, the same studies) minus the
    model's implied correlations: SRMR = sqrt(mean(vechs(R_saturated - R_model)^2)) (metaSEM's
    ``osmasemSRMR``; the heterogeneity is not part of it).

    Parameters
    ----------
    fit : OSMASEMResult
        A fit without moderators.

    Returns
    -------
    float

    Raises
    ------
    ModelError
        A fit with moderators (its implied matrix differs between studies).

    References
    ----------
    Jak, S., & Cheung, M. W.-L. (2020). *Psychological Methods*, 25(4), 430-455.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> data = masem.cor_data(ex.matrices, ex.n)
    >>> fit = masem.osmasem(data, "Math ~ Spatial + Verbal\\nSpatial ~~ 0*Verbal")
    >>> round(masem.osmasem_srmr(fit), 3)
    0.091
    """
    if not isinstance(fit, OSMASEMResult):
        raise ModelError(f"fit must be an osmasem() result, got {type(fit).__name__}")
    if fit.moderators:
        raise ModelError(
            "osmasem_srmr is defined for a model without moderators; this fit has "
            f"{list(fit.moderators)}, "
            "so its implied matrix differs between studies: fit the model without them"
        )
    residuals = saturated_means(fit) - vechs(fit.implied().to_numpy())
    return float(math.sqrt(np.mean(residuals**2)))


def saturated_means(fit: OSMASEMResult) -> np.ndarray:
    """Pooled correlations (vechs order) of the saturated one-stage model on the data of ``fit``."""
    data = fit.data
    q = data.r.shape[1]
    eye = np.broadcast_to(np.eye(q), (data.k, q, q))

    def mean(theta, jacobian):
        rho = np.broadcast_to(theta, (data.k, q))
        return (rho, eye) if jacobian else (rho, None)

    def curvature(theta, u):  # the means are linear in the parameters
        return np.zeros((data.k, q, q))

    like = Likelihood(data.r, data.observed, data.n, data.acov, mean, curvature, q, fit.re_type)
    weights = np.where(data.observed, data.n[:, None], 0.0)
    start = (weights * np.nan_to_num(data.r)).sum(axis=0) / weights.sum(axis=0)
    n_var = q if like.n_tau else 0
    start = np.concatenate(
        [start, np.full(n_var, math.log(TAU2_START)), np.zeros(like.n_tau - n_var)]
    )
    lower = np.concatenate(
        [np.full(q, -np.inf), np.full(n_var, LOG_TAU2_LOWER), np.full(like.n_tau - n_var, -np.inf)]
    )
    return maximise(like, start, lower).x[:q]
