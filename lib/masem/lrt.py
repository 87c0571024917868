"""Likelihood-ratio (chi-square difference) tests of nested models: :func:`compare` and its
protocol.

A fit takes part in :func:`masem.compare` by subclassing :class:`ComparableFit`, that is by
saying what a likelihood-ratio test needs of it (:meth:`ComparableFit.lr_terms`) and whether
another fit was fitted to the same data (:meth:`ComparableFit.same_data`). The estimators
implement it (the stage-2 results of :mod:`masem.tssem`; the fit results of
:mod:`masem.osmasem` next), and this module knows none of them: it sits at the bottom of the
package, beside :mod:`masem.errors` (docs/architecture.md).

Under the restricted model, the difference of the two fits' deviances (the WLS chi-square of a
stage-2 fit, or -2 log-likelihood of a maximum-likelihood fit) follows a chi-square distribution
with the difference in degrees of freedom (Cheung & Chan, 2005; Steiger, Shapiro & Browne, 1985).

References
----------
Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
approach. *Psychological Methods*, 10(1), 40-64.
Steiger, J. H., Shapiro, A., & Browne, M. W. (1985). On the multivariate asymptotic distribution
of sequential chi-square statistics. *Psychometrika*, 50(3), 253-263.
"""

from __future__ import annotations

import abc
import warnings
from dataclasses import dataclass

import pandas as pd
from scipy import stats

from masem.errors import ConvergenceWarning, ModelError

__all__ = ["ComparableFit", "LRTerms", "compare"]


@dataclass(frozen=True)
class LRTerms:
    """What a likelihood-ratio test needs of one fit (see :meth:`ComparableFit.lr_terms`).

    Attributes
    ----------
    family : str
        The kind of fit, as the user calls it (``"tssem2()"``, ``"tssem2_multigroup()"``, ...):
        only fits of one family are compared.
    statistic : float
        The fit's deviance: the minimum of the WLS fit function (chi2) or -2 log-likelihood.
    statistic_name : str
        Its name in the columns of :func:`compare`: ``"chi2"`` or ``"minus2LL"``.
    df : float
        The fit's degrees of freedom (the restricted model has more).
    n_parameters : int
        Free parameters of the fit.
    data_kind, data_label : str
        What the fit was fitted to, for messages: e.g. ``"stage-1 data"`` and
        ``"variables ['a', 'b']"``.

    Examples
    --------
    >>> LRTerms("tssem2()", 3.2, "chi2", 2.0, 4, "stage-1 data", "variables ['a', 'b', 'c']").df
    2.0
    """

    family: str
    statistic: float
    statistic_name: str
    df: float
    n_parameters: int
    data_kind: str
    data_label: str


class ComparableFit(abc.ABC):
    """A fitted model that :func:`compare` can test against a nested one fitted to the same data.

    Subclasses implement :meth:`lr_terms` and :meth:`same_data`; :func:`compare` checks this base
    class, so a new estimator joins by subclassing it, without :mod:`masem.lrt` importing it.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> fit = masem.tssem2(masem.tssem1(ex.matrices, ex.n), "Math ~ Spatial + Verbal")
    >>> isinstance(fit, ComparableFit), fit.lr_terms().statistic_name
    (True, 'chi2')
    """

    @abc.abstractmethod
    def lr_terms(self) -> LRTerms:
        """The deviance, degrees of freedom and free parameters of the fit (see
        :class:`LRTerms`).
        """

    @abc.abstractmethod
    def same_data(self, other: object) -> bool:
        """Was ``other`` fitted to the same data as this fit (what a likelihood-ratio test
        needs)?
        """


