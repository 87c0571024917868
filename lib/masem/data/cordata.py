"""The data of a one-stage MASEM: each study's observed correlations, their sampling covariances
and the moderators.

What metaSEM's ``Cor2DataFrame(x, n, acov = "weighted")`` builds (Cheung, 2015; Jak & Cheung,
2020): per study the vechs correlations it reports, its sampling covariance matrix
V_i = OS(Rbar) / n_i with OS the Olkin-Siotani (1976) asymptotic covariance of a correlation matrix
evaluated at the n-weighted mean matrix Rbar (each cell averaged over the studies that report it),
and the study characteristics that may moderate the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from masem.data.matrices import prepare_studies
from masem.effects import olkin_siotani, vechs_indices, vechs_labels
from masem.errors import DataError

__all__ = ["CorData", "cor_data"]


@dataclass(frozen=True)
class CorData:
    """Correlation data for :func:`masem.osmasem` (see :func:`cor_data`).

    Attributes
    ----------
    variables : tuple of str
        The variables, in the order of the matrices.
    studies : tuple of str
        One label per study.
    n : numpy.ndarray
        Sample sizes.
    r : numpy.ndarray, shape (k, q)
        The vechs correlations of each study (column-major strict lower triangle), NaN where the
        study does not report one.
    observed : numpy.ndarray of bool, shape (k, q)
        True where the correlation enters the likelihood.
    mean_matrix : pandas.DataFrame
        Rbar, the n-weighted mean correlation matrix at which the sampling covariances are
        evaluated.
    acov : numpy.ndarray, shape (q, q)
        OS(Rbar) for n = 1; study i's sampling covariance is ``acov / n[i]``.
    moderators : pandas.DataFrame
        One row per study (index: the study labels), the moderator columns as given.
    """

    variables: tuple[str, ...]
    studies: tuple[str, ...]
    n: np.ndarray = field(repr=False)
    r: np.ndarray = field(repr=False)
    observed: np.ndarray = field(repr=False)
    mean_matrix: pd.DataFrame = field(repr=False)
    acov: np.ndarray = field(repr=False)
    moderators: pd.DataFrame = field(repr=False)
    matrices: np.ndarray = field(repr=False)  # (k, p, p) as validated, for subsets

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.studies)

    @property
    def labels(self) -> list[str]:
        """The vechs labels ``row_col`` of the correlations."""
        return vechs_labels(list(self.variables))

    def subset(self, keep: np.ndarray) -> CorData:
        """The data of the kept studies (a boolean mask or indices), Rbar recomputed on them."""
        idx = (
            np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep, dtype=int)
        )
        return _build(
            self.matrices[idx],
            self.n[idx],
            self.variables,
            tuple(self.studies[i] for i in idx),
            self.moderators.iloc[idx],
        )

    def with_moderators(self, moderators: pd.DataFrame) -> CorData:
        """The same studies with other moderator columns (e.g. centred or rescaled ones).

        Parameters
        ----------
        moderators : DataFrame
            One row per study, in the order of :attr:`studies` (its index is not used).

        Returns
        -------
        CorData
        """
        return replace(self, moderators=_moderator_frame(moderators, self.k, self.studies))

    def select(self, variables: Sequence[str]) -> CorData:
        """The same studies restricted to ``variables`` (in that order)."""
        pos = [self.variables.index(v) for v in variables]
        return _build(
            self.matrices[:, pos][:, :, pos],
            self.n,
            tuple(variables),
            self.studies,
            self.moderators,
        )


def cor_data(
    matrices: Any,
    n: Any,
    variables: Sequence[str] | None = None,
    moderators: pd.DataFrame | None = None,
) -> CorData:
    """Correlation data for one-stage MASEM, as metaSEM's ``Cor2DataFrame`` builds it.

    Parameters
    ----------
    matrices : list of p x p arrays or DataFrames, or a dict of them keyed by study
        The per-study correlation matrices; NaN = not reported, a NaN diagonal = a variable the
        study did not measure (correlations given against it are left out, as metaSEM does).
    n : sequence of int
        Sample sizes, one per study.
    variables : list of str, optional
        Variable names when ``matrices`` are arrays.
    moderators : DataFrame, optional
        One row per study, in the order of ``matrices``, one column per study characteristic.

    Returns
    -------
    CorData

    References
    ----------
    Olkin, I., & Siotani, M. (1976). Asymptotic distribution of functions of a correlation matrix.
    In S. Ikeda (Ed.), *Essays in Probability and Statistics* (pp. 235-251). Shinko Tsusho.
    Jak, S., & Cheung, M. W.-L. (2020). Meta-analytic structural equation modeling with
    moderating effects on SEM parameters. *Psychological Methods*, 25(4), 430-455.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Nohe15A1")
    >>> data = masem.cor_data(ex.matrices, ex.n, moderators=ex.moderators[["Lag"]])
    >>> data.k, data.labels[:2], round(float(data.mean_matrix.loc["W2", "W1"]), 3)
    (32, ['S1_W1', 'W2_W1'], 0.613)
    """
    data = prepare_studies(matrices, n, variables)
    studies = tuple(
        label if label is not None else f"study {i + 1}" for i, label in enumerate(data.labels)
    )
    mods = _moderator_frame(moderators, data.k, studies)
    return _build(data.matrices, data.n, data.variables, studies, mods)


def _moderator_frame(moderators: Any, k: int, studies: tuple[str, ...]) -> pd.DataFrame:
    if moderators is None:
        return pd.DataFrame(index=pd.Index(studies, name="study"))
    if isinstance(moderators, pd.Series):
        moderators = moderators.to_frame()
    if not isinstance(moderators, pd.DataFrame):
        raise DataError(
            "moderators must be a DataFrame with one row per study, got "
            f"{type(moderators).__name__}."
        )
    if len(moderators) != k:
        raise DataError(
            f"moderators has {len(moderators)} rows but there are {k} studies; give one row per "
            "study, in the order of the matrices."
        )
    out = moderators.copy()
    out.index = pd.Index(studies, name="study")
    out.columns = [str(c) for c in out.columns]
    return out


def _build(
    matrices: np.ndarray,
    n: np.ndarray,
    variables: tuple[str, ...],
    studies: tuple[str, ...],
    moderators: pd.DataFrame,
) -> CorData:
    p = len(variables)
    rows, cols = vechs_indices(p)
    given = matrices[:, rows, cols]
    reported = ~np.isnan(given)
    diag = np.diagonal(matrices, axis1=1, axis2=2)
    measured = ~np.isnan(diag)
    observed = reported & measured[:, rows] & measured[:, cols]
    # Rbar averages every value given, also those against an unmeasured variable (metaSEM).
    w = np.where(reported, n[:, None], 0.0)
    total = w.sum(axis=0)
    mean = np.divide(
        (w * np.where(reported, given, 0.0)).sum(axis=0),
        total,
        out=np.zeros(rows.size),
        where=total > 0,
    )
    rbar = np.eye(p)
    rbar[rows, cols] = mean
    rbar[cols, rows] = mean
    acov = olkin_siotani(rbar, 1.0)
    r = np.where(observed, given, np.nan)
    for a in (matrices, n, r, observed, acov):
        a.setflags(write=False)
    return CorData(
        variables=tuple(variables),
        studies=tuple(studies),
        n=n,
        r=r,
        observed=observed,
        mean_matrix=pd.DataFrame(rbar, index=list(variables), columns=list(variables)),
        acov=acov,
        moderators=moderators.copy(),
        matrices=matrices,
    )
