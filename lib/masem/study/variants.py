"""Analysis variants: the ways of pooling a database that a robustness check or a simulation
compares.

:class:`Variant` names one way (TSSEM random or fixed effects, corrected or observed correlations,
a subset of studies, or the univariate-r approach); :func:`variant_stage1` runs its stage 1.
:class:`PooledMatrix` and :func:`uni_r_pooled` let :func:`masem.tssem2` fit a model to any pooled
matrix with a given sampling covariance, which is how the univariate-r approach is fitted here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from masem.data import StudyDatabase
from masem.effects import olkin_siotani, vechs_labels
from masem.errors import DataError, ModelError
from masem.tssem import UniRResult, tssem1, uni_r

__all__ = [
    "PooledMatrix",
    "Variant",
    "check_variants",
    "default_variants",
    "uni_r_pooled",
    "variant_stage1",
]


# ----------------------------------------------------------------------------------------------
# A pooled matrix that stage 2 can fit
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False, eq=False)
class PooledMatrix:
    """A pooled correlation matrix with its sampling covariance: the input :func:`masem.tssem2`
    needs.

    Attributes
    ----------
    pooled : pandas.DataFrame
        p x p correlation matrix (unit diagonal).
    vcov : pandas.DataFrame
        q x q sampling covariance of its correlations, vechs order, labels ``row_col``.
    total_n : int
        The sample size stage 2 reports fit statistics for.
    method : str
        How the matrix was pooled (shown in the stage-2 result).
    """

    pooled: pd.DataFrame
    vcov: pd.DataFrame
    total_n: int
    method: str

    @property
    def variables(self) -> list[str]:
        """The variables of the pooled matrix."""
        return list(self.pooled.columns)

    def __repr__(self) -> str:
        return (
            f"PooledMatrix(method={self.method!r}, variables={len(self.variables)}, "
            f"total_n={self.total_n})"
        )


def uni_r_pooled(result: UniRResult) -> PooledMatrix:
    """The univariate-r approach as a stage-2 input: mean correlations treated as one sample.

    The univariate-r approach (Viswesvaran & Ones, 1995) pools each correlation on its own and then
    fits the structural model as if the matrix of mean correlations came from a single sample
    whose size is the harmonic mean of the per-correlation total N. Here that single sample is
    given the sampling covariance of a normal sample of that size, the Olkin-Siotani covariance
    at the mean matrix divided by the harmonic N, and the model is fitted by the same WLS stage 2
    as TSSEM. Fitting the mean matrix by maximum likelihood as if it were a covariance matrix
    would give wrong standard errors for a correlation structure (Cudeck, 1989); with a single
    normal sample, WLS with this weight and ML agree asymptotically (Browne, 1984). Using the
    same stage 2 makes a comparison with TSSEM a comparison of the stage-1 inputs only.

    Parameters
    ----------
    result : UniRResult
        A :func:`masem.uni_r` result.

    Returns
    -------
    PooledMatrix
        ``pooled`` = ``result.r_mean``, ``vcov`` = Olkin-Siotani(r_mean) / n_harmonic,
        ``total_n`` = the harmonic N rounded, ``method="univariate r"``.

    Raises
    ------
    DataError
        If the mean matrix is not positive definite (the approach cannot fit it).

    References
    ----------
    Browne, M. W. (1984). Asymptotically distribution-free methods for the analysis of covariance
    structures. *British Journal of Mathematical and Statistical Psychology*, 37, 62-83.
    Cudeck, R. (1989). Analysis of correlation matrices using covariance structure models.
    *Psychological Bulletin*, 105, 317-327.
    Viswesvaran, C., & Ones, D. S. (1995). Theory testing: Combining psychometric meta-analysis
    and structural equations modeling. *Personnel Psychology*, 48, 865-885.

    Examples
    --------
    >>> import numpy as np
    >>> import masem
    >>> r = [np.array([[1, .5], [.5, 1]]), np.array([[1, .3], [.3, 1]])]
    >>> masem.uni_r_pooled(masem.uni_r(r, [100, 300])).total_n
    400
    """
    if not isinstance(result, UniRResult):
        raise DataError(f"result must be a masem.uni_r() result, got {type(result).__name__}.")
    mean = result.r_mean
    smallest = float(np.linalg.eigvalsh(mean.to_numpy()).min())
    if smallest <= 0:
        raise DataError(
            "the univariate-r mean matrix is not positive definite (smallest eigenvalue "
            f"{smallest:.3g}); "
            "the approach cannot fit a model to it. Use tssem1, or drop variables with few studies."
        )
    labels = vechs_labels(result.variables)
    acov = olkin_siotani(mean.to_numpy(), result.n_harmonic)
    return PooledMatrix(
        pooled=mean,
        vcov=pd.DataFrame(acov, index=labels, columns=labels),
        total_n=int(round(result.n_harmonic)),
        method="univariate r",
    )


# ----------------------------------------------------------------------------------------------
# Analysis variants
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One way of analysing the database (see :func:`compare_variants`).

    Attributes
    ----------
    name : str
        Label in tables and figures.
    method : {"REM", "FEM", "univariate r"}
        Stage 1: TSSEM random or fixed effects, or the univariate-r approach (:func:`uni_r_pooled`).
    corrected : bool
        Correct each study's correlations for unreliability (:meth:`StudyDatabase.matrices`).
    subset : mapping, optional
        Moderator conditions for :meth:`StudyDatabase.subset`, e.g. ``{"published": 1}``.
    """

    name: str
    method: str = "REM"
    corrected: bool = False
    subset: Mapping[str, object] | None = None


