"""The result of a one-stage MASEM fit: parameters, heterogeneity, implied matrices, fit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from masem.data.cordata import CorData
from masem.effects import vechs_indices
from masem.errors import ModelError
from masem.lrt import ComparableFit, LRTerms
from masem.model import RAMModel
from masem.osmasem._structure import Structure

__all__ = ["OSMASEMResult"]


@dataclass(frozen=True, repr=False, eq=False)
class OSMASEMResult(ComparableFit):
    """A fitted one-stage MASEM (see :func:`masem.osmasem`). Immutable; tables are built on access.

    Attributes
    ----------
    model : RAMModel
        The parsed model (observed variables in the data's order).
    data : CorData
        The studies used (after any left out for a missing moderator value).
    moderators : tuple of str
        The moderators, in the order of the slopes.
    re_type : str
        ``"Diag"``, ``"Symm"`` or ``"Zero"``.
    minus2LL : float
        -2 log-likelihood at the estimates (with the log(2 pi) constant, as OpenMx reports it).
    n_parameters : int
        Free parameters: paths and covariances, slopes, heterogeneity parameters.
    n_observed : int
        Observed correlations summed over the studies.
    intervals : str
        ``"wald"`` or ``"profile"``: the kind of interval in :attr:`coefficients`.
    level : float
        Coverage of the intervals.
    dropped : tuple of str
        Studies left out for a missing moderator value.
    converged, message, iterations, grad_norm
        The optimiser's report.
    """

    model: RAMModel
    data: CorData
    moderators: tuple[str, ...]
    re_type: str
    minus2LL: float
    n_parameters: int
    n_observed: int
    intervals: str
    level: float
    dropped: tuple[str, ...]
    converged: bool
    message: str
    iterations: int
    grad_norm: float
    _names: tuple[str, ...] = field(repr=False)
    _estimates: np.ndarray = field(repr=False)
    _vcov: np.ndarray = field(repr=False)
    _bounds: np.ndarray | None = field(repr=False)  # (n, 2) profile bounds, or None
    _structure: Structure = field(repr=False)
    _x: np.ndarray = field(repr=False)  # (k, moderators) as used
    _per_study: np.ndarray = field(repr=False)  # each study's -2LL term

    @property
    def k(self) -> int:
        """Number of studies used."""
        return self.data.k

    @property
    def df(self) -> int:
        """Observed correlations minus free parameters."""
        return self.n_observed - self.n_parameters

    @property
    def coefficients(self) -> pd.DataFrame:
        """Every free parameter: ``estimate``, ``se``, ``z``, ``p``, ``ci_lower``, ``ci_upper``.

        Paths and covariances by their lavaan label (else ``XonY`` / ``XwithY``); the slope of
        parameter ``a`` on moderator ``m`` is ``"a:m"`` (metaSEM: ``a_1``); the log
        between-study variance of correlation j (vechs order) is ``"Tau1_j"``, and for
        ``re_type="Symm"`` the between-study correlations are ``"Cor_j"`` (metaSEM's names). The
        interval is Wald (estimate +- z SE) or, with ``intervals="profile"``, likelihood-based.
        """
        est = self._estimates
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(np.diag(self._vcov))
            z = est / se
        p = 2.0 * stats.norm.sf(np.abs(z))
        if self._bounds is not None:
            lower, upper = self._bounds[:, 0], self._bounds[:, 1]
        else:
            crit = float(stats.norm.ppf(0.5 + self.level / 2.0))
            lower, upper = est - crit * se, est + crit * se
        return pd.DataFrame(
            {"estimate": est, "se": se, "z": z, "p": p, "ci_lower": lower, "ci_upper": upper},
            index=pd.Index(self._names, name="name"),
        )

    @property
    def vcov(self) -> pd.DataFrame:
        """Sampling covariance of all free parameters: 2 x the inverse Hessian of -2LL."""
        names = list(self._names)
        return pd.DataFrame(self._vcov.copy(), index=names, columns=names)

    @property
    def tau2(self) -> pd.Series:
        """Between-study variance of each correlation (vechs labels ``row_col``); 0 for
        ``"Zero"``.
        """
        labels = self.data.labels
        if self.re_type == "Zero":
            return pd.Series(np.zeros(len(labels)), index=labels, name="tau2")
        start = self._structure.n_params
        return pd.Series(
            np.exp(self._estimates[start : start + len(labels)]), index=labels, name="tau2"
        )

    @property
    def heterogeneity(self) -> pd.DataFrame:
        """tau2 of each correlation with its interval (the Tau1 interval, exponentiated).

        Likelihood-based bounds are invariant to the transformation; Wald bounds are those of
        log tau2, so they stay positive. A tau2 at its lower bound has no interval (NaN) unless
        profile intervals were asked for.
        """
        labels = self.data.labels
        if self.re_type == "Zero":
            zeros = np.zeros(len(labels))
            return pd.DataFrame(
                {"tau2": zeros, "ci_lower": zeros, "ci_upper": zeros},
                index=pd.Index(labels, name="correlation"),
            )
        rows = self.coefficients.iloc[
            self._structure.n_params : self._structure.n_params + len(labels)
        ]
        return pd.DataFrame(
            {
                "tau2": np.exp(rows["estimate"].to_numpy()),
                "ci_lower": np.exp(rows["ci_lower"].to_numpy()),
                "ci_upper": np.exp(rows["ci_upper"].to_numpy()),
            },
            index=pd.Index(labels, name="correlation"),
        )

    def implied(self, at: Mapping[str, float] | None = None) -> pd.DataFrame:
        """Model-implied correlation matrix with the moderators at the values in ``at`` (others 0).

        Parameters
        ----------
        at : dict of str to float, optional
            Moderator values; a moderator not named is set to 0 (for a centred moderator, its mean).

        Returns
        -------
        DataFrame
            p x p, the observed variables in the data's order.
        """
        values = dict(at or {})
        unknown = sorted(set(values) - set(self.moderators))
        if unknown:
            raise ModelError(
                f"implied(at=...): {unknown} {'is' if len(unknown) == 1 else 'are'} not a "
                "moderator of "
                f"this fit; its moderators: {list(self.moderators)}"
            )
        x = np.array([[float(values.get(m, 0.0)) for m in self.moderators]]).reshape(1, -1)
        rho = self._structure.implied(self._estimates[: self._structure.n_params], x)[0]
        return self._square(rho)

    def conditional(
        self, parameter: str, moderator: str, values: ArrayLike, level: float | None = None
    ) -> pd.DataFrame:
        """A moderated parameter at given moderator values, with Wald intervals.

        The parameter at moderator value x is a + b x (a its value at 0, b its slope on the
        moderator, the other moderators at 0); its standard error follows from their sampling
        covariance, Var(a) + x^2 Var(b) + 2 x Cov(a, b) (the simple-slopes rule of Aiken & West,
        1991, as Jak & Cheung, 2020, plot moderated paths).

        Parameters
        ----------
        parameter : str
            A free path or covariance of the model (its label or ``XonY`` / ``XwithY`` name).
        moderator : str
            One of the fit's moderators.
        values : array_like
            Moderator values.
        level : float, optional
            Coverage of the intervals; default the fit's ``level``.

        Returns
        -------
        DataFrame
            One row per value: ``moderator`` value, ``estimate``, ``se``, ``ci_lower``,
            ``ci_upper``. A parameter the moderator does not shift has slope 0 here.

        Raises
        ------
        ModelError
            An unknown parameter or moderator.
        """
        if moderator not in self.moderators:
            raise ModelError(
                f"{moderator!r} is not a moderator of this fit; its moderators: "
                f"{list(self.moderators)}"
            )
        internal = list(self._structure.names)
        shown = list(self._names[: len(internal)])  # the user's names where the model gave them
        base = len(self._structure.base_names)
        lookup = {n: i for i, n in enumerate(internal[:base])}
        lookup.update({n: i for i, n in enumerate(shown[:base])})
        if parameter not in lookup:
            raise ModelError(
                f"{parameter!r} is not a path or covariance of the model; parameters: "
                f"{shown[:base]}"
            )
        x = np.asarray(values, dtype=float).ravel()
        a = lookup[parameter]
        slope = f"{internal[a]}:{moderator}"
        b = internal.index(slope) if slope in internal else None
        est_b = self._estimates[b] if b is not None else 0.0
        var_b = self._vcov[b, b] if b is not None else 0.0
        cov_ab = self._vcov[a, b] if b is not None else 0.0
        estimate = self._estimates[a] + est_b * x
        se = np.sqrt(self._vcov[a, a] + x**2 * var_b + 2.0 * x * cov_ab)
        crit = float(stats.norm.ppf(0.5 + (self.level if level is None else level) / 2.0))
        return pd.DataFrame(
            {
                moderator: x,
                "estimate": estimate,
                "se": se,
                "ci_lower": estimate - crit * se,
                "ci_upper": estimate + crit * se,
            }
        )

    def per_study(self) -> pd.DataFrame:
        """One row per study used: its moderator values, observed correlations, -2LL term and the
        implied correlations at its moderator values (vechs labels).
        """
        rho = self._structure.implied(self._estimates[: self._structure.n_params], self._x)
        table = pd.DataFrame(
            self._x, columns=list(self.moderators), index=pd.Index(self.data.studies, name="study")
        )
        table["n"] = self.data.n
        table["n_observed"] = self.data.observed.sum(axis=1)
        table["minus2LL"] = self._per_study
        implied = pd.DataFrame(rho, columns=self.data.labels, index=table.index)
        return pd.concat([table, implied], axis=1)

    def fit_stats(self) -> pd.Series:
        """-2LL, free parameters, observed statistics, df, AIC, BIC, k and N.

        AIC = -2LL + 2 n_parameters and BIC = -2LL + log(N) n_parameters with N the total sample
        size, which metaSEM hands OpenMx as the number of observations (OpenMx's "par" columns).
        """
        return pd.Series(
            {
                "minus2LL": self.minus2LL,
                "n_parameters": self.n_parameters,
                "n_observed": self.n_observed,
                "df": self.df,
                "AIC": self.minus2LL + 2.0 * self.n_parameters,
                "BIC": self.minus2LL + np.log(float(self.data.n.sum())) * self.n_parameters,
                "k": self.k,
                "N": float(self.data.n.sum()),
            },
            name="fit",
            dtype=float,
        )

    def summary(self) -> pd.DataFrame:
        """The coefficients with the kind of each parameter (``path``, ``covariance``, ``variance``,
        ``slope``, ``log tau2``, ``tau correlation``).
        """
        table = self.coefficients
        n_tau = len(self.data.labels) if self.re_type != "Zero" else 0
        kinds = list(self._structure.kinds) + ["log tau2"] * n_tau
        kinds += ["tau correlation"] * (len(self._names) - len(kinds))
        table.insert(0, "kind", kinds[: len(table)])
        return table

    def lr_terms(self) -> LRTerms:
        """-2LL, df and free parameters of the fit, for :func:`masem.compare`."""
        return LRTerms(
            family="osmasem()",
            statistic=self.minus2LL,
            statistic_name="minus2LL",
            df=float(self.df),
            n_parameters=self.n_parameters,
            data_kind="correlation data",
            data_label=f"{self.k} studies, variables {list(self.data.variables)}",
        )

    def same_data(self, other: object) -> bool:
        """Fitted to the same studies, variables and correlations (what a likelihood-ratio test
        needs)?
        """
        if not isinstance(other, OSMASEMResult):
            return False
        a, b = self.data, other.data
        return (
            a.studies == b.studies
            and a.variables == b.variables
            and np.array_equal(a.observed, b.observed)
            and np.allclose(np.nan_to_num(a.r), np.nan_to_num(b.r), rtol=0, atol=1e-12)
            and np.allclose(a.n, b.n)
        )

    def _square(self, rho: np.ndarray) -> pd.DataFrame:
        p = len(self.data.variables)
        rows, cols = vechs_indices(p)
        out = np.eye(p)
        out[rows, cols] = rho
        out[cols, rows] = rho
        names = list(self.data.variables)
        return pd.DataFrame(out, index=names, columns=names)

    def __repr__(self) -> str:
        status = "converged" if self.converged else f"NOT converged ({self.message})"
        mods = f", moderators={list(self.moderators)}" if self.moderators else ""
        return (
            f"OSMASEMResult(k={self.k}, variables={list(self.data.variables)}{mods}, "
            f"free={self.n_parameters}, -2LL={self.minus2LL:.4f}, df={self.df}, {status})"
        )