def compare(restricted: ComparableFit, general: ComparableFit) -> pd.DataFrame:
    """Chi-square difference (likelihood-ratio) test of two nested models fitted to the same data.

    Parameters
    ----------
    restricted, general : ComparableFit
        Two nested fits of the same kind: two :func:`masem.tssem2` fits to one stage-1 result, two
        :func:`masem.tssem2_multigroup` fits to the same groups (e.g. paths equal vs free), or two
        :func:`masem.osmasem` fits to the same data (e.g. without and with moderators). The order
        does not matter: the fit with more degrees of freedom is the restricted one (the columns
        of the result say which is which).

    Returns
    -------
    pandas.DataFrame
        One row: the deviance and df of both models (``chi2_restricted``, ``df_restricted``,
        ``chi2_general``, ``df_general``; ``minus2LL_...`` for likelihood fits), their difference
        ``chi2_diff`` on ``df_diff`` degrees of freedom and its ``p_value``.

    Raises
    ------
    ModelError
        A fit that cannot be compared, two fits of different kinds or of different data, or two
        fits with the same degrees of freedom (not nested).

    Warns
    -----
    ConvergenceWarning
        When the restricted model fits better than the general one: the models are not nested
        or one fit did not reach its minimum.

    References
    ----------
    Cheung, M. W.-L., & Chan, W. (2005). *Psychological Methods*, 10(1), 40-64 (the chi-square
    statistics of nested stage-2 models differ by a chi-square on the difference in df).

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n)
    >>> general = masem.tssem2(s1, "Math ~ Spatial + Verbal\\nSpatial ~~ Verbal")
    >>> restricted = masem.tssem2(s1, "Math ~ Spatial + Verbal\\nSpatial ~~ 0*Verbal")
    >>> row = masem.compare(restricted, general).iloc[0]
    >>> int(row["df_diff"]), bool(row["p_value"] < 0.05)
    (1, True)
    """
    for name, fit in (("restricted", restricted), ("general", general)):
        if not isinstance(fit, ComparableFit):
            raise ModelError(
                f"{name} must be a tssem2() or tssem2_multigroup() result (a "
                "masem.lrt.ComparableFit), "
                f"got {type(fit).__name__}"
            )
    terms_r, terms_g = restricted.lr_terms(), general.lr_terms()
    if terms_r.family != terms_g.family:
        raise ModelError(
            f"compare a {terms_r.family} fit with another {terms_r.family} fit, and a "
            f"{terms_g.family} fit "
            f"with a {terms_g.family} fit; got {type(restricted).__name__} and "
            f"{type(general).__name__}"
        )
    if not restricted.same_data(general):
        raise ModelError(
            f"the two models were not fitted to the same {terms_r.data_kind} ({terms_r.data_label} "
            "vs "
            f"{terms_g.data_label}); a chi-square difference test needs the same data"
        )
    if terms_r.df < terms_g.df:  # given the other way round: the restricted fit has more df
        terms_r, terms_g = terms_g, terms_r
    d_df = terms_r.df - terms_g.df
    if d_df == 0:
        raise ModelError(
            f"both models have {terms_r.df:g} degrees of freedom, so neither is nested in the "
            "other with fewer parameters; compare a model with one that frees or fixes some of "
            "its parameters"
        )
    d_stat = terms_r.statistic - terms_g.statistic
    if d_stat < -1e-6 * max(1.0, terms_g.statistic):
        warnings.warn(
            f"the restricted model fits better than the general one ({terms_r.statistic_name} "
            f"{terms_r.statistic:.4f} < {terms_g.statistic:.4f}): the models are not nested or one "
            "fit "
            "did not converge",
            ConvergenceWarning,
            stacklevel=2,
        )
    d_stat = max(d_stat, 0.0)
    name = terms_r.statistic_name
    return pd.DataFrame(
        {
            f"{name}_restricted": [terms_r.statistic],
            "df_restricted": [terms_r.df],
            f"{name}_general": [terms_g.statistic],
            "df_general": [terms_g.df],
            "chi2_diff": [d_stat],
            "df_diff": [d_df],
            "p_value": [float(stats.chi2.sf(d_stat, d_df))],
        }
    )