_VARIANT_METHODS = ("REM", "FEM", "univariate r")


def default_variants() -> tuple[Variant, ...]:
    """The reference analysis (REM, observed correlations, all studies) and one change at a time.

    Returns
    -------
    tuple of Variant
        ``REM (reference)``, ``FEM``, ``corrected for unreliability``, ``published only`` and
        ``univariate r``.

    Examples
    --------
    >>> [v.name for v in default_variants()]
    ['REM (reference)', 'FEM', 'corrected for unreliability', 'published only', 'univariate r']
    """
    return (
        Variant("REM (reference)"),
        Variant("FEM", method="FEM"),
        Variant("corrected for unreliability", corrected=True),
        Variant("published only", subset=MappingProxyType({"published": 1})),
        Variant("univariate r", method="univariate r"),
    )


def variant_stage1(database: StudyDatabase, variables: list[str], variant: Variant):
    """Stage 1 of a variant: its pooled input of stage 2, the number of studies and their N."""
    db = database.subset(**dict(variant.subset)) if variant.subset else database
    m = db.matrices(variables, corrected=variant.corrected)
    if variant.method == "univariate r":
        return uni_r_pooled(uni_r(m.matrices, m.n)), len(m.n), int(m.n.sum())
    return tssem1(m.matrices, m.n, method=variant.method), len(m.n), int(m.n.sum())


def check_variants(variants: object, what: str = "variant") -> tuple[Variant, ...]:
    """The variants as a tuple, refused unless non-empty, all :class:`Variant`, with known methods
    and unique names (``what`` names them in messages: "variant" or "approach").
    """
    variants = tuple(variants) if isinstance(variants, (list, tuple)) else variants
    if (
        not isinstance(variants, tuple)
        or not variants
        or not all(isinstance(v, Variant) for v in variants)
    ):
        raise DataError(
            f"{what}s must be a non-empty sequence of masem.Variant objects, got {variants!r}."
        )
    for v in variants:
        if v.method not in _VARIANT_METHODS:
            raise ModelError(
                f"{what} {v.name!r}: method must be one of {list(_VARIANT_METHODS)}, got "
                f"{v.method!r}."
            )
    names = [v.name for v in variants]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{what} names must be unique; {repeated} occur more than once.")
    return variants
